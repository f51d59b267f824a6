"""The report's figures as files for the documentation: `scripts/make_figures.py RESULTS_DIR ... --out docs/figures`.

The figures are the ones `python -m gibo.report` draws (ours, with the paper's published curves dashed beside them
where a run matches a row of the paper). Each figure is written as a PNG, and `figures.yaml` in the same folder
records for each one its caption, the runs it was drawn from, the command that made it, the machine and the date;
`README.md` there shows them all, each with its command underneath. A later call with other runs replaces the
figures it draws again and keeps the others.
"""

from __future__ import annotations

import datetime
import logging
import re
import shlex
from collections.abc import Sequence
from pathlib import Path

import yaml

from gibo.paper.measure import machine
from gibo.report.compose import build_report
from gibo.report.render import Image
from gibo.report.runs import RESULT_PATTERNS, ReportError, Run, find_runs
from gibo.results import unit_files

logger = logging.getLogger("gibo.report")

#: Largest PNG written (bytes): the figures are committed to the repository.
MAX_BYTES = 200_000
MANIFEST = "figures.yaml"
INDEX = "README.md"


def _file_name(path: str, names: Sequence[str]) -> str:
    """The report's figure name without its section counter (`synthetic_1_fixed_hypers_...` ->
    `synthetic_fixed_hypers_...`) where that stays unique among `names`."""
    name = Path(path).name
    short = re.sub(r"^(synthetic|lqr)_\d+_", r"\1_", name)
    clashes = [n for n in names if re.sub(r"^(synthetic|lqr)_\d+_", r"\1_", Path(n).name) == short]
    return short if len(clashes) == 1 else name


def _runs_dated(runs: Sequence[Run]) -> str:
    """The date (UTC) of the newest result file of the runs."""
    stamps = [p.stat().st_mtime for run in runs for p in unit_files(run.run_dir, RESULT_PATTERNS[run.kind])]
    if not stamps:
        return "–"
    return datetime.datetime.fromtimestamp(max(stamps), tz=datetime.timezone.utc).strftime("%Y-%m-%d")


def render_index(entries: dict) -> str:
    """`README.md` of the figures folder: every figure with its caption, runs, command, machine and date."""
    lines = [
        "# Figures of measured runs",
        "",
        "Drawn by `scripts/make_figures.py` from runs made with this repository (ours solid, the paper's published",
        "curves dashed). Each figure names the command that drew it, the runs, where and when they were made.",
        "This file and `figures.yaml` are written by the script; edit neither by hand.",
        "",
    ]
    for name in sorted(entries):
        entry = entries[name]
        lines += [
            f"## {name}",
            "",
            f"![{entry['caption']}]({name})",
            "",
            f"*{entry['caption']}.* Runs: {', '.join(f'`{r}`' for r in entry['runs'])}, made on {entry['machine']} "
            f"(results dated {entry['runs_dated']}); drawn {entry['drawn']} by",
            "",
            "```bash",
            entry["command"],
            "```",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def make_figures(
    paths: Sequence,
    out_dir,
    command: str,
    workers: int = 1,
    runs_machine: str | None = None,
    max_bytes: int = MAX_BYTES,
) -> list[Path]:
    """Draw the report's figures of the runs in `paths` into `out_dir` and update its `figures.yaml` and
    `README.md`. Returns the PNG files written. A figure over `max_bytes` is refused (ReportError)."""
    out_dir = Path(out_dir)
    runs, _ = find_runs(paths, exclude=out_dir)
    if not runs:
        raise ReportError(f"no runs found under {', '.join(map(str, paths))}")
    report = build_report(paths, workers=workers, exclude=out_dir)
    images = [block for block in report.blocks if isinstance(block, Image)]
    too_big = [f"{Path(i.path).name} ({len(i.png)} bytes)" for i in images if len(i.png) > max_bytes]
    if too_big:
        raise ReportError(f"figures over {max_bytes} bytes: {', '.join(too_big)}")
    manifest_file = out_dir / MANIFEST
    entries = yaml.safe_load(manifest_file.read_text(encoding="utf-8")) if manifest_file.is_file() else None
    entries = entries or {}
    out_dir.mkdir(parents=True, exist_ok=True)
    common = {
        "runs": [str(run.run_dir) for run in runs],
        "runs_dated": _runs_dated(runs),
        "machine": runs_machine or machine(),
        "drawn": datetime.datetime.now(tz=datetime.timezone.utc).strftime("%Y-%m-%d"),
        "command": command,
    }
    written = []
    for image in images:
        name = _file_name(image.path, [i.path for i in images])
        (out_dir / name).write_bytes(image.png)
        entries[name] = {"caption": image.caption, **common}
        written.append(out_dir / name)
        logger.info("%s (%d kB)", out_dir / name, len(image.png) // 1000)
    manifest_file.write_text(yaml.safe_dump(entries, sort_keys=True, allow_unicode=True), encoding="utf-8")
    (out_dir / INDEX).write_text(render_index(entries), encoding="utf-8")
    return written


def command_line(argv: Sequence[str]) -> str:
    """The command as a reader types it from the repository root."""
    quiet = {"-q", "--quiet", "-v", "--verbose"}  # how much it logs does not change the figures
    return shlex.join(["python", "scripts/make_figures.py", *(a for a in argv if a not in quiet)])
