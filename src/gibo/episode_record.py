"""Episodes answered from a record: a trial resumed from its checkpoint (`gibo.rl_experiment.run_trial`) does not
run again the episodes it recorded. `RecordedEpisodes` is the part of `EnvironmentObjective` that does so;
`snapshot` / `restore` write and set a `StateNormalizer`'s statistics as one row."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch


def snapshot(normalizer) -> np.ndarray:
    """The statistics as one row (count, running mean, sum of squared deviations), for `restore`."""
    return np.concatenate([[float(normalizer.count)], normalizer._mean, normalizer._m2])


def restore(normalizer, row: np.ndarray) -> None:
    """The statistics of `snapshot` (no pending states): mean and std as `update` left them."""
    row = np.asarray(row, dtype=np.float64)
    normalizer.count = int(row[0])
    normalizer._mean, normalizer._m2 = row[1 : 1 + normalizer.n_state].copy(), row[1 + normalizer.n_state :].copy()
    normalizer._pending = []
    if normalizer.count:
        std = np.sqrt(normalizer._m2 / normalizer.count)
        normalizer.mean = normalizer._mean.copy()
        normalizer.std = np.where(std < normalizer.min_std, 1.0, std)


class RecordedEpisodes:
    """What `EnvironmentObjective` needs to answer calls from a record (its attributes are set by it)."""

    calls: int
    timesteps: int
    reward_history: list
    value_history: list
    best_return: float | None
    point_history: list
    normalizer_updates: list
    state_normalizer: Any
    _replay: dict[str, np.ndarray] | None
    _replayed_updates: int
    replayed_point: torch.Tensor | None

    def _next_reset_seed(self) -> int:
        raise NotImplementedError

    def _init_record(self) -> None:
        # After every `update_state_normalizer`: whether it changed the statistics, and their `snapshot`.
        self.normalizer_updates = []
        self.point_history = []  # the parameters of every call, as the optimiser gave them
        self._replay = None  # recorded episodes and updates (`replay`)
        self._replayed_updates = 0
        self.replayed_point = None  # replaying: the recorded parameters of the last call

    def _record_call(self, params: torch.Tensor) -> None:
        """A call that runs its episode: its parameters join `point_history`."""
        self.replayed_point = None
        self.point_history.append(params.detach().cpu().numpy().astype(np.float64).reshape(-1).copy())

    def replay(
        self, values: np.ndarray, returns: np.ndarray, timesteps: np.ndarray, updates: np.ndarray, points: np.ndarray
    ) -> None:
        """Answer the next `len(values)` calls from a record instead of running episodes (a trial resumed from its
        checkpoint): `values` as this objective returned them, raw `returns`, cumulative `timesteps` after each,
        the first `len(updates)` normaliser updates from their rows of `normalizer_updates`, and the `points`
        (`point_history`) the calls were made at (`replayed_point`, for an optimiser that leaves its points to the
        record). The reset seeds are drawn as the episodes would draw them, so the episodes after the record run
        as they would have."""
        self._replay = {"values": values, "returns": returns, "timesteps": timesteps, "updates": updates}
        self._replay["points"] = points
        self._replayed_updates = 0

    def _replayed_call(self, params_t: torch.Tensor) -> torch.Tensor | None:
        record = self._replay
        if record is None or self.calls >= len(record["values"]):
            return None
        self._next_reset_seed()
        k = self.calls
        self.replayed_point = torch.as_tensor(record["points"][k], dtype=torch.float64)
        self.point_history.append(np.asarray(record["points"][k], dtype=np.float64))
        self.calls += 1
        self.timesteps = int(record["timesteps"][k])
        raw_return = float(record["returns"][k])
        self.reward_history.append((self.timesteps, raw_return))
        if math.isfinite(raw_return):
            self.best_return = raw_return if self.best_return is None else max(self.best_return, raw_return)
        value = float(record["values"][k])
        self.value_history.append(value)
        dtype = params_t.dtype if params_t.is_floating_point() else torch.get_default_dtype()
        return torch.tensor(value, dtype=dtype)

    def _replayed_update(self) -> bool | None:
        """Replaying: the next recorded normaliser update set (whether it changed the statistics); None past the
        record."""
        record = self._replay
        if record is None or self._replayed_updates >= len(record["updates"]):
            return None
        row = record["updates"][self._replayed_updates]
        self._replayed_updates += 1
        restore(self.state_normalizer, row[1:])
        return bool(row[0])
