"""ARS, augmented random search (docs/method.md#baselines)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from gibo.optimizers.base import Iteration, Optimizer


class ARS(Optimizer):
    """Augmented random search: θ += α / (b σ_R) Σ_k (J(θ + ν δ_k) − J(θ − ν δ_k)) δ_k, δ_k ~ N(0, I).

    With `num_top_directions` b only the b directions with the largest max(r+, r−) are used (ARS-t);
    σ_R is the standard deviation of the used rewards with `standard_deviation_scaling` (else 1), with the
    n − 1 divisor by default (torch's default, which the paper's runs used) or n (`reward_std_divisor="n"`,
    numpy's default, as in Mania et al.'s code; for N = 1 the steps are then √2 times longer);
    indices in `param_args_ignore` are never perturbed. With a state-normalising objective (ARS V2) the
    normaliser's statistics are updated after every iteration.

    Example:
        >>> ars = ARS(torch.zeros(D), objective, step_size=0.02, samples_per_iteration=4, exploration_noise=0.03)
        >>> ars.step()  # 8 objective calls
    """

    def __init__(
        self,
        params_init: torch.Tensor,
        objective: Callable[[torch.Tensor], torch.Tensor],
        step_size: float,
        samples_per_iteration: int,
        exploration_noise: float,
        standard_deviation_scaling: bool = False,
        num_top_directions: int | None = None,
        param_args_ignore: Sequence[int] | None = None,
        reward_std_divisor: str = "n-1",
    ):
        super().__init__(params_init, objective)
        if reward_std_divisor not in ("n-1", "n"):
            raise ValueError(f"reward_std_divisor must be 'n-1' or 'n', got {reward_std_divisor!r}")
        self.reward_std_divisor = reward_std_divisor
        self.step_size = step_size
        self.samples_per_iteration = int(samples_per_iteration)
        self.exploration_noise = exploration_noise
        self.standard_deviation_scaling = standard_deviation_scaling
        self.num_top_directions = num_top_directions or self.samples_per_iteration
        if not 1 <= self.num_top_directions <= self.samples_per_iteration:
            raise ValueError("num_top_directions must lie in [1, samples_per_iteration]")
        self.mask = torch.ones(self.D, dtype=self.params.dtype)
        if param_args_ignore:
            self.mask[list(param_args_ignore)] = 0.0

    def sample_directions(self) -> torch.Tensor:
        """`N x D` directions δ_k ~ N(0, I), zero at the ignored indices."""
        return torch.randn(self.samples_per_iteration, self.D, dtype=self.params.dtype) * self.mask

    def iterate(self) -> Iteration:
        directions = self.sample_directions()
        plus, minus = [], []
        for d in directions:
            plus.append((yield from self._evaluate(self.params + self.exploration_noise * d)))
        for d in directions:
            minus.append((yield from self._evaluate(self.params - self.exploration_noise * d)))
        self.params = self.params + self.update(directions, torch.stack(plus), torch.stack(minus))
        update = getattr(self.objective, "update_state_normalizer", None)
        if update is not None:
            update()
        self._record()

    def update(self, directions: torch.Tensor, r_plus: torch.Tensor, r_minus: torch.Tensor) -> torch.Tensor:
        """The step α / (b σ_R) Σ_{k in top b} (r+_k − r−_k) δ_k. directions: `N x D`; r_plus, r_minus: `N`."""
        b = self.num_top_directions
        top = torch.argsort(torch.maximum(r_plus, r_minus), descending=True)[:b]
        used = torch.cat([r_plus[top], r_minus[top]])
        unbiased = self.reward_std_divisor == "n-1"
        sigma = used.std(unbiased=unbiased) if self.standard_deviation_scaling else torch.ones((), dtype=used.dtype)
        if sigma <= 1e-12:  # every used reward equal: nothing to scale by
            sigma = torch.ones((), dtype=used.dtype)
        return self.step_size / (b * sigma) * ((r_plus[top] - r_minus[top]).unsqueeze(-1) * directions[top]).sum(0)
