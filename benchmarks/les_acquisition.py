#!/usr/bin/env python
"""One LES acquisition on one core: its construction, scoring the sequences' support points, `optimize_acqf`.

For each (D, N) a GP with N points of a concave quadratic in [0.3, 0.7]^D (unit outputscale, lengthscale
0.15·√D, noise 1e-3) and the incumbent at its best point. Two settings, each built from the same random state
(so from the same sample paths and sequences), with the LES paper's L = 250 paths, P = 500 Adam steps of
0.002 and K = 8 points per sequence:
  unmodified: BoTorch's `LocalEntropySearch` as it ships: ascents by autograd through its sample-path modules,
              `forward` (one small posterior per candidate and path) with its default of 8 paths per
              conditioned model, `optimize_acqf` with BoTorch's defaults;
  package:    `SequenceEntropySearch` as `gibo.optimizers.LES` builds it: the same ascent steps with the paths'
              gradients in closed form (`PathAscentGradient`), the same values from the same conditioning
              in two blocks (`ConditionalVariances`) for all candidates of a batch at once, `optimize_acqf`
              without BoTorch's retry on optimisation warnings.
It prints the seconds of each part, the ratio unmodified / package, and how far the two settings' values
(support points) and chosen points (optimize_acqf) lie apart. One torch thread; on a busy machine
absolute times move with the load (printed), the ratios measured in the same run are what to compare.

With --package-only it times the package's setting alone: one LES call's acquisition (build and support
points, LES's default acquisition optimiser) at each size in wall and CPU seconds (CPU time is what to read on
a busy machine), e.g. at the window sizes N = 5 D that LES's cells reach.

Usage: python benchmarks/les_acquisition.py [--sizes 8x40 16x64 32x128] [--paths 250] [--steps 500] [--chunk 0]
       [--package-only]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings

import torch
from botorch.optim import optimize_acqf

from gibo.les_acquisition import SequenceEntropySearch
from gibo.model import DerivativeExactGPSEModel


def make_model(D: int, N: int) -> tuple[DerivativeExactGPSEModel, torch.Tensor]:
    generator = torch.Generator().manual_seed(D * 1000 + N)
    model = DerivativeExactGPSEModel(D)
    model.initialize(
        **{
            "covar_module.base_kernel.lengthscale": 0.15 * D**0.5,
            "covar_module.outputscale": 1.0,
            "likelihood.noise": 1e-3,
        }
    )
    X = 0.3 + 0.4 * torch.rand(N, D, generator=generator, dtype=torch.float64)
    y = -((X - 0.6) ** 2).sum(-1)
    model.append_train_data(X, y)
    model.eval()
    return model, X[y.argmax()]


def measure(model, incumbent, box, args, unmodified: bool) -> dict:
    chunk = 8 if unmodified else (args.chunk or None)
    torch.manual_seed(0)
    start, cpu_start = time.perf_counter(), time.process_time()
    acquisition = SequenceEntropySearch(
        model,
        incumbent.reshape(1, -1),
        num_path_samples=args.paths,
        num_descent_steps=args.steps,
        learning_rate=0.002,
        bounds=box,
        sequence_subsample_size=None,
        sequence_discretization_size=8,
        conditional_model_chunk_size=chunk,
        convergence_tol=None,
        virtual_observation_noise=float(model.noise.detach()),
        pointwise_layout=unmodified,
        autograd_ascent=unmodified,
    )
    built = time.perf_counter()
    candidates = torch.cat(acquisition.sequence_X_per_path)
    with torch.no_grad():
        values = torch.cat([acquisition(batch.unsqueeze(-2)) for batch in candidates.split(256)])
    scored, cpu_scored = time.perf_counter(), time.process_time()
    torch.manual_seed(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        point, value = optimize_acqf(
            acquisition,
            bounds=box,
            q=1,
            num_restarts=5,
            raw_samples=64,
            retry_on_optimization_warning=unmodified,
        )
    optimized = time.perf_counter()
    return {
        "sequences": torch.stack(acquisition.sequence_X_per_path),
        "build": built - start,
        "support points": scored - built,
        "optimize_acqf": optimized - scored,
        "cpu build + support points": cpu_scored - cpu_start,
        "values": values,
        "point": point.reshape(-1),
        "value": float(value),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", nargs="+", default=["8x40", "16x64", "32x128"], help="DxN pairs")
    parser.add_argument("--paths", type=int, default=250, help="L")
    parser.add_argument("--steps", type=int, default=500, help="P")
    parser.add_argument("--chunk", type=int, default=0, help="paths per conditioned model (0: all)")
    parser.add_argument("--package-only", action="store_true", help="time the package's setting alone")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; L={args.paths}, P={args.steps}")
    model, incumbent = make_model(2, 4)  # warm-up: first calls pay for imports and caches
    warm = argparse.Namespace(paths=4, steps=2, chunk=0)
    for unmodified in (True, False):
        measure(model, incumbent, torch.stack([torch.zeros(2), torch.ones(2)]).to(incumbent), warm, unmodified)
    for size in args.sizes:
        D, N = (int(v) for v in size.split("x"))
        model, incumbent = make_model(D, N)
        box = torch.stack([torch.zeros(D), torch.ones(D)]).to(incumbent)
        if args.package_only:
            after = measure(model, incumbent, box, args, unmodified=False)
            wall = after["build"] + after["support points"]
            print(
                f"D={D} N={N}: build + support points (one call with LES's default acquisition optimiser) "
                f"{wall:.1f} s wall, {after['cpu build + support points']:.1f} s CPU; optimize_acqf "
                f"{after['optimize_acqf']:.1f} s more; load average {os.getloadavg()[0]:.2f}",
                flush=True,
            )
            continue
        before = measure(model, incumbent, box, args, unmodified=True)
        after = measure(model, incumbent, box, args, unmodified=False)
        print(f"D={D} N={N}")
        for part in ("build", "support points", "optimize_acqf"):
            ratio = before[part] / after[part]
            print(f"  {part:15s} unmodified {before[part]:7.2f} s   package {after[part]:7.2f} s   ratio {ratio:5.2f}")
        for name, parts in (("build + support points", "support points"), ("build + optimize_acqf", "optimize_acqf")):
            total_before, total_after = (run["build"] + run[parts] for run in (before, after))
            print(
                f"  {name}: unmodified {total_before:.2f} s, package {total_after:.2f} s, "
                f"ratio {total_before / total_after:.2f}"
            )
        sequences = float((before["sequences"] - after["sequences"]).abs().max())
        print(f"  ascent sequences' support points differ by at most {sequences:.1e}")
        difference = float((before["values"] - after["values"]).abs().max())
        distance = float((before["point"] - after["point"]).norm())
        print(
            f"  support-point values differ by at most {difference:.1e}; optimize_acqf values "
            f"{before['value']:.6f} / {after['value']:.6f}, points {distance:.1e} apart"
        )


if __name__ == "__main__":
    main()
