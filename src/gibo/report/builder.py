"""The report being built: its blocks, the cells it compared, the rows of the paper its runs cover, and
the small helpers the sections share."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from gibo.report.render import Block, Image, figure_png
from gibo.report.verdicts import verdict_text

logger = logging.getLogger("gibo.report")  # same name when run as python -m gibo.report


@dataclass
class Judged:
    """One compared cell, for the summary."""

    where: str
    verdict: bool | None


@dataclass
class Report:
    """Blocks of the document being built, the compared cells, and which rows of the paper are covered."""

    paper: dict
    references: dict = field(default_factory=dict)  # measured references beside the paper's (load_reference_results)
    blocks: list[Block] = field(default_factory=list)
    judged: list[Judged] = field(default_factory=list)
    covered: dict[tuple, int | None] = field(default_factory=dict)  # paper row key -> largest budget seen
    skipped: list[str] = field(default_factory=list)  # runs left out, one line each

    def skip(self, message: str) -> None:
        logger.warning("skipped: %s", message)
        self.skipped.append(message)

    def add(self, *blocks: Block) -> None:
        self.blocks.extend(blocks)

    def judge(self, where: str, verdict: bool | None) -> str:
        self.judged.append(Judged(where, verdict))
        return verdict_text(verdict)

    def cover(self, key: tuple, budget: int | None) -> None:
        """A run covers this row of the paper's data up to `budget` calls (None: no call limit)."""
        previous = self.covered.get(key, 0)
        self.covered[key] = None if budget is None or previous is None else max(previous, budget)

    def figure(self, fig, name: str, caption: str) -> None:
        self.add(Image(f"figures/{name}.png", caption, figure_png(fig)))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def budget_reached(budget: int | None, read_after: int) -> bool:
    return budget is None or read_after <= budget


def calls_header(calls: Sequence[int], read_after: Sequence[int]) -> str:
    shifted = [f"{c} (read after {r})" for c, r in zip(calls, read_after) if c != r]
    return f" Columns read after fewer calls than their heading: {', '.join(shifted)}." if shifted else ""


def format_value(value: float | None, digits: int) -> str:
    return "–" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"
