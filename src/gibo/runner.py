"""Run independent units (trials; dimension x objective pairs), writing each one's file as soon as it finishes.

A unit that raises does not take the others with it: its error is logged with the unit's name and the
run ends with `UnitsFailed` listing every failed unit. Units whose file exists are skipped (resume).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Callable, Dict, List, Sequence

from tqdm.auto import tqdm

from gibo.results import save_unit

logger = logging.getLogger(__name__)


class UnitsFailed(RuntimeError):
    """Some units raised; the others' results are saved."""

    def __init__(self, failures: Dict[str, str]):
        self.failures = failures
        first = next(iter(failures.items()))
        super().__init__(f"{len(failures)} unit(s) failed, first {first[0]}: {first[1]}")


def run_units(
    units: Sequence,
    run_unit: Callable[[object], dict],
    path_of: Callable[[object], Path],
    name_of: Callable[[object], str] = str,
    description: str = "units",
    progress: bool = True,
) -> List[Path]:
    """Run every unit whose result file is missing; save its arrays with `save_unit`; return all unit files."""
    todo = [u for u in units if not path_of(u).is_file()]
    if len(todo) < len(units):
        logger.info("%d of %d units already done; running the other %d", len(units) - len(todo), len(units), len(todo))
    failures: Dict[str, str] = {}
    for unit in tqdm(todo, desc=description, disable=not progress, unit="unit"):
        try:
            arrays = run_unit(unit)
        except KeyboardInterrupt:
            raise
        except Exception as error:  # one unit's failure must not lose the others
            message = f"{type(error).__name__}: {error}".splitlines()[0]
            logger.error("unit %s failed: %s", name_of(unit), message)
            failures[name_of(unit)] = message
            continue
        save_unit(path_of(unit), **arrays)
    if failures:
        raise UnitsFailed(failures)
    return [path_of(u) for u in units]
