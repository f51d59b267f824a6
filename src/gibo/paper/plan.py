"""The plan of a protocol: its units, core-hours per part and the wall time simulated on N cores; runs nothing."""

from __future__ import annotations

import heapq
import itertools
import math
from collections.abc import Sequence

from gibo.paper.protocol import Entry, Part, Plan, ProtocolError, resolve_path


def interpolate(dims: Sequence[int], seconds: Sequence[float], D: int) -> float:
    """Seconds at dimension D from those measured at `dims`: piecewise power law (linear in log-log), the end
    pieces extended beyond the measured range."""
    pairs = sorted(zip(dims, seconds))
    if len(pairs) == 1:
        return float(pairs[0][1])
    for (d0, s0), (d1, s1) in itertools.pairwise(pairs):
        if D <= d1 or (d1, s1) == pairs[-1]:
            slope = (math.log(s1) - math.log(s0)) / (math.log(d1) - math.log(d0))
            return float(s0 * (D / d0) ** slope)
    raise AssertionError("unreachable")


def make_plan(entries: Sequence[Entry], timing: dict) -> Plan:
    """The parts of a protocol, their units and estimated seconds (reads the configs; runs nothing)."""
    from gibo.config import ConfigError, load_data_config, load_experiment_config
    from gibo.rl_experiment import trials
    from gibo.synthetic_experiment import data_file, units

    parts: list[Part] = []
    data_seconds: float | None = 0.0
    data_missing: list[int] = []
    data_done = set()
    for entry in entries:
        try:
            config = load_experiment_config(resolve_path(entry.config))
            if entry.max_calls is not None:
                config.max_objective_calls = entry.max_calls
            if entry.trials is not None:
                config.trials = entry.trials
            budget = config.max_objective_calls
            if budget is None:
                raise ProtocolError(f"{entry.config}: max_objective_calls: the plan needs a call budget")
            if entry.kind == "synthetic":
                data_config = load_data_config(resolve_path(entry.data_config))
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
            runs = trials(config)
            if measured:
                scale = budget / measured["calls"]
                seconds = [scale * measured["seconds"]] * len(runs)
                evaluation = scale * measured.get("evaluation_seconds", 0.0) * len(runs)
                source = f"measured over {measured['calls']} calls" + (f", scaled to {budget}" if scale != 1 else "")
            else:
                seconds, evaluation, source = [None] * len(runs), 0.0, "not measured"
            parts.append(Part(entry, "trial", budget, [t.name for t in runs], seconds, source, evaluation))
    if not data_missing:
        note = "synthetic objectives already generated" if data_done else "no synthetic runs"
        data_seconds = 0.0
    else:
        note = f"generates D = {', '.join(map(str, data_missing))} first, in one process on this machine"
    return Plan(parts, data_seconds, note, timing)


def _resolve_data(data_config):
    """The data config with its out_dir as the run scripts see it (relative to the repository root)."""
    return data_config.model_copy(update={"out_dir": str(resolve_path(data_config.out_dir))})


def launch_order(parts: Sequence[Part]) -> list[Part]:
    """RL and LQR entries first (they need no generated data), each group longest unit first."""
    return sorted(parts, key=lambda p: (p.entry.kind == "synthetic", -max((s or 0.0) for s in p.seconds)))


def wall_seconds(plan: Plan, cores: int, report_workers: int) -> dict[str, float]:
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


def _hours(seconds: float | None) -> str:
    return "–" if seconds is None else f"{seconds / 3600:.2f}"


def _seconds(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def duration(seconds: float) -> str:
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
        f"Expected wall time on {cores} cores: {duration(wall['total'])} (runs {duration(wall['runs'])}"
        + (f", of which generating the synthetic objectives {duration(wall['data'])}" if wall["data"] else "")
        + f"; report {duration(wall['report'])}; longest unit {duration(wall['longest_unit'])}).",
        "Seconds per unit as measured on "
        + (measured.get("machine") or "an unrecorded machine")
        + (f" ({measured.get('date')}, `{measured.get('command')}`)" if measured else "")
        + "; a faster or busier machine scales them.",
    ]
    if unmeasured:
        lines.append(f"Not measured (counted as 0 s): {', '.join(unmeasured)}.")
    return "\n".join(lines)
