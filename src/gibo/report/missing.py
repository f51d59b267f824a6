"""The section listing the paper's benchmarks that no run covers, with the command that makes each."""

from __future__ import annotations

from gibo.report.builder import Report
from gibo.report.render import Bullets, Heading, Paragraph
from gibo.report.runs import SET_TITLES, row_label


def _command(script: str, row: dict, *args: str) -> str:
    parts = [f"python {script} -c {row['config']}", *args, *(row.get("extra_args") or []), "--workers 2"]
    text = f"`{' '.join(parts)}`"
    overrides = row.get("overrides") or {}
    if overrides:
        settings = ", ".join(f"`{k}: {'null' if v is None else v}`" for k, v in overrides.items())
        text += f" with {settings} set in (a copy of) that config"
    return text


def _stops_early(budget: int | None, needed: int) -> bool:
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
