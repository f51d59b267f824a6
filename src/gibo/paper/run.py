"""Running a protocol: one run script per entry against one Ray cluster, then the report."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from gibo.paper.plan import duration, launch_order, make_plan
from gibo.paper.protocol import DATA_SCRIPT, REPO, SCRIPTS, Entry, ProtocolError, load_unit_seconds, resolve_path

logger = logging.getLogger("gibo.paper")  # same name when run as python -m gibo.paper


@dataclass
class Job:
    name: str
    argv: list[str]
    log: Path
    process: subprocess.Popen = field(init=False)  # set by _start
    started: float = 0.0


def part_command(entry: Entry, out_dir: Path, ray_address: str) -> list[str]:
    """The run script's command line for one entry (resumable, on the given Ray cluster)."""
    argv = [sys.executable, str(REPO / SCRIPTS[entry.kind]), "-c", str(resolve_path(entry.config))]
    if entry.kind == "synthetic":
        argv += ["-cd", str(resolve_path(entry.data_config))]
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
    took = duration(time.monotonic() - job.started)
    if code == 0:
        logger.info("finished %s in %s", job.name, took)
    else:
        logger.error("%s failed (exit status %s) after %s; see %s", job.name, code, took, job.log)
    return code == 0


def run_protocol(
    entries: Sequence[Entry],
    out_dir,
    ray_address: str | None = None,
    workers: int = 1,
    report_workers: int = 1,
    poll_seconds: float = 1.0,
) -> list[str]:
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
    failed: list[str] = []
    try:
        synthetic = [e for e in entries if e.kind == "synthetic"]
        data_jobs = [
            Job(
                f"synthetic objectives {Path(d).stem}",
                [sys.executable, str(REPO / DATA_SCRIPT), "-c", str(resolve_path(d))],
                logs / f"data_{Path(d).stem}.log",
            )
            for d in dict.fromkeys(str(e.data_config) for e in synthetic)
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
