"""The two synthetic-experiment scripts end to end on a tiny data config, and the synthetic objectives."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from gibo.synthetic_functions import (
    SyntheticDataset,
    generate_dataset,
    lengthscale_interval,
    lengthscale_scale,
    mean_distance_unit_cube,
)
from tests.helpers import load_script

ROOT = Path(__file__).resolve().parents[1]

generate = load_script("generate_data_synthetic_functions")
run = load_script("run_synthetic_experiment")


def test_mean_distance_approximation():
    rng = np.random.default_rng(0)
    # δ(n) is the paper's closed-form approximation: 4.4 % high at n = 2, tightening with n
    for n, tolerance in ((2, 0.05), (8, 0.015), (32, 0.005)):
        a, b = rng.random((200_000, n)), rng.random((200_000, n))
        assert mean_distance_unit_cube(n) == pytest.approx(np.linalg.norm(a - b, axis=1).mean(), rel=tolerance)
    assert lengthscale_scale(2) == pytest.approx(0.1)


@pytest.mark.parametrize("sampler", ["paper", "exact"])
def test_dataset_objective_is_the_gp_posterior_mean_and_optimum_beats_samples(sampler):
    import gpytorch

    data = generate_dataset(2, num_objectives=2, num_samples=200, noise_variance=0.01, seed=3, sampler=sampler)
    assert data.sampler == sampler
    low, high = lengthscale_interval(2)
    assert np.all((data.lengthscale >= low) & (data.lengthscale <= high))
    for i in range(2):
        f = data.objective(i)
        X, y = torch.from_numpy(data.X[i]), torch.from_numpy(data.y[i])
        values = f.noise_free(X).numpy()
        # independent computation: GPyTorch's exact GP posterior mean (zero mean, the dataset's posterior noise)
        likelihood = gpytorch.likelihoods.GaussianLikelihood(
            noise_constraint=gpytorch.constraints.GreaterThan(1e-8)
        ).double()
        likelihood.noise = data.posterior_noise
        gp = _ReferenceGP(X, y, likelihood, data.lengthscale, data.outputscale).double().eval()
        with torch.no_grad():
            np.testing.assert_allclose(values, gp(X).mean.numpy(), atol=1e-6)
        if sampler == "exact":
            np.testing.assert_allclose(values, data.y[i], atol=2e-2)  # posterior noise 1e-6 interpolates
        else:
            assert data.posterior_noise == pytest.approx(np.log(2) + 1e-4)  # GPyTorch's default noise: smoothed
            assert np.abs(values - data.y[i]).max() > 0.05
        assert data.f_star[i] >= values.max() - 1e-9
        assert float(f.noise_free(torch.from_numpy(data.x_star[i]))) == pytest.approx(data.f_star[i])
        noisy = torch.stack([f(torch.full((2,), 0.5, dtype=torch.float64)) for _ in range(400)])
        assert float(noisy.var()) == pytest.approx(0.01, rel=0.25)


class _ReferenceGP:
    """Zero-mean SE-ARD exact GP in GPyTorch, for checking the objective's closed form."""

    def __new__(cls, X, y, likelihood, lengthscale, outputscale):
        import gpytorch

        class GP(gpytorch.models.ExactGP):
            def __init__(self):
                super().__init__(X, y, likelihood)
                self.mean_module = gpytorch.means.ZeroMean()
                self.covar_module = gpytorch.kernels.ScaleKernel(gpytorch.kernels.RBFKernel(ard_num_dims=X.shape[-1]))

            def forward(self, x):
                return gpytorch.distributions.MultivariateNormal(self.mean_module(x), self.covar_module(x))

        gp = GP().double()
        gp.covar_module.base_kernel.lengthscale = torch.as_tensor(lengthscale).reshape(1, -1)
        gp.covar_module.outputscale = float(outputscale)
        return gp


@pytest.mark.parametrize("sampler", ["paper", "exact"])
def test_fewer_objectives_are_the_first_objectives_of_more(sampler):
    # a data config with fewer objectives (generate_data_local_methods.yaml) selects a prefix of a larger set
    few = generate_dataset(3, num_objectives=2, num_samples=60, noise_variance=0.01, seed=5, sampler=sampler)
    many = generate_dataset(3, num_objectives=3, num_samples=60, noise_variance=0.01, seed=5, sampler=sampler)
    for name in ("X", "y", "f_star", "x_star"):
        np.testing.assert_array_equal(getattr(few, name), getattr(many, name)[:2])
    np.testing.assert_array_equal(few.lengthscale, many.lengthscale)
    assert not np.array_equal(many.y[2], many.y[1])


def test_local_methods_data_config_is_a_prefix_of_the_reduced_set():
    local, reduced = (
        yaml.safe_load((ROOT / "configs" / "synthetic_experiment" / f"generate_data_{name}.yaml").read_text())
        for name in ("local_methods", "reduced")
    )
    assert set(local["dimensions"]) <= set(reduced["dimensions"])
    assert local["num_objectives"] <= reduced["num_objectives"]
    differing = {key for key in reduced if local.get(key) != reduced[key]}
    assert differing == {"out_dir", "dimensions", "num_objectives"}


def test_dataset_roundtrip(tmp_path):
    data = generate_dataset(2, num_objectives=1, num_samples=50, noise_variance=0.01, seed=1)
    data.save(tmp_path / "d.npz")
    loaded = SyntheticDataset.load(tmp_path / "d.npz")
    np.testing.assert_array_equal(loaded.X, data.X)
    assert loaded.noise_variance == data.noise_variance
    assert (loaded.sampler, loaded.posterior_noise) == (data.sampler, data.posterior_noise)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("synthetic")
    data_cfg = tmp / "data.yaml"
    data_cfg.write_text(
        yaml.safe_dump(
            {
                "out_dir": str(tmp / "data"),
                "dimensions": [2, 3],
                "num_objectives": 2,
                "num_samples": 150,
                "noise_variance": 0.01,
            }
        )
    )
    assert generate.main(["-c", str(data_cfg)]) == 0
    method = yaml.safe_load((ROOT / "configs/synthetic_experiment/gibo_default.yaml").read_text())
    method.update(out_dir=str(tmp / "gibo"), max_objective_calls=30)
    method_cfg = tmp / "gibo.yaml"
    method_cfg.write_text(yaml.safe_dump(method))
    assert run.main(["-c", str(method_cfg), "-cd", str(data_cfg)]) == 0
    return tmp, data_cfg, method_cfg


def _unit_arrays(directory):
    files = sorted(Path(directory).glob("dim*/objective*.npz"))
    return {f.relative_to(directory).as_posix(): dict(np.load(f)) for f in files}


def test_scripts_write_finite_results(tiny):
    tmp, _, _ = tiny
    assert (tmp / "data" / "data_dim2.npz").is_file() and (tmp / "data" / "data_dim3.npz").is_file()
    units = _unit_arrays(tmp / "gibo")
    assert sorted(units) == [
        "dim2/objective000.npz",
        "dim2/objective001.npz",
        "dim3/objective000.npz",
        "dim3/objective001.npz",
    ]
    for arrays in units.values():
        assert np.all(np.isfinite(arrays["values"])) and np.all(np.isfinite(arrays["params"]))
        assert arrays["calls"][0] == 0 and arrays["calls"][-1] <= 30
        assert arrays["params"].shape[0] == arrays["values"].shape[0] == arrays["calls"].shape[0]
        T, D = arrays["params"].shape[0] - 1, arrays["params"].shape[1]
        assert arrays["gp_lengthscale"].shape == (T, D) and arrays["gp_noise"].shape == (T,)
    record = yaml.safe_load((tmp / "gibo" / "config.yaml").read_text())
    assert record["resolved"][3]["max_samples_per_iteration"] == 3
    assert (tmp / "gibo" / "summary.json").is_file()


def test_same_seed_same_results_and_no_overwrite(tiny):
    tmp, data_cfg, method_cfg = tiny
    assert run.main(["-c", str(method_cfg), "-cd", str(data_cfg)]) == 0
    first, second = _unit_arrays(tmp / "gibo"), _unit_arrays(tmp / "gibo-2")  # the earlier run is kept
    assert first.keys() == second.keys()
    for key in first:
        for name in first[key]:
            np.testing.assert_array_equal(first[key][name], second[key][name])


def test_resume_completes_missing_units(tiny):
    tmp, data_cfg, method_cfg = tiny
    target = tmp / "gibo" / "dim3" / "objective001.npz"
    saved = dict(np.load(target))
    target.unlink()
    assert run.main(["-c", str(method_cfg), "-cd", str(data_cfg), "--resume", "--out-dir", str(tmp / "gibo")]) == 0
    np.testing.assert_array_equal(dict(np.load(target))["params"], saved["params"])


def test_missing_data_file_is_one_clear_line(tiny, tmp_path):
    _, _, method_cfg = tiny
    data_cfg = tmp_path / "data.yaml"
    data_cfg.write_text(yaml.safe_dump({"out_dir": str(tmp_path / "none"), "dimensions": [5], "num_objectives": 1}))
    with pytest.raises(SystemExit) as info:
        run.main(["-c", str(method_cfg), "-cd", str(data_cfg)])
    message = str(info.value)
    assert message.startswith("error: ") and "data_dim5.npz" in message and "\n" not in message


def test_bad_config_is_one_clear_line(tiny, tmp_path):
    _, data_cfg, _ = tiny
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "method: gibo\nout_dir: x\nmax_objective_calls: 10\noptimizer_config:\n  delta: 0.1\n  learning_rate: 3\n"
    )
    with pytest.raises(SystemExit) as info:
        run.main(["-c", str(bad), "-cd", str(data_cfg)])
    assert (
        str(info.value)
        == f"error: {bad}: optimizer_config: unknown key learning_rate (allowed: "
        + str(info.value).split("(allowed: ")[1]
    )


@pytest.mark.parametrize(
    "name,arrays",
    [
        ("mpd_fixed_hypers", ("mpd_walk_steps", "mpd_ascent_probability", "gp_lengthscale")),
        ("mpd_learned_hypers", ("mpd_walk_steps", "gp_fit_status")),
        ("turbo_fixed_hypers", ("turbo_length", "turbo_restarts")),
        ("turbo_learned_hypers", ("turbo_length", "turbo_restarts")),
    ],
)
def test_new_methods_run_end_to_end_and_save_their_diagnostics(tiny, tmp_path, name, arrays):
    _, data_cfg, _ = tiny
    method = yaml.safe_load((ROOT / f"configs/synthetic_experiment/{name}.yaml").read_text())
    method.update(out_dir=str(tmp_path / name), max_objective_calls=16)
    config = tmp_path / f"{name}.yaml"
    config.write_text(yaml.safe_dump(method))
    assert run.main(["-c", str(config), "-cd", str(data_cfg)]) == 0
    units = _unit_arrays(tmp_path / name)
    assert len(units) == 4
    for unit in units.values():
        assert unit["calls"][-1] == 16 and np.all(np.isfinite(unit["values"]))
        T = len(unit["calls"]) - 1
        for key in arrays:
            assert unit[key].shape[0] == T, key
