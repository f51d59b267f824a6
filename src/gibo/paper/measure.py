"""`--measure`: the seconds one unit of each entry takes on this machine."""

from __future__ import annotations

import logging
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import yaml

from gibo.paper.protocol import MEASURE_CALLS, Entry, ProtocolError, resolve_path

logger = logging.getLogger("gibo.paper")  # same name when run as python -m gibo.paper


def machine() -> str:
    """This machine in words: CPU model, cores, system."""
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
            "machine": machine(),
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
                base = load_data_config(resolve_path(entry.data_config))
                one = base.model_copy(update={"out_dir": str(Path(tmp) / "data"), "num_objectives": objectives})
                dims = sorted({base.dimensions[0], base.dimensions[len(base.dimensions) // 2], base.dimensions[-1]})
                times = []
                for D in dims:
                    at_D = one.model_copy(update={"dimensions": [D]})
                    start = time.perf_counter()
                    dataset = generate_data(at_D, D)
                    times.append(round((time.perf_counter() - start) / objectives, 2))
                    data_file(at_D, D).parent.mkdir(parents=True, exist_ok=True)
                    dataset.save(data_file(at_D, D))
                    logger.info("objective generation D = %d: %.1f s", D, times[-1])
                data_configs[entry.data_config] = one.model_copy(update={"dimensions": list(dims)})
                result["data"] = {"dims": list(dims), "seconds": times, "of": entry.data_config}
        for entry in entries:
            config = load_experiment_config(resolve_path(entry.config))
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
            if budget is None:
                raise ProtocolError(f"{entry.config}: max_objective_calls: timing needs a call budget")
            calls = min(budget, MEASURE_CALLS)
            config.max_objective_calls = calls
            start = time.perf_counter()
            arrays = run_trial(config, trials(config)[0])
            seconds = time.perf_counter() - start
            trial_file = Path(tmp) / entry.name.replace("/", "_") / "trial000.npz"
            save_unit(trial_file, **arrays)
            write_yaml(trial_file.parent / CONFIG_FILE, config_record(config))
            run = load_run(resolve_path(entry.config), run_dir=trial_file.parent)
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
        f"# {objectives} objectives at each dimension listed, the config's full budget. RL / LQR: trial 0 over\n"
        "# `calls` calls (the plan scales to the budget), `evaluation_seconds` the report's offline evaluation of\n"
        "# that trial's iterates. `data`: generating one objective (mean) at each dimension listed.\n"
    )
    Path(out_file).write_text(header + yaml.safe_dump(result, sort_keys=False))
    return result
