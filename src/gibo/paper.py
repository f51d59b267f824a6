"""The paper's full protocol in one command: every synthetic, RL and LQR run, on a Ray cluster, then one report.

    python -m gibo.paper --plan --cores 64             # the units, core-hours per part, expected wall time
    python -m gibo.paper --ray-address auto            # run it all on a Ray cluster, then python -m gibo.report
    python -m gibo.paper --workers 2                   # the same on a local Ray instance with 2 CPUs

What runs is a protocol (`gibo/data/paper_protocol.yaml`, the paper's: synthetic 9 dimensions x 40 objectives x
GIBO / ARS / vanilla BO / CMA-ES x fixed / learned hyperparameters; CartPole, Swimmer and Hopper 10 runs of
GIBO and ARS; LQR 100 trials; `--protocol FILE` for another). Each entry runs through the repository's own run
scripts (`run_synthetic_experiment.py`, `run_rl_experiment.py`), one process per entry, all at once against the
same Ray cluster and with `--resume` (a rerun completes what is missing), each into `OUT/<kind>/<config>` with
its log in `OUT/logs/`. The synthetic objectives are generated first (on this machine, one process), while the
RL and LQR entries already run. The command ends with `python -m gibo.report OUT --out OUT/report`.

The plan reads the seconds one unit (one objective, one trial) took on the 2-core development machine, stored
with how they were measured in `gibo/data/unit_seconds.yaml` (`--measure` makes that file anew here: small
timing runs, one unit of each kind, one at a time, one torch thread), and simulates the run: N cores taking
the units in the order the run scripts submit them, entries started longest unit first.
"""

from __future__ import annotations

import argparse
import heapq
import logging
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import yaml

from gibo.cli import PATHS_NOTE, add_verbosity, setup_logging

logger = logging.getLogger("gibo.paper")  # same name when run as python -m gibo.paper

PROTOCOL = "paper_protocol.yaml"
UNIT_SECONDS = "unit_seconds.yaml"
REPO = Path(__file__).resolve().parents[2]  # the checkout this package runs from (holds the run scripts)
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
    data_config: Optional[str] = None
    trials: Optional[int] = None
    max_calls: Optional[int] = None

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
    units: List[str]  # unit names
    seconds: List[Optional[float]]  # per unit, None where nothing was measured
    source: str  # where the seconds come from
    evaluation_seconds: float = 0.0  # offline evaluation of its trials by the report (RL)

    @property
    def core_seconds(self) -> Optional[float]:
        return None if any(s is None for s in self.seconds) else float(sum(self.seconds))


@dataclass
class Plan:
    parts: List[Part]
    data_seconds: Optional[float]  # generating the missing synthetic objectives (one process, this machine)
    data_note: str
    timing: dict = field(default_factory=dict)


def _resolve(path: str) -> Path:
    return REPO / path  # an absolute path stays itself


def load_protocol(path=None) -> List[Entry]:
    """The entries of a protocol file (default: the paper's, `gibo/data/paper_protocol.yaml`)."""
    if path is None:
        text, source = resources.files("gibo").joinpath("data", PROTOCOL).read_text(), PROTOCOL
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
    entries: List[Entry] = []
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


def _entry(source: str, where: str, kind: str, run, data_config: Optional[str] = None) -> Entry:
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
        file = resources.files("gibo").joinpath("data", UNIT_SECONDS)
        return yaml.safe_load(file.read_text()) if file.is_file() else {}
    try:
        return yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as error:
        raise ProtocolError(f"{path}: cannot read the unit seconds ({str(error).splitlines()[0]})") from None


def interpolate(dims: Sequence[int], seconds: Sequence[float], D: int) -> float:
    """Seconds at dimension D from those measured at `dims`: piecewise power law (linear in log-log), the end
    pieces extended beyond the measured range."""
    pairs = sorted(zip(dims, seconds))
    if len(pairs) == 1:
        return float(pairs[0][1])
    for (d0, s0), (d1, s1) in zip(pairs, pairs[1:]):
        if D <= d1 or (d1, s1) == pairs[-1]:
            slope = (math.log(s1) - math.log(s0)) / (math.log(d1) - math.log(d0))
            return float(s0 * (D / d0) ** slope)
    raise AssertionError("unreachable")


def make_plan(entries: Sequence[Entry], timing: dict) -> Plan:
    """The parts of a protocol, their units and estimated seconds (reads the configs; runs nothing)."""
    from gibo.config import ConfigError, load_data_config, load_experiment_config
    from gibo.rl_experiment import trials
    from gibo.synthetic_experiment import data_file, units

    parts: List[Part] = []
    data_seconds, data_missing = 0.0, []
    data_done = set()
    for entry in entries:
        try:
            config = load_experiment_config(_resolve(entry.config))
            if entry.max_calls is not None:
                config.max_objective_calls = entry.max_calls
            if entry.trials is not None:
                config.trials = entry.trials
            budget = config.max_objective_calls
            if budget is None:
                raise ProtocolError(f"{entry.config}: max_objective_calls: the plan needs a call budget")
            if entry.kind == "synthetic":
                data_config = load_data_config(_resolve(entry.data_config))
        except ConfigError as error:
            raise ProtocolError(str(error)) from None
        if entry.kind == "synthetic":
            measured = (timing.get("synthetic") or {}).get(entry.config)
            todo = units(config, data_config)
            if measured:
                scale = budget / measured["calls"]
                seconds = [scale * interpolate(measured["dims"], measured["seconds"], u.D) for u in todo]
                source = f"measured at D = {', '.join(map(str, measured['dims']))}, {measured['calls']} calls" + (
                    f", scaled to {budget}" if scale != 1 else ""
                )
            else:
                seconds, source = [None] * len(todo), "not measured"
            parts.append(Part(entry, "objective", budget, [u.name for u in todo], seconds, source))
            if entry.data_config not in data_done:
                data_done.add(entry.data_config)
                per_objective = timing.get("data")
                for D in data_config.dimensions:
                    if data_file(_resolve_data(data_config), D).is_file():
                        continue
                    data_missing.append(D)
                    if per_objective and data_seconds is not None:
                        one = interpolate(per_objective["dims"], per_objective["seconds"], D)
                        data_seconds += data_config.num_objectives * one
                    else:
                        data_seconds = None
        else:
            measured = (timing.get(entry.kind) or {}).get(entry.config)
            todo = trials(config)
            if measured:
                scale = budget / measured["calls"]
                seconds = [scale * measured["seconds"]] * len(todo)
                evaluation = scale * measured.get("evaluation_seconds", 0.0) * len(todo)
                source = f"measured over {measured['calls']} calls" + (f", scaled to {budget}" if scale != 1 else "")
            else:
                seconds, evaluation, source = [None] * len(todo), 0.0, "not measured"
            parts.append(Part(entry, "trial", budget, [t.name for t in todo], seconds, source, evaluation))
    if not data_missing:
        note = "synthetic objectives already generated" if data_done else "no synthetic runs"
        data_seconds = 0.0
    else:
        note = f"generates D = {', '.join(map(str, data_missing))} first, in one process on this machine"
    return Plan(parts, data_seconds, note, timing)


def _resolve_data(data_config):
    """The data config with its out_dir as the run scripts see it (relative to the repository root)."""
    return data_config.model_copy(update={"out_dir": str(_resolve(data_config.out_dir))})


def launch_order(parts: Sequence[Part]) -> List[Part]:
    """RL and LQR entries first (they need no generated data), each group longest unit first."""
    return sorted(parts, key=lambda p: (p.entry.kind == "synthetic", -max((s or 0.0) for s in p.seconds)))


def wall_seconds(plan: Plan, cores: int, report_workers: int) -> Dict[str, float]:
    """Simulated wall time on `cores` cores: list scheduling of every unit in submission order (entries in
    `launch_order`, the synthetic ones once their data exist), then the report's offline evaluation on
    `report_workers` cores. Unmeasured units count as 0 s."""
    free = [0.0] * cores
    heapq.heapify(free)
    data_ready = plan.data_seconds or 0.0
    end = 0.0
    longest = 0.0
    for part in launch_order(plan.parts):
        ready = data_ready if part.entry.kind == "synthetic" else 0.0
        for seconds in part.seconds:
            start = max(heapq.heappop(free), ready)
            finish = start + (seconds or 0.0)
            heapq.heappush(free, finish)
            end, longest = max(end, finish), max(longest, seconds or 0.0)
    report = sum(p.evaluation_seconds for p in plan.parts) / max(1, report_workers)
    return {"runs": end, "report": report, "total": end + report, "longest_unit": longest, "data": data_ready}


def _hours(seconds: Optional[float]) -> str:
    return "–" if seconds is None else f"{seconds / 3600:.2f}"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def format_plan(plan: Plan, cores: int, report_workers: int) -> str:
    """The plan as a Markdown table: one row per part, then the totals and the simulated wall time."""
    rows = [
        "| part | units | calls per unit | seconds per unit | core-hours |",
        "|---|---|---|---|---|",
    ]
    total = 0.0
    unmeasured = []
    for part in plan.parts:
        known = [s for s in part.seconds if s is not None]
        if not known:
            per_unit = "not measured"
            unmeasured.append(part.entry.name)
        elif min(known) == max(known):
            per_unit = _seconds(known[0])
        else:
            per_unit = f"{_seconds(min(known))} – {_seconds(max(known))}"
        core = part.core_seconds
        total += core or 0.0
        rows.append(
            f"| {part.entry.name} | {len(part.units)} {part.unit}{'s' if len(part.units) != 1 else ''} | "
            f"{part.budget} | {per_unit} | {_hours(core)} |"
        )
    if plan.data_seconds or plan.data_seconds is None:
        rows.append(f"| synthetic objectives ({plan.data_note}) | – | – | – | {_hours(plan.data_seconds)} |")
    evaluation = sum(p.evaluation_seconds for p in plan.parts)
    if evaluation:
        rows.append(
            f"| report: offline evaluation of the RL trials (on {report_workers} cores) | – | – | – | "
            f"{_hours(evaluation)} |"
        )
    rows.append(
        f"| **total** | {sum(len(p.units) for p in plan.parts)} units | | | "
        f"**{_hours(total + (plan.data_seconds or 0.0) + evaluation)}** |"
    )
    wall = wall_seconds(plan, cores, report_workers)
    measured = plan.timing.get("measured", {})
    lines = [
        "\n".join(rows),
        "",
        f"Expected wall time on {cores} cores: {_duration(wall['total'])} (runs {_duration(wall['runs'])}"
        + (f", of which generating the synthetic objectives {_duration(wall['data'])}" if wall["data"] else "")
        + f"; report {_duration(wall['report'])}; longest unit {_duration(wall['longest_unit'])}).",
        "Seconds per unit as measured on "
        + (measured.get("machine") or "an unrecorded machine")
        + (f" ({measured.get('date')}, `{measured.get('command')}`)" if measured else "")
        + "; a faster or busier machine scales them.",
    ]
    if unmeasured:
        lines.append(f"Not measured (counted as 0 s): {', '.join(unmeasured)}.")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# Running it


@dataclass
class Job:
    name: str
    argv: List[str]
    log: Path
    process: Optional[subprocess.Popen] = None
    started: float = 0.0


def part_command(entry: Entry, out_dir: Path, ray_address: str) -> List[str]:
    """The run script's command line for one entry (resumable, on the given Ray cluster)."""
    argv = [sys.executable, str(REPO / SCRIPTS[entry.kind]), "-c", str(_resolve(entry.config))]
    if entry.kind == "synthetic":
        argv += ["-cd", str(_resolve(entry.data_config))]
    argv += ["--out-dir", str(out_dir / entry.name), "--resume", "--ray-address", ray_address]
    if entry.trials is not None:
        argv += ["--trials", str(entry.trials)]
    if entry.max_calls is not None:
        argv += ["--max-calls", str(entry.max_calls)]
    return argv


def _start(job: Job) -> None:
    job.log.parent.mkdir(parents=True, exist_ok=True)
    with open(job.log, "w") as log:
        job.process = subprocess.Popen(job.argv, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    job.started = time.monotonic()
    logger.info("started %s (log %s)", job.name, job.log)


def _finished(job: Job) -> bool:
    code = job.process.returncode
    took = _duration(time.monotonic() - job.started)
    if code == 0:
        logger.info("finished %s in %s", job.name, took)
    else:
        logger.error("%s failed (exit status %s) after %s; see %s", job.name, code, took, job.log)
    return code == 0


def run_protocol(
    entries: Sequence[Entry],
    out_dir,
    ray_address: Optional[str] = None,
    workers: int = 1,
    report_workers: int = 1,
    poll_seconds: float = 1.0,
) -> List[str]:
    """Run every entry (resumable) on one Ray cluster, then the report; return the names of what failed.

    Args:
        ray_address: an existing cluster; None starts a local Ray instance with `workers` CPUs for the run.
        report_workers: cores the report's offline evaluation of the RL trials uses (local Ray when > 1).
    """
    for script in {*SCRIPTS.values(), DATA_SCRIPT}:
        if not (REPO / script).is_file():
            raise ProtocolError(f"{REPO / script}: not found; run from a checkout of the repository")
    out_dir = Path(out_dir).resolve()
    logs = out_dir / "logs"
    # reads every config before anything starts: a bad one fails here
    order = {p.entry.name: i for i, p in enumerate(launch_order(make_plan(entries, load_unit_seconds()).parts))}
    local = None
    if ray_address is None:
        local = _start_local_ray(workers)
        ray_address = local
    failed: List[str] = []
    try:
        synthetic = [e for e in entries if e.kind == "synthetic"]
        data_jobs = [
            Job(
                f"synthetic objectives {Path(d).stem}",
                [sys.executable, str(REPO / DATA_SCRIPT), "-c", str(_resolve(d))],
                logs / f"data_{Path(d).stem}.log",
            )
            for d in dict.fromkeys(e.data_config for e in synthetic)
        ]
        jobs = {
            e.name: Job(e.name, part_command(e, out_dir, ray_address), logs / f"{e.name.replace('/', '_')}.log")
            for e in sorted(entries, key=lambda e: order[e.name])
        }
        waiting = [jobs[e.name] for e in sorted(synthetic, key=lambda e: order[e.name])]
        running = data_jobs + [jobs[n] for n in jobs if not n.startswith("synthetic/")]
        for job in running:
            _start(job)
        while running:
            time.sleep(poll_seconds)
            for job in [j for j in running if j.process.poll() is not None]:
                running.remove(job)
                if not _finished(job):
                    failed.append(job.name)
                if job in data_jobs and not any(j in running for j in data_jobs):
                    if any(j.name in failed for j in data_jobs):
                        failed += [j.name for j in waiting]
                        logger.error("no synthetic runs: generating their objectives failed")
                    else:
                        for waiting_job in waiting:
                            _start(waiting_job)
                            running.append(waiting_job)
                    waiting = []
    finally:
        if local is not None:
            _stop_local_ray()
    report = Job(
        "report",
        [
            sys.executable,
            "-m",
            "gibo.report",
            str(out_dir),
            "--out",
            str(out_dir / "report"),
            "--force",
            "--workers",
            str(report_workers),
        ],
        logs / "report.log",
    )
    _start(report)
    report.process.wait()
    if not _finished(report):
        failed.append("report")
    else:
        logger.info("report: %s", out_dir / "report" / "report.md")
    return failed


def _start_local_ray(workers: int) -> str:
    """A local Ray instance with `workers` CPUs that the run scripts join by its address."""
    from gibo.runner import RayUnavailable, _quiet_ray_start

    try:
        import ray
    except ImportError:
        raise RayUnavailable("running the protocol needs Ray: pip install 'ray>=2.9'") from None
    _quiet_ray_start()
    ray.init(num_cpus=workers, include_dashboard=False, logging_level=logging.ERROR)
    address = ray.get_runtime_context().gcs_address
    logger.info("local Ray with %d CPUs at %s", workers, address)
    return address


def _stop_local_ray() -> None:
    import ray

    ray.shutdown()


# ------------------------------------------------------------------------------------------------
# Measuring the seconds per unit


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores ({platform.system()})"


def measure_unit_seconds(entries: Sequence[Entry], out_file, objectives: int = 2) -> dict:
    """Time one unit of every entry here, one at a time with one torch thread, and write `out_file` (YAML).

    Synthetic: `objectives` objectives (their mean) at the smallest, the middle and the largest dimension of the
    data config (generated for the purpose; their generation timed too) over the config's budget; the plan
    interpolates the other dimensions. RL and LQR: trial 0 over min(budget, 1000) calls, and the
    offline evaluation of its iterates as the report does it.
    """
    import numpy as np
    import torch

    from gibo.config import load_data_config, load_experiment_config
    from gibo.results import CONFIG_FILE, save_unit, write_yaml
    from gibo.rl_evaluation import load_run, offline_arrays
    from gibo.rl_experiment import config_record, run_trial, trials
    from gibo.runner import single_threaded
    from gibo.synthetic_experiment import SyntheticUnit, data_file, generate_data, run_unit

    started = time.time()
    result: dict = {
        "measured": {
            "machine": _machine(),
            "date": time.strftime("%Y-%m-%d"),
            "command": "python -m gibo.paper --measure",
            "how": "one unit at a time in one process, one torch thread; seconds of the whole unit (wall clock)",
            "load_average_before": [round(x, 2) for x in os.getloadavg()],
            "torch": str(torch.__version__),
        }
    }
    with tempfile.TemporaryDirectory() as tmp, single_threaded():
        data_configs = {}
        for entry in entries:
            if entry.kind == "synthetic" and entry.data_config not in data_configs:
                base = load_data_config(_resolve(entry.data_config))
                one = base.model_copy(update={"out_dir": str(Path(tmp) / "data"), "num_objectives": objectives})
                dims = sorted({base.dimensions[0], base.dimensions[len(base.dimensions) // 2], base.dimensions[-1]})
                times = []
                for D in dims:
                    config = one.model_copy(update={"dimensions": [D]})
                    start = time.perf_counter()
                    dataset = generate_data(config, D)
                    times.append(round((time.perf_counter() - start) / objectives, 2))
                    data_file(config, D).parent.mkdir(parents=True, exist_ok=True)
                    dataset.save(data_file(config, D))
                    logger.info("objective generation D = %d: %.1f s", D, times[-1])
                data_configs[entry.data_config] = one.model_copy(update={"dimensions": list(dims)})
                result["data"] = {"dims": list(dims), "seconds": times, "of": entry.data_config}
        for entry in entries:
            config = load_experiment_config(_resolve(entry.config))
            budget = entry.max_calls or config.max_objective_calls
            if entry.kind == "synthetic":
                config.max_objective_calls = budget
                times = []
                dims = data_configs[entry.data_config].dimensions
                for D in dims:
                    start = time.perf_counter()
                    for i in range(objectives):
                        run_unit(config, data_configs[entry.data_config], SyntheticUnit(D, i, seed=D * 1_009 + i))
                    times.append(round((time.perf_counter() - start) / objectives, 2))
                    logger.info("%s D = %d: %.1f s", entry.name, D, times[-1])
                result.setdefault("synthetic", {})[entry.config] = {
                    "dims": list(dims),
                    "seconds": times,
                    "calls": budget,
                }
                continue
            calls = min(budget, MEASURE_CALLS)
            config.max_objective_calls = calls
            start = time.perf_counter()
            arrays = run_trial(config, trials(config)[0])
            seconds = time.perf_counter() - start
            trial_file = Path(tmp) / entry.name.replace("/", "_") / "trial000.npz"
            save_unit(trial_file, **arrays)
            write_yaml(trial_file.parent / CONFIG_FILE, config_record(config))
            run = load_run(_resolve(entry.config), run_dir=trial_file.parent)
            start = time.perf_counter()
            offline_arrays(run, trial_file) if entry.kind == "rl" else None  # LQR's metrics are closed-form
            evaluation = time.perf_counter() - start
            result.setdefault(entry.kind, {})[entry.config] = {
                "calls": calls,
                "seconds": round(seconds, 2),
                "iterations": int(np.asarray(arrays["calls"]).shape[0] - 1),
                "evaluation_seconds": round(evaluation, 2),
            }
            logger.info("%s: %.1f s for %d calls, evaluation %.1f s", entry.name, seconds, calls, evaluation)
    result["measured"]["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    result["measured"]["minutes"] = round((time.time() - started) / 60, 1)
    header = (
        "# Seconds per unit of the paper's protocol, measured on the machine named below with\n"
        "# `python -m gibo.paper --measure` (read by `python -m gibo.paper --plan`). Synthetic: the mean over\n"
        f"# {objectives} objectives at each dimension listed, the config's full budget. RL / LQR: trial 0 over `calls`\n"
        "# calls (the plan scales to the budget), `evaluation_seconds` the report's offline evaluation of that trial's\n"
        "# iterates. `data`: generating one objective (mean) at each dimension listed.\n"
    )
    Path(out_file).write_text(header + yaml.safe_dump(result, sort_keys=False))
    return result


# ------------------------------------------------------------------------------------------------
# Command line


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m gibo.paper",
        description="Run the paper's full protocol (synthetic, RL, LQR) on a Ray cluster and end with "
        "python -m gibo.report; or print its plan.",
        epilog=PATHS_NOTE + " Configs in a protocol are relative to the repository root.",
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--plan", action="store_true", help="print the units, core-hours and wall time; run nothing")
    mode.add_argument(
        "--measure", metavar="FILE", help="time one unit of each entry here and write the seconds per unit to FILE"
    )
    parser.add_argument("--protocol", metavar="FILE", help="another protocol YAML (default: the paper's)")
    parser.add_argument("--unit-seconds", metavar="FILE", help="another file of seconds per unit (plan)")
    parser.add_argument("--cores", type=int, default=64, help="cores the plan's wall time assumes (default 64)")
    parser.add_argument("--out", default="experiments/paper", help="folder of the runs and the report")
    parser.add_argument("--ray-address", help="the Ray cluster to run on (e.g. auto, or the head's IP:6379)")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count(), help="without --ray-address: CPUs of the local Ray instance"
    )
    parser.add_argument(
        "--report-workers",
        type=int,
        default=os.cpu_count(),
        help="cores of this machine for the report's offline evaluation (default: all)",
    )
    add_verbosity(parser)
    return parser


def main(argv: Optional[Sequence[str]] = None) -> int:
    from gibo.config import ConfigError
    from gibo.runner import RayUnavailable

    parser = build_parser()
    args = parser.parse_args(argv)
    for name in ("cores", "workers", "report_workers"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    setup_logging(args)
    try:
        entries = load_protocol(args.protocol)
        if args.plan:
            plan = make_plan(entries, load_unit_seconds(args.unit_seconds))
            sys.stdout.write(format_plan(plan, args.cores, min(args.report_workers, args.cores)) + "\n")
            return 0
        if args.measure:
            measure_unit_seconds(entries, args.measure)
            sys.stdout.write(f"{args.measure}\n")
            return 0
        failed = run_protocol(entries, args.out, args.ray_address, args.workers, args.report_workers)
    except (ProtocolError, ConfigError, RayUnavailable, OSError) as error:
        sys.exit(f"error: {error}")
    except KeyboardInterrupt:
        from gibo.cli import interrupted

        interrupted(f"finished units are kept under {args.out}; run the same command again to complete them")
    if failed:
        sys.exit(f"error: {len(failed)} part(s) failed: {', '.join(failed)} (logs in {Path(args.out) / 'logs'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
