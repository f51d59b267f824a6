"""The runs a report is made of: what each run is (synthetic / RL / LQR, method, hyperparameter set,
settings), read from the `config.yaml` its run script saved, and the row of the paper's data it is compared
with."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import yaml

from gibo.results import CONFIG_FILE, unit_files

PAPER_RESULTS = "paper_results.yaml"
REFERENCE_RESULTS = "reference_results.yaml"

SET_TITLES = {
    "fixed_hypers": "fixed hyperparameters (the GP gets the true ones)",
    "learned_hypers": "learned hyperparameters (only the noise is given)",
    None: "other settings (neither of the paper's two hyperparameter sets)",
}


# Baselines without a GP belong to the paper's fixed-hyperparameter set when their step size is derived from
# the true lengthscale l(D) ("variable" in the config), to the learned set when it is a plain number.
_LENGTHSCALE_DERIVED: dict[object, str] = {"rs": "exploration_noise", "cmaes": "sigma"}


RESULT_PATTERNS = {
    "synthetic": "dim*/objective*.npz",
    "rl": "trial[0-9][0-9][0-9].npz",
    "lqr": "trial[0-9][0-9][0-9].npz",
}


class ReportError(ValueError):
    """Runs or a report folder the user points at are unusable; the message is one line naming the path."""


def _data_file(name: str) -> dict:
    return yaml.safe_load((resources.files("gibo") / "data" / name).read_text(encoding="utf-8"))


def load_paper_results() -> dict:
    """The paper's numbers: {"synthetic", "rl", "lqr"}, as in `gibo/data/paper_results.yaml` (a fresh copy)."""
    return _data_file(PAPER_RESULTS)


def load_reference_results() -> dict:
    """Measured references beside the paper's numbers, as in `gibo/data/reference_results.yaml` (a fresh copy):
    {"rl": {environment key: [reference, ...]}}, each reference with its `compares_with` row of the paper's data,
    a `grid` of calls and one list of offline rewards on that grid per trial (None where a trial stopped earlier)."""
    return _data_file(REFERENCE_RESULTS)


@dataclass
class Run:
    """One run directory: its saved config record and what kind of experiment it is."""

    run_dir: Path
    record: dict
    kind: str  # "synthetic", "rl" or "lqr"
    label: str = ""

    @property
    def experiment(self) -> dict:
        return self.record["experiment"]

    @property
    def method(self) -> str:
        return str(self.experiment["method"])

    @property
    def budget(self) -> int | None:
        """The configured number of calls (None when the run was limited by iterations only)."""
        calls = self.experiment.get("max_objective_calls")
        return int(calls) if calls is not None else None

    @property
    def environment(self) -> str:
        return str(self.experiment.get("environment_name") or "")


def run_kind(record) -> str | None:
    """ "synthetic", "rl" or "lqr" for a config record of the run scripts, None for anything else."""
    from gibo.lqr import LQR_ENV_IDS

    experiment = record.get("experiment") if isinstance(record, dict) else None
    if not isinstance(experiment, dict) or "method" not in experiment:
        return None
    if isinstance(record.get("data"), dict):
        return "synthetic"
    environment = experiment.get("environment_name")
    if environment in LQR_ENV_IDS:
        return "lqr"
    return "rl" if environment else None


def read_run(run_dir) -> Run:
    """The run in `run_dir` (ReportError when its config.yaml is not one the run scripts write)."""
    saved = Path(run_dir) / CONFIG_FILE
    try:
        record = yaml.safe_load(saved.read_text())
    except (OSError, yaml.YAMLError) as error:
        raise ReportError(f"{saved}: cannot be read ({type(error).__name__})") from None
    kind = run_kind(record)
    if kind is None:
        raise ReportError(f"{saved}: not a config saved by run_synthetic_experiment.py or run_rl_experiment.py")
    return Run(Path(run_dir), record, kind)


def find_runs(paths: Sequence, exclude=None) -> tuple[list[Run], list[str]]:
    """The runs in `paths`: a directory holding config.yaml is a run, any other directory is searched for runs.

    Returns (runs with results, one line per skipped directory). A run named directly that cannot be read
    raises ReportError; found ones are skipped with a note, and so are runs without result files yet.
    """
    runs, skipped, seen = [], [], set()
    exclude = Path(exclude).resolve() if exclude is not None else None
    for path in map(Path, paths):
        if not path.is_dir():
            raise ReportError(f"{path}: no such directory")
        named = (path / CONFIG_FILE).is_file()
        candidates = [path] if named else sorted(p.parent for p in path.rglob(CONFIG_FILE))
        if not candidates:
            raise ReportError(f"{path}: no run directories (with {CONFIG_FILE}) found")
        for run_dir in candidates:
            key = run_dir.resolve()
            if key in seen or (exclude is not None and key.is_relative_to(exclude)):
                continue
            seen.add(key)
            try:
                run = read_run(run_dir)
            except ReportError as error:
                if named:
                    raise
                skipped.append(str(error))
                continue
            if not list(unit_files(run_dir, RESULT_PATTERNS[run.kind])):
                skipped.append(f"{run_dir}: no result files yet")
                continue
            runs.append(run)
    if not runs:
        raise ReportError(f"no runs with results in {', '.join(map(str, paths))}")
    return runs, skipped


def method_label(method: str) -> str:
    from gibo.rl_evaluation import METHOD_LABELS

    return METHOD_LABELS.get(method, method)


def assign_labels(runs: Sequence[Run]) -> None:
    """Label every run by its method and directory name ("GIBO (gibo_10runs)"; "GIBO" for a directory named
    after the method), unique over all runs."""

    def label(run: Run, depth: int) -> str:
        name = "/".join(run.run_dir.resolve().parts[-depth:])
        plain = method_label(run.method)
        return plain if depth == 1 and name.lower() in (run.method.lower(), plain.lower()) else f"{plain} ({name})"

    for run in runs:
        run.label = label(run, 1)
    for depth in (2, 3):
        counts: dict[str, int] = {}
        for run in runs:
            counts[run.label] = counts.get(run.label, 0) + 1
        for run in runs:
            if counts[run.label] > 1:
                run.label = label(run, depth)
    counts = {}
    for run in runs:
        counts[run.label] = counts.get(run.label, 0) + 1
        if counts[run.label] > 1:
            run.label = f"{run.label} #{counts[run.label]}"


def run_features(experiment: dict) -> dict[str, bool]:
    """The settings the paper's rows are told apart by, where the method has them: "epsilon_early_stop"
    (an ε is set), "normalize_gradient", "state_normalization" (RL policies)."""
    optimizer = experiment.get("optimizer_config") or {}
    features = {}
    if "epsilon_diff_acq_value" in optimizer:
        features["epsilon_early_stop"] = optimizer["epsilon_diff_acq_value"] is not None
    if "normalize_gradient" in optimizer:
        features["normalize_gradient"] = bool(optimizer["normalize_gradient"])
    if isinstance(experiment.get("mlp"), dict):
        features["state_normalization"] = bool(experiment["mlp"].get("state_normalization", False))
    return features


def hyperparameter_set(experiment: dict) -> str | None:
    """ "fixed_hypers" or "learned_hypers": which of the paper's two synthetic comparisons a run belongs to
    (None: neither)."""
    if experiment.get("set_hypers"):
        return "fixed_hypers"
    if experiment.get("only_set_noise_hyper"):
        return "learned_hypers"
    key = _LENGTHSCALE_DERIVED.get(experiment.get("method"))
    if key is None:
        return None
    return "fixed_hypers" if (experiment.get("optimizer_config") or {}).get(key) == "variable" else "learned_hypers"


def matching_row(
    rows: Sequence[dict], method: str, features: dict[str, bool], n_runs: int | None = None
) -> dict | None:
    """The paper's row a run is compared with: same method, every setting the row names equal; among several,
    the one naming most settings, then the one with the number of runs closest to `n_runs`."""
    candidates = [
        row
        for row in rows
        if row["method"] == method and all(features.get(k) == v for k, v in (row.get("settings") or {}).items())
    ]
    if not candidates:
        return None
    return min(candidates, key=lambda row: (-len(row.get("settings") or {}), abs(row.get("runs", 0) - (n_runs or 0))))


def row_label(row: dict) -> str:
    return row.get("label") or method_label(row["method"])
