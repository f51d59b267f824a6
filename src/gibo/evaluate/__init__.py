"""Post-processing shared by the command line and the notebooks: step functions over calls, best-so-far,
normalised error against f*, and summaries.

Command line:
    python -m gibo.evaluate synthetic RUN_DIR [RUN_DIR ...] --calls 100 200 300
    python -m gibo.evaluate synthetic-figures --runs gibo=DIR rs=DIR vbo=DIR cmaes=DIR --out FIG_DIR
    python -m gibo.evaluate hypers RUN_DIR --calls 40 80 130     # GIBO's GP hyperparameters over calls
    python -m gibo.evaluate iterations RUN_DIR [RUN_DIR ...]     # iterations and GIBO's early stops

Modules: `curves` (one run over calls: step functions, best-so-far, normalised error, summaries), `synthetic`
(several methods on the same objectives, the synthetic study's figures), `hypers` (GIBO's GP hyperparameters
and iterations per run), `cli` (the command line).
"""

from gibo.evaluate.cli import main
from gibo.evaluate.curves import (
    F_STAR_MARGIN,
    SyntheticSummary,
    best_so_far,
    cell,
    corrected_f_star,
    format_summary,
    normalized_error_curves,
    step_function,
    summarize_synthetic,
)
from gibo.evaluate.hypers import (
    GP_ARRAYS,
    hyperparameter_table,
    hyperparameters_at,
    iteration_counts,
    iteration_table,
    load_gp_units,
)
from gibo.evaluate.synthetic import (
    MethodResults,
    format_error_table,
    load_synthetic_methods,
    max_calls_of,
    mean_error_table,
    parse_runs,
    plot_error_curves,
    plot_final_error_boxes,
    save_figure,
    synthetic_error_curves,
    synthetic_figures,
)
from gibo.results import run_budget

__all__ = [
    "F_STAR_MARGIN",
    "GP_ARRAYS",
    "MethodResults",
    "SyntheticSummary",
    "best_so_far",
    "cell",
    "corrected_f_star",
    "format_error_table",
    "format_summary",
    "hyperparameter_table",
    "hyperparameters_at",
    "iteration_counts",
    "iteration_table",
    "load_gp_units",
    "load_synthetic_methods",
    "main",
    "max_calls_of",
    "mean_error_table",
    "normalized_error_curves",
    "parse_runs",
    "plot_error_curves",
    "plot_final_error_boxes",
    "run_budget",
    "save_figure",
    "step_function",
    "summarize_synthetic",
    "synthetic_error_curves",
    "synthetic_figures",
]
