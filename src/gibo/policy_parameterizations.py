"""Policies as flat parameter vectors.

An :class:`MLP` maps a state to an action, y = W_L φ(… φ(W_1 s + b_1) …) + b_L, with all weights
and biases stored in one flat vector θ so that a black-box optimiser can search over θ directly.
Acting runs in plain numpy because it sits inside the per-step environment loop.

The flat layout, layer after layer: weight W_i of shape (out, in) flattened row-major, then (if
``add_bias``) the bias b_i of shape (out,). A single linear layer [S, A] without bias therefore has
θ = W.reshape(-1) and action W @ s.

Example:
    >>> policy = MLP([4, 1], add_bias=False, discretize=2)
    >>> policy.set_params(np.array([0.0, 0.0, 1.0, 0.0]))
    >>> policy.act(np.array([0.0, 0.0, 0.3, 0.0]))
    1
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import overload

import numpy as np
import torch

ArrayOrTensor = torch.Tensor | np.ndarray

__all__ = ["MLP", "NONLINEARITIES"]


def _identity(x: np.ndarray) -> np.ndarray:
    return x


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


NONLINEARITIES: dict[str, Callable[[np.ndarray], np.ndarray]] = {"identity": _identity, "tanh": np.tanh, "relu": _relu}


class MLP:
    """Policy a(s) = W_L φ(… φ(W_1 s + b_1) …) + b_L over a flat parameter vector θ (n_params,).

    Args:
        layers: sizes [n_state, h_1, …, h_k, n_outputs]; two entries give a linear policy.
        add_bias: whether every layer has a bias b_i.
        nonlinearity: φ between layers ("identity", "tanh" or "relu"); never applied to the output.
        discretize: None for continuous actions (the output vector); 2 with one output gives the
            action int(output > 0); k ≥ 2 with k outputs gives argmax over the outputs.

    Parameters start at zero.

    Example:
        >>> policy = MLP([8, 2], add_bias=False)
        >>> policy.set_params(np.zeros(policy.n_params))
        >>> policy.act(np.ones(8))  # array([0., 0.])
    """

    def __init__(
        self,
        layers: Sequence[int],
        add_bias: bool = False,
        nonlinearity: str = "identity",
        discretize: int | None = None,
    ) -> None:
        layers = [int(n) for n in layers]
        if len(layers) < 2 or any(n < 1 for n in layers):
            raise ValueError(f"MLP layers must be ≥ 2 positive sizes [n_state, ..., n_action], got {layers}")
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"MLP nonlinearity must be one of {sorted(NONLINEARITIES)}, got {nonlinearity!r}")
        n_out = layers[-1]
        if discretize is not None:
            discretize = int(discretize)
            if discretize < 2:
                raise ValueError(f"MLP discretize must be None or ≥ 2, got {discretize}")
            if not (n_out == discretize or (discretize == 2 and n_out == 1)):
                raise ValueError(
                    f"MLP discretize={discretize} needs {discretize} outputs"
                    f"{' (or 1 output for the sign rule)' if discretize == 2 else ''}, got {n_out}"
                )
        self.layers = layers
        self.add_bias = bool(add_bias)
        self.nonlinearity = nonlinearity
        self.discretize = discretize
        self._phi = NONLINEARITIES[nonlinearity]
        self._sign_action = discretize == 2 and n_out == 1

        # (start, stop) offsets of each layer's weight and bias in the flat vector
        self._slices: list[tuple[int, int, int, int]] = []
        offset = 0
        for n_in, n_out_i in itertools.pairwise(layers):
            w_stop = offset + n_out_i * n_in
            b_stop = w_stop + (n_out_i if self.add_bias else 0)
            self._slices.append((offset, w_stop, w_stop, b_stop))
            offset = b_stop
        self._n_params = offset
        self.set_params(np.zeros(self._n_params))

    @property
    def n_params(self) -> int:
        """Length of the flat parameter vector θ."""
        return self._n_params

    @property
    def n_state(self) -> int:
        return self.layers[0]

    @property
    def n_outputs(self) -> int:
        """Size of the last layer (1 for the sign rule, k for argmax over k actions)."""
        return self.layers[-1]

    @property
    def params(self) -> np.ndarray:
        """Copy of the current flat parameters θ (n_params,), float64."""
        return self._flat.copy()

    def set_params(self, params: torch.Tensor | np.ndarray) -> None:
        """Load θ (n_params,) from a torch tensor or numpy array; stored as float64 numpy."""
        if isinstance(params, torch.Tensor):
            params = params.detach().cpu().numpy()
        flat = np.array(params, dtype=np.float64).reshape(-1)
        if flat.shape[0] != self._n_params:
            raise ValueError(
                f"MLP {self.layers} (add_bias={self.add_bias}) has {self._n_params} parameters, "
                f"got a vector of {flat.shape[0]}"
            )
        self._flat = flat
        self._weights = []
        self._biases = []
        for (w0, w1, b0, b1), n_in, n_out in zip(self._slices, self.layers[:-1], self.layers[1:]):
            self._weights.append(flat[w0:w1].reshape(n_out, n_in))
            self._biases.append(flat[b0:b1] if self.add_bias else None)
        # single layer: skip the generic loop on the hot path
        self._w0 = self._weights[0]
        self._b0 = self._biases[0]
        self._single = len(self._weights) == 1

    def _outputs(self, state: np.ndarray) -> np.ndarray:
        if self._single:
            y = self._w0 @ state
            return y if self._b0 is None else y + self._b0
        y = state
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            y = w @ y
            if b is not None:
                y = y + b
            if i < last:
                y = self._phi(y)
        return y

    def act(self, state: np.ndarray) -> np.ndarray | int:
        """Action for one state (n_state,): outputs (n_outputs,) float64, or an int if discretized."""
        y = self._outputs(state)
        if self.discretize is None:
            return y
        if self._sign_action:
            return int(y[0] > 0.0)
        return int(np.argmax(y))

    def act_batch(self, states: np.ndarray) -> np.ndarray:
        """Actions for states (B, n_state): (B, n_outputs) float64, or (B,) int64 if discretized."""
        y = np.asarray(states, dtype=np.float64)
        last = len(self._weights) - 1
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            y = y @ w.T
            if b is not None:
                y = y + b
            if i < last:
                y = self._phi(y)
        if self.discretize is None:
            return y
        if self._sign_action:
            return (y[:, 0] > 0.0).astype(np.int64)
        return np.argmax(y, axis=1).astype(np.int64)

    # --- state-normalisation parameter maps (only the first layer sees the state) ---

    def _first_layer_map(
        self,
        params: torch.Tensor | np.ndarray,
        mean: torch.Tensor | np.ndarray,
        std: torch.Tensor | np.ndarray,
        to_raw: bool,
    ) -> torch.Tensor | np.ndarray:
        as_numpy = isinstance(params, np.ndarray)
        p = torch.as_tensor(params)
        if not p.is_floating_point():
            p = p.to(torch.float64)
        if p.shape[-1] != self._n_params:
            raise ValueError(f"expected params (..., {self._n_params}), got shape {tuple(p.shape)}")
        mean_t = torch.as_tensor(mean, dtype=p.dtype, device=p.device).reshape(-1)
        std_t = torch.as_tensor(std, dtype=p.dtype, device=p.device).reshape(-1)
        n_state, n_hidden = self.layers[0], self.layers[1]
        if mean_t.shape[0] != n_state or std_t.shape[0] != n_state:
            raise ValueError(
                f"state mean/std must have shape ({n_state},), got {tuple(mean_t.shape)} / {tuple(std_t.shape)}"
            )
        if not self.add_bias and bool(torch.any(mean_t != 0)):
            raise ValueError(
                "cannot map parameters between normalised and raw states: the policy has no bias, "
                "so the state-mean shift is not representable (use add_bias=True)"
            )
        w0, w1, b0, b1 = self._slices[0]
        w = p[..., w0:w1].reshape(*p.shape[:-1], n_hidden, n_state)
        pieces = []
        if to_raw:
            # W_raw = W / std, b_raw = b − W_raw @ mean
            w_new = w / std_t
            pieces.append(w_new.flatten(-2))
            if self.add_bias:
                pieces.append(p[..., b0:b1] - (w_new * mean_t).sum(-1))
        else:
            # W = W_raw · std, b = b_raw + W_raw @ mean
            pieces.append((w * std_t).flatten(-2))
            if self.add_bias:
                pieces.append(p[..., b0:b1] + (w * mean_t).sum(-1))
        pieces.append(p[..., b1:])
        out = torch.cat(pieces, dim=-1)
        return out.numpy() if as_numpy else out

    @overload
    def unnormalize_params(self, params: torch.Tensor, mean: ArrayOrTensor, std: ArrayOrTensor) -> torch.Tensor: ...
    @overload
    def unnormalize_params(self, params: np.ndarray, mean: ArrayOrTensor, std: ArrayOrTensor) -> np.ndarray: ...
    def unnormalize_params(
        self,
        params: torch.Tensor | np.ndarray,
        mean: torch.Tensor | np.ndarray,
        std: torch.Tensor | np.ndarray,
    ) -> torch.Tensor | np.ndarray:
        """θ acting on (s − mean)/std → θ_raw acting on s: W_raw = W/std (columns), b_raw = b − W_raw @ mean.

        Args:
            params: (..., n_params) parameters for normalised states.
            mean: (n_state,) state mean.
            std: (n_state,) state standard deviation (> 0).

        Returns:
            (..., n_params) parameters for raw states, same type and dtype as ``params``.
        """
        return self._first_layer_map(params, mean, std, to_raw=True)

    @overload
    def normalize_params(self, params: torch.Tensor, mean: ArrayOrTensor, std: ArrayOrTensor) -> torch.Tensor: ...
    @overload
    def normalize_params(self, params: np.ndarray, mean: ArrayOrTensor, std: ArrayOrTensor) -> np.ndarray: ...
    def normalize_params(
        self,
        params: torch.Tensor | np.ndarray,
        mean: torch.Tensor | np.ndarray,
        std: torch.Tensor | np.ndarray,
    ) -> torch.Tensor | np.ndarray:
        """θ_raw acting on s → θ acting on (s − mean)/std: W = W_raw·std (columns), b = b_raw + W_raw @ mean.

        Args:
            params: (..., n_params) parameters for raw states.
            mean: (n_state,) state mean.
            std: (n_state,) state standard deviation (> 0).

        Returns:
            (..., n_params) parameters for normalised states, same type and dtype as ``params``.
        """
        return self._first_layer_map(params, mean, std, to_raw=False)

    def __repr__(self) -> str:
        return (
            f"MLP(layers={self.layers}, add_bias={self.add_bias}, "
            f"nonlinearity={self.nonlinearity!r}, discretize={self.discretize})"
        )
