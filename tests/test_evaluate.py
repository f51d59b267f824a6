"""Evaluation of the synthetic study on hand-made inputs: step functions, best-so-far, f* correction, figures, CLI."""

import json

import numpy as np
import pytest
from matplotlib.figure import Figure

from gibo import evaluate
from gibo.evaluate import (
    best_so_far,
    corrected_f_star,
    mean_error_table,
    normalized_error_curves,
    parse_runs,
    plot_error_curves,
    plot_final_error_boxes,
    step_function,
    synthetic_error_curves,
)
from gibo.results import save_unit


def test_step_function_takes_the_last_iterate_finished_within_n_calls():
    values = np.array([1.0, 2.0, 3.0])
    calls = np.array([0, 2, 5])
    grid = np.array([0, 1, 2, 4, 5, 6, 100])
    np.testing.assert_array_equal(step_function(values, calls, grid), [1, 1, 2, 2, 3, 3, 3])
    out = step_function(values, np.array([1, 2, 5]), np.array([0, 1]))
    assert np.isnan(out[0]) and out[1] == 1.0


def test_step_function_rejects_decreasing_calls():
    with pytest.raises(ValueError, match="non-decreasing"):
        step_function(np.ones(3), np.array([0, 3, 2]), np.array([1]))


def test_best_so_far_is_the_running_maximum():
    np.testing.assert_array_equal(best_so_far([1.0, 3.0, 2.0, 5.0, 4.0]), [1, 3, 3, 5, 5])


def test_corrected_f_star_raises_f_star_above_every_method_that_beat_it():
    f_star = np.array([10.0, 5.0, 2.0])
    corrected = corrected_f_star(f_star, [np.array([9.0, 6.0, 1.0]), np.array([11.0, 4.0, 2.0])])
    np.testing.assert_allclose(corrected, [11.01, 6.01, 2.0])
    np.testing.assert_array_equal(f_star, [10.0, 5.0, 2.0])  # input untouched


def test_normalized_error_curves_by_hand():
    values = [np.array([1.0, 3.0, 2.0]), np.array([2.0, 1.0, 4.0])]
    calls = [np.array([0, 2, 4]), np.array([0, 3, 6])]
    errors = normalized_error_curves(values, calls, np.array([4.0, 8.0]), np.array([0, 2, 4, 6]))
    np.testing.assert_allclose(errors, [[3 / 4, 1 / 4, 1 / 4, 1 / 4], [6 / 8, 6 / 8, 6 / 8, 4 / 8]])


def _results(per_dim):
    """{D: (values, calls, f_star)} of per-objective lists → {D: {"values", "calls", "f_star"}} as `load_results`
    returns."""
    return {
        D: {
            "values": [np.asarray(v, float) for v in values],
            "calls": [np.asarray(c) for c in calls],
            "f_star": np.asarray(f_star, float),
        }
        for D, (values, calls, f_star) in per_dim.items()
    }


def test_error_curves_correct_f_star_across_all_methods():
    a = _results({2: ([[1.0, 3.0], [1.0, 2.0]], [[0, 5], [0, 5]], [4.0, 4.0])})
    b = _results({2: ([[1.0, 2.0], [1.0, 6.0]], [[0, 5], [0, 5]], [4.0, 4.0])})
    curves = synthetic_error_curves({"a": a, "b": b}, np.array([0, 5]))
    # Objective 1: method b saw 6 > f* = 4, so f* = 6.01 for both methods.
    np.testing.assert_allclose(curves["a"][2], [[3 / 4, 1 / 4], [5.01 / 6.01, 4.01 / 6.01]])
    np.testing.assert_allclose(curves["b"][2], [[3 / 4, 2 / 4], [5.01 / 6.01, 0.01 / 6.01]])


def test_error_curves_accept_a_partial_run_and_reject_different_data():
    full = _results({4: ([[1.0], [1.0], [1.0]], [[0], [0], [0]], [2.0, 4.0, 5.0])})
    partial = _results({4: ([[3.0]], [[0]], [2.0])})  # only objective 0 finished
    curves = synthetic_error_curves({"full": full, "partial": partial}, np.array([0]))
    assert curves["partial"][4].shape == (1, 1)
    np.testing.assert_allclose(curves["full"][4][:, 0], [2.01 / 3.01, 3 / 4, 4 / 5])
    other = _results({4: ([[1.0]], [[0]], [7.0])})
    with pytest.raises(ValueError, match="same data"):
        synthetic_error_curves({"full": full, "other": other}, np.array([0]))


def test_mean_error_table_and_its_text():
    a = _results({2: ([[1.0, 3.0], [1.0, 2.0]], [[0, 5], [0, 5]], [4.0, 4.0]), 3: ([[0.0, 1.0]], [[0, 4]], [2.0])})
    table = mean_error_table({"a": a}, [0, 5])
    np.testing.assert_allclose(table["a"][2], [3 / 4, (1 / 4 + 2 / 4) / 2])
    np.testing.assert_allclose(table["a"][3], [1.0, 0.5])
    text = evaluate.format_error_table(table, [0, 5])
    assert text.splitlines()[0].split() == ["method", "D", "0", "5"]
    assert len(text.splitlines()) == 3


def _method(rng, dims=(2, 4), n=3, calls=30, per_iteration=3, quality=1.0):
    """Random increasing values on n objectives per D, one iterate every `per_iteration` calls, f* = 12."""
    steps = calls // per_iteration + 1
    return _results(
        {
            D: (
                [np.cumsum(rng.random(steps)) * quality for _ in range(n)],
                [np.arange(steps) * per_iteration] * n,
                [12.0] * n,
            )
            for D in dims
        }
    )


def test_figures_have_one_panel_per_dimension_and_every_method():
    rng = np.random.default_rng(0)
    methods = {"gibo": _method(rng, quality=1.2), "rs": _method(rng, per_iteration=2), "cmaes": _method(rng, dims=(2,))}
    fig = plot_error_curves(methods)
    assert isinstance(fig, Figure)
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["D = 2", "D = 4"]
    assert all(ax.get_yscale() == "log" for ax in visible)
    assert len(visible[0].get_lines()) == 3 and len(visible[1].get_lines()) == 2
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["gibo", "rs", "cmaes"]
    boxes = plot_final_error_boxes(methods)
    visible = [ax for ax in boxes.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["D = 2, 30 calls", "D = 4, 30 calls"]
    assert [t.get_text() for t in visible[0].get_xticklabels()] == ["gibo", "rs", "cmaes"]
    assert [t.get_text() for t in visible[1].get_xticklabels()] == ["gibo", "rs"]


def test_figure_grid_wraps_after_three_panels():
    rng = np.random.default_rng(1)
    fig = plot_error_curves({"a": _method(rng, dims=(2, 4, 8, 16))})
    assert len(fig.axes) == 6
    assert sum(ax.get_visible() for ax in fig.axes) == 4


def _write_run(run_dir, results):
    for D, entry in results.items():
        for i, (v, c, f) in enumerate(zip(entry["values"], entry["calls"], entry["f_star"])):
            save_unit(
                run_dir / f"dim{D}" / f"objective{i:03d}.npz",
                params=np.zeros((len(v), D)),
                calls=c,
                values=v,
                f_star=f,
                seed=i,
            )


def test_command_line_writes_figures_and_table(tmp_path, capsys):
    rng = np.random.default_rng(2)
    _write_run(tmp_path / "gibo", _method(rng, quality=1.2))
    _write_run(tmp_path / "rs", _method(rng))
    out = tmp_path / "figures"
    code = evaluate.main(
        [
            "synthetic-figures",
            "--runs",
            f"gibo={tmp_path / 'gibo'}",
            f"rs={tmp_path / 'rs'}",
            "--out",
            str(out),
            "--calls",
            "10",
            "30",
        ]
    )
    assert code == 0
    for name in [
        "normalized_error_curves.pdf",
        "normalized_error_curves.png",
        "final_error_boxes.pdf",
        "final_error_boxes.png",
        "mean_errors.txt",
    ]:
        assert (out / name).stat().st_size > 0
    table = json.loads((out / "mean_errors.json").read_text())
    assert table["calls"] == [10, 30] and set(table["mean_error"]) == {"gibo", "rs"}
    assert "gibo" in capsys.readouterr().out


def test_command_line_errors_are_one_line(tmp_path):
    with pytest.raises(SystemExit, match="expected LABEL=RUN_DIR"):
        evaluate.main(["synthetic-figures", "--runs", "gibo", "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="no results"):
        evaluate.main(["synthetic-figures", "--runs", f"gibo={tmp_path / 'missing'}", "--out", str(tmp_path)])


def test_parse_runs():
    assert parse_runs(["gibo=a/b", "rs=c=d"]) == {"gibo": "a/b", "rs": "c=d"}
    with pytest.raises(ValueError, match="twice"):
        parse_runs(["a=x", "a=y"])


def test_loaded_partial_runs_line_up_by_objective_index(tmp_path):
    full = _results({4: ([[1.0], [1.0], [1.0]], [[0], [0], [0]], [2.0, 4.0, 5.0])})
    _write_run(tmp_path / "full", full)
    save_unit(
        tmp_path / "partial" / "dim4" / "objective002.npz",
        params=np.zeros((1, 4)),
        calls=[0],
        values=[6.0],
        f_star=5.0,
        seed=0,
    )
    methods = evaluate.load_synthetic_methods({"full": tmp_path / "full", "partial": tmp_path / "partial"})
    np.testing.assert_array_equal(methods["partial"][4]["index"], [2])
    curves = synthetic_error_curves(methods, np.array([0]))
    np.testing.assert_allclose(curves["full"][4][:, 0], [1 / 2, 3 / 4, 5.01 / 6.01])
    np.testing.assert_allclose(curves["partial"][4][:, 0], [0.01 / 6.01])


def _gp_unit(calls, outputscale, lengthscales):
    T = len(calls) - 1
    return dict(
        calls=np.asarray(calls),
        params=np.zeros((T + 1, 2)),
        gp_lengthscale=np.asarray(lengthscales, dtype=float),
        gp_outputscale=np.asarray(outputscale, dtype=float),
        gp_noise=np.full(T, 0.5),
        gp_mean=np.zeros(T),
    )


def test_hyperparameters_in_force_after_n_calls():
    # iterations 0, 1, 2 ended after 10, 20, 30 calls
    unit = _gp_unit([0, 10, 20, 30], [1.0, 2.0, 3.0], [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6]])
    at = evaluate.hyperparameters_at(unit, [5, 10, 19, 20, 100])
    np.testing.assert_array_equal(at["outputscale"], [np.nan, 1.0, 1.0, 2.0, 3.0])
    np.testing.assert_array_equal(at["lengthscale"][3], [0.3, 0.4])
    with pytest.raises(ValueError, match="gp_lengthscale"):
        evaluate.hyperparameters_at({"calls": np.arange(3)}, [1])


def test_hyperparameter_table_takes_medians_over_units(tmp_path, capsys):
    units = [
        _gp_unit([0, 10, 20], [1.0, 10.0], [[0.1, 0.4], [0.1, 0.4]]),
        _gp_unit([0, 10, 20], [3.0, 30.0], [[0.2, 0.8], [0.2, 0.8]]),
        _gp_unit([0, 10, 20], [2.0, 20.0], [[0.3, 0.3], [0.3, 0.3]]),
    ]
    rows = evaluate.hyperparameter_table(units, [10, 20]).splitlines()
    assert rows[0].split() == ["calls", "outputscale", "noise", "mean", "ls", "gmean", "ls", "min", "ls", "max"]
    # after 20 calls: outputscale median 20; geometric means 0.2, 0.4, 0.3 -> 0.3; minima 0.1 0.2 0.3 -> 0.2
    assert [float(v) for v in rows[2].split()] == pytest.approx([20, 20, 0.5, 0, 0.3, 0.2, 0.4])
    for i, unit in enumerate(units):
        save_unit(tmp_path / f"trial{i:03d}.npz", **unit)
    assert evaluate.main(["hypers", str(tmp_path), "--calls", "10", "20"]) == 0
    assert f"{tmp_path}: 3 units" in capsys.readouterr().out
    for i, unit in enumerate(units):  # a synthetic run: one table per dimension folder
        save_unit(tmp_path / "synthetic" / f"dim{2 + i % 2}" / "objective000.npz", **unit)
    assert evaluate.main(["hypers", str(tmp_path / "synthetic"), "--calls", "10"]) == 0
    out = capsys.readouterr().out
    assert f"{tmp_path}/synthetic/dim2: 1 units" in out and f"{tmp_path}/synthetic/dim3: 1 units" in out
    save_unit(tmp_path / "ars" / "trial000.npz", calls=np.arange(3), params=np.zeros((3, 2)))
    with pytest.raises(SystemExit, match="only GIBO runs record them"):
        evaluate.main(["hypers", str(tmp_path / "ars"), "--calls", "10"])


def test_iteration_counts_by_hand():
    # iterations of 3, 3, 13, 13, 3 calls, then one of 5 that the budget of 40 calls shortened
    unit = {"calls": np.array([0, 3, 6, 19, 32, 35, 40])}
    counts = evaluate.iteration_counts([unit], calls=40, max_samples=12)
    assert counts["iterations"] == 6 and counts["calls per iteration"] == pytest.approx(40 / 6)
    assert counts["2-sample %"] == pytest.approx(60.0) and counts["early stop %"] == pytest.approx(
        60.0
    )  # 3 of the other 5
    first = evaluate.iteration_counts([unit, {"calls": np.array([0, 13, 26, 39])}], calls=32, max_samples=12)
    assert first["iterations"] == pytest.approx((4 + 2) / 2)  # 4 and 2 iterations ended by call 32
    assert first["2-sample %"] == pytest.approx(100 * 2 / 6) and first["early stop %"] == pytest.approx(100 * 2 / 6)
    assert np.isnan(evaluate.iteration_counts([unit], calls=40)["early stop %"])  # no M known


def test_iteration_command_reads_m_per_dimension_from_the_saved_config(tmp_path, capsys):
    import yaml

    save_unit(tmp_path / "dim2" / "objective000.npz", calls=np.array([0, 3, 6, 9]), params=np.zeros((4, 2)))
    save_unit(tmp_path / "dim4" / "objective000.npz", calls=np.array([0, 3, 8, 13]), params=np.zeros((4, 4)))
    (tmp_path / "config.yaml").write_text(
        yaml.safe_dump(
            {
                "experiment": {"max_objective_calls": 13},
                "resolved": {2: {"max_samples_per_iteration": 2}, 4: {"max_samples_per_iteration": 4}},
            }
        )
    )
    assert evaluate.main(["iterations", str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split()[1:] for line in capsys.readouterr().out.splitlines()[2:]}
    assert [float(v) for v in rows["dim2"]] == pytest.approx([1, 3, 3, 100, 0], abs=0.05)  # 2 samples is M at D = 2
    assert [float(v) for v in rows["dim4"]] == pytest.approx(
        [1, 3, 13 / 3, 50, 50], abs=0.05
    )  # shares of the 2 before the one at the budget
    with pytest.raises(SystemExit, match="run directory not found"):
        evaluate.main(["iterations", str(tmp_path / "missing")])


def test_iteration_counts_of_a_gibo_run_whose_epsilon_always_stops():
    import torch

    from gibo.loop import run_optimization
    from gibo.model import DerivativeExactGPSEModel
    from gibo.optimizers import GIBO

    torch.manual_seed(0)
    D = 4
    model = DerivativeExactGPSEModel(D, N_max=5 * D)
    gibo = GIBO(
        torch.full((D,), 0.5),
        lambda p: -(p**2).sum(-1),
        model,
        max_samples_per_iteration=D,
        delta=0.2,
        epsilon_diff_acq_value=1e6,
    )
    result = run_optimization(gibo, max_objective_calls=20)
    counts = evaluate.iteration_counts([{"calls": result.calls}], calls=20, max_samples=D)
    assert counts["iterations"] == 7  # six of 3 calls (iterate + 2 samples), then the 2 calls left
    assert counts["2-sample %"] == 100 and counts["early stop %"] == 100  # the shares leave out the last
