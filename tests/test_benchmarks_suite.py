"""The benchmark suite: config validation, a tiny run (cell files, resume, refusal to overwrite), the table, the
optional extras (Nevergrad, box2d) and Lunar Lander where box2d is installed."""

import json
import sys

import numpy as np
import pytest
import yaml

from gibo.benchmarks.cli import main
from gibo.benchmarks.config import load_suite_config, parse_suite_config
from gibo.benchmarks.lunar_lander import MissingExtra
from gibo.benchmarks.suite import CellMismatch, cells, run_suite
from gibo.benchmarks.table import _symlog_width, curves_figure, load_cells, markdown_table, select_cells
from gibo.config import ConfigError

TINY = {
    "name": "tiny",
    "methods": ["cmaes", "gibo"],
    "seeds": 2,
    "budget": 12,
    "problems": [
        {"problem": "ackley", "dimensions": [2]},
        {"problem": "les_gp_sample", "complexity": "low", "dimensions": [2]},
    ],
}


def _config_file(tmp_path, **changes) -> str:
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({**TINY, "out_dir": str(tmp_path / "results"), **changes}))
    return str(path)


# --- config validation


@pytest.mark.parametrize(
    "change, message",
    [
        ({"seed": 3}, "unknown key seed (allowed: budget, method_options, methods, name, out_dir, problems"),
        ({"problems": [{"problem": "ackley", "dimensions": [2], "noise": 1}]}, "problems.0: unknown key noise"),
        ({"problems": [{"problem": "ackly", "dimensions": [2]}]}, "problems.0.problem: got 'ackly', expected one of"),
        ({"methods": ["gibo", "bo"]}, "methods.1: expected one of"),
        ({"budget": {"per_dim": 20}}, "budget: unknown key per_dim (allowed: max, per_dimension)"),
        (
            {"problems": [{"problem": "les_gp_sample", "dimensions": [2], "complexity": "huge"}]},
            "problems.0.complexity: expected one of",
        ),
        (
            {"problems": [{"problem": "rover", "dimensions": [30]}]},
            "problems.0.dimensions: Rover is 60-D only, got [30]",
        ),
    ],
)
def test_a_wrong_config_ends_with_one_line_naming_the_key(tmp_path, change, message):
    path = _config_file(tmp_path, **change)
    with pytest.raises(ConfigError) as error:
        load_suite_config(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and message in text and "\n" not in text


def test_the_shipped_configs_load_with_the_successors_settings():
    from pathlib import Path

    folder = Path(__file__).resolve().parents[1] / "configs" / "benchmarks"
    configs = {p.stem: load_suite_config(p) for p in sorted(folder.glob("*.yaml"))}
    assert set(configs) >= {"les_gp_samples", "les_analytic", "les_lunar_lander", "les_rover", "mpd_gp_samples"}
    les = configs["les_gp_samples"]
    assert les.seed_list() == list(range(20)) and [les.budget_for(D) for D in (5, 10, 20, 50)] == [100, 200, 400, 400]
    assert {e.complexity for e in les.problems} == {"high", "medium", "low", "extremely_low"}  # type: ignore[attr-defined]
    mpd = configs["mpd_gp_samples"].problems[0]
    assert mpd.dimensions == [100, 200] and mpd.noise_variance == 0.01 and mpd.num_samples == 1000  # type: ignore[attr-defined]


def test_the_cli_refuses_a_bad_config_in_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["run", "-c", _config_file(tmp_path, x0="corner")])
    assert str(exit_.value.code).startswith("error: ") and "x0: expected one of" in str(exit_.value.code)


# --- a tiny run


def test_a_tiny_suite_writes_one_file_per_cell_skips_them_next_time_and_tabulates(tmp_path, monkeypatch, capsys):
    config_file = _config_file(tmp_path)
    assert main(["run", "-q", "-c", config_file]) == 0
    results = tmp_path / "results"
    files = sorted(p.relative_to(results).as_posix() for p in results.rglob("*.npz"))
    assert files == [
        f"{problem}/D2/{method}/seed00{seed}.npz"
        for problem in ("ackley", "les_gp_sample-low")
        for method in ("cmaes", "gibo")
        for seed in (0, 1)
    ]
    assert (results / "suite.yaml").is_file()
    for name in files:
        with np.load(results / name, allow_pickle=False) as cell:
            meta = json.loads(str(cell["meta"]))
            assert cell["x"].shape == (12, 2) and list(cell["calls"]) == list(range(1, 13))
            assert np.array_equal(cell["best_so_far"], np.maximum.accumulate(cell["true_values"]))
            assert ((cell["x"] >= meta["lower"]) & (cell["x"] <= meta["upper"])).all()
            assert float(cell["wall_time"]) >= cell["elapsed"][-1] > 0
            assert meta["versions"]["botorch"] and meta["spec"]["budget"] == 12
            if name.startswith("les_gp_sample"):  # noisy: the curves are read on the noise-free values
                assert meta["noisy"] and not np.array_equal(cell["values"], cell["true_values"])
                assert np.abs(cell["values"] - cell["true_values"]).max() < 0.02
            else:
                assert np.array_equal(cell["values"], cell["true_values"]) and meta["optimum"] == 0.0
            if "/gibo/" in name:
                assert meta["method_options"]["delta"] == 0.1 and meta["method_options"]["model_config"]["N_max"] == 10
    with np.load(results / files[0]) as cell, np.load(results / files[2]) as other:  # one x0 per seed
        assert np.array_equal(cell["x0"], other["x0"])

    # a second invocation runs nothing: any cell run would raise here
    def no_run(cell):
        raise AssertionError(f"{cell.name} ran again")

    monkeypatch.setattr("gibo.benchmarks.suite.run_cell", no_run)
    before = {name: (results / name).stat().st_mtime_ns for name in files}
    assert main(["run", "-q", "-c", config_file]) == 0
    assert before == {name: (results / name).stat().st_mtime_ns for name in files}

    capsys.readouterr()
    assert main(["table", str(results), "--figure", str(tmp_path / "curves.png")]) == 0
    table = capsys.readouterr().out
    assert "| ackley | 2 | 12 | GIBO | 2 |" in table and "| les_gp_sample-low | 2 | 12 | CMA-ES | 2 |" in table
    assert table.count("\n") == 2 + 4 and (tmp_path / "curves.png").stat().st_size > 1000
    groups = load_cells(results)
    finals = [float(c["best_so_far"][-1]) for c in groups[("ackley", 2, 12, "gibo")]]
    assert f"{np.mean(finals):.4g} ± {np.std(finals, ddof=1):.4g}" in markdown_table(groups)
    with pytest.raises(SystemExit, match="exists; not overwritten"):
        main(["table", str(results), "--figure", str(tmp_path / "curves.png")])


def test_a_cell_made_with_other_settings_is_never_overwritten(tmp_path):
    config = parse_suite_config({**TINY, "out_dir": str(tmp_path), "methods": ["cmaes"], "seeds": [0]})
    run_suite(config, progress=False, dimensions=[2])
    first = {p: p.read_bytes() for p in tmp_path.rglob("*.npz")}
    changed = parse_suite_config({**TINY, "out_dir": str(tmp_path), "methods": ["cmaes"], "seeds": [0], "budget": 8})
    with pytest.raises(CellMismatch, match="made with budget 12, the config now gives 8"):
        run_suite(changed, progress=False)
    assert first == {p: p.read_bytes() for p in tmp_path.rglob("*.npz")}


def test_a_damaged_cell_file_is_set_aside_and_run_again(tmp_path):
    config = parse_suite_config({**TINY, "out_dir": str(tmp_path), "methods": ["cmaes"], "seeds": [0]})
    run_suite(config, progress=False)
    path = tmp_path / "ackley" / "D2" / "cmaes" / "seed000.npz"
    original = path.read_bytes()
    with np.load(path) as cell:
        first = {key: cell[key] for key in ("x", "values")}
    path.write_bytes(original[:100])
    run_suite(config, progress=False)
    with np.load(path) as cell:  # the same seed gives the same run (its times differ)
        assert all(np.array_equal(cell[key], first[key]) for key in first)
    assert (path.parent / "seed000.npz.damaged").read_bytes() == original[:100]


def test_method_options_reach_the_method_and_its_record(tmp_path):
    data = {**TINY, "out_dir": str(tmp_path), "methods": ["gibo"], "seeds": [0], "budget": 6}
    run_suite(parse_suite_config({**data, "method_options": {"gibo": {"delta": 0.05}}}), progress=False, dimensions=[2])
    with np.load(tmp_path / "ackley" / "D2" / "gibo" / "seed000.npz") as cell:
        meta = json.loads(str(cell["meta"]))
        x = cell["x"]
    assert meta["method_options"]["delta"] == 0.05 and meta["spec"]["options"] == {"delta": 0.05}
    u = (x - meta["lower"]) / (np.array(meta["upper"]) - meta["lower"])  # unit coordinates
    assert np.abs(u[1] - u[0]).max() <= 0.05 + 1e-12  # call 2: GIBO's one sample (D = 2) within δ of θ_0
    bad = parse_suite_config({**data, "out_dir": str(tmp_path / "b"), "method_options": {"gibo": {"delt": 1}}})
    with pytest.raises(ConfigError, match="unknown key delt") as error:
        run_suite(bad, progress=False)
    assert "\n" not in str(error.value) and not (tmp_path / "b").exists()


def test_cells_can_be_restricted_from_the_command_line_options():
    config = parse_suite_config({**TINY, "out_dir": "x"})
    assert len(cells(config)) == 8
    chosen = cells(config, methods=["gibo"], seeds=[1])
    assert [c.name for c in chosen] == ["ackley/D2/gibo/seed001", "les_gp_sample-low/D2/gibo/seed001"]
    assert [c.name for c in cells(config, seeds=[0], problems=["les_gp_sample-low"])] == [
        "les_gp_sample-low/D2/cmaes/seed000",
        "les_gp_sample-low/D2/gibo/seed000",
    ]
    with pytest.raises(ValueError, match="no cells"):
        run_suite(config, dimensions=[7])


def test_without_ray_several_workers_are_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SystemExit) as exit_:
        main(["run", "-q", "-c", _config_file(tmp_path), "--workers", "2"])
    assert str(exit_.value.code) == "error: running units on several workers needs Ray: pip install 'ray>=2.9'"
    assert not list(tmp_path.rglob("*.npz")) and not list(tmp_path.rglob("run.lock"))


def test_the_table_of_a_folder_without_cells_is_refused_in_one_line(tmp_path):
    with pytest.raises(SystemExit, match=r"^error: .*: no cell files \(\*\.npz\) found$"):
        main(["table", str(tmp_path)])


def test_the_table_can_show_part_of_a_folder_and_names_what_it_lacks(capsys):
    cell = [{"best_so_far": np.array([-3.0, -1.0]), "wall_time": 1.0, "optimum": 0.0, "seed": 0}]
    groups = {(p, D, 2, m): cell for p in ("ackley", "dixon_price") for D in (5, 30) for m in ("gibo", "les")}
    chosen = select_cells(groups, problems=["ackley"], dimensions=[30])
    assert list(chosen) == [("ackley", 30, 2, "gibo"), ("ackley", 30, 2, "les")]
    assert list(select_cells(groups, methods=["les"], dimensions=[5])) == [
        ("ackley", 5, 2, "les"),
        ("dixon_price", 5, 2, "les"),
    ]
    assert select_cells(groups) == groups
    with pytest.raises(FileNotFoundError, match=r"^no cells with D 20 \(the folder has 5, 30\)$"):
        select_cells(groups, dimensions=[5, 20])
    with pytest.raises(FileNotFoundError, match="no cells with method turbo"):
        select_cells(groups, methods=["turbo"])
    two_seeds = {key: [cell[0], {**cell[0], "seed": 1}] for key, cell in groups.items()}
    two_seeds[("ackley", 5, 2, "les")] = cell  # LES has seed 0 only
    shared = select_cells(two_seeds, problems=["ackley"], dimensions=[5], seeds=[1])
    assert list(shared) == [("ackley", 5, 2, "gibo")] and [c["seed"] for c in shared[("ackley", 5, 2, "gibo")]] == [1]
    with pytest.raises(FileNotFoundError, match=r"no cells with seed 2 \(the folder has 0, 1\)"):
        select_cells(two_seeds, seeds=[2])


def test_the_table_command_filters_a_folder_or_stops_in_one_line(tmp_path, capsys):
    data = {**TINY, "out_dir": str(tmp_path), "methods": ["cmaes"], "seeds": [0], "budget": 4}
    run_suite(parse_suite_config(data), progress=False)
    assert main(["table", "-q", str(tmp_path), "--problems", "ackley"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ackley")]
    assert len(rows) == 1 and "| CMA-ES | 1 |" in rows[0]
    with pytest.raises(
        SystemExit, match=r"^error: no cells with problem rover \(the folder has ackley, les_gp_sample-low\)$"
    ):
        main(["table", "-q", str(tmp_path), "--problems", "rover"])


# --- the optional extras


def test_ngopt_runs_on_the_box_when_nevergrad_is_installed(tmp_path):
    pytest.importorskip("nevergrad")
    config = parse_suite_config({**TINY, "out_dir": str(tmp_path), "methods": ["ngopt"], "seeds": [0]})
    run_suite(config, progress=False, dimensions=[2])
    with np.load(tmp_path / "ackley" / "D2" / "ngopt" / "seed000.npz") as cell:
        meta = json.loads(str(cell["meta"]))
        assert cell["x"].shape == (12, 2) and meta["method_options"]["optimizer"] == "NGOpt"
        assert ((cell["x"] >= -32.768) & (cell["x"] <= 32.768)).all() and meta["versions"]["nevergrad"]


def test_ngopt_without_nevergrad_is_refused_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "nevergrad", None)  # import nevergrad raises ImportError
    config = parse_suite_config({**TINY, "out_dir": str(tmp_path), "methods": ["gibo", "ngopt"]})
    with pytest.raises(MissingExtra, match=r"^the ngopt method needs Nevergrad: pip install"):
        run_suite(config, progress=False)
    assert not list(tmp_path.rglob("*.npz"))


def test_lunar_lander_without_box2d_is_refused_in_one_line(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "Box2D", None)
    from gibo.benchmarks.problems import LunarLander

    with pytest.raises(MissingExtra, match=r"gymnasium's box2d extra: pip install \"gymnasium\[box2d\]\""):
        LunarLander(episodes=1)
    config = parse_suite_config({**TINY, "out_dir": str(tmp_path), "problems": [{"problem": "lunar_lander"}]})
    with pytest.raises(MissingExtra, match="box2d"):
        run_suite(config, progress=False)


def test_lunar_lander_heuristic_controller_lands():
    pytest.importorskip("Box2D", reason="gymnasium's box2d extra is not installed")
    from gibo.benchmarks.lunar_lander import HEURISTIC_WEIGHTS
    from gibo.benchmarks.problems import LunarLander

    problem = LunarLander(episodes=5)
    assert problem.D == 12 and np.all(problem.lower == 0) and np.all(problem.upper == 1)
    assert np.all((HEURISTIC_WEIGHTS >= 0) & (HEURISTIC_WEIGHTS <= 1))
    good = problem(HEURISTIC_WEIGHTS)
    assert good > 100 and good == problem(HEURISTIC_WEIGHTS)  # the episodes' seeds are fixed
    assert problem(np.zeros(12)) < 0  # no engine ever fires: it crashes


def test_curves_spanning_orders_of_magnitude_get_a_symmetric_log_axis():
    dixon_price_like = [np.array([-2e5, -30.0, -0.9]), np.array([-1e5, -5.0, -7.0])]
    assert _symlog_width(dixon_price_like) == pytest.approx(0.9)  # log beyond the smallest final |value|
    assert _symlog_width([np.array([-21.0, -12.0, -1.9]), np.array([-20.0, -11.0])]) is None  # Ackley: linear
    assert _symlog_width([np.array([-5.0, 0.0])]) == 1e-6  # a final value at the optimum


def test_curves_figure_draws_cells_short_of_the_budget(tmp_path):
    """A seed whose cell stopped early: the panel's curves run to the shortest cell, on the log axis as well."""
    groups = {
        ("dixon_price", 2, 3, "gibo"): [
            {"best_so_far": np.array([-1e5, -10.0, -1.0])},
            {"best_so_far": np.array([-2e5, -20.0])},
        ]
    }
    assert curves_figure(groups, tmp_path / "curves.png").stat().st_size > 1000


@pytest.fixture
def drawn(monkeypatch):
    """The figures `curves_figure` draws, kept open instead of closed."""
    import matplotlib.pyplot as plt

    figures: list = []
    monkeypatch.setattr(plt, "close", lambda figure: figures.append(figure))
    return figures


def test_curves_figure_keeps_each_methods_colour_across_panels(tmp_path, drawn):
    """A method missing from one panel (LES not run at D = 30) must not hand its colour to the next method."""
    cell = [{"best_so_far": np.array([-3.0, -2.0, -1.0])}]
    groups = {
        ("ackley", 5, 3, "gibo"): cell,
        ("ackley", 5, 3, "les"): cell,
        ("ackley", 5, 3, "turbo"): cell,
        ("ackley", 30, 3, "gibo"): cell,
        ("ackley", 30, 3, "turbo"): cell,
    }
    curves_figure(groups, tmp_path / "curves.png")
    colours = [{line.get_label().split(" ")[0]: line.get_color() for line in ax.get_lines()} for ax in drawn[0].axes]
    assert colours[0]["TuRBO"] == colours[1]["TuRBO"] and colours[0]["GIBO"] == colours[1]["GIBO"]
    assert len(set(colours[0].values())) == 3


def test_curves_figure_lays_four_panels_out_two_by_two(tmp_path, drawn):
    cell = [{"best_so_far": np.array([-3.0, -2.0, -1.0])}]
    levels = ("high", "medium", "low", "extremely_low")
    curves_figure({(f"les_gp_sample-{level}", 10, 3, "gibo"): cell for level in levels}, tmp_path / "curves.png")
    assert [ax.get_subplotspec().get_geometry()[:2] for ax in drawn[0].axes] == [(2, 2)] * 4
