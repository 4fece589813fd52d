"""Colours: one run, one colour, on every chart of the app; a qualitative palette for
classes; a sequential scale only for ordered values.

A run's colour comes from its number in the store (the order runs were created in, which
deleting other runs does not change), so runs launched together (a sweep, a comparison)
get different colours and a run keeps its colour on every page and after a reload.
"""

from __future__ import annotations

import plotly.express as px

# ten well-separated hues with no light/dark pairs of one hue (D3's, reordered so that
# neighbours in the list differ most; its grey and olive darkened to show on a projector)
RUN_PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#17becf", "#8c564b", "#e377c2",
               "#4d4d4d", "#b8860b")
CLASS_PALETTE = tuple(px.colors.qualitative.D3)  # up to 10 classes
MANY_CLASS_PALETTE = tuple(px.colors.qualitative.Alphabet)  # 11 to 26 classes
SEQUENTIAL = "Viridis"  # targets, temperatures and other ordered values


def run_colour(number: int) -> str:
    """The colour of the run with store number ``number`` (``Store.run_numbers()``)."""
    return RUN_PALETTE[number % len(RUN_PALETTE)]


def assign_run_colours(numbers: dict[str, int], shown: list[str] | tuple[str, ...] = ()) -> dict[str, str]:
    """Run id -> colour for every run of ``numbers`` (run id -> store number).

    Each run has its own colour (:func:`run_colour`). Runs ten numbers apart share one, so
    among the runs ``shown`` together on a page, a run whose colour an earlier-numbered shown
    run already has takes the next free colour of the palette: up to ten runs on a page never
    share a colour, and the same runs get the same colours on every page that shows them.
    """
    out = {rid: run_colour(n) for rid, n in numbers.items()}
    taken: set[int] = set()
    for rid in sorted((r for r in dict.fromkeys(shown) if r in numbers), key=numbers.__getitem__):
        k = numbers[rid] % len(RUN_PALETTE)
        for step in range(len(RUN_PALETTE)):
            if (k + step) % len(RUN_PALETTE) not in taken:
                k = (k + step) % len(RUN_PALETTE)
                break
        taken.add(k)
        out[rid] = RUN_PALETTE[k]
    return out


def class_palette(n_classes: int) -> tuple[str, ...]:
    return CLASS_PALETTE if n_classes <= len(CLASS_PALETTE) else MANY_CLASS_PALETTE


def class_colour(position: int, n_classes: int) -> str:
    """The colour of the class at ``position`` in the sorted list of ``n_classes`` classes."""
    pal = class_palette(n_classes)
    return pal[position % len(pal)]
