"""Ask–tell state files: a run's settings, its points and told values and its random states in JSON (no pickle:
loading one runs no code), with the library versions that produced them and a checksum. `AskTell.load` drives
the optimiser through the recorded points and values again."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gibo.config import ConfigError

STATE_FORMAT = "gibo.AskTell"
STATE_VERSION = 2
READABLE_VERSIONS = (1, 2)  # version 1: no random states (loaded by recomputing every point)


class StateFileError(ValueError):
    """A state file that cannot be loaded: missing, truncated, foreign, damaged, or no longer replaying."""


def write_state(
    path, settings: dict, xs: list, values: list, pending: np.ndarray | None, resume: dict | None = None
) -> Path:
    """Write a run's settings, its told points and values, the point waiting for its value and what a replay
    restores (`resume`: its random states, `random_state_to_json`, its optimiser's `replay_state` and its points
    in the optimiser's coordinates, `units`; only those for a run whose last ask or tell was interrupted) as
    JSON, written atomically (another process never sees half a file); returns the path."""
    content = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "settings": settings,
        "libraries": library_versions(),
        "x": [x.tolist() for x in xs],
        "values": list(values),
        "pending": None if pending is None else pending.tolist(),
        "resume": resume,
    }
    content["sha256"] = digest(content)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(content, indent=1) + "\n")
    os.replace(tmp, path)
    return path


def read_state(path) -> dict:
    """The content of the state file at `path`, checked: format, version and checksum.

    Raises:
        StateFileError: the file is missing, truncated, not a state file, of another version or damaged.
    """
    path = Path(path)
    if not path.is_file():
        raise StateFileError(f"{path}: no such state file")
    try:
        content = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StateFileError(f"{path}: not a gibo ask-tell state file, or truncated ({error})") from None
    if not isinstance(content, dict) or content.get("format") != STATE_FORMAT:
        raise StateFileError(f"{path}: not a gibo ask-tell state file")
    if content.get("version") not in READABLE_VERSIONS:
        raise StateFileError(
            f"{path}: state file version {content.get('version')!r}; this gibo reads versions "
            + ", ".join(map(str, READABLE_VERSIONS))
        )
    if content.get("sha256") != digest({k: v for k, v in content.items() if k != "sha256"}):
        raise StateFileError(f"{path}: damaged (its checksum does not match its content)")
    return content


def no_replay(path, call: int, asked, recorded, saved: dict) -> str:
    """The one line that refuses a saved run whose call `call` now asks another point than the recorded one."""
    difference = float(np.abs(np.asarray(asked) - np.asarray(recorded, dtype=np.float64)).max())
    return (
        f"{path}: the saved run does not replay here: call {call} asks another point "
        f"(largest difference {difference:.3g}; {_why(saved)})"
    )


def replay_differs(path, call: int, difference: float, largest: float, saved: dict) -> str:
    """The one warning line of a replay that computed other points than the recorded ones (and went on from them)."""
    return (
        f"{path}: call {call} computes another point here than the recorded one (difference {difference:.3g}, "
        f"largest {largest:.3g} over the replay; {_why(saved)}); continuing from the recorded points and values"
    )


def _why(saved: dict) -> str:
    here = library_versions()
    changed = [f"{name} {saved.get(name)} → {version}" for name, version in here.items() if saved.get(name) != version]
    return (
        "versions changed: " + ", ".join(changed)
        if changed
        else "same library versions: another machine or thread setup?"
    )


def random_state_to_json(torch_state: torch.Tensor, numpy_state: Any) -> dict:
    """A run's torch and numpy (legacy `RandomState`) random states as JSON data."""
    name, keys, position, has_gauss, cached = numpy_state
    return {
        "torch": base64.b64encode(torch_state.numpy().tobytes()).decode("ascii"),
        "numpy": [str(name), np.asarray(keys, dtype=np.uint32).tolist(), int(position), int(has_gauss), float(cached)],
    }


def random_state_from_json(state: dict) -> tuple[torch.Tensor, Any]:
    """The inverse of `random_state_to_json`: (torch state, numpy state)."""
    torch_state = torch.frombuffer(bytearray(base64.b64decode(state["torch"])), dtype=torch.uint8).clone()
    name, keys, position, has_gauss, cached = state["numpy"]
    return torch_state, (name, np.asarray(keys, dtype=np.uint32), int(position), int(has_gauss), float(cached))


def library_versions() -> dict[str, str]:
    import botorch
    import gpytorch

    from gibo._version import __version__

    versions = {
        "gibo": __version__,
        "torch": torch.__version__,
        "gpytorch": gpytorch.__version__,
        "botorch": botorch.__version__,
        "numpy": np.__version__,
        "python": sys.version.split()[0],
    }
    cma = sys.modules.get("cma")
    if cma is not None:
        versions["cma"] = cma.__version__
    return versions


def digest(content: dict) -> str:
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


def jsonable(value):
    """Options as plain JSON data (arrays and numpy numbers to lists and floats); anything else is refused."""
    if isinstance(value, dict):
        return {str(k) if not isinstance(k, (int, np.integer)) else int(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, torch.Tensor)):
        return np.asarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise ConfigError(f"option value {value!r}: only numbers, strings, lists and mappings can be options")
