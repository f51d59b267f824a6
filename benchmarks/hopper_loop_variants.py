"""Our GIBO loop on Hopper in the variants that differ from the paper's released code, side by side.

Each variant is `configs/rl_experiment/hopper/gibo_10runs.yaml` with a few keys changed (see VARIANTS); every
variant runs the same trials (the same seeds) to `--calls` calls, is evaluated offline (each iterate once on the
raw environment, as the report does), and the table prints, per variant, the mean ± std offline reward at the
chosen numbers of calls, the rank-sum p-value of its trials against the default's, and beside them the measured
reference (the paper's released code on Hopper-v5) and the paper's published runs.

Runs are kept in --out (one run directory per variant) and resumed when the command is repeated, so a long
comparison can be made in pieces (`--variants` to add one).

Usage:
    python benchmarks/hopper_loop_variants.py --out experiments/hopper_variants --calls 1000 --trials 10 \
        --workers 2 [--variants default iteration uncentred slip float32 released] [--report-calls 500 1000]
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

import numpy as np
import yaml
from scipy.stats import mannwhitneyu

from gibo.report import load_paper_results, load_reference_results
from gibo.report.rl import reference_values
from gibo.rl_evaluation import evaluate_in_parallel, evaluate_run, load_saved_run

ROOT = Path(__file__).resolve().parents[1]
BASE = ROOT / "configs" / "rl_experiment" / "hopper" / "gibo_10runs.yaml"
sys.path.insert(0, str(ROOT))

# The settings the variants combine (config keys, dotted, relative to the whole config)
ITERATION = {"optimizer_config.state_normalization_update": "iteration"}
UNCENTRED = {"optimizer_config.model_config.gradient_mean": "uncentred"}
SLIP = {"optimizer_config.acquisition_lengthscale_slip": True}
FLOAT32 = {"dtype": "float32"}

#: variant name -> (config keys to set), what it is
VARIANTS: dict[str, tuple[dict, str]] = {
    "default": ({}, "the config as shipped: state statistics after every call, θ fixed in normalised coordinates"),
    "iteration": (
        ITERATION,
        "state statistics once per iteration, θ and the window re-expressed (the option's default elsewhere)",
    ),
    "uncentred": (UNCENTRED, "gradient mean ∂k K⁻¹ y (the released code's slip)"),
    "iteration_uncentred": ({**ITERATION, **UNCENTRED}, "both of the above"),
    "slip": (SLIP, "the acquisition's l-for-l² slip"),
    "float32": (FLOAT32, "float32 arithmetic throughout, as the released code"),
    "released": (
        {**UNCENTRED, **SLIP, **FLOAT32},
        "every option that does what the released code did: uncentred mean, l-for-l² slip, float32",
    ),
}


def variant_config(name: str, out: Path) -> Path:
    """gibo_10runs.yaml with the variant's keys set, written to out/configs/<name>.yaml."""
    data = yaml.safe_load(BASE.read_text())
    for dotted, value in VARIANTS[name][0].items():
        node = data
        *parents, key = dotted.split(".")
        for parent in parents:
            node = node[parent]
        node[key] = value
    data["out_dir"] = str(out / name)
    path = out / "configs" / f"{name}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def run_variant(name: str, out: Path, calls: int, trials: int, workers: int) -> None:
    """Run the variant's trials (complete them when its run directory exists)."""
    from run_rl_experiment import main as run_main

    config = variant_config(name, out)
    args = ["-c", str(config), "--max-calls", str(calls), "--trials", str(trials), "--workers", str(workers), "-q"]
    if (out / name).is_dir():
        args.append("--resume")
    status = run_main(args)
    if status != 0:
        raise SystemExit(f"{name}: run_rl_experiment.py ended with status {status}")


def cell(values: np.ndarray) -> str:
    values = values[np.isfinite(values)]
    if values.size == 0:
        return "–"
    std = f" ± {np.std(values, ddof=1):.0f}" if values.size > 1 else ""
    return f"{values.mean():.0f}{std}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", required=True, type=Path, help="folder for the variants' runs (resumed if present)")
    parser.add_argument("--calls", type=int, default=1000, help="budget per trial (default 1000)")
    parser.add_argument("--trials", type=int, default=10, help="trials per variant (default 10)")
    parser.add_argument("--workers", type=int, default=1, help="trials at once (Ray beyond 1)")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--report-calls", nargs="+", type=int, help="columns of the table (default: 4 up to --calls)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    report_calls = args.report_calls or [args.calls * k // 4 for k in (1, 2, 3, 4)]
    grid = np.asarray([min(n, args.calls - 1) for n in report_calls])  # read one call short of a full budget
    values: dict[str, np.ndarray] = {}
    for name in args.variants:
        run_variant(name, args.out, args.calls, args.trials, args.workers)
        run = load_saved_run(args.out / name, label=name)
        if args.workers > 1:
            evaluate_in_parallel([run], workers=args.workers)
        values[name] = evaluate_run(run).rewards_on_grid(grid)
    header = ["variant"] + [f"{n} calls" for n in report_calls] + ["p vs default (mean over columns)"]
    rows = []
    for name, v in values.items():
        p = "–"
        if name != "default" and "default" in values:
            p = f"{mannwhitneyu(v.mean(axis=1), values['default'].mean(axis=1)).pvalue:.2f}"
        rows.append([f"{name} ({v.shape[0]} trials)"] + [cell(v[:, j]) for j in range(len(grid))] + [p])
    for reference in load_reference_results()["rl"].get("hopper", []):
        cells = []
        for n in report_calls:
            point = n if n in reference["grid"] else None
            cells.append(cell(reference_values(reference, point)) if point is not None else "–")
        rows.append([reference["label"], *cells, "–"])
    hopper = load_paper_results()["rl"]["hopper"]
    paper = next(row for row in hopper["rows"] if row["name"] == "gibo_10runs")
    published = {}
    for calls, read_after, mean, std in zip(hopper["calls"], hopper["read_after_calls"], paper["mean"], paper["std"]):
        published[calls] = published[read_after] = f"{mean:.0f} ± {std:.0f}"
    rows.append(["paper, published (10 runs)"] + [published.get(n, "–") for n in report_calls] + ["–"])
    for name in args.variants:
        print(f"# {name}: {VARIANTS[name][1]}")
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for row in rows:
        print("| " + " | ".join(row) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
