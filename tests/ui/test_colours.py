"""Run colours: one per run, the same on every page, never shared by runs shown together."""

from __future__ import annotations

from ui.colours import RUN_PALETTE, assign_run_colours, run_colour


def test_each_run_keeps_its_own_colour_when_no_other_shown_run_has_it():
    numbers = {"a": 1, "b": 2, "c": 3}
    assert assign_run_colours(numbers, ["a", "c"]) == {r: run_colour(n) for r, n in numbers.items()}


def test_runs_ten_apart_shown_together_get_different_colours_on_every_page():
    p = len(RUN_PALETTE)
    numbers = {"old": 3, "new": 3 + p, "other": 4}
    assert run_colour(3) == run_colour(3 + p)  # the palette repeats
    together = assign_run_colours(numbers, ["new", "old", "other"])
    assert len({together["old"], together["new"], together["other"]}) == 3
    assert together["old"] == run_colour(3)  # the earlier run keeps its colour
    assert assign_run_colours(numbers, ["other", "old", "new"]) == together  # order of the page does not matter
    assert assign_run_colours(numbers, ["new"])["new"] == run_colour(3)  # alone it has its own colour


def test_up_to_a_palette_of_runs_shown_together_never_share_a_colour():
    numbers = {f"r{i}": 7 * i for i in range(len(RUN_PALETTE))}  # many collisions of the base colours
    colours = assign_run_colours(numbers, list(numbers))
    assert len(set(colours.values())) == len(RUN_PALETTE)
