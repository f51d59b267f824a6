"""Summaries of evaluated runs: tables of the offline reward at given calls, calls to reach a threshold,
and the reward-curve figure."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gibo.rl_evaluation.runs import EvaluatedRun, trial_std

# Reward thresholds the paper quotes (dashed line in the figures); CartPole's maximum return is 500.
THRESHOLDS = {"CartPole": 500.0, "Swimmer": 325.0, "Hopper": 3120.0}
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")


def default_report_calls(max_calls: int) -> list[int]:
    """1/8, 1/4, 1/2 and all of the budget (2000 → 250, 500, 1000, 2000)."""
    return sorted({max(1, round(max_calls * f)) for f in (0.125, 0.25, 0.5, 1.0)})


def summary_table(results: Sequence[EvaluatedRun], calls: Sequence[int]) -> str:
    """Mean ± std (over trials) of the offline reward at the given calls, one row per run."""
    width = max([len(r.label) for r in results] + [8])
    lines = ["calls".ljust(width) + "".join(f"{c:>18d}" for c in calls) + "  trials"]
    for result in results:
        mean, std = result.summary(calls)
        cells = "".join(f"{'n/a' if np.isnan(m) else f'{m:.1f} ± {s:.1f}':>18s}" for m, s in zip(mean, std))
        lines.append(result.label.ljust(width) + cells + f"  {len(result.curves):>6d}")
    return "\n".join(lines)


def threshold_table(results: Sequence[EvaluatedRun], threshold: float) -> str:
    """Per trial, the calls after which an iterate reached `threshold` ('-' if none did)."""
    lines = []
    for result in results:
        reached = [c.calls_to_reach(threshold) for c in result.curves]
        cells = ", ".join("-" if r is None else str(r) for r in reached)
        lines.append(f"{result.label}: calls to reach {threshold:g} per trial: {cells}")
    return "\n".join(lines)


def paper_threshold(environment: str) -> float | None:
    return THRESHOLDS.get(environment.split("-")[0])


def plot_reward_curves(
    results: Sequence[EvaluatedRun],
    ax=None,
    title: str | None = None,
    max_calls: int | None = None,
    threshold: float | None = None,
    legend: bool = True,
):
    """Mean ± std over trials of the offline reward vs. the number of rollouts, one curve per run.

    Draws into `ax` (a new figure if None) and returns the figure. The title defaults to the environment.
    """
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5.0, 3.6))
    else:
        fig = ax.figure
    if not results:  # a notebook panel whose runs are all missing
        ax.text(0.5, 0.5, "no results", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title or "")
        return fig
    top = max_calls or max(r.max_calls for r in results)
    grid = np.arange(0, top + 1)
    markevery = max(1, len(grid) // 10)
    for i, result in enumerate(results):
        values = result.rewards_on_grid(grid)
        mean, std = np.nanmean(values, axis=0), trial_std(values)
        n = len(result.curves)
        (line,) = ax.plot(
            grid,
            mean,
            label=f"{result.label}, {n} run{'s' if n != 1 else ''}",
            marker=MARKERS[i % len(MARKERS)],
            markevery=(i * markevery // len(results), markevery),  # staggered so markers do not overlap
            markersize=5,
            drawstyle="steps-post",
        )
        ax.fill_between(grid, mean - std, mean + std, step="post", color=line.get_color(), alpha=0.2, linewidth=0)
    if threshold is not None:
        ax.axhline(threshold, color="k", linestyle="--", linewidth=0.8, label=f"threshold {threshold:g}")
    environments = sorted({r.run.environment for r in results})
    ax.set_title(title if title is not None else ", ".join(environments))
    ax.set_xlabel("number of rollouts")
    ax.set_ylabel("reward")
    ax.set_xlim(0, top)
    ax.grid(alpha=0.3)
    if legend:
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def environments_of(results: Sequence[EvaluatedRun]) -> dict[str, list[EvaluatedRun]]:
    grouped: dict[str, list[EvaluatedRun]] = {}
    for result in results:
        grouped.setdefault(result.run.environment, []).append(result)
    return grouped
