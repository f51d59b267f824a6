"""Result files: one `.npz` per finished unit (trial, or dimension x objective pair) beside the resolved config.

No pickle anywhere: arrays in npz, configs in YAML, summaries in JSON/CSV. A run never overwrites an
earlier one: `prepare_run_dir` picks a fresh directory unless the caller resumes.
"""

from __future__ import annotations

import logging
import os
import secrets
from pathlib import Path
from typing import Dict, Iterable, Optional

import numpy as np
import yaml

logger = logging.getLogger(__name__)

CONFIG_FILE = "config.yaml"


def _has_results(directory: Path) -> bool:
    return directory.is_dir() and any(directory.rglob("*.npz"))


def prepare_run_dir(out_dir, config: dict, resume: bool = False, extra_files: Optional[Dict[str, dict]] = None) -> Path:
    """The directory a run writes into, with its resolved config saved as `config.yaml`.

    Without `resume`, an `out_dir` that already holds results is left alone and the run goes to the first
    free `out_dir-2`, `out_dir-3`, … (logged). With `resume`, `out_dir` is reused when its saved config
    equals `config` (else ValueError naming the file).
    """
    out_dir = Path(out_dir)
    if resume:
        saved = out_dir / CONFIG_FILE
        if saved.is_file() and yaml.safe_load(saved.read_text()) != config:
            raise ValueError(f"{saved}: the saved config differs from this run's config; cannot resume")
    elif _has_results(out_dir):
        n = 2
        while _has_results(out_dir.with_name(f"{out_dir.name}-{n}")):
            n += 1
        new_dir = out_dir.with_name(f"{out_dir.name}-{n}")
        logger.warning("%s already holds results; this run writes to %s (--resume --out-dir %s completes the earlier run instead)", out_dir, new_dir, out_dir)
        out_dir = new_dir
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        write_yaml(out_dir / CONFIG_FILE, config)
        for name, content in (extra_files or {}).items():
            write_yaml(out_dir / name, content)
    except OSError as error:  # before any unit runs: nothing is lost
        raise ValueError(f"{out_dir}: cannot create or write the output directory ({error.strerror or error})") from None
    return out_dir


def write_yaml(path, content: dict) -> None:
    Path(path).write_text(yaml.safe_dump(content, sort_keys=False))


def save_unit(path, **arrays) -> None:
    """Write one unit's arrays atomically (a crash never leaves a half-written file), with the permissions the
    umask gives new files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"tmp{os.getpid()}_{secrets.token_hex(4)}.tmp.npz")  # matches no unit pattern
    try:
        with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666), "wb") as file:
            np.savez(file, **{k: np.asarray(v) for k, v in arrays.items()})
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def load_unit(path) -> Dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {k: data[k] for k in data.files}


def unit_files(directory, pattern: str = "**/*.npz") -> Iterable[Path]:
    return sorted(p for p in Path(directory).glob(pattern) if not p.name.endswith(".tmp.npz"))
