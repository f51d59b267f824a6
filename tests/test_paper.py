"""python -m gibo.paper: the protocol, the plan (units, core-hours, simulated wall time), and a tiny run on local Ray
that ends with a report."""

import pytest
import yaml

from gibo import paper
from gibo.paper import Entry, Part, Plan, ProtocolError

SYNTHETIC = "configs/synthetic_experiment/gibo_fixed_hypers.yaml"
CARTPOLE = "configs/rl_experiment/cartpole/rs_10runs.yaml"
LQR = "configs/lqr_experiment/gibo_quick.yaml"


def write(path, data):
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


@pytest.fixture
def tiny(tmp_path):
    """A protocol of one synthetic (D = 2, 1 objective, 6 calls), one RL and one LQR entry, and its unit seconds."""
    data = write(
        tmp_path / "data.yaml",
        dict(
            out_dir=str(tmp_path / "data"),
            dimensions=[2],
            num_objectives=1,
            num_samples=100,
            noise_variance=0.01,
            factor_lengthscale=2,
            gamma=0.3,
            gp_hypers={"outputscale": 1.0},
            n_max=5,
            seed=0,
            sampler="paper",
        ),
    )
    protocol = write(
        tmp_path / "protocol.yaml",
        {
            "synthetic": {"data_config": str(data), "runs": [{"config": SYNTHETIC, "max_calls": 6}]},
            "rl": [{"config": CARTPOLE, "trials": 2, "max_calls": 8}],
            "lqr": [{"config": LQR, "trials": 1, "max_calls": 4}],
        },
    )
    seconds = write(
        tmp_path / "seconds.yaml",
        {
            "measured": {"machine": "a test machine", "date": "2026-12-03", "command": "written by the test"},
            "data": {"dims": [2], "seconds": [30.0]},
            "synthetic": {SYNTHETIC: {"dims": [2], "seconds": [600.0], "calls": 6}},
            "rl": {CARTPOLE: {"calls": 4, "seconds": 1800.0, "evaluation_seconds": 36.0}},
            "lqr": {LQR: {"calls": 4, "seconds": 7200.0, "evaluation_seconds": 0.0}},
        },
    )
    return protocol, seconds


def test_plan_of_a_tiny_protocol(tiny, capsys):
    protocol, seconds = tiny
    argv = [
        "--plan",
        "--protocol",
        str(protocol),
        "--unit-seconds",
        str(seconds),
        "--cores",
        "2",
        "--report-workers",
        "4",
    ]
    assert paper.main(argv) == 0
    out = capsys.readouterr().out
    # the RL trials are measured over 4 calls and scaled to the 8-call budget: 2 x 3600 s = 2 core-hours
    assert "| rl/cartpole/rs_10runs | 2 trials | 8 | 3600 | 2.00 |" in out
    assert "| synthetic/gibo_fixed_hypers | 1 objective | 6 | 600 | 0.17 |" in out
    assert "| lqr/gibo_quick | 1 trial | 4 | 7200 | 2.00 |" in out
    assert "synthetic objectives (generates D = 2 first" in out
    # 2 x 3600 + 7200 + 600 + 30 s of data generation + 2 x 72 s of offline evaluation = 4.215 h
    assert "**4.21**" in out
    assert "| report: offline evaluation of the RL trials (on 2 cores) | – | – | – | 0.04 |" in out
    # 2 cores: the LQR trial (2 h) on one, the two RL trials (1 h each) on the other, then the synthetic objective
    # (10 min): 2.17 h, then the report (144 s on 2 cores)
    assert (
        "Expected wall time on 2 cores: 2.2 h (runs 2.2 h, of which generating the synthetic objectives 30 s; " in out
    )
    assert "report 72 s; longest unit 2.0 h" in out
    assert "a test machine" in out


def test_wall_time_is_list_scheduling_in_submission_order():
    def part(kind, seconds):
        return Part(Entry(kind, f"{kind}{len(seconds)}.yaml"), "trial", 10, [str(i) for i in seconds], seconds, "")

    plan = Plan([part("synthetic", [5.0, 5.0]), part("rl", [10.0, 1.0, 1.0])], data_seconds=3.0, data_note="")
    wall = paper.wall_seconds(plan, cores=2, report_workers=1)
    # core 1: RL 10 s; core 2: RL 1 + 1 s, then the synthetic units once the data exist (3 s): 3 + 5 + 5 = 13 s
    assert wall["runs"] == 13.0
    assert paper.wall_seconds(plan, cores=8, report_workers=1)["runs"] == 10.0


def test_interpolation_is_a_power_law_between_measured_dimensions():
    assert paper.interpolate([4, 36], [1.0, 81.0], 12) == pytest.approx(9.0)  # s ∝ D²
    assert paper.interpolate([4, 20, 36], [2.0, 10.0, 30.0], 20) == pytest.approx(10.0)
    assert paper.interpolate([4], [2.0], 36) == 2.0


def test_the_papers_protocol_and_its_measured_seconds():
    entries = paper.load_protocol()
    plan = paper.make_plan(entries, paper.load_unit_seconds())
    counts = {p.entry.name: len(p.units) for p in plan.parts}
    assert sum(n for name, n in counts.items() if name.startswith("synthetic/")) == 8 * 9 * 40
    assert counts["rl/hopper/gibo_10runs"] == 10 and counts["lqr/gibo"] == 100
    assert all(p.core_seconds for p in plan.parts), [p.entry.name for p in plan.parts if not p.core_seconds]
    assert plan.timing["measured"]["machine"]


@pytest.mark.parametrize(
    "protocol, message",
    [
        ({"synthetic": {"runs": [{"config": SYNTHETIC}]}}, "synthetic.data_config: missing"),
        ({"rl": [{"config": CARTPOLE, "trails": 3}]}, "rl[0]: unknown key(s) ['trails']"),
        ({"lqr": [{"config": LQR, "trials": 0}]}, "lqr[0].trials: expected a positive integer"),
        ({"rl": [{"config": CARTPOLE}, {"config": CARTPOLE}]}, "share the folder rl/cartpole/rs_10runs"),
        ({"ablation": []}, "unknown key(s) ['ablation']"),
    ],
)
def test_protocol_errors_are_one_line(tmp_path, protocol, message):
    path = write(tmp_path / "protocol.yaml", protocol)
    with pytest.raises(ProtocolError) as error:
        paper.load_protocol(path)
    assert message in str(error.value) and "\n" not in str(error.value)


def test_run_on_local_ray_ends_with_a_report(tiny, tmp_path):
    pytest.importorskip("ray")
    protocol, _ = tiny
    out = tmp_path / "out"
    failed = paper.run_protocol(paper.load_protocol(protocol), out, workers=2, report_workers=1, poll_seconds=0.2)
    assert failed == []
    assert (out / "synthetic/gibo_fixed_hypers/dim2/objective000.npz").is_file()
    assert sorted(p.name for p in (out / "rl/cartpole/rs_10runs").glob("trial???.npz")) == [
        "trial000.npz",
        "trial001.npz",
    ]
    assert (out / "lqr/gibo_quick/trial000.npz").is_file()
    report = (out / "report/report.md").read_text()
    for run in ("synthetic/gibo_fixed_hypers", "rl/cartpole/rs_10runs", "lqr/gibo_quick"):
        assert str(out / run) in report
