"""The Train page's queue: which runs get a card, which wait in the compact list, and which
run the live loss chart follows."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from jobs import store as stmod


def split_queue(runs: Sequence[stmod.RunRecord]) -> tuple[list[stmod.RunRecord], list[stmod.RunRecord]]:
    """(running, queued): running runs, the most recently started first; queued runs in the
    order the scheduler starts them (oldest first)."""
    running = sorted((r for r in runs if r.status == stmod.RUNNING), key=lambda r: -(r.started or r.created))
    queued = sorted((r for r in runs if r.status == stmod.QUEUED), key=lambda r: r.created)
    return running, queued


def chart_candidates(running: Sequence[stmod.RunRecord], has_history: Callable[[str], bool]) -> list[stmod.RunRecord]:
    """The running runs that already have a loss curve: the ones the live chart can follow."""
    return [r for r in running if has_history(r.id)]


def latest_with_history(runs: Sequence[stmod.RunRecord], has_history: Callable[[str], bool], *,
                        limit: int = 20) -> stmod.RunRecord | None:
    """The most recent run (``runs`` newest first) that has a loss curve, among the first
    ``limit`` runs that are not queued; None if there is none."""
    started = [r for r in runs if r.status != stmod.QUEUED][:limit]
    return next((r for r in started if has_history(r.id)), None)
