"""The cost of `gibo.AskTell.load` against the run it continues: a method (API defaults; GIBO unless `--method`)
on a noisy Rosenbrock.

The run (D = 10, 300 calls by default) is timed in this process, saved, and loaded in a fresh process that
reports two times: the `AskTell.load` call alone (torch, BoTorch, GPyTorch and the method's own libraries
already imported, as in a program that has built a run of the method before) and that process's whole wall
time (the imports included). Both are printed as fractions of the run's time; with `--strict` the load
recomputes every point (`strict=True`).

Usage:
    python benchmarks/asktell_load.py                  # GIBO, D = 10, 300 calls
    python benchmarks/asktell_load.py --dim 10 --calls 300 --strict
    python benchmarks/asktell_load.py --method turbo --calls 100
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

LOAD = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import gibo
gibo.AskTell(sys.argv[3], np.zeros(2), budget=3, bounds=(-1, 1))  # imports what a run of the method needs
t1 = time.perf_counter()
run = gibo.AskTell.load(sys.argv[1], strict=sys.argv[2] == "1")
t2 = time.perf_counter()
print(json.dumps({"load": t2 - t1, "process": t2 - t0, "calls": run.calls}))
"""


def rosenbrock(x: np.ndarray, rng: np.random.Generator) -> float:
    return -1000.0 * float(np.sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)) + 100.0 * float(
        rng.standard_normal()
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method", default="gibo", help="gibo, mpd, les, turbo, ars, vbo or cmaes")
    parser.add_argument("--dim", type=int, default=10)
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--strict", action="store_true", help="load with strict=True (every point recomputed)")
    args = parser.parse_args()

    import gibo

    rng = np.random.default_rng(0)
    run = gibo.AskTell(args.method, np.zeros(args.dim), budget=args.calls + 100, bounds=(-2, 2), seed=0)
    start = time.perf_counter()
    for _ in range(args.calls):
        x = run.ask()
        run.tell(x, rosenbrock(x, rng))
    elapsed = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as tmp:
        path = run.save(Path(tmp) / "run.gibo")
        size = path.stat().st_size
        done = subprocess.run(
            [sys.executable, "-c", LOAD, str(path), "1" if args.strict else "0", args.method],
            capture_output=True,
            text=True,
            check=True,
        )
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    assert loaded["calls"] == args.calls
    print(f"{args.method}, D = {args.dim}, {args.calls} calls: run {elapsed:.2f} s, state file {size / 1000:.0f} kB")
    load, process = loaded["load"], loaded["process"]
    print(f"AskTell.load{' (strict)' if args.strict else ''}: {load:.2f} s = {load / elapsed:.1%} of the run")
    print(f"the loading process, imports included: {process:.2f} s = {process / elapsed:.1%} of the run")


if __name__ == "__main__":
    main()
