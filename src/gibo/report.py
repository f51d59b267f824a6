"""A report of saved runs against the paper's published numbers: `report.md` and the same content as a
self-contained `report.html` (figures embedded as PNG, no external files).

For the runs it is given, the report draws the figures of the paper's sections they cover (with the
project's plotting functions), compares them with the paper in tables "paper | ours | within the paper's
spread?", and lists every benchmark of the paper that no run covers with the command that makes it.

Paper: S. Müller, A. von Rohr, S. Trimpe, "Local policy search with Bayesian optimization", NeurIPS 2021.
Its numbers are in `gibo/data/paper_results.yaml` (`load_paper_results`).

A run is a directory with the `config.yaml` that `run_synthetic_experiment.py` or `run_rl_experiment.py`
wrote beside its results; what it is (synthetic / RL / LQR, method, hyperparameter set, settings) is read
from that record.

Command line:
    python -m gibo.report RUN_DIR_OR_RESULTS_FOLDER [...] --out REPORT_DIR [--force] [--workers N]

Example:
    >>> write_report(["experiments/"], "report/", workers=2)
    PosixPath('report')
"""

from __future__ import annotations

import argparse
import base64
import datetime
import html
import io
import json
import logging
import math
import re
import shutil
import sys
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import numpy as np
import yaml

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging
from gibo.results import CONFIG_FILE, unit_files

logger = logging.getLogger("gibo.report")  # same name when run as python -m gibo.report

PAPER_RESULTS = "paper_results.yaml"

#: A cell is within the paper's spread when |ours - paper| <= SPREAD_FACTOR * combined standard error
#: (plus half a unit of the paper's last printed digit).
SPREAD_FACTOR = 2.0
#: Two-sided 95 % normal quantile, for the order-statistic interval of a quantile.
Z_95 = 1.959964

SET_TITLES = {
    "fixed_hypers": "fixed hyperparameters (the GP gets the true ones)",
    "learned_hypers": "learned hyperparameters (only the noise is given)",
    None: "other settings (neither of the paper's two hyperparameter sets)",
}

# Baselines without a GP belong to the paper's fixed-hyperparameter set when their step size is derived from
# the true lengthscale l(D) ("variable" in the config), to the learned set when it is a plain number.
_LENGTHSCALE_DERIVED = {"rs": "exploration_noise", "cmaes": "sigma"}

#: Cells outside the spread listed in the summary (the tables flag all of them).
MAX_LISTED = 30

RESULT_PATTERNS = {
    "synthetic": "dim*/objective*.npz",
    "rl": "trial[0-9][0-9][0-9].npz",
    "lqr": "trial[0-9][0-9][0-9].npz",
}


class ReportError(ValueError):
    """Runs or a report folder the user points at are unusable; the message is one line naming the path."""


def load_paper_results() -> dict:
    """The paper's numbers: {"synthetic", "rl", "lqr"}, as in `gibo/data/paper_results.yaml` (a fresh copy)."""
    text = resources.files("gibo").joinpath("data", PAPER_RESULTS).read_text(encoding="utf-8")
    return yaml.safe_load(text)


# ----------------------------------------------------------------------------------------------
# Runs: what they are, read from their config.yaml
# ----------------------------------------------------------------------------------------------


@dataclass
class Run:
    """One run directory: its saved config record and what kind of experiment it is."""

    run_dir: Path
    record: dict
    kind: str  # "synthetic", "rl" or "lqr"
    label: str = ""

    @property
    def experiment(self) -> dict:
        return self.record["experiment"]

    @property
    def method(self) -> str:
        return str(self.experiment["method"])

    @property
    def budget(self) -> Optional[int]:
        """The configured number of calls (None when the run was limited by iterations only)."""
        calls = self.experiment.get("max_objective_calls")
        return int(calls) if calls is not None else None

    @property
    def environment(self) -> str:
        return str(self.experiment.get("environment_name") or "")


def run_kind(record) -> Optional[str]:
    """ "synthetic", "rl" or "lqr" for a config record of the run scripts, None for anything else."""
    from gibo.lqr import LQR_ENV_IDS

    experiment = record.get("experiment") if isinstance(record, dict) else None
    if not isinstance(experiment, dict) or "method" not in experiment:
        return None
    if isinstance(record.get("data"), dict):
        return "synthetic"
    environment = experiment.get("environment_name")
    if environment in LQR_ENV_IDS:
        return "lqr"
    return "rl" if environment else None


def read_run(run_dir) -> Run:
    """The run in `run_dir` (ReportError when its config.yaml is not one the run scripts write)."""
    saved = Path(run_dir) / CONFIG_FILE
    try:
        record = yaml.safe_load(saved.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ReportError(f"{saved}: cannot be read ({type(error).__name__})") from None
    kind = run_kind(record)
    if kind is None:
        raise ReportError(f"{saved}: not a config saved by run_synthetic_experiment.py or run_rl_experiment.py")
    return Run(Path(run_dir), record, kind)


def find_runs(paths: Sequence, exclude=None) -> Tuple[List[Run], List[str]]:
    """The runs in `paths`: a directory holding config.yaml is a run, any other directory is searched for runs.

    Returns (runs with results, one line per skipped directory). A run named directly that cannot be read
    raises ReportError; found ones are skipped with a note, and so are runs without result files yet.
    """
    runs, skipped, seen = [], [], set()
    exclude = Path(exclude).resolve() if exclude is not None else None
    for path in map(Path, paths):
        if not path.is_dir():
            raise ReportError(f"{path}: no such directory")
        named = (path / CONFIG_FILE).is_file()
        candidates = [path] if named else sorted(p.parent for p in path.rglob(CONFIG_FILE))
        if not candidates:
            raise ReportError(f"{path}: no run directories (with {CONFIG_FILE}) found")
        for run_dir in candidates:
            key = run_dir.resolve()
            if key in seen or (exclude is not None and key.is_relative_to(exclude)):
                continue
            seen.add(key)
            try:
                run = read_run(run_dir)
            except ReportError as error:
                if named:
                    raise
                skipped.append(str(error))
                continue
            if not list(unit_files(run_dir, RESULT_PATTERNS[run.kind])):
                skipped.append(f"{run_dir}: no result files yet")
                continue
            runs.append(run)
    if not runs:
        raise ReportError(f"no runs with results in {', '.join(map(str, paths))}")
    return runs, skipped


def method_label(method: str) -> str:
    from gibo.rl_evaluation import METHOD_LABELS

    return METHOD_LABELS.get(method, method)


def assign_labels(runs: Sequence[Run]) -> None:
    """Label every run by its method and directory name ("GIBO (gibo_10runs)"; "GIBO" for a directory named
    after the method), unique over all runs."""

    def label(run: Run, depth: int) -> str:
        name = "/".join(run.run_dir.resolve().parts[-depth:])
        plain = method_label(run.method)
        return plain if depth == 1 and name.lower() in (run.method.lower(), plain.lower()) else f"{plain} ({name})"

    for run in runs:
        run.label = label(run, 1)
    for depth in (2, 3):
        counts: Dict[str, int] = {}
        for run in runs:
            counts[run.label] = counts.get(run.label, 0) + 1
        for run in runs:
            if counts[run.label] > 1:
                run.label = label(run, depth)
    counts = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
        if counts[run.label] > 1:
            run.label = f"{run.label} #{counts[run.label]}"


def run_features(experiment: dict) -> Dict[str, bool]:
    """The settings the paper's rows are told apart by, where the method has them: "epsilon_early_stop"
    (an ε is set), "normalize_gradient", "state_normalization" (RL policies)."""
    optimizer = experiment.get("optimizer_config") or {}
    features = {}
    if "epsilon_diff_acq_value" in optimizer:
        features["epsilon_early_stop"] = optimizer["epsilon_diff_acq_value"] is not None
    if "normalize_gradient" in optimizer:
        features["normalize_gradient"] = bool(optimizer["normalize_gradient"])
    if isinstance(experiment.get("mlp"), dict):
        features["state_normalization"] = bool(experiment["mlp"].get("state_normalization", False))
    return features


def hyperparameter_set(experiment: dict) -> Optional[str]:
    """ "fixed_hypers" or "learned_hypers": which of the paper's two synthetic comparisons a run belongs to
    (None: neither)."""
    if experiment.get("set_hypers"):
        return "fixed_hypers"
    if experiment.get("only_set_noise_hyper"):
        return "learned_hypers"
    key = _LENGTHSCALE_DERIVED.get(experiment.get("method"))
    if key is None:
        return None
    return "fixed_hypers" if (experiment.get("optimizer_config") or {}).get(key) == "variable" else "learned_hypers"


def matching_row(
    rows: Sequence[dict], method: str, features: Dict[str, bool], n_runs: Optional[int] = None
) -> Optional[dict]:
    """The paper's row a run is compared with: same method, every setting the row names equal; among several,
    the one naming most settings, then the one with the number of runs closest to `n_runs`."""
    candidates = [
        row
        for row in rows
        if row["method"] == method and all(features.get(k) == v for k, v in (row.get("settings") or {}).items())
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda row: (-len(row.get("settings") or {}), abs(row.get("runs", 0) - (n_runs or 0))))


def row_label(row: dict) -> str:
    return row.get("label") or method_label(row["method"])


# ----------------------------------------------------------------------------------------------
# Within the paper's spread
# ----------------------------------------------------------------------------------------------


def within_spread(
    ours: Optional[float],
    paper: Optional[float],
    se_ours: Optional[float],
    se_paper: Optional[float],
    rounding: float = 0.0,
) -> Optional[bool]:
    """|ours − paper| ≤ 2·sqrt(se_ours² + se_paper²) + rounding; None when any input is missing or not finite."""
    values = (ours, paper, se_ours, se_paper)
    if any(v is None or not np.isfinite(v) for v in values):
        return None
    return bool(abs(ours - paper) <= SPREAD_FACTOR * math.hypot(se_ours, se_paper) + rounding + 1e-12)


def mean_standard_errors(
    values: np.ndarray, n_paper: int, std_paper: Optional[float] = None
) -> Tuple[float, Optional[float], Optional[float]]:
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


def proportion_standard_error(p_ours: float, n_ours: int, p_paper: float, n_paper: int) -> Optional[float]:
    """Pooled binomial standard error of a difference of two proportions: sqrt(p̄(1−p̄)(1/n_ours + 1/n_paper))."""
    if n_ours < 1 or n_paper < 1 or not np.isfinite(p_ours):
        return None
    pooled = (p_ours * n_ours + p_paper * n_paper) / (n_ours + n_paper)
    return math.sqrt(pooled * (1 - pooled) * (1 / n_ours + 1 / n_paper))


def quantile_standard_error(values: np.ndarray, q: float) -> Optional[float]:
    """Distribution-free standard error of the q-quantile (0 < q < 1) of `values`: the width of the 95 %
    order-statistic interval x_(lo) … x_(hi), ranks m·q ∓ 1.96·sqrt(m·q(1−q)) clipped to 1 … m, over 2·1.96.
    None for fewer than two values."""
    values = np.sort(np.asarray(values, dtype=np.float64))
    m = values.size
    if m < 2:
        return None
    half = Z_95 * math.sqrt(m * q * (1 - q))
    lo = min(max(int(math.floor(m * q - half)), 1), m)
    hi = min(max(int(math.ceil(m * q + half)), 1), m)
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


# ----------------------------------------------------------------------------------------------
# Document: blocks rendered both as markdown and as HTML (inline markup: `code` and **bold**)
# ----------------------------------------------------------------------------------------------


@dataclass
class Heading:
    level: int
    text: str


@dataclass
class Paragraph:
    text: str


@dataclass
class Bullets:
    items: List[str]


@dataclass
class Table:
    header: List[str]
    rows: List[List[str]]


@dataclass
class Image:
    path: str  # relative to the report folder
    caption: str
    png: bytes


@dataclass
class Code:
    text: str


Block = Union[Heading, Paragraph, Bullets, Table, Image, Code]

FLAG = "**no ✗**"


def verdict_text(verdict: Optional[bool]) -> str:
    return "–" if verdict is None else "yes" if verdict else FLAG


def render_markdown(blocks: Sequence[Block]) -> str:
    out = []
    for block in blocks:
        if isinstance(block, Heading):
            out.append(f"{'#' * block.level} {block.text}")
        elif isinstance(block, Paragraph):
            out.append(block.text)
        elif isinstance(block, Bullets):
            out.append("\n".join(f"- {item}" for item in block.items))
        elif isinstance(block, Table):
            cell = lambda text: str(text).replace("|", "\\|")  # noqa: E731
            lines = ["| " + " | ".join(cell(h) for h in block.header) + " |", "|" + "---|" * len(block.header)]
            lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in block.rows]
            out.append("\n".join(lines))
        elif isinstance(block, Image):
            out.append(f"![{block.caption}]({block.path})\n\n*{block.caption}*")
        elif isinstance(block, Code):
            out.append(f"```\n{block.text}\n```")
    return "\n\n".join(out) + "\n"


def _inline_html(text: str) -> str:
    text = html.escape(str(text), quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", text)


_STYLE = """
body { font-family: sans-serif; max-width: 80em; margin: 2em auto; padding: 0 1em; line-height: 1.4; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; }
th, td { border: 1px solid #bbb; padding: 0.2em 0.5em; text-align: right; white-space: nowrap; }
th { background: #eee; }
td:first-child, th:first-child, td:nth-child(2) { text-align: left; }
td strong { color: #b00000; }
code, pre { background: #f4f4f4; }
pre { padding: 0.5em; overflow-x: auto; }
figure { margin: 1em 0; }
img { max-width: 100%; }
figcaption { font-style: italic; }
"""


def render_html(blocks: Sequence[Block], title: str) -> str:
    """One self-contained HTML page: inline style, images as data: URIs, no external references."""
    body = []
    for block in blocks:
        if isinstance(block, Heading):
            body.append(f"<h{block.level}>{_inline_html(block.text)}</h{block.level}>")
        elif isinstance(block, Paragraph):
            body.append(f"<p>{_inline_html(block.text)}</p>")
        elif isinstance(block, Bullets):
            body.append("<ul>" + "".join(f"<li>{_inline_html(item)}</li>" for item in block.items) + "</ul>")
        elif isinstance(block, Table):
            head = "".join(f"<th>{_inline_html(h)}</th>" for h in block.header)
            rows = "".join("<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in block.rows)
            body.append(f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>")
        elif isinstance(block, Image):
            data = base64.b64encode(block.png).decode("ascii")
            caption = html.escape(block.caption)
            body.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{caption}"><figcaption>{caption}</figcaption></figure>'
            )
        elif isinstance(block, Code):
            body.append(f"<pre><code>{html.escape(block.text, quote=False)}</code></pre>")
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{html.escape(title)}</title>\n'
        f"<style>{_STYLE}</style>\n</head>\n<body>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def figure_png(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes; a pyplot-managed figure is closed afterwards."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close(fig)
    return buffer.getvalue()


# ----------------------------------------------------------------------------------------------
# The report
# ----------------------------------------------------------------------------------------------


@dataclass
class Judged:
    """One compared cell, for the summary."""

    where: str
    verdict: Optional[bool]


@dataclass
class Report:
    """Blocks of the document being built, the compared cells, and which rows of the paper are covered."""

    paper: dict
    blocks: List[Block] = field(default_factory=list)
    judged: List[Judged] = field(default_factory=list)
    covered: Dict[tuple, Optional[int]] = field(default_factory=dict)  # paper row key -> largest budget seen
    skipped: List[str] = field(default_factory=list)  # runs left out, one line each

    def skip(self, message: str) -> None:
        logger.warning("skipped: %s", message)
        self.skipped.append(message)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def judge(self, where: str, verdict: Optional[bool]) -> str:
        self.judged.append(Judged(where, verdict))
        return verdict_text(verdict)

    def cover(self, key: tuple, budget: Optional[int]) -> None:
        """A run covers this row of the paper's data up to `budget` calls (None: no call limit)."""
        previous = self.covered.get(key, 0)
        self.covered[key] = None if budget is None or previous is None else max(previous, budget)

    def figure(self, fig, name: str, caption: str) -> None:
        self.add(Image(f"figures/{name}.png", caption, figure_png(fig)))


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _budget_reached(budget: Optional[int], read_after: int) -> bool:
    return budget is None or read_after <= budget


def _calls_header(calls: Sequence[int], read_after: Sequence[int]) -> str:
    shifted = [f"{c} (read after {r})" for c, r in zip(calls, read_after) if c != r]
    return f" Columns read after fewer calls than their heading: {', '.join(shifted)}." if shifted else ""


# -------- synthetic


def _data_key(data: dict) -> str:
    return json.dumps({k: v for k, v in data.items() if k != "out_dir"}, sort_keys=True, default=str)


def _data_differences(data: dict, paper_data: dict) -> List[str]:
    ours = {**data, "outputscale": (data.get("gp_hypers") or {}).get("outputscale")}
    differences = []
    for key, value in paper_data.items():
        mine = ours.get(key)
        same = isinstance(value, (int, float)) and isinstance(mine, (int, float)) and math.isclose(value, mine)
        if not same and mine != value:
            differences.append(f"{key} {mine} (paper {value})")
    return differences


def synthetic_section(report: Report, runs: Sequence[Run]) -> None:
    from gibo.evaluate import (
        load_synthetic_methods,
        max_calls_of,
        mean_error_table,
        plot_error_curves,
        plot_final_error_boxes,
        synthetic_error_curves,
    )

    paper = report.paper["synthetic"]
    calls, read_after = paper["calls"], paper["read_after_calls"]
    groups: Dict[Tuple[str, Optional[str]], List[Run]] = {}
    for run in runs:
        groups.setdefault((_data_key(run.record["data"]), hyperparameter_set(run.experiment)), []).append(run)
    order = {"fixed_hypers": 0, "learned_hypers": 1, None: 2}
    report.add(Heading(2, "Synthetic functions"))
    for number, ((_, set_name), group) in enumerate(
        sorted(groups.items(), key=lambda item: (order[item[0][1]], item[0][0])), 1
    ):
        data = group[0].record["data"]
        title = f"{SET_TITLES[set_name][0].upper()}{SET_TITLES[set_name][1:]}: D = {', '.join(map(str, data['dimensions']))}, {data['num_objectives']} objectives per D"
        report.add(Heading(3, title))
        notes = [f"Runs: {', '.join(f'{run.label} (`{run.run_dir}`)' for run in group)}."]
        differences = _data_differences(data, paper["data"])
        if differences:
            notes.append(
                f"The data differ from the paper's benchmark ({'; '.join(differences)}), so differences "
                "from the paper's numbers are expected."
            )
        report.add(Paragraph(" ".join(notes)))
        try:
            methods = load_synthetic_methods({run.label: run.run_dir for run in group})
            errors = synthetic_error_curves(methods, np.asarray(read_after))  # raises for runs whose f* disagree
        except (OSError, ValueError) as error:
            report.skip(f"{', '.join(str(run.run_dir) for run in group)}: {error}")
            report.add(Paragraph(f"Not compared: {error}"))
            continue
        stem = f"synthetic_{number}_{_slug(set_name or 'other')}"
        report.figure(
            plot_error_curves(methods),
            f"{stem}_error_curves",
            f"Mean normalised error vs calls per dimension, {SET_TITLES[set_name]}",
        )
        report.figure(
            plot_final_error_boxes(methods),
            f"{stem}_final_error_boxes",
            f"Normalised error after the last call per dimension, {SET_TITLES[set_name]}",
        )
        means = mean_error_table(methods, read_after)
        rows = paper["sets"].get(set_name, []) if set_name else []
        header = ["ours", "paper row", "D", "n"]
        for c in calls:
            header += [f"paper {c}", f"ours {c}", f"within {c}?"]
        table = []
        for run in group:
            row = matching_row(rows, run.method, run_features(run.experiment))
            budget = run.budget or max_calls_of({run.label: methods[run.label]})
            for D, per_objective in errors[run.label].items():
                paper_means = (row or {}).get("mean", {}).get(D)
                if paper_means is not None:
                    report.cover(("synthetic", set_name, row["name"], D), budget)
                cells = [run.label, row_label(row) if row else "–", str(D), str(per_objective.shape[0])]
                for j, n in enumerate(read_after):
                    paper_value = paper_means[j] if paper_means is not None else None
                    if not _budget_reached(budget, n):
                        cells += [_fmt(paper_value, 3), "not reached", "–"]
                        continue
                    _, se_ours, se_paper = mean_standard_errors(per_objective[:, j], paper["objectives"])
                    mean = means[run.label][D][j]
                    ours = f"{mean:.3f}" + (f" ± {se_ours:.3f}" if se_ours is not None else "")
                    verdict = within_spread(mean, paper_value, se_ours, se_paper, rounding=0.0005)
                    where = f"synthetic, {SET_TITLES[set_name].split(' (')[0]}, {run.label}, D = {D}, {calls[j]} calls"
                    cells += [
                        _fmt(paper_value, 3),
                        ours,
                        report.judge(where, verdict) if paper_value is not None else "–",
                    ]
                table.append(cells)
        report.add(
            Paragraph(
                f"Mean normalised error (f* − best J so far)/f* over the objectives; ours as mean ± se over our n "
                f"objectives, the paper's over {paper['objectives']}. f* is corrected across the runs of this "
                f"table.{_calls_header(calls, read_after)}"
            ),
            Table(header, table),
        )


def _fmt(value: Optional[float], digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


# -------- RL


def _environment_key(environment: str) -> str:
    return environment.split(":")[-1].split("-")[0].lower()


def rl_section(report: Report, runs: Sequence[Run], workers: int = 1) -> None:
    from gibo.config import ConfigError
    from gibo.rl_evaluation import (
        EvaluationError,
        evaluate_in_parallel,
        evaluate_run,
        load_saved_run,
        paper_threshold,
        plot_reward_curves,
    )

    report.add(Heading(2, "Reinforcement learning"))
    groups: Dict[str, List[Run]] = {}
    for run in runs:
        groups.setdefault(_environment_key(run.environment), []).append(run)
    for key, group in sorted(groups.items()):
        paper = report.paper["rl"].get(key)
        environments = sorted({run.environment for run in group})
        report.add(Heading(3, ", ".join(environments)))
        loaded = []
        for run in group:
            try:
                loaded.append((run, load_saved_run(run.run_dir, label=run.label)))
            except (ConfigError, EvaluationError) as error:
                report.skip(str(error))
        if not loaded:
            report.add(Paragraph("No run of this environment could be read (see Skipped)."))
            continue
        group, rl_runs = [run for run, _ in loaded], [rl_run for _, rl_run in loaded]
        if workers > 1:
            evaluate_in_parallel(rl_runs, workers=workers)
        results = [evaluate_run(rl_run) for rl_run in rl_runs]
        fig = plot_reward_curves(results, threshold=paper_threshold(environments[0]))
        report.figure(fig, f"rl_{_slug(key)}", f"Offline reward, mean ± std over trials, {', '.join(environments)}")
        if paper is None:
            report.add(Paragraph("The paper has no numbers for this environment."))
            continue
        calls, read_after = paper["calls"], paper["read_after_calls"]
        header = ["ours", "paper row", "runs (ours / paper)"]
        for c in calls:
            header += [f"paper {c}", f"ours {c}", f"within {c}?"]
        table = []
        for run, result in zip(group, results):
            n_runs = len(result.curves)
            row = matching_row(paper["rows"], run.method, run_features(run.experiment), n_runs)
            if row is not None:
                report.cover(("rl", key, row["name"]), run.budget)
            values = result.rewards_on_grid(np.asarray(read_after))
            cells = [run.label, row_label(row) if row else "–", f"{n_runs} / {row['runs']}" if row else str(n_runs)]
            for j, n in enumerate(read_after):
                paper_cell = f"{row['mean'][j]:.1f} ± {row['std'][j]:.1f}" if row else "–"
                if not _budget_reached(run.budget, n):
                    cells += [paper_cell, "not reached", "–"]
                    continue
                std_paper = row["std"][j] if row else None
                mean, se_ours, se_paper = mean_standard_errors(values[:, j], row["runs"] if row else 0, std_paper)
                finite = values[np.isfinite(values[:, j]), j]
                std_ours = float(np.std(finite, ddof=1)) if finite.size >= 2 else None
                ours = f"{mean:.1f}" + (f" ± {std_ours:.1f}" if std_ours is not None else "")
                if row is None:
                    cells += ["–", ours, "–"]
                    continue
                verdict = within_spread(mean, row["mean"][j], se_ours, se_paper, rounding=0.05)
                cells += [
                    paper_cell,
                    ours,
                    report.judge(f"RL, {paper['environment']}, {run.label}, {calls[j]} calls", verdict),
                ]
            table.append(cells)
        report.add(
            Paragraph(
                "Offline reward (each iterate evaluated once on the raw environment), mean ± unbiased std over "
                f"runs.{_calls_header(calls, read_after)}"
            ),
            Table(header, table),
        )


# -------- LQR


def lqr_section(report: Report, runs: Sequence[Run]) -> None:
    from gibo import lqr

    paper = report.paper["lqr"]
    read_after = np.asarray(paper["read_after_calls"])
    report.add(Heading(2, "Linear quadratic regulator"))
    for number, run in enumerate(runs, 1):
        try:
            params, calls = lqr.load_lqr_run(run.run_dir)
        except (OSError, ValueError) as error:
            report.skip(str(error))
            continue
        report.add(Heading(3, f"{run.label} (`{run.run_dir}`)"))
        report.figure(
            lqr.plot_lqr_curves(lqr.lqr_curves(params, calls)),
            f"lqr_{number}_{_slug(run.run_dir.name)}",
            f"Frequency of stability and median relative cost (2nd–98th percentile band), {run.label}",
        )
        compared = run.method == paper.get("method", "gibo")
        if compared:
            report.cover(("lqr",), run.budget)
        at = lqr.lqr_curves(params, calls, grid=read_after)
        stable_cost = np.where(np.isfinite(at["cost_on_grid"]), at["cost_on_grid"], np.nan)
        quantiles = lqr.cost_percentiles(stable_cost, q=(50, 98))
        header = [
            "calls",
            "stable paper",
            "stable ours",
            "within?",
            "median paper",
            "median ours",
            "within?",
            "p98 paper",
            "p98 ours",
            "within?",
            "stable trials (ours / paper)",
        ]
        table = []
        for j, n in enumerate(read_after):
            row = [str(paper["calls"][j])]
            p_paper, m_paper = paper["stable_fraction"][j], paper["n_stable"][j]
            med_paper, p98_paper = paper["median"][j], paper["p98"][j]
            if not _budget_reached(run.budget, int(n)):
                row += [
                    f"{100 * p_paper:.0f} %",
                    "not reached",
                    "–",
                    _fmt(med_paper, 3),
                    "not reached",
                    "–",
                    _fmt(p98_paper, 3),
                    "not reached",
                    "–",
                    f"– / {m_paper}",
                ]
                table.append(row)
                continue
            present = np.isfinite(at["stable_on_grid"][:, j])
            n_ours = int(present.sum())
            p_ours = float(at["stability_frequency"][j])
            finite = stable_cost[:, j][np.isfinite(stable_cost[:, j])]
            where = f"LQR, {run.label}, {paper['calls'][j]} calls"
            se = proportion_standard_error(p_ours, n_ours, p_paper, paper["trials"])
            verdict = within_spread(p_ours, p_paper, se, 0.0, rounding=0.005) if compared else None
            row += [
                f"{100 * p_paper:.0f} %",
                f"{100 * p_ours:.0f} %",
                report.judge(where + ", stable", verdict) if compared else "–",
            ]
            for k, (q, value) in enumerate(((0.5, med_paper), (0.98, p98_paper))):
                ours = float(quantiles[k, j]) if finite.size else None
                se_ours = quantile_standard_error(finite, q)
                se_paper = se_ours * math.sqrt(finite.size / m_paper) if se_ours is not None and m_paper else None
                verdict = within_spread(ours, value, se_ours, se_paper, rounding=0.0005)
                name = "median" if q == 0.5 else "p98"
                row += [
                    _fmt(value, 3),
                    _fmt(ours, 3),
                    report.judge(f"{where}, {name}", verdict) if compared and value is not None else "–",
                ]
            row.append(f"{finite.size} / {m_paper}")
            table.append(row)
        report.add(
            Paragraph(
                f"{len(calls)} trials. Relative cost (J(K) − J*)/J*; median and 98th percentile over the trials "
                f"whose policy is stable at that point.{_calls_header(paper['calls'], list(read_after))}"
                + ("" if compared else " The paper's LQR numbers are for GIBO; this run is shown without a comparison.")
            ),
            Table(header, table),
        )


# -------- missing benchmarks


def _command(script: str, row: dict, *args: str) -> str:
    parts = [f"python {script} -c {row['config']}", *args, *(row.get("extra_args") or []), "--workers 2"]
    text = f"`{' '.join(parts)}`"
    overrides = row.get("overrides") or {}
    if overrides:
        settings = ", ".join(f"`{k}: {'null' if v is None else v}`" for k, v in overrides.items())
        text += f" with {settings} set in (a copy of) that config"
    return text


def _stops_early(budget: Optional[int], needed: int) -> bool:
    return budget is not None and budget < needed


def missing_section(report: Report) -> None:
    paper = report.paper
    missing, partial = [], []
    synthetic = paper["synthetic"]
    data_config = synthetic["data_config"]
    for set_name, rows in synthetic["sets"].items():
        for row in rows:
            absent = [
                D for D in synthetic["dimensions"] if ("synthetic", set_name, row["name"], D) not in report.covered
            ]
            name = f"synthetic, {SET_TITLES[set_name].split(' (')[0]}, {row_label(row)}"
            if absent:
                command = _command("run_synthetic_experiment.py", row, f"-cd {data_config}")
                missing.append(f"{name}, D = {', '.join(map(str, absent))}: {command}")
            keys = [("synthetic", set_name, row["name"], D) for D in synthetic["dimensions"]]
            short = [
                key[-1]
                for key in keys
                if key in report.covered and _stops_early(report.covered[key], synthetic["calls"][-1])
            ]
            if short:
                partial.append(
                    f"{name}, D = {', '.join(map(str, short))}: the runs stop before {synthetic['calls'][-1]} calls"
                )
    for key, environment in paper["rl"].items():
        for row in environment["rows"]:
            name = f"{environment['environment']}, {row_label(row)}, {row['runs']} runs"
            if ("rl", key, row["name"]) not in report.covered:
                missing.append(f"{name}: {_command('run_rl_experiment.py', row)}")
            elif _stops_early(report.covered[("rl", key, row["name"])], environment["calls"][-1]):
                partial.append(f"{name}: the runs stop before {environment['calls'][-1]} calls")
    lqr = paper["lqr"]
    if ("lqr",) not in report.covered:
        missing.append(f"LQR, GIBO, {lqr['trials']} trials: {_command('run_rl_experiment.py', lqr)}")
    elif _stops_early(report.covered[("lqr",)], lqr["calls"][-1]):
        partial.append(f"LQR, GIBO: the runs stop before {lqr['calls'][-1]} calls")
    report.add(Heading(2, "Benchmarks of the paper without a run"))
    if missing:
        report.add(
            Paragraph(
                "No run given covers these rows of the paper's data. Commands, from the repository root (the synthetic "
                f"ones need the paper's data once: `python generate_data_synthetic_functions.py -c {data_config}`); "
                "then run this report again with the new run directories:"
            ),
            Bullets(missing),
        )
    else:
        report.add(Paragraph("Every benchmark row of the paper's data is covered by a run."))
    if partial:
        report.add(Paragraph("Covered only in part (budget shorter than the paper's):"), Bullets(partial))


# -------- the whole report


def _runs_table(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        if run.kind == "synthetic":
            data = run.record["data"]
            what = f"synthetic, {SET_TITLES[hyperparameter_set(run.experiment)].split(' (')[0]}, D = {', '.join(map(str, data['dimensions']))}"
            units = len(list(unit_files(run.run_dir, RESULT_PATTERNS["synthetic"])))
        else:
            what = f"{run.kind.upper()}, {run.environment}"
            units = len(list(unit_files(run.run_dir, RESULT_PATTERNS[run.kind])))
        rows.append(
            [run.label, what, str(units), str(run.budget if run.budget is not None else "–"), f"`{run.run_dir}`"]
        )
    return Table(["run", "experiment", "result files", "budget (calls)", "directory"], rows)


TITLE = "GIBO: runs compared with the paper"


def build_report(paths: Sequence, workers: int = 1, exclude=None) -> Report:
    """Read the runs in `paths` and build the report's blocks (nothing is written)."""
    runs, skipped = find_runs(paths, exclude=exclude)
    assign_labels(runs)
    report = Report(load_paper_results(), skipped=list(skipped))
    by_kind = {kind: [run for run in runs if run.kind == kind] for kind in ("synthetic", "rl", "lqr")}
    logger.info("%d runs: %s", len(runs), ", ".join(f"{len(v)} {k}" for k, v in by_kind.items() if v))
    if by_kind["synthetic"]:
        synthetic_section(report, by_kind["synthetic"])
    if by_kind["rl"]:
        rl_section(report, by_kind["rl"], workers=workers)
    if by_kind["lqr"]:
        lqr_section(report, by_kind["lqr"])
    missing_section(report)

    outside = [j.where for j in report.judged if j.verdict is False]
    inside = sum(j.verdict is True for j in report.judged)
    head: List[Block] = [
        Heading(1, TITLE),
        Paragraph(
            f"Generated {datetime.datetime.now().strftime('%Y-%m-%d %H:%M')} by `python -m gibo.report` from "
            f'{len(runs)} run(s). Paper: S. Müller, A. von Rohr, S. Trimpe, "Local policy search with Bayesian '
            'optimization", NeurIPS 2021; its numbers as recomputed from the result files released with its code.'
        ),
        _runs_table(runs),
    ]
    if report.skipped:
        head += [Paragraph("Skipped:"), Bullets(report.skipped)]
    head += [
        Heading(2, "Summary"),
        Paragraph(
            f"{len(report.judged)} cells compared: {inside} within the paper's spread, {len(outside)} outside "
            f"(**no ✗**), {len(report.judged) - inside - len(outside)} not judged."
        ),
    ]
    if outside:
        more = [f"… and {len(outside) - MAX_LISTED} more (see the tables)"] if len(outside) > MAX_LISTED else []
        head += [Paragraph("Outside the paper's spread:"), Bullets(outside[:MAX_LISTED] + more)]
    head += [Heading(2, "How a cell is judged"), Paragraph(RULE_TEXT[0]), Bullets(RULE_TEXT[1:])]
    report.blocks[:0] = head
    return report


def write_report(paths: Sequence, out_dir, force: bool = False, workers: int = 1) -> Path:
    """Build the report of the runs in `paths` and write `report.md`, `report.html` and `figures/` to `out_dir`.

    A non-empty `out_dir` is refused unless `force` (then report.md, report.html and figures/ are replaced).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReportError(f"{out_dir}: exists and is not a directory")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not force:
        raise ReportError(f"{out_dir}: not empty; choose another --out or pass --force to overwrite")
    report = build_report(paths, workers=workers, exclude=out_dir)
    if (out_dir / "figures").is_dir():
        shutil.rmtree(out_dir / "figures")
    (out_dir / "figures").mkdir(parents=True, exist_ok=True)
    for block in report.blocks:
        if isinstance(block, Image):
            (out_dir / block.path).write_bytes(block.png)
    (out_dir / "report.md").write_text(render_markdown(report.blocks), encoding="utf-8")
    (out_dir / "report.html").write_text(render_html(report.blocks, TITLE), encoding="utf-8")
    logger.info("report written to %s (report.md, report.html)", out_dir)
    return out_dir


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gibo.report",
        description="Compare saved runs with the paper's published numbers: report.md and a self-contained report.html "
        "with the figures, tables 'paper | ours | within the paper's spread?' and the commands for the "
        "paper's benchmarks that no run covers.",
        epilog=PATHS_NOTE,
    )
    parser.add_argument(
        "paths",
        nargs="+",
        metavar="RUN_DIR_OR_RESULTS_FOLDER",
        help="a run directory (holding the config.yaml its run script wrote) or a folder searched for them",
    )
    parser.add_argument(
        "--out", required=True, metavar="REPORT_DIR", help="folder for report.md, report.html and figures/"
    )
    parser.add_argument(
        "--force", action="store_true", help="write into a non-empty REPORT_DIR (replaces an earlier report)"
    )
    add_verbosity(parser)
    parser.add_argument(
        "--workers",
        type=int,
        default=1,
        help="RL trials evaluated offline at once: 1 in this process, more on local Ray (default 1); "
        "evaluations are cached beside each trial",
    )
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from gibo.config import ConfigError
    from gibo.rl_evaluation import EvaluationError
    from gibo.runner import RayUnavailable

    parser = build_parser()
    args = parser.parse_args(argv)
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    setup_logging(args)
    import matplotlib

    matplotlib.use("Agg")
    try:
        out_dir = write_report(args.paths, args.out, force=args.force, workers=args.workers)
    except (ReportError, ConfigError, EvaluationError, RayUnavailable, FileNotFoundError, ValueError, OSError) as error:
        sys.exit(f"error: {error}")
    sys.stdout.write(f"{out_dir / 'report.md'}\n{out_dir / 'report.html'}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
