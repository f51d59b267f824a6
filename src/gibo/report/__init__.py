"""A report of saved runs against the paper's published numbers: `report.md` and the same content as a
self-contained `report.html` (figures embedded as PNG, no external files).

For the runs it is given, the report draws the figures of the paper's sections they cover (with the
project's plotting functions, and the paper's published points dashed beside each curve that has them),
compares them with the paper in tables "paper | ours | within the paper's spread?", and lists every benchmark
of the paper that no run covers with the command that makes it.

Paper: S. Müller, A. von Rohr, S. Trimpe, "Local policy search with Bayesian optimization", NeurIPS 2021.
Its numbers are in `gibo/data/paper_results.yaml` (`load_paper_results`); measured references beside them (the
paper's released code run on today's environments) in `gibo/data/reference_results.yaml` (`load_reference_results`).

A run is a directory with the `config.yaml` that `run_synthetic_experiment.py` or `run_rl_experiment.py`
wrote beside its results; what it is (synthetic / RL / LQR, method, hyperparameter set, settings) is read
from that record.

Command line:
    python -m gibo.report RUN_DIR_OR_RESULTS_FOLDER [...] --out REPORT_DIR [--force] [--workers N]

Example:
    >>> write_report(["experiments/"], "report/", workers=2)
    PosixPath('report')

Modules: `runs` (what a run is, the paper's rows), `verdicts` (the spread rule), `render` (Markdown, HTML),
`builder` (the report being built), `published` (the paper's curves in the figures), one per section
(`synthetic`, `rl`, `lqr`, `missing`), `compose` (the whole report, written), `cli` (the command line).
"""

from gibo.report.builder import Judged, Report
from gibo.report.cli import build_parser, main
from gibo.report.compose import TITLE, build_report, write_report
from gibo.report.lqr import lqr_section
from gibo.report.missing import missing_section
from gibo.report.render import (
    Block,
    Bullets,
    Code,
    Heading,
    Image,
    Paragraph,
    Table,
    figure_png,
    render_html,
    render_markdown,
)
from gibo.report.rl import rl_section
from gibo.report.runs import (
    RESULT_PATTERNS,
    SET_TITLES,
    ReportError,
    Run,
    assign_labels,
    find_runs,
    hyperparameter_set,
    load_paper_results,
    load_reference_results,
    matching_row,
    method_label,
    read_run,
    row_label,
    run_features,
    run_kind,
)
from gibo.report.synthetic import synthetic_section
from gibo.report.verdicts import (
    FLAG,
    RULE_TEXT,
    SPREAD_FACTOR,
    mean_standard_errors,
    proportion_standard_error,
    quantile_standard_error,
    verdict_text,
    within_spread,
)

__all__ = [
    "FLAG",
    "RESULT_PATTERNS",
    "RULE_TEXT",
    "SET_TITLES",
    "SPREAD_FACTOR",
    "TITLE",
    "Block",
    "Bullets",
    "Code",
    "Heading",
    "Image",
    "Judged",
    "Paragraph",
    "Report",
    "ReportError",
    "Run",
    "Table",
    "assign_labels",
    "build_parser",
    "build_report",
    "figure_png",
    "find_runs",
    "hyperparameter_set",
    "load_paper_results",
    "load_reference_results",
    "lqr_section",
    "main",
    "matching_row",
    "mean_standard_errors",
    "method_label",
    "missing_section",
    "proportion_standard_error",
    "quantile_standard_error",
    "read_run",
    "render_html",
    "render_markdown",
    "rl_section",
    "row_label",
    "run_features",
    "run_kind",
    "synthetic_section",
    "verdict_text",
    "within_spread",
    "write_report",
]
