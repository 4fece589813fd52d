import numpy as np
import pytest
import torch

from trainers import data, registry
from trainers.augment import augment_image8, augment_jing, augment_vector
from trainers.config import RunConfig
from trainers.encoders import build_encoder


def _cfg(ds, **kw):
    loss = "rnc" if registry.DATASETS[ds].task == "regression" else "nt_xent"
    return RunConfig(dataset=ds, loss=loss, **kw)


@pytest.mark.parametrize("name", list(registry.DATASETS))
def test_every_dataset_loads_with_a_fixed_disjoint_split(name):
    a = data.load(_cfg(name))
    b = data.load(_cfg(name, seed=7))  # the split does not depend on the run's seed
    assert np.array_equal(a.index_test, b.index_test)
    assert not set(a.index_train) & set(a.index_test)
    assert a.x_train.dtype == np.float32 and len(a.x_train) == len(a.y_train)
    assert a.task == registry.DATASETS[name].task
    np.testing.assert_array_equal(a.x_train, b.x_train)


def test_digits_images_match_stable_index():
    d = data.load(RunConfig())
    assert d.images.shape == (1797, 8, 8)
    i = 5
    np.testing.assert_allclose(d.images[d.index_train[i]].ravel(), d.x_train[i])


def test_long_tail_profile_is_exponential():
    d = data.load(RunConfig(dataset="gmm_sphere", imbalance_ratio=100.0))
    counts = np.bincount(d.y_train)
    assert counts[0] / counts[-1] == pytest.approx(100, rel=0.25)
    assert np.all(np.diff(counts) <= 0)
    # held-out split stays balanced
    tc = np.bincount(d.y_test)
    assert tc.max() - tc.min() <= 1


def test_few_samples_keeps_that_many():
    d = data.load(RunConfig(dataset="diabetes", loss="rnc", few_samples=50))
    assert len(d.x_train) == 50


def test_augmentations_change_inputs_by_strength():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 64)
    assert torch.equal(augment_image8(x, 0.0, g), x)
    d1 = (augment_image8(x, 0.5, g) - x).abs().mean()
    d2 = (augment_image8(x, 2.0, g) - x).abs().mean()
    assert 0 < d1 < d2
    v = torch.randn(64, 16)
    assert (augment_vector(v, 1.0, g) != v).any()
    j = augment_jing(v, 1.0, (8, 16), g)
    assert torch.equal(j[:, :8], v[:, :8]) and not torch.equal(j[:, 8:], v[:, 8:])


@pytest.mark.parametrize("enc", ["mlp", "cnn"])
def test_encoders_return_representation_and_embedding(enc):
    m = build_encoder(enc, 64, hidden_dim=32, rep_dim=24, proj_dim=8)
    h, z = m(torch.rand(5, 64))
    assert h.shape == (5, 24) and z.shape == (5, 8)
