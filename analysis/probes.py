"""Downstream probes on frozen embeddings: kNN and linear, classification and regression.

Each probe fits on a training split and scores a held-out split. The kNN probes use
cosine similarity and an exact brute-force search with torch (chunked); the linear
probes standardise the features (statistics of the training split) and use
scikit-learn.

References
----------
- Z. Wu, Y. Xiong, S. X. Yu, D. Lin, "Unsupervised Feature Learning via
  Non-Parametric Instance Discrimination", CVPR 2018 (kNN evaluation of embeddings).
- T. Chen, S. Kornblith, M. Norouzi, G. Hinton, "A Simple Framework for Contrastive
  Learning of Visual Representations", ICML 2020 (linear evaluation protocol).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression, Ridge
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from analysis._checks import _as_targets, _as_tensor
from analysis._knn import _nearest_neighbours
from analysis.arrays import ArrayLike

__all__ = [
    "knn_predict",
    "knn_accuracy",
    "linear_probe_accuracy",
    "knn_regression_mae",
    "knn_regression_r2",
    "knn_factor_probes",
    "linear_probe_regression",
]


def knn_predict(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    *,
    k: int = 20,
) -> np.ndarray:
    """Predictions of a k-nearest-neighbour classifier with cosine similarity.

    Each test point takes the k training points of highest cosine similarity and
    predicts by PLAIN majority vote (one vote per neighbour, no similarity weighting);
    a tie between classes goes to the class whose tied neighbours have the larger
    summed similarity. Labels may be any integers or strings.

    Parameters
    ----------
    train_x : array of shape (n_train, n_features)
    train_y : array of shape (n_train,)
    test_x : array of shape (n_test, n_features)
    k : int, default 20
        Neighbours per test point; ``1 <= k <= n_train``.

    Returns
    -------
    array of shape (n_test,), with the dtype of ``train_y``'s labels
    """
    xtr, xte = _check_split(train_x, test_x)
    ytr = _as_targets(train_y, name="train_y", n=xtr.shape[0])
    _check_k(k, xtr.shape[0])
    return _knn_predict(xtr, ytr, xte, k)


def _knn_predict(xtr: torch.Tensor, ytr: np.ndarray, xte: torch.Tensor, k: int) -> np.ndarray:
    """:func:`knn_predict` on checked inputs."""
    idx, dist = _nearest_neighbours(xte, xtr, k, metric="cosine", self_first=False)
    return _vote(idx, dist, ytr, k)


def _vote(idx: torch.Tensor, dist: torch.Tensor, ytr: np.ndarray, k: int) -> np.ndarray:
    """Majority vote of the neighbours ``idx`` (M, k) at cosine distances ``dist`` (M, k) among
    the training labels ``ytr``; ties to the larger summed similarity."""
    classes, ytr_codes = np.unique(ytr, return_inverse=True)
    codes = torch.from_numpy(ytr_codes.reshape(-1).astype(np.int64)).to(idx.device)[idx]
    sim = (1.0 - dist).to(torch.float64)
    n_classes = classes.shape[0]
    votes = torch.zeros(idx.shape[0], n_classes, dtype=torch.float64, device=idx.device)
    votes.scatter_add_(1, codes, torch.ones_like(sim))
    sim_sum = torch.zeros_like(votes).scatter_add_(1, codes, sim)
    # counts first; the summed similarity (in [-k, k]) only breaks ties
    score = votes * (2 * k + 1) + (sim_sum + k) * (votes > 0)
    return classes[score.argmax(dim=1).cpu().numpy()]


def knn_accuracy(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    k: int = 20,
) -> float:
    """Accuracy of a k-nearest-neighbour classifier with cosine similarity
    (:func:`knn_predict`: plain majority vote of the k most similar training points, ties
    to the larger summed similarity): the fraction of test points whose prediction equals
    their label. A test label never seen in training counts as an error.

    Parameters
    ----------
    train_x : array of shape (n_train, n_features)
    train_y : array of shape (n_train,)
    test_x : array of shape (n_test, n_features)
    test_y : array of shape (n_test,)
    k : int, default 20
        Neighbours per test point; ``1 <= k <= n_train``.

    Returns
    -------
    float in [0, 1]
    """
    xtr, xte = _check_split(train_x, test_x)
    ytr = _as_targets(train_y, name="train_y", n=xtr.shape[0])
    yte = _as_targets(test_y, name="test_y", n=xte.shape[0])
    _check_k(k, xtr.shape[0])
    return float(np.mean(_knn_predict(xtr, ytr, xte, k) == yte))


def linear_probe_accuracy(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    max_iter: int = 1000,
    C: float = 1.0,
    seed: int = 0,
) -> float:
    """Accuracy of a multinomial logistic-regression probe on standardised features.

    Features are standardised with the mean and standard deviation of the training
    split (``StandardScaler``), then ``LogisticRegression(C=C, solver="lbfgs")``
    (multinomial softmax for more than two classes, L2 penalty) is fitted on the
    training split and scored on the test split (linear evaluation, Chen et al. 2020).
    The fit runs with one BLAS thread (``threadpoolctl``), which is faster at this
    size: about 0.02 s for 1,400 x 128 with 10 classes on 2 cores.

    Parameters
    ----------
    train_x, train_y, test_x, test_y
        As in :func:`knn_accuracy`; the training split needs at least two classes.
    max_iter : int, default 1000
        Iteration cap of L-BFGS.
    C : float, default 1.0
        Inverse L2 regularisation strength.
    seed : int, default 0

    Returns
    -------
    float in [0, 1]
    """
    xtr, xte = (a.cpu().numpy() for a in _check_split(train_x, test_x))
    ytr = _as_targets(train_y, name="train_y", n=xtr.shape[0])
    yte = _as_targets(test_y, name="test_y", n=xte.shape[0])
    if np.unique(ytr).shape[0] < 2:
        raise ValueError("train_y holds a single class; a classifier needs at least two.")
    # single-threaded BLAS: on probe-sized problems (1,400 x 128) L-BFGS was measured
    # about 10x faster with one BLAS thread than with two (0.02 s vs 0.18 s)
    with threadpool_limits(limits=1, user_api="blas"):
        scaler = StandardScaler().fit(xtr)
        clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
        clf.fit(scaler.transform(xtr), ytr)
        pred = clf.predict(scaler.transform(xte))
    return float(np.mean(pred == yte))


def knn_regression_mae(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    k: int = 20,
) -> float:
    """Mean absolute error of k-nearest-neighbour regression with cosine similarity.

    The prediction for a test point is the unweighted mean target of its k training
    points of highest cosine similarity; returns ``mean_i |pred_i - y_i|``. A
    label-ordered embedding gives a small error (METHODS.md, "Ordinality").

    Parameters
    ----------
    train_x : array of shape (n_train, n_features)
    train_y : array of shape (n_train,), numeric targets
    test_x : array of shape (n_test, n_features)
    test_y : array of shape (n_test,)
    k : int, default 20

    Returns
    -------
    float
    """
    xtr, xte = _check_split(train_x, test_x)
    ytr = _as_targets(train_y, name="train_y", n=xtr.shape[0]).astype(np.float64)
    yte = _as_targets(test_y, name="test_y", n=xte.shape[0]).astype(np.float64)
    _check_k(k, xtr.shape[0])
    idx, _ = _nearest_neighbours(xte, xtr, k, metric="cosine", self_first=False)
    pred = ytr[idx.cpu().numpy()].mean(axis=1)
    return float(np.mean(np.abs(pred - yte)))


def knn_regression_r2(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    k: int = 20,
) -> float:
    """Coefficient of determination R^2 of k-nearest-neighbour regression with cosine similarity.

    The prediction for a test point is the unweighted mean target of its k training points of
    highest cosine similarity (as in :func:`knn_regression_mae`); returns
    ``1 - sum_i (y_i - pred_i)^2 / sum_i (y_i - mean(y))^2`` over the test points
    (``sklearn.metrics.r2_score``: 1 is perfect, 0 is predicting the test mean, it can be
    negative; constant test targets give 1.0 for a perfect prediction, else 0.0). How much of a
    numeric factor (a position, a scale) the embedding keeps where neighbours can read it.

    Parameters
    ----------
    train_x : array of shape (n_train, n_features)
    train_y : array of shape (n_train,), numeric targets
    test_x : array of shape (n_test, n_features)
    test_y : array of shape (n_test,); at least 2 samples
    k : int, default 20

    Returns
    -------
    float, at most 1
    """
    xtr, xte = _check_split(train_x, test_x)
    ytr = _as_targets(train_y, name="train_y", n=xtr.shape[0]).astype(np.float64)
    yte = _as_targets(test_y, name="test_y", n=xte.shape[0]).astype(np.float64)
    _check_k(k, xtr.shape[0])
    if yte.shape[0] < 2:
        raise ValueError("R^2 needs at least 2 test samples.")
    idx, _ = _nearest_neighbours(xte, xtr, k, metric="cosine", self_first=False)
    return float(r2_score(yte, ytr[idx.cpu().numpy()].mean(axis=1)))


def knn_factor_probes(
    train_x: ArrayLike,
    test_x: ArrayLike,
    train_factors: Mapping[str, ArrayLike],
    test_factors: Mapping[str, ArrayLike],
    *,
    k: int = 20,
) -> dict[str, float]:
    """How much of each factor of variation the embedding keeps, read by its neighbours.

    For every factor (a name in both mappings): a class factor (integer, boolean or string
    values) gives the kNN accuracy of :func:`knn_accuracy`; a numeric factor (floating-point
    values) gives the kNN R^2 of :func:`knn_regression_r2`; both with the same k cosine
    neighbours, searched once for all the factors.

    Parameters
    ----------
    train_x : array of shape (n_train, n_features)
    test_x : array of shape (n_test, n_features)
    train_factors : mapping of name -> array of shape (n_train,)
    test_factors : mapping of name -> array of shape (n_test,), the same names
    k : int, default 20

    Returns
    -------
    dict of name -> float, in the order of ``train_factors``
    """
    xtr, xte = _check_split(train_x, test_x)
    if set(train_factors) != set(test_factors):
        raise ValueError(f"train_factors and test_factors must name the same factors; got "
                         f"{sorted(train_factors)} and {sorted(test_factors)}.")
    _check_k(k, xtr.shape[0])
    idx, dist = _nearest_neighbours(xte, xtr, k, metric="cosine", self_first=False)
    out: dict[str, float] = {}
    for name, ftr in train_factors.items():
        ytr = _as_targets(ftr, name=f"train factor {name!r}", n=xtr.shape[0])
        yte = _as_targets(test_factors[name], name=f"test factor {name!r}", n=xte.shape[0])
        if np.issubdtype(ytr.dtype, np.floating):
            if yte.shape[0] < 2:
                raise ValueError("R^2 needs at least 2 test samples.")
            pred = ytr.astype(np.float64)[idx.cpu().numpy()].mean(axis=1)
            out[name] = float(r2_score(yte.astype(np.float64), pred))
        else:
            out[name] = float(np.mean(_vote(idx, dist, ytr, k) == yte))
    return out


def linear_probe_regression(
    train_x: ArrayLike,
    train_y: ArrayLike,
    test_x: ArrayLike,
    test_y: ArrayLike,
    *,
    alpha: float = 1.0,
) -> dict[str, float]:
    """Ridge-regression probe on standardised features: test MAE and R^2.

    Features are standardised with the training split's statistics, then
    ``sklearn.linear_model.Ridge(alpha=alpha)`` (with intercept) is fitted. Returns
    ``{"mae": mean |pred - y|, "r2": 1 - SS_res / SS_tot}`` on the test split
    (``sklearn.metrics.r2_score``; R^2 can be negative).

    Parameters
    ----------
    train_x, train_y, test_x, test_y
        As in :func:`knn_regression_mae`; the test split needs at least 2 samples
        for R^2.
    alpha : float, default 1.0
        L2 penalty of the ridge.

    Returns
    -------
    dict with float values under "mae" and "r2"
    """
    if alpha < 0:
        raise ValueError(f"alpha must be non-negative; got {alpha}.")
    xtr, xte = (a.cpu().numpy() for a in _check_split(train_x, test_x))
    ytr = _as_targets(train_y, name="train_y", n=xtr.shape[0]).astype(np.float64)
    yte = _as_targets(test_y, name="test_y", n=xte.shape[0]).astype(np.float64)
    if yte.shape[0] < 2:
        raise ValueError("R^2 needs at least 2 test samples.")
    with threadpool_limits(limits=1, user_api="blas"):  # see linear_probe_accuracy
        scaler = StandardScaler().fit(xtr)
        model = Ridge(alpha=alpha).fit(scaler.transform(xtr), ytr)
        pred = model.predict(scaler.transform(xte))
    return {"mae": float(mean_absolute_error(yte, pred)), "r2": float(r2_score(yte, pred))}


def _check_split(train_x: ArrayLike, test_x: ArrayLike) -> tuple[torch.Tensor, torch.Tensor]:
    """Both splits as tensors with the same number of features."""
    xtr = _as_tensor(train_x, name="train_x")
    xte = _as_tensor(test_x, name="test_x")
    if xtr.shape[1] != xte.shape[1]:
        raise ValueError(
            f"train_x has {xtr.shape[1]} features but test_x has {xte.shape[1]}; "
            "they must come from the same embedding space."
        )
    return xtr, xte


def _check_k(k: int, n_train: int) -> None:
    if not 1 <= k <= n_train:
        raise ValueError(f"k must be between 1 and n_train = {n_train}; got {k}.")
