"""The section on the linear quadratic regulator (paper §4.3): frequency of stability and relative cost
against the paper's."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from gibo.report.builder import Report, budget_reached, calls_header, format_value, slug
from gibo.report.published import draw_lqr_paper_curves
from gibo.report.render import Heading, Paragraph, Table
from gibo.report.runs import Run
from gibo.report.verdicts import proportion_standard_error, quantile_standard_error, within_spread


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
        compared = run.method == paper.get("method", "gibo")
        figure = lqr.plot_lqr_curves(lqr.lqr_curves(params, calls))
        if compared:
            timesteps = read_after * lqr.STEPS_PER_CALL
            draw_lqr_paper_curves(figure, "GIBO", timesteps, paper["stable_fraction"], paper["median"])
        report.figure(
            figure,
            f"lqr_{number}_{slug(run.run_dir.name)}",
            f"Frequency of stability and median relative cost (2nd–98th percentile band), {run.label}"
            + ("; dashed: the paper's published values" if compared else ""),
        )
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
            if not budget_reached(run.budget, int(n)):
                row += [
                    f"{100 * p_paper:.0f} %",
                    "not reached",
                    "–",
                    format_value(med_paper, 3),
                    "not reached",
                    "–",
                    format_value(p98_paper, 3),
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
                    format_value(value, 3),
                    format_value(ours, 3),
                    report.judge(f"{where}, {name}", verdict) if compared and value is not None else "–",
                ]
            row.append(f"{finite.size} / {m_paper}")
            table.append(row)
        report.add(
            Paragraph(
                f"{len(calls)} trials. Relative cost (J(K) − J*)/J*; median and 98th percentile over the trials "
                f"whose policy is stable at that point.{calls_header(paper['calls'], list(read_after))}"
                + ("" if compared else " The paper's LQR numbers are for GIBO; this run is shown without a comparison.")
            ),
            Table(header, table),
        )
