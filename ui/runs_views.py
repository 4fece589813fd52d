"""The Runs view's helpers: the runs picked for the views after the table's ticks changed, a
run's latest metrics as text, and the end of its worker log."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

LOG_LINES = 30  # lines of a worker log shown


def merge_selection(before: Sequence[str], ticked: Sequence[str], listed: Sequence[str]) -> list[str]:
    """The runs picked for the views once the table's ticks are ``ticked``: the earlier choice
    ``before`` in its order, new ticks at the end; runs not ``listed`` in the table (hidden by
    its group filter) stay chosen."""
    shown = set(listed)
    return ([i for i in before if i in ticked] + [i for i in ticked if i not in before]
            + [i for i in before if i not in shown])


def metrics_table(metrics: Mapping[str, Any]) -> dict[str, list[str]]:
    """A run's metrics as two text columns, numbers with four significant digits."""
    return {"metric": list(metrics),
            "value": [f"{v:.4g}" if isinstance(v, float) else str(v) for v in metrics.values()]}


def log_tail(path: Path, lines: int = LOG_LINES) -> str:
    """The last ``lines`` lines of a worker log (undecodable bytes replaced), "(empty)" when it has none."""
    return "".join(path.read_text(errors="replace").splitlines(keepends=True)[-lines:]) or "(empty)"
