"""What writing checkpoints costs a long unit: one RL trial or one synthetic unit run with checkpoints in a
temporary directory, every write timed.

Prints the unit's wall time, the checkpoints written, their total and largest write time, the last one's size,
the total as a fraction of the unit's time (the budget: 2 %) and the range of intervals the writes set.

Usage:
    python benchmarks/checkpoint_cost.py rl -c configs/rl_experiment/hopper/gibo_10runs.yaml --calls 8000
    python benchmarks/checkpoint_cost.py synthetic -c configs/synthetic_experiment/gibo_learned_hypers.yaml --dim 32
"""

from __future__ import annotations

import argparse
import logging
import re
import tempfile
import time
from pathlib import Path

import torch


def timed(module, writes: list[tuple[float, Path]]) -> None:
    """Replace `module.write_checkpoint` by a copy that appends (seconds, path) of every write to `writes`."""
    write = module.write_checkpoint

    def timed_write(path, *args):
        start = time.perf_counter()
        write(path, *args)
        writes.append((time.perf_counter() - start, path))

    module.write_checkpoint = timed_write


def rl_unit(args, directory: Path, writes: list) -> float:
    import gibo.rl_experiment as rl
    from gibo.config import load_experiment_config

    config = load_experiment_config(args.config)
    if args.calls is not None:
        config.max_objective_calls = args.calls
    timed(rl, writes)
    start = time.perf_counter()
    rl.run_trial(config, rl.trials(config)[0], checkpoint_dir=directory)
    return time.perf_counter() - start


def synthetic_unit(args, directory: Path, writes: list) -> float:
    import gibo.synthetic_experiment as synthetic
    from gibo.config import SyntheticDataConfig, load_experiment_config

    config = load_experiment_config(args.config)
    if args.calls is not None:
        config.max_objective_calls = args.calls
    data_config = SyntheticDataConfig(out_dir=str(directory / "data"), dimensions=[args.dim], num_objectives=1)
    path = synthetic.data_file(data_config, args.dim)
    path.parent.mkdir(parents=True)
    synthetic.generate_data(data_config, args.dim).save(path)
    timed(synthetic, writes)
    start = time.perf_counter()
    synthetic.run_unit(config, data_config, synthetic.units(config, data_config)[0], checkpoint_dir=directory)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("kind", choices=("rl", "synthetic"))
    parser.add_argument("-c", "--config", required=True)
    parser.add_argument("--calls", type=int, default=None, help="the config's max_objective_calls otherwise")
    parser.add_argument("--dim", type=int, default=32, help="synthetic: the dimension of the objective")
    args = parser.parse_args()
    torch.set_num_threads(1)  # as the runner runs every unit
    intervals: list[int] = []  # the interval each write set (gibo.checkpoint's debug lines)

    class Intervals(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            found = re.search(r"the next after (\d+) more iterations", record.getMessage())
            if found:
                intervals.append(int(found.group(1)))

    checkpoint_log = logging.getLogger("gibo.checkpoint")
    checkpoint_log.setLevel(logging.DEBUG)
    checkpoint_log.addHandler(Intervals())
    writes: list[tuple[float, Path]] = []
    with tempfile.TemporaryDirectory() as tmp:
        run_s = (rl_unit if args.kind == "rl" else synthetic_unit)(args, Path(tmp), writes)
        size = writes[-1][1].stat().st_size if writes and writes[-1][1].is_file() else 0
    total = sum(s for s, _ in writes)
    print(
        f"{args.kind} {args.config}: {run_s:.1f} s, {len(writes)} checkpoints written in {total:.2f} s "
        f"(largest {max((s for s, _ in writes), default=0.0):.4f} s, last {size / 1e6:.2f} MB): "
        f"{100 * total / run_s:.2f} % of the unit's time; intervals set: {min(intervals, default=0)} to "
        f"{max(intervals, default=0)} iterations"
    )


if __name__ == "__main__":
    main()
