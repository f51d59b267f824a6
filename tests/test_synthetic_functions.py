"""The two samplers of GP-prior objectives: the paper's rank-limited draw and exact Cholesky draws."""

import pytest
import torch

from gibo.synthetic_functions import sample_lengthscales, sample_prior_functions, sobol_points

# Pooled variance of the samples the paper's objectives were built from (40 objectives per dimension).
PAPER_POOLED_VARIANCE = {8: 0.601, 16: 0.318}


def _draw(D, sampler, num_objectives=10, seed=None):
    seed = D if seed is None else seed  # as the data configs seed dimension D (seed 0)
    lengthscale = sample_lengthscales(D, 2.0, 0.3, torch.Generator().manual_seed(seed))
    return sample_prior_functions(D, num_objectives, 1000, lengthscale, 1.0, seed, sampler=sampler)


@pytest.mark.parametrize("D", [8, 16])
def test_paper_sampler_reproduces_the_papers_sample_statistics_and_is_not_an_exact_draw(D):
    X, y = _draw(D, "paper")
    pooled = float(y.var())
    assert pooled == pytest.approx(PAPER_POOLED_VARIANCE[D], rel=0.25)
    # an exact draw on the same points and lengthscales has variance ~ outputscale = 1
    X_exact = X[0]
    lengthscale = sample_lengthscales(D, 2.0, 0.3, torch.Generator().manual_seed(D))
    K = torch.exp(-0.5 * ((X_exact.unsqueeze(-2) - X_exact.unsqueeze(-3)) / lengthscale).pow(2).sum(-1))
    chol = torch.linalg.cholesky(K + 1e-6 * torch.eye(1000, dtype=torch.float64))
    exact = chol @ torch.randn(1000, 10, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    assert float(exact.var()) > 0.8 and pooled < 0.75 * float(exact.var())


def test_paper_sampler_uses_the_first_unscrambled_sobol_points_for_every_objective():
    X, _ = _draw(4, "paper", num_objectives=3)
    expected = sobol_points(4, 1000)
    assert torch.equal(expected[:2], torch.tensor([[0.0] * 4, [0.5] * 4], dtype=torch.float64))
    for i in range(3):
        assert torch.equal(X[i], expected)


def test_exact_sampler_has_unit_variance_and_scrambled_points_per_objective():
    X, y = _draw(8, "exact", num_objectives=4)
    assert float(y.var()) == pytest.approx(1.0, abs=0.25)
    assert not torch.equal(X[0], X[1])


@pytest.mark.parametrize("sampler", ["paper", "exact"])
def test_samplers_are_repeatable_and_leave_the_global_generator_alone(sampler):
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    first = _draw(8, sampler, num_objectives=3, seed=5)
    after = torch.rand(3)
    second = _draw(8, sampler, num_objectives=3, seed=5)
    assert torch.equal(first[0], second[0]) and torch.equal(first[1], second[1])
    assert torch.equal(after, expected_next)
    other = _draw(8, sampler, num_objectives=3, seed=6)
    assert not torch.equal(first[1], other[1])


def test_unknown_sampler_is_refused():
    with pytest.raises(ValueError, match="unknown sampler 'lanczos'"):
        _draw(2, "lanczos", num_objectives=1)
