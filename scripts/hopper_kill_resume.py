#!/usr/bin/env python
"""A Hopper trial killed (SIGKILL) at random moments and resumed each time: the finished trial file must be
bitwise equal to an uninterrupted run's, and no resume may repeat more iterations than the checkpoint it continues
from set as the interval to the next one (N = CHECKPOINT_EVERY = 2 unless a write costs more than 2 % of N
iterations: gibo.checkpoint).

The config is configs/rl_experiment/hopper/gibo.yaml with one trial, a shorter budget and M samples per
iteration. `run_rl_experiment.py -v` runs it: first uninterrupted (the reference, timed), then again, killed
`--kills` times and resumed with --resume after each kill, and finally resumed to its end. The kill moments are
drawn on the trial's own work: `--kills` sorted uniform points in the first 90 % of the reference's time from
its first finished iteration to its last. Each run is killed where the reference stood at the next point: that
far past the reference's time at the iteration the run continues from, counted from the moment it starts new
work (its first finished iteration, or for a resume the end of its replay; its log says so). So the kills
spread over the whole trial, and it does not finish before its last kill (unless the machine runs the resumed
runs much faster than the reference: the script then says so and fails).

How many iterations a resume redid comes from the trial's own logs: the iterations finished before the kill
(the killed processes' "iteration k done" lines) minus the iteration the next run continues from (its
"continues from its checkpoint at iteration K" line; 0 without one), against the interval that checkpoint's
write set ("checkpoint at iteration K written in S s; the next after N more iterations"). Not under Ray
(`--workers 2`), whose workers log elsewhere: there only the checkpoint on disk is read.
Prints one line per kill and the verdict; exit status 1 on a mismatch, a resume that repeats more than its
bound, fewer kills than asked, or a checkpoint or temporary file left behind.

Usage:
    python scripts/hopper_kill_resume.py                     # 20 kills, 500 calls, M = 32 (the paper's)
    python scripts/hopper_kill_resume.py --kills 3 --calls 40 --samples 2 --workers 2
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml

from gibo.checkpoint import CHECKPOINT_EVERY

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"trial000: iteration (\d+) done at call (\d+)")
CONTINUES = re.compile(r"trial000: continues from its checkpoint at iteration (\d+)")
REPLAYED = re.compile(r"trial000: replayed to iteration \d+")
WRITTEN = re.compile(r"trial000: checkpoint at iteration (\d+) written in \S+ s; the next after (\d+) more iterations")


def new_work_began(log: str) -> bool:
    """Whether a run's log shows it doing new work: a resume past its replay, a fresh run past its first
    iteration."""
    if CONTINUES.search(log):
        return REPLAYED.search(log) is not None
    return DONE.search(log) is not None


def short_config(directory: Path, calls: int, samples: int) -> Path:
    config = yaml.safe_load((ROOT / "configs" / "rl_experiment" / "hopper" / "gibo.yaml").read_text())
    config.update(trials=1, max_objective_calls=calls)
    config["optimizer_config"]["max_samples_per_iteration"] = samples
    path = directory / "hopper_short.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def command(config: Path, out_dir: Path, resume: bool, workers: int) -> list[str]:
    return [
        sys.executable,
        str(ROOT / "run_rl_experiment.py"),
        "-c",
        str(config),
        "--out-dir",
        str(out_dir),
        "-v",
        *(["--resume"] if resume else []),
        *(["--workers", str(workers)] if workers > 1 else []),
    ]


def run(argv: list[str], kill_after: float | None, began=new_work_began) -> tuple[int, str, dict[int, float]]:
    """Run argv (in its own process group, so Ray's workers die with it); SIGKILL it `kill_after` seconds after
    `began(log)` first holds. Returns its exit status, its log and, for each "iteration k done" line seen from
    that moment on, the seconds from the moment to the line."""
    with tempfile.NamedTemporaryFile("w+") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        begun = None
        done_at: dict[int, float] = {}
        while process.poll() is None:
            time.sleep(0.05)
            now = time.monotonic()
            text = Path(log.name).read_text()
            if begun is None and began(text):
                begun = now
            if begun is not None:
                for match in DONE.finditer(text):
                    done_at.setdefault(int(match.group(1)), now - begun)
            if kill_after is not None and begun is not None and now - begun >= kill_after:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
        log.seek(0)
        return process.returncode, log.read(), done_at


def trial_arrays(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "trial000.npz", allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def checkpoint_iterations(run_dir: Path) -> int:
    """The iterations the trial's checkpoint holds (0 without one), -1 once the trial file is saved."""
    if (run_dir / "trial000.npz").is_file():
        return -1
    path = run_dir / "trial000.checkpoint"
    if not path.is_file():
        return 0
    with np.load(path, allow_pickle=False) as data:
        return int(data["iterations"])


def kill_and_resume(directory: Path, kills: int, calls: int, samples: int, workers: int = 1, seed: int = 0) -> dict:
    """Returns {"equal": bool, "kills": [(seconds, iterations finished, iteration resumed from (-1: the trial
    file was saved before the kill), iterations redone, the interval that checkpoint set), ...], "worst_repeat":
    the most iterations a resume redid (None under Ray), "within_bound": whether each redid at most the interval
    its checkpoint set, "largest_interval": the largest interval a write set, "every": N,
    "reference_s" and "work_s": the uninterrupted run's wall time and its time from its first iteration to its
    last,
    "wall_s": the killed and resumed runs' wall time, "leftovers": checkpoint or temporary files left}."""
    config = short_config(directory, calls, samples)
    serial = workers == 1
    began = new_work_began if serial else (lambda log: True)  # Ray's workers log elsewhere: from the start
    start = time.monotonic()
    code, log, reference_at = run(command(config, directory / "reference", False, workers), None, began)
    reference_s = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"the uninterrupted run failed:\n{log[-3000:]}")
    # from its first finished iteration to its last; under Ray (no such lines here) the whole run
    work_s = max(reference_at.values(), default=reference_s)
    rng = np.random.default_rng(seed)
    moments = np.sort(rng.uniform(0.0, 0.9 * work_s, size=kills))  # on the trial's work, in its first 90 %
    out_dir = directory / "killed"
    events: list[tuple[float, int, int, int | None, int]] = []
    intervals: dict[int, int] = {}  # checkpoint iteration -> the interval its write set (the killed runs' logs)
    finished_before = 0  # iterations finished before the kill (the killed processes' logs; serial runs)
    held = 0  # the iteration the next run continues from (its checkpoint's)
    start = time.monotonic()
    for k in range(kills + 1):
        # killed where the reference stood at moments[k]: that far past the reference's time at the iteration
        # this run continues from (the first iteration for a fresh run, whose clock starts there)
        after = None if k == kills else max(0.0, float(moments[k]) - reference_at.get(max(held, 1), 0.0))
        code, log, _ = run(command(config, out_dir, k > 0, workers), after, began)
        if k > 0:  # the iteration this run continued from settles what the previous kill cost
            seconds, done, on_disk, _, _ = events[-1]
            resumed = CONTINUES.search(log)
            held = int(resumed.group(1)) if resumed else 0 if on_disk >= 0 else done  # -1: its file was saved
            if serial:  # Ray's workers log elsewhere: there the checkpoint on disk after the kill says it
                bound = intervals.get(held, CHECKPOINT_EVERY)  # the first checkpoint comes after N iterations
                events[-1] = (seconds, done, held if on_disk >= 0 else -1, done - held, bound)
        finished_before = max([finished_before, *(int(m.group(1)) for m in DONE.finditer(log))])
        intervals.update((int(m.group(1)), int(m.group(2))) for m in WRITTEN.finditer(log))
        if code == 0:
            break
        if code != -signal.SIGKILL:
            raise RuntimeError(f"run {k} ended with status {code}:\n{log[-3000:]}")
        events.append((after or 0.0, finished_before, checkpoint_iterations(out_dir), None, CHECKPOINT_EVERY))
        if not serial:
            held = max(events[-1][2], 0)
    else:
        raise RuntimeError("the run did not finish")
    wall_s = time.monotonic() - start
    reference, killed = trial_arrays(directory / "reference"), trial_arrays(out_dir)
    equal = set(reference) == set(killed) and all(
        reference[name].dtype == killed[name].dtype and np.array_equal(reference[name], killed[name])
        for name in reference
    )
    leftovers = sorted(p.name for p in out_dir.iterdir() if "checkpoint" in p.name or p.name.endswith(".tmp"))
    repeats = [redone for _, _, _, redone, _ in events if redone is not None]
    return {
        "equal": equal,
        "kills": events,
        "worst_repeat": max(repeats) if serial and repeats else None,
        "within_bound": all(redone is None or redone <= bound for _, _, _, redone, bound in events),
        "largest_interval": max(intervals.values(), default=CHECKPOINT_EVERY),
        "every": CHECKPOINT_EVERY,
        "reference_s": reference_s,
        "work_s": work_s,
        "wall_s": wall_s,
        "leftovers": leftovers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--samples", type=int, default=32, help="M, samples per iteration")
    parser.add_argument("--workers", type=int, default=1, help="2 or more: the trial runs on a Ray worker")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = kill_and_resume(Path(tmp), args.kills, args.calls, args.samples, args.workers, args.seed)
    print(
        f"uninterrupted run: {result['reference_s']:.1f} s, {result['work_s']:.1f} s of it from its first "
        f"iteration; killed and resumed: {result['wall_s']:.1f} s"
    )
    for k, (seconds, done, held, redone, bound) in enumerate(result["kills"], start=1):
        if redone is None:
            print(f"kill {k:2d} after {seconds:5.1f} s (on a Ray worker): its checkpoint held iteration {held}")
        else:
            where = f"resumed from iteration {held}" if held >= 0 else "its trial file was saved before the kill"
            print(
                f"kill {k:2d} after {seconds:5.1f} s of new work: {done} iterations finished, {where}: {redone} redone "
                f"(bound {bound})"
            )
    worst = result["worst_repeat"]
    print(
        f"kills: {len(result['kills'])} of {args.kills} ({sum(k[2] >= 0 for k in result['kills'])} before "
        f"the trial file was saved); trial file bitwise equal to the uninterrupted run's: "
        f"{result['equal']}; most iterations a resume redid: {'not measured (Ray)' if worst is None else worst} "
        f"(N = {result['every']}, largest interval set: {result['largest_interval']}; each within its bound: "
        f"{result['within_bound']}); files left: {result['leftovers']}"
    )
    ok = result["equal"] and len(result["kills"]) == args.kills and result["within_bound"] and not result["leftovers"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
