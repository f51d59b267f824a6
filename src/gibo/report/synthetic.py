"""The section on the synthetic functions (paper §4.1): error curves, final errors, and the mean normalised
error against the paper's, per hyperparameter set."""

from __future__ import annotations

import json
import math
from collections.abc import Sequence

import numpy as np

from gibo.report.builder import Report, budget_reached, calls_header, format_value, slug
from gibo.report.published import draw_synthetic_paper_curves
from gibo.report.render import Heading, Paragraph, Table
from gibo.report.runs import SET_TITLES, Run, hyperparameter_set, matching_row, row_label, run_features
from gibo.report.verdicts import mean_standard_errors, within_spread


def _data_key(data: dict) -> str:
    return json.dumps({k: v for k, v in data.items() if k != "out_dir"}, sort_keys=True, default=str)


def _data_differences(data: dict, paper_data: dict) -> list[str]:
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
    groups: dict[tuple[str, str | None], list[Run]] = {}
    for run in runs:
        groups.setdefault((_data_key(run.record["data"]), hyperparameter_set(run.experiment)), []).append(run)
    order = {"fixed_hypers": 0, "learned_hypers": 1, None: 2}
    report.add(Heading(2, "Synthetic functions"))
    for number, ((_, set_name), group) in enumerate(
        sorted(groups.items(), key=lambda item: (order[item[0][1]], item[0][0])), 1
    ):
        data = group[0].record["data"]
        title = (
            f"{SET_TITLES[set_name][0].upper()}{SET_TITLES[set_name][1:]}: "
            f"D = {', '.join(map(str, data['dimensions']))}, {data['num_objectives']} objectives per D"
        )
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
        stem = f"synthetic_{number}_{slug(set_name or 'other')}"
        rows = paper["sets"].get(set_name, []) if set_name else []
        matched = {run.label: matching_row(rows, run.method, run_features(run.experiment)) for run in group}
        published = {
            label: {D: (read_after, means) for D, means in row.get("mean", {}).items()}
            for label, row in matched.items()
            if row is not None
        }
        figure = plot_error_curves(methods)
        draw_synthetic_paper_curves(figure, published)
        report.figure(
            figure,
            f"{stem}_error_curves",
            f"Mean normalised error vs calls per dimension, {SET_TITLES[set_name]}; dashed: the paper's published "
            "means of the matching rows",
        )
        report.figure(
            plot_final_error_boxes(methods),
            f"{stem}_final_error_boxes",
            f"Normalised error after the last call per dimension, {SET_TITLES[set_name]}",
        )
        means = mean_error_table(methods, read_after)
        header = ["ours", "paper row", "D", "n"]
        for c in calls:
            header += [f"paper {c}", f"ours {c}", f"within {c}?"]
        table = []
        for run in group:
            row = matched[run.label]
            budget = run.budget or max_calls_of({run.label: methods[run.label]})
            for D, per_objective in errors[run.label].items():
                paper_means = (row or {}).get("mean", {}).get(D)
                if row is not None and paper_means is not None:
                    report.cover(("synthetic", set_name, row["name"], D), budget)
                cells = [run.label, row_label(row) if row else "–", str(D), str(per_objective.shape[0])]
                for j, n in enumerate(read_after):
                    paper_value = paper_means[j] if paper_means is not None else None
                    if not budget_reached(budget, n):
                        cells += [format_value(paper_value, 3), "not reached", "–"]
                        continue
                    _, se_ours, se_paper = mean_standard_errors(per_objective[:, j], paper["objectives"])
                    mean = means[run.label][D][j]
                    ours = f"{mean:.3f}" + (f" ± {se_ours:.3f}" if se_ours is not None else "")
                    verdict = within_spread(mean, paper_value, se_ours, se_paper, rounding=0.0005)
                    where = f"synthetic, {SET_TITLES[set_name].split(' (')[0]}, {run.label}, D = {D}, {calls[j]} calls"
                    cells += [
                        format_value(paper_value, 3),
                        ours,
                        report.judge(where, verdict) if paper_value is not None else "–",
                    ]
                table.append(cells)
        report.add(
            Paragraph(
                f"Mean normalised error (f* − best J so far)/f* over the objectives; ours as mean ± se over our n "
                f"objectives, the paper's over {paper['objectives']}. f* is corrected across the runs of this "
                f"table.{calls_header(calls, read_after)}"
            ),
            Table(header, table),
        )
