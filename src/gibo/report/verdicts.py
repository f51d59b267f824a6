"""Within the paper's spread: the rule that judges a cell, and the standard errors it compares."""

from __future__ import annotations

import math

import numpy as np

#: A cell is within the paper's spread when |ours - paper| <= SPREAD_FACTOR * combined standard error
#: (plus half a unit of the paper's last printed digit).
SPREAD_FACTOR = 2.0

#: Two-sided 95 % normal quantile, for the order-statistic interval of a quantile.
Z_95 = 1.959964


def within_spread(
    ours: float | None,
    paper: float | None,
    se_ours: float | None,
    se_paper: float | None,
    rounding: float = 0.0,
) -> bool | None:
    """|ours − paper| ≤ 2·sqrt(se_ours² + se_paper²) + rounding; None when any input is missing or not finite."""
    if ours is None or paper is None or se_ours is None or se_paper is None:
        return None
    if not all(np.isfinite(v) for v in (ours, paper, se_ours, se_paper)):
        return None
    return bool(abs(ours - paper) <= SPREAD_FACTOR * math.hypot(se_ours, se_paper) + rounding + 1e-12)


def mean_standard_errors(
    values: np.ndarray, n_paper: int, std_paper: float | None = None
) -> tuple[float, float | None, float | None]:
    """(mean of `values`, its standard error, the paper's standard error) for a comparison of means.

    se = std/sqrt(n) with the unbiased std. A side whose std is unknown (the paper published none, or we
    have a single value) takes the other side's std.
    """
    values = np.asarray(values, dtype=np.float64)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), None, None
    std_ours = float(np.std(values, ddof=1)) if values.size >= 2 else std_paper
    std_paper = std_paper if std_paper is not None else std_ours
    if std_ours is None or std_paper is None or n_paper < 1:
        return float(values.mean()), None, None
    return float(values.mean()), std_ours / math.sqrt(values.size), std_paper / math.sqrt(n_paper)


def proportion_standard_error(p_ours: float, n_ours: int, p_paper: float, n_paper: int) -> float | None:
    """Pooled binomial standard error of a difference of two proportions: sqrt(p̄(1−p̄)(1/n_ours + 1/n_paper))."""
    if n_ours < 1 or n_paper < 1 or not np.isfinite(p_ours):
        return None
    pooled = (p_ours * n_ours + p_paper * n_paper) / (n_ours + n_paper)
    return math.sqrt(pooled * (1 - pooled) * (1 / n_ours + 1 / n_paper))


def quantile_standard_error(values: np.ndarray, q: float) -> float | None:
    """Distribution-free standard error of the q-quantile (0 < q < 1) of `values`: the width of the 95 %
    order-statistic interval x_(lo) … x_(hi), ranks m·q ∓ 1.96·sqrt(m·q(1−q)) clipped to 1 … m, over 2·1.96.
    None for fewer than two values."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    m = values.size
    if m < 2:
        return None
    half = Z_95 * math.sqrt(m * q * (1 - q))
    lo = min(max(math.floor(m * q - half), 1), m)
    hi = min(max(math.ceil(m * q + half), 1), m)
    return float(values[hi - 1] - values[lo - 1]) / (2 * Z_95)


RULE_TEXT = [
    "A cell is **within the paper's spread** when |ours − paper| ≤ 2·sqrt(se_ours² + se_paper²) plus half a unit "
    "of the last digit the paper's value is given to (it is rounded); a cell outside is marked **no ✗**, a cell "
    "that cannot be judged `–`. Standard errors:",
    "Synthetic functions: the paper gives only the mean (and median) over its 40 objectives per dimension, no spread. "
    "se_ours = sd/sqrt(n_ours) with sd the standard deviation (n − 1) of the normalised error over our objectives; "
    "the paper's objectives are draws from the same distribution, so se_paper = sd/sqrt(40) with our sd, i.e. "
    "|Δ| ≤ 2·sd·sqrt(1/n_ours + 1/40). Needs at least two of our objectives.",
    "RL: se = std/sqrt(runs) on each side, with the unbiased std over runs (the paper's std and number of runs "
    "come from its data; with a single run of ours the paper's std stands in for ours).",
    "LQR, stable fraction: the pooled binomial se sqrt(p̄(1 − p̄)(1/n_ours + 1/n_paper)).",
    "LQR, median and 98th percentile of the relative cost (over the trials whose policy is stable at that point, as "
    "in the paper's numbers): se_ours from our 95 % order-statistic interval of that quantile (its width over 2·1.96); "
    "the paper's se is ours scaled by sqrt(n_ours/n_paper) (same spread, its number of stable trials). "
    "This interval is approximate for the 98th percentile of few trials.",
    "A value is read after the number of calls the paper's arrays hold in that column: the last column is one call "
    "short of the budget (e.g. 299 for 300), and ours is read the same way. A column beyond a run's budget is "
    "`not reached`.",
]

FLAG = "**no ✗**"


def verdict_text(verdict: bool | None) -> str:
    return "–" if verdict is None else "yes" if verdict else FLAG
