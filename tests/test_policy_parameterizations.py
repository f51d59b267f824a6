"""MLP policy: parameter layout, forward pass, discretisation and the state-normalisation maps."""

import numpy as np
import pytest
import torch

from gibo.policy_parameterizations import MLP


def test_linear_no_bias_layout_is_row_major_weight():
    policy = MLP([3, 2], add_bias=False)
    assert policy.n_params == 6
    w = np.arange(6.0).reshape(2, 3)
    policy.set_params(w.reshape(-1))
    s = np.array([1.0, -2.0, 0.5])
    np.testing.assert_allclose(policy.act(s), w @ s)


def test_parameter_count_and_forward_pass_match_hand_computation():
    rng = np.random.default_rng(0)
    policy = MLP([4, 5, 3, 2], add_bias=True, nonlinearity="tanh")
    assert policy.n_params == (5 * 4 + 5) + (3 * 5 + 3) + (2 * 3 + 2)
    w1, b1 = rng.normal(size=(5, 4)), rng.normal(size=5)
    w2, b2 = rng.normal(size=(3, 5)), rng.normal(size=3)
    w3, b3 = rng.normal(size=(2, 3)), rng.normal(size=2)
    flat = np.concatenate([w1.ravel(), b1, w2.ravel(), b2, w3.ravel(), b3])
    policy.set_params(torch.from_numpy(flat))  # torch input accepted
    np.testing.assert_array_equal(policy.params, flat)

    states = rng.normal(size=(7, 4))
    expected = np.stack([w3 @ np.tanh(w2 @ np.tanh(w1 @ s + b1) + b2) + b3 for s in states])
    np.testing.assert_allclose(policy.act_batch(states), expected, rtol=1e-12)
    for s, e in zip(states, expected):
        np.testing.assert_allclose(policy.act(s), e, rtol=1e-12)


@pytest.mark.parametrize("name, phi", [("identity", lambda x: x), ("relu", lambda x: np.maximum(x, 0))])
def test_nonlinearity_applies_between_layers_only(name, phi):
    rng = np.random.default_rng(1)
    policy = MLP([3, 4, 2], add_bias=False, nonlinearity=name)
    w1, w2 = rng.normal(size=(4, 3)), rng.normal(size=(2, 4))
    policy.set_params(np.concatenate([w1.ravel(), w2.ravel()]))
    s = rng.normal(size=3)
    np.testing.assert_allclose(policy.act(s), w2 @ phi(w1 @ s), rtol=1e-12)


def test_parameters_start_at_zero_and_wrong_length_is_rejected():
    policy = MLP([8, 2])
    np.testing.assert_array_equal(policy.params, np.zeros(16))
    with pytest.raises(ValueError, match="16 parameters"):
        policy.set_params(np.zeros(15))


def test_sign_discretisation():
    policy = MLP([2, 1], add_bias=False, discretize=2)
    policy.set_params(np.array([1.0, 0.0]))
    assert policy.act(np.array([0.3, 5.0])) == 1
    assert policy.act(np.array([-0.3, 5.0])) == 0
    assert policy.act(np.array([0.0, 5.0])) == 0  # not positive
    assert isinstance(policy.act(np.array([0.3, 0.0])), int)
    np.testing.assert_array_equal(policy.act_batch(np.array([[1.0, 0.0], [-1.0, 0.0]])), [1, 0])


def test_argmax_discretisation():
    policy = MLP([2, 3], add_bias=True, discretize=3)
    w = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, -1.0]])
    b = np.zeros(3)
    policy.set_params(np.concatenate([w.ravel(), b]))
    assert policy.act(np.array([2.0, 1.0])) == 0
    assert policy.act(np.array([1.0, 2.0])) == 1
    assert policy.act(np.array([-1.0, -2.0])) == 2
    np.testing.assert_array_equal(policy.act_batch(np.array([[2.0, 1.0], [-1.0, -2.0]])), [0, 2])


def test_invalid_configurations():
    with pytest.raises(ValueError, match="discretize"):
        MLP([4, 2], discretize=3)
    with pytest.raises(ValueError, match="nonlinearity"):
        MLP([4, 2], nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="layers"):
        MLP([4])


@pytest.mark.parametrize("layers", [[5, 3], [5, 4, 3], [5, 6, 4, 3]])
def test_normalisation_maps_are_inverse_and_preserve_actions(layers):
    rng = np.random.default_rng(2)
    policy = MLP(layers, add_bias=True, nonlinearity="tanh")
    mean = rng.normal(size=5)
    std = rng.uniform(0.1, 3.0, size=5)
    params = torch.from_numpy(rng.normal(size=(2, 3, policy.n_params)))  # batched (..., n_params)

    raw = policy.unnormalize_params(params, mean, std)
    assert raw.shape == params.shape and raw.dtype == torch.float64
    torch.testing.assert_close(policy.normalize_params(raw, mean, std), params, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(policy.unnormalize_params(policy.normalize_params(params, mean, std), mean, std), params)

    states = rng.normal(loc=mean, scale=std, size=(11, 5))
    policy.set_params(params[1, 2])
    on_normalised = policy.act_batch((states - mean) / std)
    policy.set_params(raw[1, 2])
    on_raw = policy.act_batch(states)
    np.testing.assert_allclose(on_raw, on_normalised, rtol=1e-10, atol=1e-12)


def test_normalisation_maps_float32_numpy_and_identity():
    policy = MLP([3, 2], add_bias=True)
    params32 = torch.randn(4, policy.n_params, dtype=torch.float32)
    raw = policy.unnormalize_params(params32, np.zeros(3), np.ones(3))
    assert raw.dtype == torch.float32
    torch.testing.assert_close(raw, params32)

    params_np = np.random.default_rng(3).normal(size=policy.n_params)
    out = policy.unnormalize_params(params_np, np.ones(3), 2 * np.ones(3))
    assert isinstance(out, np.ndarray)
    np.testing.assert_allclose(policy.normalize_params(out, np.ones(3), 2 * np.ones(3)), params_np)


def test_normalisation_maps_are_differentiable():
    policy = MLP([3, 2], add_bias=True)
    params = torch.randn(policy.n_params, dtype=torch.float64, requires_grad=True)
    policy.unnormalize_params(params, np.ones(3), 2 * np.ones(3)).sum().backward()
    assert params.grad is not None


def test_no_bias_rejects_mean_shift_but_allows_pure_scaling():
    policy = MLP([3, 2], add_bias=False)
    params = torch.randn(policy.n_params, dtype=torch.float64)
    std = torch.tensor([1.0, 2.0, 4.0], dtype=torch.float64)
    raw = policy.unnormalize_params(params, torch.zeros(3, dtype=torch.float64), std)
    torch.testing.assert_close(raw.reshape(2, 3), params.reshape(2, 3) / std)
    with pytest.raises(ValueError, match="no bias"):
        policy.unnormalize_params(params, np.array([0.0, 1.0, 0.0]), np.ones(3))
