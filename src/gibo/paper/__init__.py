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

from gibo.paper.cli import build_parser, main
from gibo.paper.measure import measure_unit_seconds
from gibo.paper.plan import format_plan, interpolate, launch_order, make_plan, wall_seconds
from gibo.paper.protocol import Entry, Part, Plan, ProtocolError, load_protocol, load_unit_seconds
from gibo.paper.run import part_command, run_protocol

__all__ = [
    "Entry",
    "Part",
    "Plan",
    "ProtocolError",
    "build_parser",
    "format_plan",
    "interpolate",
    "launch_order",
    "load_protocol",
    "load_unit_seconds",
    "main",
    "make_plan",
    "measure_unit_seconds",
    "part_command",
    "run_protocol",
    "wall_seconds",
]
