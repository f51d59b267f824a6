"""LES: its config (ranges, one-line errors), a short run uphill, the stopping rule on hand-made posteriors."""

import copy
import itertools
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from botorch.sampling.pathwise import draw_matheron_paths

from gibo.build import build_optimizer, resolve_dimension
from gibo.config import ConfigError, parse_experiment_config
from gibo.les_acquisition import PathAscentGradient, SequenceEntropySearch
from gibo.loop import run_optimization
from gibo.model import DerivativeExactGPSEModel
from gibo.optimizers import LES
from tests.helpers import load_script

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
FIXED = yaml.safe_load((CONFIGS / "synthetic_experiment" / "les_fixed_hypers.yaml").read_text())


pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _config(**optimizer_overrides) -> dict:
    data = copy.deepcopy(FIXED)
    data["optimizer_config"].update(optimizer_overrides)
    return data


# ----------------------------------------------------------------------------------------------
# Config
# ----------------------------------------------------------------------------------------------


def test_shipped_config_defaults_are_the_papers():
    opt = parse_experiment_config(_config()).optimizer_config
    assert (opt.num_paths, opt.descent_steps, opt.descent_lr, opt.sequence_points) == (250, 500, 0.002, 8)
    assert (opt.descent_optimizer, opt.regret_tolerance, opt.stop_probability) == ("adam", 0.02, None)


@pytest.mark.parametrize(
    "key, value",
    [
        ("num_paths", 0),
        ("descent_steps", 0),
        ("descent_lr", 0.0),
        ("descent_lr", -0.1),
        ("sequence_points", 0),
        ("sequence_subsample", 0),
        ("descent_tolerance", -1e-3),
        ("virtual_observation_noise", 0.0),
        ("path_chunk_size", 0),
        ("regret_tolerance", 0.0),
        ("stop_probability", 0.0),
        ("stop_probability", 1.5),
        ("descent_optimizer", "lbfgs"),
        ("acquisition_optimizer", "grid"),
        ("no_such_key", 1),
    ],
)
def test_out_of_range_values_are_refused_in_one_line(key, value):
    with pytest.raises(ConfigError) as error:
        parse_experiment_config(_config(**{key: value}), "les.yaml")
    message = str(error.value)
    assert "\n" not in message
    assert key in message and "les.yaml" in message


def test_subsample_larger_than_the_sequence_is_refused():
    with pytest.raises(ConfigError, match="sequence_subsample: got 9, allowed at most sequence_points"):
        parse_experiment_config(_config(sequence_subsample=9))


def test_a_box_is_required():
    with pytest.raises(ConfigError, match=r"delta / optimizer_config\.bounds"):
        parse_experiment_config(_config(bounds=None, delta=None))


def test_builds_from_yaml_with_its_settings():
    config = resolve_dimension(parse_experiment_config(_config(num_paths=16, path_chunk_size=4, delta=0.2)), 3)
    les = build_optimizer(config, torch.full((3,), 0.5, dtype=torch.float64), None)
    assert isinstance(les, LES)
    assert (les.num_paths, les.path_chunk_size, les.delta, les.model.N_max) == (16, 4, 0.2, 15)
    torch.testing.assert_close(les.search_box(torch.full((3,), 0.9, dtype=torch.float64))[1], torch.ones(3).double())


# ----------------------------------------------------------------------------------------------
# A short run
# ----------------------------------------------------------------------------------------------

TARGET = torch.tensor([0.7, 0.35], dtype=torch.float64)


def concave(x: torch.Tensor) -> torch.Tensor:
    return -4.0 * ((x - TARGET) ** 2).sum()


def small_model(D: int = 2, noise: float = 1e-4) -> DerivativeExactGPSEModel:
    model = DerivativeExactGPSEModel(D)
    model.initialize(
        **{"covar_module.base_kernel.lengthscale": 0.4, "covar_module.outputscale": 1.0, "likelihood.noise": noise}
    )
    return model


UNIT = torch.tensor([[0.0, 0.0], [1.0, 1.0]], dtype=torch.float64)


@pytest.mark.parametrize("acquisition_optimizer", ["support_points", "optimize_acqf"])
def test_a_short_run_moves_the_incumbent_uphill(acquisition_optimizer):
    torch.manual_seed(0)
    les = LES(
        torch.full((2,), 0.2, dtype=torch.float64),
        concave,
        small_model(),
        num_paths=32,
        descent_steps=150,
        descent_lr=0.01,
        bounds=UNIT,
        acquisition_optimizer=acquisition_optimizer,
        optimize_acqf_config={"num_restarts": 2, "raw_samples": 16},
    )
    result = run_optimization(les, max_objective_calls=15)
    assert result.calls[-1] == 15 and les.model.N == 15
    values = [float(concave(torch.as_tensor(p))) for p in result.params]
    assert all(b >= a for a, b in itertools.pairwise(values))  # the incumbent is the best observation so far
    assert values[-1] > values[0] + 0.5 * abs(values[0])  # most of the way up from J(θ_0) = -1.0
    assert len(les.les_arrays()["les_converged_fraction"]) == len(result.params) - 1


# ----------------------------------------------------------------------------------------------
# Stopping rule
# ----------------------------------------------------------------------------------------------


def _posterior_with(points: torch.Tensor) -> DerivativeExactGPSEModel:
    model = small_model(noise=1e-4)
    model.append_train_data(points, torch.stack([concave(p) for p in points]))
    return model


def _grid(center: torch.Tensor, half_width: float, n: int = 7) -> torch.Tensor:
    axis = torch.linspace(-half_width, half_width, n, dtype=torch.float64)
    return torch.cartesian_prod(axis, axis) + center


def test_stops_on_a_posterior_certain_of_the_maximum_at_the_incumbent():
    torch.manual_seed(1)
    model = _posterior_with(_grid(TARGET, 0.3))  # dense data around the maximum: every path sits at TARGET
    les = LES(
        TARGET.clone(),
        concave,
        model,
        num_paths=64,
        descent_steps=200,
        descent_lr=0.01,
        bounds=UNIT,
        stop_probability=0.9,
    )
    result = run_optimization(les, max_objective_calls=20)
    assert les.stopped
    assert les.converged_fractions[-1] >= 0.9
    assert result.calls[-1] == 1  # only θ_0 was evaluated: the rule fired before the first LES point
    torch.testing.assert_close(torch.as_tensor(result.params[-1]), TARGET)


def test_goes_on_while_the_posterior_slopes_upwards():
    torch.manual_seed(2)
    start = torch.tensor([0.15, 0.15], dtype=torch.float64)
    model = _posterior_with(_grid(start, 0.1, n=3))  # a clear slope towards TARGET from the data
    les = LES(
        start, concave, model, num_paths=64, descent_steps=200, descent_lr=0.01, bounds=UNIT, stop_probability=0.9
    )
    acquisition = les.acquisition(start)
    regret = acquisition.model_based_regret()
    assert regret.shape == (64,)
    assert float(regret.min()) > -0.01  # an ascent does not end (much) lower than it started
    assert les.converged_fraction(acquisition) < 0.5
    result = run_optimization(les, max_objective_calls=3)
    assert not les.stopped and result.calls[-1] == 3


# ----------------------------------------------------------------------------------------------
# The joint evaluation
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [None, 5])
def test_joint_evaluation_equals_botorchs_forward(chunk):
    torch.manual_seed(3)
    model = _posterior_with(torch.rand(6, 2, dtype=torch.float64))
    les = LES(TARGET.clone(), concave, model, num_paths=12, descent_steps=30, descent_lr=0.01, bounds=UNIT)
    les.path_chunk_size = chunk
    acquisition = les.acquisition(TARGET.clone())
    X = torch.rand(7, 1, 2, dtype=torch.float64)
    joint = acquisition(X)
    acquisition.pointwise_layout = True
    pointwise = acquisition(X)
    assert joint.shape == pointwise.shape == (7,)
    torch.testing.assert_close(joint, pointwise, rtol=0, atol=1e-10)
    assert bool((joint > 0).all())  # an observation is informative about the sequences


def _model_in(D: int, N: int, seed: int) -> DerivativeExactGPSEModel:
    """A GP on N random points of a quadratic in [0, 1]^D with a nonzero constant mean."""
    generator = torch.Generator().manual_seed(seed)
    model = DerivativeExactGPSEModel(D)
    model.initialize(
        **{
            "covar_module.base_kernel.lengthscale": 0.2 + 0.3 * torch.rand(D, generator=generator, dtype=torch.float64),
            "covar_module.outputscale": 1.7,
            "likelihood.noise": 1e-3,
            "mean_module.constant": 0.4,
        }
    )
    X = torch.rand(N, D, generator=generator, dtype=torch.float64)
    model.append_train_data(X, -((X - 0.6) ** 2).sum(-1))
    model.eval()
    return model


@pytest.mark.parametrize("inner_products", [False, True])
def test_closed_form_path_values_and_gradients_equal_botorchs_paths_and_autograd(inner_products):
    model = _model_in(D=4, N=9, seed=0)
    with torch.no_grad():
        model.posterior(torch.zeros(1, 4, dtype=torch.float64))
        torch.manual_seed(1)
        paths = draw_matheron_paths(model=model, sample_shape=torch.Size([6]))
    closed = PathAscentGradient.of(paths, inner_products)
    assert closed is not None
    X = torch.rand(6, 4, dtype=torch.float64, requires_grad=True)
    values = paths(X.unsqueeze(-2)).reshape(-1)
    values.sum().backward()
    closed_values, closed_gradient = closed(X.detach())
    torch.testing.assert_close(closed_values, values.detach(), rtol=0, atol=1e-12)
    torch.testing.assert_close(closed_gradient, X.grad, rtol=0, atol=1e-12)
    assert float(X.grad.abs().max()) > 0.1  # a gradient worth comparing
    assert PathAscentGradient.of(object()) is None


@pytest.mark.parametrize("inner_products", [False, True])
@pytest.mark.parametrize("tolerance", [None, 2e-3])
def test_closed_form_ascents_take_the_steps_of_botorchs_autograd_ascents(tolerance, inner_products):
    model = _model_in(D=3, N=8, seed=2)
    box = torch.tensor([[0.1, 0.0, 0.2], [0.9, 0.7, 1.0]], dtype=torch.float64)
    built = {}
    for autograd in (True, False):
        torch.manual_seed(5)
        built[autograd] = SequenceEntropySearch(
            model,
            torch.full((1, 3), 0.5, dtype=torch.float64),
            num_path_samples=20,
            num_descent_steps=200,
            learning_rate=0.01,
            maximize=True,
            bounds=box,
            sequence_discretization_size=6,
            sequence_subsample_size=None,
            conditional_model_chunk_size=None,
            convergence_tol=tolerance,
            virtual_observation_noise=1e-4,
            autograd_ascent=autograd,
            inner_products=inner_products,
        )
    for name in ("sequence_X_per_path", "sequence_Y_per_path"):
        torch.testing.assert_close(
            torch.stack(getattr(built[False], name)), torch.stack(getattr(built[True], name)), rtol=0, atol=1e-10
        )
    torch.testing.assert_close(built[False].path_end_values, built[True].path_end_values, rtol=0, atol=1e-10)
    ends = torch.stack(built[False].sequence_X_per_path)[:, -1]
    assert bool(((ends == box[0]) | (ends == box[1])).any())  # some ascents end clipped at the box


@pytest.mark.parametrize("chunk, noise", [(None, 1e-3), (7, 1e-6)])
def test_two_block_variances_give_the_conditioned_models_information(chunk, noise):
    model = _model_in(D=3, N=10, seed=4)
    torch.manual_seed(6)
    acquisition = SequenceEntropySearch(
        model,
        torch.full((1, 3), 0.4, dtype=torch.float64),
        num_path_samples=15,
        num_descent_steps=60,
        learning_rate=0.01,
        maximize=True,
        bounds=torch.tensor([[0.0] * 3, [1.0] * 3], dtype=torch.float64),
        sequence_discretization_size=5,
        conditional_model_chunk_size=chunk,
        convergence_tol=None,
        virtual_observation_noise=noise,
    )
    X = torch.cat([torch.rand(20, 3, dtype=torch.float64), torch.cat(acquisition.sequence_X_per_path)[:10]])
    with torch.no_grad():
        closed = acquisition.information(X)
        assert acquisition._variances is not None and len(acquisition.conditional_models) == 0  # none built
        by_models = acquisition.information_by_models(X)
    assert len(acquisition.conditional_models) == (1 if chunk is None else 3)  # BoTorch's chunks, on demand
    torch.testing.assert_close(closed, by_models, rtol=0, atol=1e-8)
    assert float(closed.min()) >= -1e-10 and float(closed.max()) > 0.01


# ----------------------------------------------------------------------------------------------
# End to end
# ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["les_fixed_hypers", "les_learned_hypers"])
def test_synthetic_configs_run_end_to_end_and_save_their_diagnostics(tmp_path, name):
    generate = load_script("generate_data_synthetic_functions")
    run = load_script("run_synthetic_experiment")
    data = {"out_dir": str(tmp_path / "data"), "dimensions": [2], "num_objectives": 1, "num_samples": 100}
    data_cfg = tmp_path / "data.yaml"
    data_cfg.write_text(yaml.safe_dump({**data, "noise_variance": 0.01}))
    assert generate.main(["-c", str(data_cfg)]) == 0
    method = yaml.safe_load((CONFIGS / "synthetic_experiment" / f"{name}.yaml").read_text())
    method.update(out_dir=str(tmp_path / name), max_objective_calls=5)
    method["optimizer_config"].update(num_paths=8, descent_steps=20)
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(method))
    assert run.main(["-c", str(config), "-cd", str(data_cfg)]) == 0
    (unit,) = [dict(np.load(f)) for f in sorted((tmp_path / name).glob("dim*/objective*.npz"))]
    assert unit["calls"][-1] == 5 and np.all(np.isfinite(unit["values"]))
    T = len(unit["calls"]) - 1
    assert unit["les_converged_fraction"].shape == unit["les_acquisition_value"].shape == (T,)
    assert unit["gp_lengthscale"].shape == (T, 2) and unit["gp_fit_status"].shape == (T,)
    assert bool((unit["gp_fit_status"] > 0).all()) == (name == "les_learned_hypers")  # refitted every iteration
