"""The whole report: the runs' table, the summary and the sections, built from the runs and written as
`report.md`, `report.html` and `figures/`."""

from __future__ import annotations

import datetime
import logging
import shutil
from collections.abc import Sequence
from pathlib import Path

from gibo.report.builder import Report
from gibo.report.lqr import lqr_section
from gibo.report.missing import missing_section
from gibo.report.render import Block, Bullets, Heading, Image, Paragraph, Table, render_html, render_markdown
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
)
from gibo.report.synthetic import synthetic_section
from gibo.report.verdicts import RULE_TEXT
from gibo.results import unit_files

logger = logging.getLogger("gibo.report")  # same name when run as python -m gibo.report

#: Cells outside the spread listed in the summary (the tables flag all of them).
MAX_LISTED = 30


def _runs_table(runs: Sequence[Run]) -> Table:
    rows = []
    for run in runs:
        if run.kind == "synthetic":
            data = run.record["data"]
            set_title = SET_TITLES[hyperparameter_set(run.experiment)].split(" (")[0]
            what = f"synthetic, {set_title}, D = {', '.join(map(str, data['dimensions']))}"
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
    report = Report(load_paper_results(), references=load_reference_results(), skipped=list(skipped))
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
    head: list[Block] = [
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
