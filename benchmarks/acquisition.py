#!/usr/bin/env python
"""Time to evaluate the gradient-information acquisition on 64 candidates: batched vs per-candidate.

The per-candidate reference does what the paper's code did: for each candidate z, build the kernel matrix
of X ∪ {z}, factor it afresh (Cholesky) and compute tr Σ∇(θ | X ∪ {z}). The batched implementation
(`GradientInformation.forward`) uses one Cholesky factor of K for all candidates (Schur complement).
Both are measured in this run, on the same model and candidates, and their values compared.

Usage: python benchmarks/acquisition.py [--dims 4 16 36] [--candidates 64] [--repeats 20]
"""

import argparse
import functools
import time

import torch

from gibo.acquisition_function import GradientInformation
from gibo.kernel import se_kernel
from gibo.model import DerivativeExactGPSEModel


def per_candidate_reference(model: DerivativeExactGPSEModel, theta: torch.Tensor, Z: torch.Tensor) -> torch.Tensor:
    """−tr Σ∇(θ | X ∪ {z}) for each z in Z (`b x D`), one fresh Cholesky factor per candidate."""
    X = model.train_x
    l2 = model.lengthscale.detach().pow(2)
    sf2, sn2 = model.outputscale.detach(), model.noise.detach()
    values = []
    for z in Z:
        Xa = torch.cat([X, z.unsqueeze(0)])
        K = se_kernel(Xa, Xa, model.lengthscale.detach(), sf2) + sn2 * torch.eye(Xa.shape[0], dtype=X.dtype)
        L = torch.linalg.cholesky(K)
        k = se_kernel(theta.unsqueeze(0), Xa, model.lengthscale.detach(), sf2)[0]
        dk = -(theta - Xa) / l2 * k.unsqueeze(-1)  # N+1 x D
        v = torch.linalg.solve_triangular(L, dk, upper=False)
        values.append(-((sf2 / l2).sum() - v.pow(2).sum()))
    return torch.stack(values)


def make_model(D: int, N: int) -> DerivativeExactGPSEModel:
    g = torch.Generator().manual_seed(D)
    model = DerivativeExactGPSEModel(D, N_max=N)
    model.initialize(
        **{
            "covar_module.base_kernel.lengthscale": 0.2 + 0.2 * torch.rand(D, generator=g, dtype=torch.float64),
            "covar_module.outputscale": 1.0,
            "likelihood.noise": 0.01,
        }
    )
    model.append_train_data(
        0.5 + 0.2 * (torch.rand(N, D, generator=g, dtype=torch.float64) - 0.5),
        torch.randn(N, generator=g, dtype=torch.float64),
    )
    return model


def best_time(fn, repeats: int) -> float:
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dims", type=int, nargs="+", default=[4, 16, 36])
    parser.add_argument("--candidates", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); best of {args.repeats} runs, "
        f"{args.candidates} candidates, N = 5D"
    )
    print(f"{'D':>4} {'N':>4} {'per-candidate [ms]':>19} {'batched [ms]':>13} {'speed-up':>9} {'max |diff|':>11}")
    with torch.no_grad():
        for D in args.dims:
            N = 5 * D
            model = make_model(D, N)
            theta = torch.full((D,), 0.5, dtype=torch.float64)
            Z = theta + 0.4 * (torch.rand(args.candidates, D, dtype=torch.float64) - 0.5)
            acquisition = GradientInformation(model, theta)
            batched = acquisition(Z.unsqueeze(1))
            reference = per_candidate_reference(model, theta, Z)
            diff = float((batched - reference).abs().max())
            t_ref = best_time(functools.partial(per_candidate_reference, model, theta, Z), args.repeats)
            t_batch = best_time(functools.partial(acquisition, Z.unsqueeze(1)), args.repeats)
            print(f"{D:>4} {N:>4} {1e3 * t_ref:>19.3f} {1e3 * t_batch:>13.3f} {t_ref / t_batch:>8.1f}x {diff:>11.2e}")


if __name__ == "__main__":
    main()
