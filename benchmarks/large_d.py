"""GIBO and MPD at D = 100 and 200 with full windows: seconds per objective call and peak memory, this code
against an earlier revision measured in the same invocation.

Each measurement runs in its own process on one thread (torch, BLAS), so its peak resident memory is its own.
The optimiser is the one `gibo.AskTell` builds with the API's defaults on the unit box (N_max = 5D; GIBO
⌈D/2⌉ samples per iteration, MPD D samples and walks of at most 100 steps; hyperparameters refitted every
iteration), its window filled at once with N_max points drawn in the δ-box around θ = 0.5 (a smooth objective
plus noise), then timed part by part:
  fit    one hyperparameter fit on the full window (the API refits at every iteration) and the kernel matrix
         under the new lengthscales,
  sample one acquisition sample: the point added to the window (the oldest leaves it), the acquisition built
         on the new data and maximised (q 1, 5 restarts, 64 raw samples), the mean of `--repeats`,
  step   GIBO's gradient step (the gradient posterior at θ) or MPD's walk.
per call = (fit + M · sample + step) / (M + 1), the M samples and the evaluation at θ of one iteration.
Variants: `before`, the API's defaults of the revision given by `--before` (its `src/` taken with `git archive`);
`reference`, this checkout with the configs' defaults for the model (`squared_distances: differences`,
`marginal_likelihood: gpytorch`, `factorization: full`, the numbers of every documented seeded run); `fast`, this
checkout's API defaults (`inner_products`, `closed_form`, `incremental`).

`--les-calls CALLS` (default 30) times LES through `gibo.AskTell` at `--les-dims` (default 16) on a noisy
quadratic, each variant: seconds per call over the second half of the calls (the window then holds them all;
LES's cost per call is its acquisition: 250 sample paths of 500 ascent steps). 0 skips it.

`--end-to-end CALLS` also runs `gibo.AskTell` for CALLS calls at each D on a noisy quadratic with the API's
defaults (this checkout), with K's factor kept between calls (`factorization: incremental`, the default) and
computed afresh at every call (`full`), and prints the wall time per call over the calls made with a full window.

Usage: python benchmarks/large_d.py [--dims 100 200] [--methods gibo mpd] [--before eb080f3] [--repeats 3]
       [--variants before reference fast] [--end-to-end 1300]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# The configs' defaults for the model: the numbers of every documented seeded run
REFERENCE_MODEL = {"squared_distances": "differences", "marginal_likelihood": "gpytorch", "factorization": "full"}
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def worker(method: str, D: int, variant: str, repeats: int) -> dict:
    """One measurement in this process (see the module docstring); returns seconds and peak memory."""
    import resource

    import numpy as np
    import torch

    import gibo

    torch.set_num_threads(1)
    options: dict = {}
    if variant == "reference":
        options = {"model_config": REFERENCE_MODEL}
    run = gibo.AskTell(method, np.full(D, 0.5), budget=10**6, bounds=(0.0, 1.0), seed=0, **options)
    optimizer = run._driver.optimizer
    model = optimizer.model
    generator = torch.Generator().manual_seed(0)
    theta = torch.full((D,), 0.5, dtype=torch.float64)
    centre = torch.linspace(0.45, 0.55, D, dtype=torch.float64)

    def objective(x: torch.Tensor) -> torch.Tensor:
        return -(x - centre).pow(2).sum(-1) * 10 + 0.1 * torch.randn(x.shape[:-1], generator=generator, dtype=x.dtype)

    def box_points(n: int) -> torch.Tensor:
        return theta + optimizer.delta * (2 * torch.rand(n, D, generator=generator, dtype=torch.float64) - 1)

    N_max = model.N_max
    X = box_points(N_max)
    model.set_data(X, objective(X))
    memory_filled = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    model.fit_hyperparameters()
    with torch.no_grad():
        model.kernel_solve()  # the window's distances under the new lengthscales, once per fit
    fit = time.perf_counter() - start
    box = optimizer.search_box()
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        x = box_points(1)
        model.append_train_data(x, objective(x))
        acquisition = optimizer._acquisition(theta)
        from gibo.acquisition_function import optimize_gradient_information

        config = optimizer.optimize_acqf_config
        optimize_gradient_information(
            acquisition, box, q=1, num_restarts=config["num_restarts"], raw_samples=config["raw_samples"]
        )
        samples.append(time.perf_counter() - start)
    start = time.perf_counter()
    with torch.no_grad():
        if method == "mpd":
            _, walk_steps, _ = optimizer.walk(theta)
        else:
            model.posterior_derivative(theta)
            walk_steps = 0
    step = time.perf_counter() - start
    M = optimizer.max_samples_per_iteration
    sample = float(np.mean(samples))
    return {
        "method": method,
        "D": D,
        "variant": variant,
        "N": model.N,
        "M": M,
        "fit_s": fit,
        "sample_s": sample,
        "samples_s": samples,
        "step_s": step,
        "walk_steps": walk_steps,
        "per_call_s": (fit + M * sample + step) / (M + 1),
        "rss_after_fill_mb": memory_filled,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def les_worker(D: int, variant: str, calls: int) -> dict:
    """LES through AskTell for `calls` calls; seconds per call over the second half."""
    import resource

    import numpy as np
    import torch

    import gibo

    torch.set_num_threads(1)
    options: dict = {}
    if variant == "reference":
        options = {"model_config": REFERENCE_MODEL}
    rng = np.random.default_rng(0)
    optimum = rng.uniform(0.3, 0.7, D)
    run = gibo.AskTell("les", np.full(D, 0.5), budget=calls, bounds=(0.0, 1.0), seed=0, **options)
    stamps = []
    start = time.perf_counter()
    while not run.done:
        x = run.ask()
        run.tell(x, float(-10 * np.sum((x - optimum) ** 2) + 0.1 * rng.standard_normal()))
        stamps.append(time.perf_counter() - start)
    half = len(stamps) // 2
    return {
        "method": "les",
        "D": D,
        "variant": variant,
        "calls": len(stamps),
        "per_call_s": (stamps[-1] - stamps[half - 1]) / (len(stamps) - half),
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def end_to_end(method: str, D: int, calls: int, factorization: str) -> dict:
    """AskTell with the API's defaults (`factorization` as given) for `calls` calls; seconds per call once the
    window is full."""
    import resource

    import numpy as np
    import torch

    import gibo

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    optimum = rng.uniform(0.3, 0.7, D)
    model_config = {**gibo.default_options(method, D, bounded=True)["model_config"], "factorization": factorization}
    run = gibo.AskTell(method, np.full(D, 0.5), budget=calls, bounds=(0.0, 1.0), seed=0, model_config=model_config)
    model = run._driver.optimizer.model
    stamps, full_from = [], None
    start = time.perf_counter()
    while not run.done:
        x = run.ask()
        run.tell(x, float(-10 * np.sum((x - optimum) ** 2) + 0.1 * rng.standard_normal()))
        stamps.append(time.perf_counter() - start)
        if full_from is None and model.N_max is not None and model.N >= model.N_max:
            full_from = len(stamps)
    full = (stamps[-1] - stamps[full_from - 1]) / (len(stamps) - full_from) if full_from else float("nan")
    return {
        "method": method,
        "D": D,
        "factorization": factorization,
        "calls": len(stamps),
        "wall_s": stamps[-1],
        "window_full_at": full_from,
        "per_call_full_window_s": full,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def in_subprocess(args: list[str], src: Path) -> dict:
    env = {**os.environ, **ONE_THREAD, "PYTHONPATH": str(src)}
    done = subprocess.run(
        [sys.executable, __file__, *args], env=env, capture_output=True, text=True, check=False, cwd=REPO
    )
    if done.returncode != 0:
        raise SystemExit(f"measurement {' '.join(args)} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def earlier_src(revision: str, into: Path) -> Path:
    """`src/` of an earlier revision of this repository, unpacked under `into`."""
    archive = into / "src.tar"
    with archive.open("wb") as out:
        subprocess.run(["git", "archive", revision, "src"], cwd=REPO, stdout=out, check=True)
    with tarfile.open(archive) as tar:
        tar.extractall(into, filter="data")
    return into / "src"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[100, 200])
    parser.add_argument("--methods", nargs="+", default=["gibo", "mpd"], choices=["gibo", "mpd"])
    parser.add_argument(
        "--variants", nargs="+", default=["before", "reference", "fast"], choices=["before", "reference", "fast"]
    )
    parser.add_argument("--before", default="eb080f3", help="the earlier revision measured as `before`")
    parser.add_argument("--repeats", type=int, default=3, help="acquisition samples timed per measurement")
    parser.add_argument("--les-dims", type=int, nargs="+", default=[16])
    parser.add_argument("--les-calls", type=int, default=30, help="LES calls per variant (0: no LES)")
    parser.add_argument("--end-to-end", type=int, default=0, metavar="CALLS", help="also run AskTell this long")
    parser.add_argument("--json", type=Path, help="write every measurement here")
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--worker-end-to-end", nargs=4, help=argparse.SUPPRESS)
    parser.add_argument("--worker-les", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        method, D, variant, repeats = args.worker
        print(json.dumps(worker(method, int(D), variant, int(repeats))))
        return
    if args.worker_les:
        D, variant, calls = args.worker_les
        print(json.dumps(les_worker(int(D), variant, int(calls))))
        return
    if args.worker_end_to_end:
        method, D, calls, factorization = args.worker_end_to_end
        print(json.dumps(end_to_end(method, int(D), int(calls), factorization)))
        return
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} on {os.cpu_count()} cores; one thread each")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        before_src = earlier_src(args.before, Path(tmp)) if "before" in args.variants else None
        for method in args.methods:
            for D in args.dims:
                for variant in args.variants:
                    src = before_src if variant == "before" else REPO / "src"
                    assert src is not None
                    row = in_subprocess(["--worker", method, str(D), variant, str(args.repeats)], src)
                    rows.append(row)
                    print(
                        f"{method:5s} D={D:4d} N={row['N']:5d} M={row['M']:4d} {variant:9s} "
                        f"fit {row['fit_s']:7.2f} s  sample {1e3 * row['sample_s']:8.1f} ms  "
                        f"step {1e3 * row['step_s']:8.1f} ms ({row['walk_steps']} walk steps)  "
                        f"per call {1e3 * row['per_call_s']:8.1f} ms  peak {row['peak_rss_mb']:6.0f} MB",
                        flush=True,
                    )
        for method in args.methods:
            for D in args.dims:
                by = {r["variant"]: r for r in rows if r["method"] == method and r["D"] == D}
                if "before" in by:
                    for variant in ("reference", "fast"):
                        if variant in by:
                            print(
                                f"{method} D={D}: per call before / {variant} = "
                                f"{by['before']['per_call_s'] / by[variant]['per_call_s']:.1f}x, "
                                f"peak memory {by['before']['peak_rss_mb']:.0f} → {by[variant]['peak_rss_mb']:.0f} MB"
                            )
        for D in args.les_dims if args.les_calls else []:
            by = {}
            for variant in args.variants:
                src = before_src if variant == "before" else REPO / "src"
                assert src is not None
                row = by[variant] = in_subprocess(["--worker-les", str(D), variant, str(args.les_calls)], src)
                rows.append(row)
                print(
                    f"les   D={D:4d} {variant:9s} per call {row['per_call_s']:.2f} s  "
                    f"peak {row['peak_rss_mb']:6.0f} MB",
                    flush=True,
                )
            if "before" in by and "fast" in by:
                ratio = by["before"]["per_call_s"] / by["fast"]["per_call_s"]
                print(f"les D={D}: per call before / fast = {ratio:.1f}x")
        if args.end_to_end:
            for method in args.methods:
                for D, factorization in itertools.product(args.dims, ("full", "incremental")):
                    command = ["--worker-end-to-end", method, str(D), str(args.end_to_end), factorization]
                    row = in_subprocess(command, REPO / "src")
                    rows.append(row)
                    print(
                        f"end to end {method} D={D} factorization {factorization:11s}: {row['calls']} calls in "
                        f"{row['wall_s']:.0f} s, window full "
                        f"from call {row['window_full_at']}, then {1e3 * row['per_call_full_window_s']:.1f} ms per "
                        f"call; peak {row['peak_rss_mb']:.0f} MB",
                        flush=True,
                    )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
