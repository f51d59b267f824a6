"""The section on reinforcement learning (paper §4.2): offline reward curves and the reward after the
paper's numbers of calls against its table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gibo.report.builder import Report, budget_reached, calls_header, slug
from gibo.report.published import draw_rl_paper_curves, draw_rl_reference_curves
from gibo.report.render import Heading, Paragraph, Table
from gibo.report.runs import Run, matching_row, row_label, run_features
from gibo.report.verdicts import mean_standard_errors, verdict_text, within_spread


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
    groups: dict[str, list[Run]] = {}
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
        rows = {
            run.label: matching_row(paper["rows"], run.method, run_features(run.experiment), len(result.curves))
            for run, result in zip(group, results)
            if paper is not None
        }
        published = {label: (paper["read_after_calls"], row["mean"]) for label, row in rows.items() if row is not None}
        draw_rl_paper_curves(fig, published)
        references = report.references.get("rl", {}).get(key, [])
        draw_rl_reference_curves(fig, {ref["label"]: _reference_curve(ref) for ref in references})
        caption = f"Offline reward, mean ± std over trials, {', '.join(environments)}"
        report.figure(fig, f"rl_{slug(key)}", caption + ("; dashed: the paper's published means" if published else ""))
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
            row = rows[run.label]
            if row is not None:
                report.cover(("rl", key, row["name"]), run.budget)
            values = result.rewards_on_grid(np.asarray(read_after))
            cells = [run.label, row_label(row) if row else "–", f"{n_runs} / {row['runs']}" if row else str(n_runs)]
            for j, n in enumerate(read_after):
                paper_cell = f"{row['mean'][j]:.1f} ± {row['std'][j]:.1f}" if row else "–"
                if not budget_reached(run.budget, n):
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
                f"runs.{calls_header(calls, read_after)}"
            ),
            Table(header, table),
        )
        for reference in references:
            _reference_table(report, reference, group, results, rows, read_after)


def reference_values(reference: dict, calls: int) -> np.ndarray:
    """The reference's offline reward of each trial that reached `calls` (a point of its grid)."""
    j = list(reference["grid"]).index(calls)
    return np.array([t["values"][j] for t in reference["trials"] if t["values"][j] is not None], dtype=np.float64)


def _reference_curve(reference: dict) -> tuple[list[int], list[float]]:
    """Mean over the trials that reached each point of the grid."""
    points = [(n, reference_values(reference, n)) for n in reference["grid"]]
    return [n for n, v in points if v.size], [float(v.mean()) for _, v in points if v.size]


def _reference_table(report: Report, reference: dict, group, results, rows, read_after) -> None:
    """Our runs of the reference's row against the reference, by the same spread rule as against the paper."""
    header = ["ours", "runs (ours)"]
    for n in read_after:
        header += [f"reference {n}", f"ours {n}", f"within {n}?"]
    table = []
    for run, result in zip(group, results):
        row = rows.get(run.label)
        if row is None or row["name"] != reference["compares_with"]:
            continue
        values = result.rewards_on_grid(np.asarray(read_after))
        cells = [run.label, str(len(result.curves))]
        for j, n in enumerate(read_after):
            ref = reference_values(reference, n)
            std_ref = float(np.std(ref, ddof=1)) if ref.size >= 2 else None
            ref_cell = f"{ref.mean():.1f} ± {std_ref:.1f} ({ref.size})" if std_ref is not None else "–"
            if not budget_reached(run.budget, n) or std_ref is None:
                cells += [ref_cell, "not reached" if not budget_reached(run.budget, n) else "–", "–"]
                continue
            mean, se_ours, se_ref = mean_standard_errors(values[:, j], ref.size, std_ref)
            verdict = within_spread(mean, float(ref.mean()), se_ours, se_ref)
            cells += [ref_cell, f"{mean:.1f}", verdict_text(verdict)]
        table.append(cells)
    if table:
        report.add(
            Paragraph(
                f"Against a measured reference: {reference['label']} ({reference['description']}). Mean ± std "
                "(trials) of its offline reward; the same spread rule, with its trials in place of the paper's runs "
                "(not counted in the summary)."
            ),
            Table(header, table),
        )
