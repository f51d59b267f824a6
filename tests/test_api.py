"""gibo.maximize / minimize / AskTell: the optimum of a concave quadratic, ask–tell = maximize point for point,
saved runs that continue exactly in another process, and bad calls that change nothing."""

import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import gibo
from gibo.api import AskTell, AskTellError, StateFileError
from gibo.config import ConfigError
from gibo.loop import BudgetSpent

OPTIMUM = np.array([0.3, -0.2, 0.1, 0.4])
CURVATURE = np.array([1.0, 2.0, 4.0, 8.0])


def quadratic(x):
    return -float(np.sum(CURVATURE * (x - OPTIMUM) ** 2))


# Budgets small enough for the suite, large enough for each method to take a few iterations at D = 4.
BUDGETS = {"gibo": 25, "mpd": 25, "turbo": 20, "ars": 24, "vbo": 12, "cmaes": 24}


def asktell_points(method, budget, seed=0, evaluate=quadratic, **kwargs):
    run = AskTell(method, np.zeros(4), budget, seed=seed, bounds=(-1, 1), **kwargs)
    points = []
    while not run.done:
        x = run.ask()
        points.append(x)
        run.tell(x, evaluate(x))
    return run, np.array(points)


def test_maximize_finds_the_optimum_of_a_concave_quadratic():
    result = gibo.maximize(quadratic, np.zeros(4), budget=80, bounds=(-1, 1), seed=0)
    assert result.calls == 80 and result.history.x.shape == (80, 4) and result.history.values.shape == (80,)
    assert np.abs(result.x - OPTIMUM).max() < 0.06  # θ_T within 0.06 of the optimum in every coordinate
    assert quadratic(result.x) > -0.03  # within 2 % of the gap θ_0 = 0 leaves (−1.49): GIBO steps a fixed length
    assert result.value == result.history.values.max() and np.array_equal(
        result.best_x, result.history.x[result.history.values.argmax()]
    )
    np.testing.assert_array_equal(result.iterates[-1], result.x)  # GIBO deploys its last iterate
    assert result.iterate_calls[-1] <= 80 and len(result.iterates) == result.iterations + 1


def test_minimize_is_maximize_of_the_negative():
    up = gibo.maximize(quadratic, np.zeros(4), budget=20, bounds=(-1, 1), seed=3)
    down = gibo.minimize(lambda x: -quadratic(x), np.zeros(4), budget=20, bounds=(-1, 1), seed=3)
    np.testing.assert_array_equal(up.history.x, down.history.x)
    np.testing.assert_array_equal(up.history.values, -down.history.values)
    np.testing.assert_array_equal(up.x, down.x)
    assert down.value == -up.value == down.history.values.min()


@pytest.mark.parametrize("method", sorted(BUDGETS))
def test_ask_tell_reproduces_maximize_point_for_point(method):
    budget = BUDGETS[method]
    run, points = asktell_points(method, budget, seed=1)
    torch.manual_seed(123)  # the caller's random state must not matter
    np.random.seed(123)
    result = gibo.maximize(quadratic, np.zeros(4), budget=budget, method=method, bounds=(-1, 1), seed=1)
    np.testing.assert_array_equal(points, result.history.x)
    assert result.calls == budget == run.calls and run.done
    np.testing.assert_array_equal(run.incumbent, result.x)
    assert np.all(np.abs(points) <= 1.0)  # every method keeps its points inside the bounds


def test_callers_random_numbers_between_asks_change_nothing():
    plain = asktell_points("gibo", 15, seed=2)[1]

    def noisy_caller(x):
        torch.rand(5), np.random.rand(3)  # a caller drawing from the global generators
        return quadratic(x)

    np.testing.assert_array_equal(asktell_points("gibo", 15, seed=2, evaluate=noisy_caller)[1], plain)
    assert not np.array_equal(asktell_points("gibo", 15, seed=3)[1], plain)  # the seed does matter


RESUME = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    from gibo.api import AskTell
    sys.path.insert(0, sys.argv[3])
    from test_api import quadratic
    run = AskTell.load(sys.argv[1])
    points = []
    while not run.done:
        x = run.ask(); points.append(x.tolist()); run.tell(x, quadratic(x))
    json.dump({"points": points, "x": run.incumbent.tolist()}, open(sys.argv[2], "w"))
    """
)


@pytest.mark.parametrize(
    "method,budget,stop,pending",
    [
        ("gibo", 25, 9, False),
        ("gibo", 25, 11, True),
        ("mpd", 25, 14, True),
        ("cmaes", 24, 13, True),
        ("turbo", 20, 11, False),
        ("turbo", 30, 25, True),  # saved inside a batch, past its first fits: the region, batch and fit restored
        ("vbo", 16, 9, True),  # its fits and acquisition optimisations skipped, its saved model set
        ("vbo", 26, 23, False),  # past 20 points: hyperparameters fitted before and after the save
    ],
)
def test_saved_run_continues_in_another_process_as_if_uninterrupted(tmp_path, method, budget, stop, pending):
    full, points = asktell_points(method, budget, seed=4)
    run = AskTell(method, np.zeros(4), budget, seed=4, bounds=(-1, 1))
    for _ in range(stop):
        x = run.ask()
        run.tell(x, quadratic(x))
    if pending:
        run.ask()  # saved between an ask and its tell: the file records the waiting point
    state = run.save(tmp_path / "run.gibo")
    out = tmp_path / "rest.json"
    script = tmp_path / "resume.py"
    script.write_text(RESUME)
    done = subprocess.run(
        [sys.executable, str(script), str(state), str(out), str(__import__("pathlib").Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rest = json.loads(out.read_text())
    np.testing.assert_array_equal(np.array(rest["points"]), points[stop:])
    np.testing.assert_array_equal(np.array(rest["x"]), full.incumbent)


def test_each_bad_call_raises_and_changes_nothing():
    run = AskTell("gibo", np.zeros(4), 6, seed=0, bounds=(-1, 1))
    with pytest.raises(AskTellError, match="no point is waiting"):
        run.tell(np.zeros(4), 1.0)
    x = run.ask()
    bad_calls = [
        (x + 1e-3, 1.0, "not the point asked"),
        (x[:3], 1.0, r"shape \(4,\)"),
        (x, float("nan"), "finite number"),
        (x, float("inf"), "finite number"),
        (x, [1.0, 2.0], "finite number"),
        (x, "high", "finite number"),
    ]
    for point, value, message in bad_calls:
        with pytest.raises(AskTellError, match=message):
            run.tell(point, value)
        assert run.calls == 0
        np.testing.assert_array_equal(run.ask(), x)  # the same point again
    run.tell(x, quadratic(x))
    while not run.done:
        y = run.ask()
        run.tell(y, quadratic(y))
    with pytest.raises(BudgetSpent, match="budget of 6 calls"):
        run.ask()
    assert run.calls == 6
    # the run so far equals one that never saw a bad call
    np.testing.assert_array_equal(run.history.x, asktell_points("gibo", 6, seed=0)[1])


def test_bad_options_and_arguments_are_one_line_errors():
    with pytest.raises(ConfigError, match=r"unknown option learning_rate \(allowed: .*delta"):
        AskTell("gibo", np.zeros(4), 10, learning_rate=0.1)
    with pytest.raises(ConfigError, match=r"delta: got -0.1, allowed > 0"):
        AskTell("gibo", np.zeros(4), 10, delta=-0.1)
    with pytest.raises(ConfigError, match="unknown method"):
        AskTell("sgd", np.zeros(4), 10)
    with pytest.raises(ValueError, match="turbo searches a box: give bounds"):
        AskTell("turbo", np.zeros(4), 10)
    with pytest.raises(ValueError, match="x0 lies outside the bounds"):
        AskTell("gibo", np.full(4, 2.0), 10, bounds=(-1, 1))
    with pytest.raises(ConfigError, match=r"^gibo.AskTell\(method='gibo'\): model_config.N_max: got 0") as caught:
        AskTell("gibo", np.zeros(4), 10, model_config={"N_max": 0})
    assert "\n" not in str(caught.value)


def test_a_damaged_or_foreign_state_file_is_refused(tmp_path):
    run = AskTell("gibo", np.zeros(4), 10, seed=0, bounds=(-1, 1))
    for _ in range(3):
        x = run.ask()
        run.tell(x, quadratic(x))
    good = run.save(tmp_path / "run.gibo")
    text = good.read_text()
    cases = {
        "truncated.gibo": (text[: len(text) // 2], "not a gibo ask-tell state file, or truncated"),
        "foreign.gibo": (json.dumps({"hello": 1}), "not a gibo ask-tell state file"),
        "binary.gibo": (None, "not a gibo ask-tell state file"),
        "edited.gibo": (
            text.replace(repr(float(run.history.values[1])), repr(float(run.history.values[1]) + 1.0)),
            "damaged",
        ),
    }
    assert cases["edited.gibo"][0] != text
    for name, (content, message) in cases.items():
        path = tmp_path / name
        path.write_bytes(b"PK\x03\x04\xff\xfe" if content is None else content.encode())
        with pytest.raises(StateFileError, match=message):
            AskTell.load(path)
    with pytest.raises(StateFileError, match="no such state file"):
        AskTell.load(tmp_path / "missing.gibo")
    loaded = AskTell.load(good)
    assert loaded.calls == 3 and np.array_equal(loaded.history.x, run.history.x)


def test_a_run_that_replays_otherwise_goes_on_from_its_record_with_one_warning_or_is_refused_when_strict(
    tmp_path, caplog
):
    run = AskTell("gibo", np.zeros(4), 10, seed=0, bounds=(-1, 1))
    for _ in range(7):
        x = run.ask()
        run.tell(x, quadratic(x))
    path = run.save(tmp_path / "run.gibo")
    content = json.loads(path.read_text())
    # GIBO at D = 4: θ_t and 2 samples per iteration. As if another machine had computed θ_1 (call 4) in other
    # last bits, and the sample after it (call 5: not recomputed by the replay, the record is used).
    content["x"][3][0] += 1e-9
    content["x"][4][1] += 2e-9
    del content["sha256"]
    from gibo.api.state import digest as _digest

    content["sha256"] = _digest(content)
    path.write_text(json.dumps(content))
    with pytest.raises(StateFileError, match="does not replay here: call 4 asks another point"):
        AskTell.load(path, strict=True)
    with caplog.at_level("WARNING", logger="gibo.api"):
        loaded = AskTell.load(path)
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "call 4 computes another point here than the recorded one" in warnings[0]
    assert "difference 1e-09" in warnings[0] and "\n" not in warnings[0]
    np.testing.assert_array_equal(loaded.history.x, np.array(content["x"]))  # the record is the truth
    while not loaded.done:
        x = loaded.ask()
        loaded.tell(x, quadratic(x))
    assert loaded.calls == 10


# Saves a GIBO run of the size (8-D quadratic, 120 tells of 200) in one process; the others load it.
ACROSS = textwrap.dedent(
    """
    import json, logging, sys
    import numpy as np
    from gibo.api import AskTell, StateFileError
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    def f(x):
        return -float(np.sum((x - 0.3) ** 2 * np.arange(1, 9)))
    if sys.argv[2] == "save":
        run = AskTell("gibo", np.zeros(8), 200, seed=1, bounds=(-1, 1))
        for _ in range(120):
            x = run.ask(); run.tell(x, f(x))
        run.save(sys.argv[1])
        sys.exit()
    try:
        run = AskTell.load(sys.argv[1], strict=sys.argv[2] == "strict")
    except StateFileError as error:
        print(json.dumps({"refused": str(error)})); sys.exit()
    recorded = run.history.x.tolist()
    while not run.done:
        x = run.ask(); run.tell(x, f(x))
    print(json.dumps({"calls": run.calls, "recorded": recorded}))
    """
)


def other_blas_path() -> dict[str, str]:
    """An environment variable that makes the BLAS under torch take another kernel path, as another CPU would."""
    if "mkl" in torch.__config__.show().lower():
        return {"MKL_CBWR": "AVX2"}
    return {"OPENBLAS_CORETYPE": "Haswell"}


def test_a_state_file_loads_with_another_blas_kernel_path(tmp_path):
    """Saved in one process, loaded in others whose BLAS takes another kernel path (as on another CPU): strict
    refuses, the default continues to the budget from the recorded history with one warning line."""
    import os

    script = tmp_path / "across.py"
    script.write_text(ACROSS)
    state = tmp_path / "run.gibo"

    def run(mode, env=None):
        done = subprocess.run(
            [sys.executable, str(script), str(state), mode],
            capture_output=True,
            text=True,
            timeout=300,
            env={**os.environ, **(env or {})},
        )
        assert done.returncode == 0, done.stderr[-2000:]
        return (json.loads(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else None), done.stderr

    run("save")
    recorded = json.loads(state.read_text())["x"]
    other = other_blas_path()
    strict, _ = run("strict", other)
    if "refused" not in strict:
        pytest.skip(f"{other} computes the same bits as the default path on this machine")
    assert "does not replay here: call" in strict["refused"]
    loaded, log = run("default", other)
    assert loaded["calls"] == 200
    assert loaded["recorded"] == recorded  # the recorded points are the run's history
    warnings = [line for line in log.splitlines() if line.startswith("WARNING")]
    assert len(warnings) == 1, log[-2000:]
    assert "computes another point here than the recorded one" in warnings[0]
    assert "continuing from the recorded points and values" in warnings[0]


def test_les_through_the_api_asks_inside_its_box_and_replays_from_a_state_file(tmp_path):
    """LES (small settings to keep it quick): ask–tell = maximize point for point, a saved run continues exactly."""
    small = {"num_paths": 16, "descent_steps": 40, "sequence_points": 4}
    budget = 10

    def quadratic2(x):
        return -float(np.sum((x - 0.3) ** 2))

    result = gibo.maximize(quadratic2, np.zeros(2), budget=budget, method="les", bounds=(-1, 1), seed=4, **small)
    assert result.calls == budget and np.all(np.abs(result.history.x) <= 1.0)
    np.testing.assert_array_equal(result.x, result.best_x)  # LES deploys its best observation
    run = AskTell("les", np.zeros(2), budget, seed=4, bounds=(-1, 1), **small)
    for k in range(budget):
        x = run.ask()
        np.testing.assert_array_equal(x, result.history.x[k])
        run.tell(x, quadratic2(x))
        if k == 4:
            run.save(tmp_path / "les.gibo")
    resumed = AskTell.load(tmp_path / "les.gibo")
    for k in range(5, budget):
        x = resumed.ask()
        np.testing.assert_array_equal(x, result.history.x[k])
        resumed.tell(x, quadratic2(x))
    assert resumed.done and resumed.best[1] == result.value
    # the load skipped the saved run's fits and sample paths and set their results: the same diagnostics
    expected, actual = run._driver.optimizer.diagnostics(), resumed._driver.optimizer.diagnostics()
    assert expected.keys() == actual.keys() and len(expected["les_converged_fraction"]) == budget - 1
    for name, array in expected.items():
        np.testing.assert_array_equal(actual[name], array, err_msg=name)


def test_les_load_skips_the_saved_runs_acquisitions(tmp_path, monkeypatch):
    """Loading a LES state builds no acquisition for the recorded calls: only the calls after them do."""
    from gibo.optimizers.les import LES

    small = {"num_paths": 8, "descent_steps": 10, "sequence_points": 4}
    run = AskTell("les", np.zeros(2), 12, seed=1, bounds=(-1, 1), **small)
    for _ in range(8):
        x = run.ask()
        run.tell(x, -float(np.sum((x - 0.3) ** 2)))
    run.save(tmp_path / "les.gibo")
    built = []
    original = LES.acquisition
    monkeypatch.setattr(LES, "acquisition", lambda self, incumbent: built.append(1) or original(self, incumbent))
    resumed = AskTell.load(tmp_path / "les.gibo")
    assert resumed.calls == 8 and built == []
    resumed.ask()
    assert len(built) == 1


def test_turbo_warns_when_its_initial_design_takes_the_whole_budget(caplog):
    with caplog.at_level("WARNING", logger="gibo.optimizers.turbo"):
        gibo.maximize(quadratic, np.zeros(4), budget=8, method="turbo", bounds=(-1, 1), seed=0)  # n_init = 2D = 8
    assert [r.message for r in caplog.records if "random search" in r.message] == [
        "TuRBO: the initial design (n_init = 8 points) takes all 8 calls of the budget, so this run is a Sobol "
        "random search; give a smaller n_init"
    ]
    caplog.clear()
    with caplog.at_level("WARNING", logger="gibo.optimizers.turbo"):
        gibo.maximize(quadratic, np.zeros(4), budget=12, method="turbo", bounds=(-1, 1), seed=0)
    assert not [r for r in caplog.records if "random search" in r.message]
