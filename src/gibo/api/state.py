"""Ask–tell state files: a run's settings and its told values in JSON (no pickle: loading one runs no code),
with the library versions that produced them and a checksum. `AskTell.load` replays the values."""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path

import numpy as np
import torch

from gibo.config import ConfigError

STATE_FORMAT = "gibo.AskTell"
STATE_VERSION = 1


class StateFileError(ValueError):
    """A state file that cannot be loaded: missing, truncated, foreign, damaged, or no longer replaying."""


def write_state(path, settings: dict, xs: list, values: list, pending: np.ndarray | None) -> Path:
    """Write a run's settings, its told points and values and the point waiting for its value (JSON, written
    atomically: another process never sees half a file); returns the path."""
    content = {
        "format": STATE_FORMAT,
        "version": STATE_VERSION,
        "settings": settings,
        "libraries": library_versions(),
        "x": [x.tolist() for x in xs],
        "values": list(values),
        "pending": None if pending is None else pending.tolist(),
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
    if content.get("version") != STATE_VERSION:
        raise StateFileError(
            f"{path}: state file version {content.get('version')!r}; this gibo reads version {STATE_VERSION}"
        )
    if content.get("sha256") != digest({k: v for k, v in content.items() if k != "sha256"}):
        raise StateFileError(f"{path}: damaged (its checksum does not match its content)")
    return content


def no_replay(path, call: int, asked, recorded, saved: dict) -> str:
    """The one line that refuses a saved run whose call `call` now asks another point than the recorded one."""
    here = library_versions()
    changed = [f"{name} {saved.get(name)} → {version}" for name, version in here.items() if saved.get(name) != version]
    why = (
        "versions changed: " + ", ".join(changed)
        if changed
        else "same library versions: another machine or thread setup?"
    )
    difference = float(np.abs(np.asarray(asked) - np.asarray(recorded, dtype=np.float64)).max())
    return (
        f"{path}: the saved run does not replay here: call {call} asks another point "
        f"(largest difference {difference:.3g}; {why})"
    )


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
