"""The section on reinforcement learning (paper §4.2): offline reward curves and the reward after the
paper's numbers of calls against its table."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from gibo.report.builder import Report, budget_reached, calls_header, slug
from gibo.report.published import draw_rl_paper_curves
from gibo.report.render import Heading, Paragraph, Table
from gibo.report.runs import Run, matching_row, row_label, run_features
from gibo.report.verdicts import mean_standard_errors, within_spread


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
