"""Offline evaluation of reinforcement-learning runs (docs/experiments.md#reinforcement-learning), shared by
`evaluation_rl_experiment.py` and `notebooks/evaluation_rl_experiment.ipynb`.

After a run, every recorded iterate θ_t (raw-state parameters) is evaluated once on the raw environment
(no reward shift/scale, no state normalisation): R_t = return of one episode. The curve of a trial is
the step function R(n) = R_t for the last iterate t finished within n calls; figures show mean ± std over
trials. The offline rewards of a trial are cached beside its file (`trialNNN.offline.npz`) or in a cache
directory, and recomputed when the trial file has changed since (SHA-256 of its bytes). Trial files are checked
when a run is loaded (a damaged one is one `EvaluationError` line); a damaged cache file is moved aside
(`.damaged`) with a warning and recomputed.

Example:
    >>> runs = load_runs(["configs/rl_experiment/swimmer/gibo.yaml", "configs/rl_experiment/swimmer/rs.yaml"])
    >>> results = [evaluate_run(run) for run in runs]
    >>> fig = plot_reward_curves(results); fig.savefig("swimmer.pdf")

Modules: `runs` (loading saved trials, the curves of an evaluated run), `offline` (evaluation and its cache),
`summaries` (tables and the figure).
"""

from gibo.rl_evaluation.offline import (
    CACHE_ARRAYS,
    CACHE_SUFFIX,
    CACHE_VERSION,
    EVAL_SEED_OFFSET,
    cache_file,
    evaluate_configs,
    evaluate_in_parallel,
    evaluate_run,
    evaluate_trial,
    offline_arrays,
)
from gibo.rl_evaluation.runs import (
    METHOD_LABELS,
    TRIAL_PATTERN,
    EvaluatedRun,
    EvaluationError,
    OfflineCurve,
    RLRun,
    default_label,
    load_run,
    load_runs,
    load_saved_run,
    trial_std,
)
from gibo.rl_evaluation.summaries import (
    MARKERS,
    THRESHOLDS,
    default_report_calls,
    environments_of,
    paper_threshold,
    plot_reward_curves,
    summary_table,
    threshold_table,
)

__all__ = [
    "CACHE_ARRAYS",
    "CACHE_SUFFIX",
    "CACHE_VERSION",
    "EVAL_SEED_OFFSET",
    "MARKERS",
    "METHOD_LABELS",
    "THRESHOLDS",
    "TRIAL_PATTERN",
    "EvaluatedRun",
    "EvaluationError",
    "OfflineCurve",
    "RLRun",
    "cache_file",
    "default_label",
    "default_report_calls",
    "environments_of",
    "evaluate_configs",
    "evaluate_in_parallel",
    "evaluate_run",
    "evaluate_trial",
    "load_run",
    "load_runs",
    "load_saved_run",
    "offline_arrays",
    "paper_threshold",
    "plot_reward_curves",
    "summary_table",
    "threshold_table",
    "trial_std",
]
