"""kNN and linear probes: separable clusters, chance level, and naive re-implementations."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose
from sklearn.metrics import r2_score
from sklearn.neighbors import KNeighborsRegressor

from analysis.probes import (
    knn_accuracy,
    knn_factor_probes,
    knn_regression_mae,
    knn_regression_r2,
    linear_probe_accuracy,
    linear_probe_regression,
)


def _clusters(n_per: int, n_classes: int, d: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(d)[:n_classes]
    labels = np.repeat(np.arange(n_classes), n_per)
    x = centres[labels] + rng.standard_normal((labels.shape[0], d))
    order = rng.permutation(labels.shape[0])
    return x[order], labels[order]


def _naive_knn_predictions(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, k: int
) -> np.ndarray:
    """Plain majority vote over the k most cosine-similar training points; a tie goes to
    the class with the larger summed similarity."""
    tr = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    te = test_x / np.linalg.norm(test_x, axis=1, keepdims=True)
    preds: list[int] = []
    for q in te:
        sims = tr @ q
        nearest = np.argsort(-sims)[:k]
        best_key, best_class = (-1, -np.inf), -1
        for c in np.unique(train_y[nearest]):
            members = nearest[train_y[nearest] == c]
            key = (len(members), float(sims[members].sum()))
            if key > best_key:
                best_key, best_class = key, int(c)
        preds.append(best_class)
    return np.array(preds)


def test_separable_clusters_are_classified_perfectly() -> None:
    x, y = _clusters(100, 4, 16, seed=0)
    assert knn_accuracy(x[:300], y[:300], x[300:], y[300:]) == 1.0
    assert linear_probe_accuracy(x[:300], y[:300], x[300:], y[300:]) == 1.0


def test_random_labels_give_chance_accuracy() -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2000, 16))
    y = rng.integers(0, 4, 2000)
    assert knn_accuracy(x[:1000], y[:1000], x[1000:], y[1000:]) == pytest.approx(0.25, abs=0.06)
    assert linear_probe_accuracy(x[:1000], y[:1000], x[1000:], y[1000:]) == pytest.approx(
        0.25, abs=0.06
    )


@pytest.mark.parametrize("k", [1, 4, 7])
def test_knn_accuracy_matches_a_naive_vote(k: int) -> None:
    rng = np.random.default_rng(2)
    train_x, test_x = rng.standard_normal((80, 6)), rng.standard_normal((50, 6))
    train_y = rng.integers(0, 3, 80)
    naive = _naive_knn_predictions(train_x, train_y, test_x, k)
    # scoring the naive predictions as labels gives 1.0 only if every prediction agrees
    assert knn_accuracy(train_x, train_y, test_x, naive, k=k) == 1.0
    test_y = rng.integers(0, 3, 50)
    assert knn_accuracy(train_x, train_y, test_x, test_y, k=k) == pytest.approx(
        np.mean(naive == test_y)
    )


def test_knn_accuracy_with_string_labels_torch_input_and_unseen_classes() -> None:
    x, y = _clusters(30, 3, 8, seed=3)
    names = np.array(["cat", "dog", "eel"])[y]
    xt = torch.from_numpy(x).float()
    assert knn_accuracy(xt[:60], names[:60], xt[60:], names[60:], k=5) == 1.0
    unseen = names[60:].copy()
    unseen[:3] = "fox"
    assert knn_accuracy(xt[:60], names[:60], xt[60:], unseen, k=5) == pytest.approx(1 - 3 / 30)


def test_knn_regression_mae_matches_scikit_learn() -> None:
    rng = np.random.default_rng(4)
    train_x, test_x = rng.standard_normal((200, 5)), rng.standard_normal((60, 5))
    train_y, test_y = rng.standard_normal(200), rng.standard_normal(60)
    ref = KNeighborsRegressor(n_neighbors=20, metric="cosine", algorithm="brute")
    pred = ref.fit(train_x, train_y).predict(test_x)
    assert_allclose(
        knn_regression_mae(train_x, train_y, test_x, test_y),
        np.mean(np.abs(pred - test_y)),
        rtol=1e-6,
    )


def test_knn_regression_on_an_ordered_arc_is_accurate() -> None:
    rng = np.random.default_rng(5)
    y = rng.uniform(0, 3, 600)
    z = np.c_[np.cos(y), np.sin(y)]
    assert knn_regression_mae(z[:400], y[:400], z[400:], y[400:], k=5) < 0.02


def _naive_knn_r2(
    train_x: np.ndarray, train_y: np.ndarray, test_x: np.ndarray, test_y: np.ndarray, k: int
) -> float:
    """R^2 of the mean target of the k most cosine-similar training points, one query at a time."""
    tr = train_x / np.linalg.norm(train_x, axis=1, keepdims=True)
    ss_res = 0.0
    for q, y in zip(test_x, test_y, strict=True):
        sims = tr @ (q / np.linalg.norm(q))
        pred = train_y[np.argsort(-sims)[:k]].mean()
        ss_res += (y - pred) ** 2
    return 1.0 - ss_res / ((test_y - test_y.mean()) ** 2).sum()


@pytest.mark.parametrize("k", [1, 5, 20])
def test_knn_regression_r2_matches_a_naive_loop_and_scikit_learn(k: int) -> None:
    rng = np.random.default_rng(7)
    train_x, test_x = rng.standard_normal((150, 4)), rng.standard_normal((40, 4))
    train_y = train_x[:, 0] + 0.3 * rng.standard_normal(150)
    test_y = test_x[:, 0] + 0.3 * rng.standard_normal(40)
    got = knn_regression_r2(train_x, train_y, test_x, test_y, k=k)
    assert got == pytest.approx(_naive_knn_r2(train_x, train_y, test_x, test_y, k), rel=1e-9)
    ref = KNeighborsRegressor(n_neighbors=k, metric="cosine", algorithm="brute").fit(train_x, train_y)
    assert got == pytest.approx(r2_score(test_y, ref.predict(test_x)), rel=1e-6)


def test_knn_regression_r2_known_cases() -> None:
    rng = np.random.default_rng(8)
    angle = rng.uniform(0, 3, 600)
    z = np.c_[np.cos(angle), np.sin(angle)]  # the angle is the direction: neighbours know it
    assert knn_regression_r2(z[:400], angle[:400], z[400:], angle[400:], k=5) > 0.99
    noise = rng.standard_normal((600, 8))  # unrelated to the target: no better than its mean
    assert knn_regression_r2(noise[:400], angle[:400], noise[400:], angle[400:]) < 0.05
    # predicting the training mean for everyone (k = n_train) scores minus the squared offset
    # of the test mean over the test variance
    y_tr, y_te = angle[:400], angle[400:]
    expected = 1 - ((y_te - y_tr.mean()) ** 2).sum() / ((y_te - y_te.mean()) ** 2).sum()
    assert knn_regression_r2(noise[:400], y_tr, noise[400:], y_te, k=400) == pytest.approx(expected)
    with pytest.raises(ValueError, match="at least 2 test samples"):
        knn_regression_r2(z[:10], angle[:10], z[10:11], angle[10:11], k=3)


def test_knn_factor_probes_score_class_and_numeric_factors_with_one_search() -> None:
    rng = np.random.default_rng(9)
    x = rng.standard_normal((300, 6))
    colour = (x[:, 0] > 0).astype(np.int64)  # a class factor the embedding holds
    size = x[:, 1].astype(np.float32)  # a numeric one
    shuffled = rng.permutation(size)  # a numeric one it does not hold
    names = np.array(["red", "blue"])[colour]  # string classes count as classes
    tr, te = slice(0, 200), slice(200, 300)
    out = knn_factor_probes(
        x[tr], x[te],
        {"colour": colour[tr], "size": size[tr], "other": shuffled[tr], "name": names[tr]},
        {"colour": colour[te], "size": size[te], "other": shuffled[te], "name": names[te]},
        k=7,
    )
    assert list(out) == ["colour", "size", "other", "name"]
    assert out["colour"] == knn_accuracy(x[tr], colour[tr], x[te], colour[te], k=7) == out["name"]
    assert out["size"] == pytest.approx(knn_regression_r2(x[tr], size[tr], x[te], size[te], k=7))
    assert out["colour"] > 0.8 and out["size"] > 0.3 and out["other"] < 0.1
    with pytest.raises(ValueError, match="same factors"):
        knn_factor_probes(x[tr], x[te], {"colour": colour[tr]}, {"size": size[te]})
    with pytest.raises(ValueError, match="entries"):
        knn_factor_probes(x[tr], x[te], {"colour": colour[:10]}, {"colour": colour[te]})


def test_linear_probe_regression_recovers_a_linear_target() -> None:
    rng = np.random.default_rng(6)
    x = rng.standard_normal((300, 10))
    y = x @ rng.standard_normal(10) + 4.0
    result = linear_probe_regression(x[:200], y[:200], x[200:], y[200:], alpha=1e-8)
    assert set(result) == {"mae", "r2"}
    assert result["r2"] == pytest.approx(1.0, abs=1e-9)
    assert result["mae"] == pytest.approx(0.0, abs=1e-6)
    noise = linear_probe_regression(
        x[:200], rng.standard_normal(200), x[200:], rng.standard_normal(100)
    )
    assert noise["r2"] < 0.1


def test_probes_reject_bad_shapes() -> None:
    x = np.ones((10, 3))
    with pytest.raises(ValueError, match="features"):
        knn_accuracy(x, np.zeros(10), np.ones((4, 5)), np.zeros(4))
    with pytest.raises(ValueError, match="k must be"):
        knn_accuracy(x, np.zeros(10), x, np.zeros(10), k=11)
    with pytest.raises(ValueError, match="entries"):
        linear_probe_accuracy(x, np.zeros(9), x, np.zeros(10))
    with pytest.raises(ValueError, match="single class"):
        linear_probe_accuracy(x, np.zeros(10), x, np.zeros(10))
