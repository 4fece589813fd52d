import pytest

from trainers import registry
from trainers.config import ConfigError, RunConfig


def test_defaults_valid_and_roundtrip():
    c = RunConfig()
    assert c.effective_temperature == registry.LOSSES["nt_xent"].temperature
    assert RunConfig.from_json(c.to_json()) == c


@pytest.mark.parametrize(
    "changes, fragment",
    [
        ({"temperature": 0.0}, "temperature must be > 0"),
        ({"temperature": -1.0}, "temperature must be > 0"),
        ({"batch_size": 1}, "batch size must be at least 2"),
        ({"dataset": "mnist_xl"}, "unknown dataset 'mnist_xl'; known datasets: "),
        ({"loss": "triplet"}, "unknown loss 'triplet'; known losses: "),
        ({"encoder": "vit"}, "unknown encoder 'vit'"),
        ({"lr": 0.0}, "learning rate must be > 0"),
        ({"epochs": 10**6}, "epochs must be between 1 and"),
        ({"epochs": 0}, "epochs must be between 1 and"),
        ({"views": 4}, "uses exactly 2 views"),
        ({"loss": "rnc"}, "needs a regression dataset"),
        ({"dataset": "wine", "encoder": "cnn"}, "cannot read dataset 'wine'"),
    ],
)
def test_bad_configs_are_refused_with_a_message(changes, fragment):
    with pytest.raises(ConfigError) as e:
        RunConfig(**changes)
    assert fragment in str(e.value)


def test_unknown_loss_lists_known_ones():
    with pytest.raises(ValueError) as e:
        RunConfig(loss="nope")
    for name in ("nt_xent", "dcl", "supcon"):
        assert name in str(e.value)


def test_unknown_field_is_named():
    with pytest.raises(ConfigError, match="unknown configuration field"):
        RunConfig.from_dict({"epochz": 3})


def test_snapshot_schedule_pow2_and_last():
    assert RunConfig(epochs=50).snapshot_epochs() == [0, 1, 2, 4, 8, 16, 32, 50]
    assert RunConfig(epochs=8).snapshot_epochs() == [0, 1, 2, 4, 8]
    assert RunConfig(epochs=10, snapshot_every="5").snapshot_epochs() == [0, 5, 10]
