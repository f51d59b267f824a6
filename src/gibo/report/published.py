"""The paper's published values drawn into the report's figures beside our curves: dashed, with a marker at each
published point, in the colour of the run they are compared with, and labelled "<run> (paper)"."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: How a published curve is drawn (our curves are solid).
PAPER_STYLE = {"linestyle": "--", "marker": "o", "markersize": 4, "linewidth": 1.2}

#: x and y of one published curve.
Points = tuple[Sequence[float], Sequence[float | None]]


def paper_label(label: str) -> str:
    return f"{label} (paper)"


def _colour_of(ax, label: str) -> str | None:
    """The colour of our line labelled `label` (or "`label`, …", as the RL figure writes it) in `ax`."""
    for line in ax.get_lines():
        name = str(line.get_label())
        if name == label or name.startswith(f"{label}, "):
            return line.get_color()
    return None


def _draw(ax, label: str, points: Points, colour: str | None = None) -> None:
    x = np.asarray(points[0], dtype=np.float64)
    y = np.asarray([np.nan if v is None else v for v in points[1]], dtype=np.float64)
    ax.plot(x, y, color=colour or _colour_of(ax, label), label=paper_label(label), **PAPER_STYLE)
    left, right = ax.get_xlim()
    if x.size and x.max() > right:  # show the published points beyond our budget too
        ax.set_xlim(left, float(x.max()))


def draw_synthetic_paper_curves(fig, curves: Mapping[str, Mapping[int, Points]]) -> None:
    """Into `plot_error_curves`' figure (one panel per D, titled "D = …"): the paper's mean normalised error of
    each run's row, `curves[run label][D] = (calls, errors)`; the figure's legend is rebuilt to list them."""
    for ax in fig.axes:
        title = ax.get_title()
        if not ax.get_visible() or not title.startswith("D = "):
            continue
        D = int(title.removeprefix("D = "))
        for label, per_dimension in curves.items():
            if D in per_dimension:
                _draw(ax, label, per_dimension[D])
    handles: dict[str, object] = {}
    for ax in fig.axes:
        if ax.get_visible():
            for handle, name in zip(*ax.get_legend_handles_labels()):
                handles.setdefault(name, handle)
    for legend in list(fig.legends):
        legend.remove()
    # as many columns as the figure's width holds: about 0.075 in per character of the longest label, 0.8 in for
    # the line sample and the gap (10-point text)
    column_width = 0.075 * max(map(len, handles), default=0) + 0.8
    columns = max(1, min(len(handles), 4, int(fig.get_figwidth() / column_width)))
    fig.legend(list(handles.values()), list(handles), loc="outside lower center", ncols=columns)


def draw_rl_paper_curves(fig, curves: Mapping[str, Points]) -> None:
    """Into `plot_reward_curves`' figure: the paper's mean offline reward of each run's row,
    `curves[run label] = (calls, rewards)`."""
    ax = fig.axes[0]
    for label, points in curves.items():
        _draw(ax, label, points)
    if curves:
        ax.legend(fontsize="small")


#: How a measured reference (e.g. the paper's released code on today's environment) is drawn.
REFERENCE_STYLE = {"linestyle": ":", "marker": "s", "markersize": 3, "linewidth": 1.4, "color": "black"}


def draw_rl_reference_curves(fig, curves: Mapping[str, Points]) -> None:
    """Into `plot_reward_curves`' figure: each measured reference's mean offline reward, `curves[label] = (calls,
    rewards)`, dotted."""
    ax = fig.axes[0]
    for label, (x, y) in curves.items():
        ax.plot(np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64), label=label, **REFERENCE_STYLE)
    if curves:
        ax.legend(fontsize="small")


def draw_lqr_paper_curves(fig, label: str, timesteps: Sequence[float], stable: Sequence[float], median) -> None:
    """Into `lqr.plot_lqr_curves`' figure (stability panel, relative-cost panel): the paper's frequency of stability
    and median relative cost at its numbers of calls (as timesteps), in the colour of our GIBO curve."""
    stability_ax, cost_ax = fig.axes[:2]
    colour = _colour_of(stability_ax, "GIBO")
    _draw(stability_ax, label, (timesteps, stable), colour)
    _draw(cost_ax, f"{label} median", (timesteps, median), colour)
    stability_ax.legend(loc="lower right")
    cost_ax.legend(loc="upper right")
