"""Repeating a group of runs over seeds."""

import pytest

from trainers.config import RunConfig
from trainers.presets import over_seeds


def test_teacher_references_point_into_the_same_seed_block():
    group = [RunConfig(name="teacher"), RunConfig(name="student", teacher="@0", distill="kd"),
             RunConfig(name="other", teacher="@0", distill="similarity")]
    out = over_seeds(group, [3, 7])
    assert [c.seed for c in out] == [3, 3, 3, 7, 7, 7]
    assert [c.teacher for c in out] == ["", "@0", "@0", "", "@3", "@3"]
    assert out[4].name == "student · seed 7"


def test_one_seed_keeps_names_and_bad_seed_lists_are_refused():
    assert over_seeds([RunConfig(name="a")], [5])[0].name == "a"
    assert over_seeds([RunConfig(name="a")], [5])[0].seed == 5
    with pytest.raises(ValueError, match="each seed once"):
        over_seeds([RunConfig()], [1, 1])
    with pytest.raises(ValueError, match="at least one"):
        over_seeds([RunConfig()], [])
