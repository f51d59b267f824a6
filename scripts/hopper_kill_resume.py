#!/usr/bin/env python
"""A short Hopper trial killed (SIGKILL) at random moments and resumed each time: the finished trial file must be
bitwise equal to an uninterrupted run's, and no resume may repeat more than 2 * CHECKPOINT_EVERY - 1 iterations
of episodes (a write too costly for its moment is skipped, never two in a row).

The config is configs/rl_experiment/hopper/gibo.yaml with one trial, a short budget and M samples per
iteration. `run_rl_experiment.py -v` runs it: first uninterrupted (the reference, timed), then again, killed
at a random moment after it wrote its first checkpoint (past any replay; its log says so; uniform in
[0, 2/kills] x the reference's time from its first checkpoint on, so the kills spread over the trial) and
resumed with --resume, `--kills` times, and finally resumed to its end. The log of each killed process says
which iterations it finished (not under Ray, whose workers log elsewhere); the checkpoint left on disk says
which iterations the resume will not repeat.
Prints one line per kill and the verdict; exit status 1 on a mismatch, a resume that repeats more than
2 * CHECKPOINT_EVERY - 1 iterations, or a checkpoint or temporary file left behind.

Usage:
    python scripts/hopper_kill_resume.py                     # 20 kills, 150 calls, M = 4
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

ROOT = Path(__file__).resolve().parents[1]
DONE = re.compile(r"trial000: iteration (\d+) done at call (\d+)")
TRIAL = re.compile(r"trial000: iteration \d+ done at call \d+, checkpoint")  # new work (past any replay) began


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


def run(argv: list[str], kill_after: float | None, started: re.Pattern | None) -> tuple[int, str, float]:
    """Run argv (in its own process group, so Ray's workers die with it); SIGKILL it `kill_after` seconds after
    its log first matches `started` (after its start without a pattern). Returns its exit status, its log and
    the seconds from that match to its end."""
    with tempfile.NamedTemporaryFile("w+") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        begun = time.monotonic() if started is None else None
        while process.poll() is None:
            time.sleep(0.05)
            now = time.monotonic()
            if begun is None and started is not None and started.search(Path(log.name).read_text()):
                begun = now
            if kill_after is not None and begun is not None and now - begun >= kill_after:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                break
        log.seek(0)
        return process.returncode, log.read(), time.monotonic() - (begun or time.monotonic())


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
    """Returns {"equal": bool, "kills": [(seconds, iterations finished, iterations its checkpoint holds), ...],
    "worst_repeat": most iterations finished before a kill and not in the checkpoint the resume starts from,
    "reference_s": the uninterrupted run's wall time}."""
    from gibo.rl_experiment import CHECKPOINT_EVERY

    config = short_config(directory, calls, samples)
    started = TRIAL if workers == 1 else None  # Ray's workers log elsewhere: from the start of the process
    start = time.monotonic()
    code, log, work_s = run(command(config, directory / "reference", False, workers), None, started)
    reference_s = time.monotonic() - start
    if code != 0:
        raise RuntimeError(f"the uninterrupted run failed:\n{log[-3000:]}")
    rng = np.random.default_rng(seed)
    out_dir = directory / "killed"
    events: list[tuple[float, int, int]] = []  # (seconds, iterations finished, iteration of the checkpoint)
    finished_before = 0  # iterations finished before the kill (from the killed processes' logs; serial runs)
    finished = False
    for k in range(kills + 1):
        # on average 1/kills of the trial's work (from its first iteration on) after the trial began
        after = None if k == kills else float(rng.uniform(0.0, 2.0 * (work_s if started else reference_s) / kills))
        code, log, _ = run(command(config, out_dir, k > 0, workers), after, started)
        finished_before = max([finished_before, *(int(m.group(1)) for m in DONE.finditer(log))])
        if code == 0:
            finished = True
            break
        if code != -signal.SIGKILL:
            raise RuntimeError(f"run {k} ended with status {code}:\n{log[-3000:]}")
        events.append((after or 0.0, finished_before, checkpoint_iterations(out_dir)))
    if not finished:
        raise RuntimeError("the run did not finish")
    # A resume repeats the iterations finished before the kill that its checkpoint does not hold (none once the
    # trial file is saved).
    repeats = [done - held for _, done, held in events if held >= 0]
    reference, killed = trial_arrays(directory / "reference"), trial_arrays(out_dir)
    equal = set(reference) == set(killed) and all(
        reference[name].dtype == killed[name].dtype and np.array_equal(reference[name], killed[name])
        for name in reference
    )
    leftovers = sorted(p.name for p in out_dir.iterdir() if "checkpoint" in p.name or p.name.endswith(".tmp"))
    return {
        "equal": equal,
        "kills": events,
        "worst_repeat": max(repeats, default=0),
        "every": CHECKPOINT_EVERY,
        "reference_s": reference_s,
        "work_s": work_s,
        "leftovers": leftovers,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--calls", type=int, default=150)
    parser.add_argument("--samples", type=int, default=4, help="M, samples per iteration")
    parser.add_argument("--workers", type=int, default=1, help="2 or more: the trial runs on a Ray worker")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill moments")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = kill_and_resume(Path(tmp), args.kills, args.calls, args.samples, args.workers, args.seed)
    print(f"uninterrupted run: {result['reference_s']:.1f} s, {result['work_s']:.1f} s of it after its first iteration")
    for k, (seconds, done, resumed) in enumerate(result["kills"], start=1):
        where = f"checkpoint at iteration {resumed}" if resumed >= 0 else "its trial file was saved: nothing to resume"
        finished = f"{done} iterations finished" if args.workers == 1 else "on a Ray worker"
        print(f"kill {k:2d} after {seconds:5.1f} s: {finished}, {where}")
    print(
        f"trial file bitwise equal to the uninterrupted run's: {result['equal']}; most iterations repeated by a "
        f"resume: {result['worst_repeat']} (checkpoint every {result['every']}); files left: {result['leftovers']}"
    )
    ok = result["equal"] and result["worst_repeat"] <= 2 * result["every"] - 1 and not result["leftovers"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
