"""The protocol (what runs) and its units; the measured seconds per unit."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import yaml

PROTOCOL = "paper_protocol.yaml"
UNIT_SECONDS = "unit_seconds.yaml"
REPO = Path(__file__).resolve().parents[3]  # the checkout this package runs from (holds the run scripts)
SCRIPTS = {"synthetic": "run_synthetic_experiment.py", "rl": "run_rl_experiment.py", "lqr": "run_rl_experiment.py"}
DATA_SCRIPT = "generate_data_synthetic_functions.py"
#: Calls of the RL and LQR timing runs of `--measure` (at most the budget); seconds scale with the calls.
MEASURE_CALLS = 1000


class ProtocolError(ValueError):
    """A protocol or timing file the user points at is unusable; the message is one line naming the file."""


# ------------------------------------------------------------------------------------------------
# The protocol and its units


@dataclass
class Entry:
    """One run of the protocol: a config (and its data config for the synthetic kind), with overrides."""

    kind: str  # "synthetic", "rl" or "lqr"
    config: str  # path as in the protocol (relative to the repository root)
    data_config: str | None = None
    trials: int | None = None
    max_calls: int | None = None

    @property
    def name(self) -> str:
        """`synthetic/gibo_fixed_hypers`, `rl/hopper/gibo_10runs`, `lqr/gibo`: also its folder under OUT."""
        path = Path(self.config)
        return f"{self.kind}/{path.parent.name}/{path.stem}" if self.kind == "rl" else f"{self.kind}/{path.stem}"


@dataclass
class Part:
    """An entry with its units, in the order its run script submits them, and their estimated seconds."""

    entry: Entry
    unit: str  # what one unit is ("objective", "trial")
    budget: int  # calls per unit
    units: list[str]  # unit names
    seconds: list[float | None]  # per unit, None where nothing was measured
    source: str  # where the seconds come from
    evaluation_seconds: float = 0.0  # offline evaluation of its trials by the report (RL)

    @property
    def core_seconds(self) -> float | None:
        known = [s for s in self.seconds if s is not None]
        return float(sum(known)) if len(known) == len(self.seconds) else None


@dataclass
class Plan:
    parts: list[Part]
    data_seconds: float | None  # generating the missing synthetic objectives (one process, this machine)
    data_note: str
    timing: dict = field(default_factory=dict)


def resolve_path(path: str | None) -> Path:
    """A protocol's path (relative to the repository root; an absolute path stays itself)."""
    if path is None:
        raise ProtocolError("a synthetic entry needs its data config")
    return REPO / path


def load_protocol(path=None) -> list[Entry]:
    """The entries of a protocol file (default: the paper's, `gibo/data/paper_protocol.yaml`)."""
    if path is None:
        text, source = resources.files("gibo").joinpath("data").joinpath(PROTOCOL).read_text(), PROTOCOL
    else:
        source = str(path)
        try:
            text = Path(path).read_text()
        except OSError as error:
            raise ProtocolError(f"{path}: cannot read the protocol ({error.strerror or error})") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ProtocolError(f"{source}: not valid YAML ({str(error).splitlines()[0]})") from None
    unknown = set(data) - {"synthetic", "rl", "lqr"}
    if unknown:
        raise ProtocolError(f"{source}: unknown key(s) {sorted(unknown)}; expected synthetic, rl, lqr")
    entries: list[Entry] = []
    synthetic = data.get("synthetic") or {}
    if synthetic:
        if not synthetic.get("data_config"):
            raise ProtocolError(f"{source}: synthetic.data_config: missing")
        for i, run in enumerate(synthetic.get("runs") or []):
            entries.append(_entry(source, f"synthetic.runs[{i}]", "synthetic", run, synthetic["data_config"]))
    for kind in ("rl", "lqr"):
        for i, run in enumerate(data.get(kind) or []):
            entries.append(_entry(source, f"{kind}[{i}]", kind, run))
    if not entries:
        raise ProtocolError(f"{source}: no runs")
    names = [e.name for e in entries]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ProtocolError(f"{source}: two entries would share the folder {duplicates[0]}")
    return entries


def _entry(source: str, where: str, kind: str, run, data_config: str | None = None) -> Entry:
    if not isinstance(run, dict) or not run.get("config"):
        raise ProtocolError(f"{source}: {where}: expected a mapping with a config")
    unknown = set(run) - {"config", "trials", "max_calls"}
    if unknown or (kind == "synthetic" and "trials" in run):
        raise ProtocolError(f"{source}: {where}: unknown key(s) {sorted(unknown or {'trials'})}")
    for key in ("trials", "max_calls"):
        if run.get(key) is not None and (not isinstance(run[key], int) or run[key] < 1):
            raise ProtocolError(f"{source}: {where}.{key}: expected a positive integer, got {run[key]!r}")
    return Entry(kind, str(run["config"]), data_config, run.get("trials"), run.get("max_calls"))


def load_unit_seconds(path=None) -> dict:
    """The measured seconds per unit (default: `gibo/data/unit_seconds.yaml`); {} when the file is absent."""
    if path is None:
        file = resources.files("gibo").joinpath("data").joinpath(UNIT_SECONDS)
        return yaml.safe_load(file.read_text()) if file.is_file() else {}
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ProtocolError(f"{path}: cannot read the unit seconds ({str(error).splitlines()[0]})") from None
