"""2-D projections of embeddings: PCA on a fixed basis, UMAP on exact kNN, Procrustes.

The projections of successive epochs of one run should be comparable: ``PCA2D`` is
fitted once and reused (its components are sign-fixed deterministically), ``umap_2d``
can start from the previous epoch's layout, and ``procrustes_align`` removes the
rotation / reflection / scale / shift that is left.

UMAP (umap-learn) is imported inside :func:`umap_2d` only: importing this module does
not pay numba's start-up cost.

References
----------
- L. McInnes, J. Healy, J. Melville, "UMAP: Uniform Manifold Approximation and
  Projection for Dimension Reduction", arXiv:1802.03426, 2018.
- P. H. Schoenemann, "A generalized solution of the orthogonal Procrustes problem",
  Psychometrika 31, 1966; J. C. Gower, "Generalized Procrustes analysis", 1975.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch

from analysis._checks import _as_numpy, _as_tensor
from analysis._knn import Metric, _nearest_neighbours
from analysis.arrays import ArrayLike
from analysis.sampling import stratified_sample

__all__ = [
    "PCA2D",
    "pca_2d",
    "exact_knn",
    "umap_2d",
    "procrustes_align",
    "stratified_sample",
]


class PCA2D:
    """Principal-component projection onto the top two components, reusable across epochs.

    ``fit(z)`` stores the column mean and the two leading eigenvectors of the
    covariance of ``z`` (computed in float64 from the D x D matrix ``Zc^T Zc``);
    ``transform(z2)`` projects any ``(M, D)`` array with that same mean and basis, so
    all epochs of a run can be drawn in the frame of one epoch.

    The sign of each component is fixed deterministically: its entry of largest
    absolute value is made positive (the convention of scikit-learn's ``svd_flip``).
    No row normalisation is applied; pass normalised embeddings if that is the space
    to show.

    Attributes
    ----------
    components_ : ndarray of shape (2, n_features)
        Orthonormal principal directions, largest variance first.
    mean_ : ndarray of shape (n_features,)
        Column mean of the data passed to ``fit``.
    explained_variance_ : ndarray of shape (2,)
        Variance along each component (covariance divided by N - 1).
    explained_variance_ratio_ : ndarray of shape (2,)
        Those variances divided by the total variance.
    n_features_in_ : int
    """

    def __init__(self) -> None:
        # PCA2D has no settings: the attributes below are set by fit().
        pass

    def fit(self, z: ArrayLike) -> PCA2D:
        """Learn the mean and the top two principal directions of ``z`` (N, D), N >= 2, D >= 2."""
        zt = _as_tensor(z, name="z").to(torch.float64)
        n, d = zt.shape
        if n < 2 or d < 2:
            raise ValueError(f"PCA2D needs at least 2 samples and 2 features; got shape {(n, d)}.")
        mean = zt.mean(dim=0)
        centred = zt - mean
        cov = ((centred.T @ centred) / (n - 1)).cpu().numpy()
        # numpy's LAPACK: torch's threaded eigh stalls on an oversubscribed CPU
        eigvals, eigvecs = np.linalg.eigh(cov)  # ascending
        eigvals = np.maximum(eigvals[::-1], 0.0)
        components = eigvecs[:, ::-1][:, :2].T.copy()  # (2, D)
        # deterministic signs: the largest-magnitude loading of each component is positive
        pivots = np.argmax(np.abs(components), axis=1)
        signs = np.sign(components[np.arange(2), pivots])
        signs[signs == 0] = 1.0
        components = components * signs[:, None]
        total = float(eigvals.sum())
        self.mean_: np.ndarray = mean.cpu().numpy()
        self.components_: np.ndarray = components
        self.explained_variance_: np.ndarray = eigvals[:2].copy()
        self.explained_variance_ratio_: np.ndarray = (
            eigvals[:2] / total if total > 0 else np.zeros(2)
        )
        self.n_features_in_: int = d
        return self

    def transform(self, z: ArrayLike) -> np.ndarray:
        """Project ``z`` (M, D) onto the fitted basis: ``(z - mean_) @ components_.T``, (M, 2)."""
        if not hasattr(self, "components_"):
            raise ValueError("this PCA2D is not fitted yet; call fit(z) first.")
        zn = _as_numpy(z, name="z").astype(np.float64, copy=False)
        if zn.shape[1] != self.n_features_in_:
            raise ValueError(
                f"z has {zn.shape[1]} features but this PCA2D was fitted on {self.n_features_in_}."
            )
        return (zn - self.mean_) @ self.components_.T

    def fit_transform(self, z: ArrayLike) -> np.ndarray:
        """``fit(z)`` then ``transform(z)``."""
        return self.fit(z).transform(z)


def pca_2d(z: ArrayLike, *, components: ArrayLike | None = None) -> np.ndarray:
    """Project embeddings onto two principal directions.

    Without ``components``: ``PCA2D().fit_transform(z)`` (the top two principal
    components of ``z`` itself, sign-fixed). With ``components`` of shape
    ``(2, n_features)``, for instance ``PCA2D.components_`` of another epoch: returns
    ``(z - mean(z)) @ components.T``, i.e. ``z`` centred on its own mean and
    projected onto the given basis. To reuse the other epoch's mean as well, keep the
    fitted :class:`PCA2D` and call its ``transform``.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    components : array of shape (2, n_features) or None

    Returns
    -------
    ndarray of shape (n_samples, 2), float64
    """
    if components is None:
        return PCA2D().fit_transform(z)
    zn = _as_numpy(z, name="z").astype(np.float64, copy=False)
    basis = _as_numpy(components, name="components").astype(np.float64, copy=False)
    if basis.shape != (2, zn.shape[1]):
        raise ValueError(
            f"components must have shape (2, n_features) = (2, {zn.shape[1]}); got {basis.shape}."
        )
    return (zn - zn.mean(axis=0)) @ basis.T


def exact_knn(
    z: ArrayLike, *, k: int = 15, metric: Metric = "cosine"
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest neighbours of every row, in umap-learn's ``precomputed_knn`` layout.

    Follows umap-learn's convention (``UMAP`` docstring, parameter
    ``precomputed_knn``): each point is its own first neighbour, so column 0 of the
    indices is ``arange(N)`` with distance exactly 0, and columns 1..k-1 are the
    ``k - 1`` nearest OTHER points, nearest first. To get k neighbours excluding the
    point itself, ask for ``k + 1`` and drop column 0.

    Distances: ``"cosine"`` is ``1 - cos(z_i, z_j)`` (umap-learn's and scikit-learn's
    cosine distance), ``"euclidean"`` is ``||z_i - z_j||_2``. Candidates are found by
    a brute-force search with torch matrix products over query chunks (one tile of
    at most 2**24 similarities at a time); the distances of the chosen neighbours are
    then recomputed from the difference vectors, which keeps small distances accurate.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    k : int, default 15
        Neighbours per point, the point itself included; ``1 <= k <= n_samples``.
    metric : {"cosine", "euclidean"}, default "cosine"

    Returns
    -------
    indices : ndarray of shape (n_samples, k), int64
    distances : ndarray of shape (n_samples, k), float32
    """
    zt = _as_tensor(z, name="z")
    n = zt.shape[0]
    if not 1 <= k <= n:
        raise ValueError(f"k must be between 1 and n_samples = {n} (self included); got {k}.")
    idx, dist = _nearest_neighbours(zt, zt, k, metric=metric, self_first=True)
    return idx.cpu().numpy().astype(np.int64), dist.cpu().numpy().astype(np.float32)


def umap_2d(
    z: ArrayLike,
    *,
    n_neighbors: int = 15,
    init: ArrayLike | None = None,
    n_epochs: int = 200,
    seed: int = 0,
    metric: Metric = "cosine",
    min_dist: float = 0.1,
) -> np.ndarray:
    """2-D UMAP layout computed on an exact kNN graph.

    The kNN graph comes from :func:`exact_knn` (torch, exact) and is handed to
    ``umap.UMAP(precomputed_knn=(indices, distances, None))``: umap-learn 0.5 accepts a
    2- or 3-tuple whose first neighbour of each point is the point itself, and skips
    its own approximate search (pynndescent). umap-learn then warns that
    ``transform`` is unavailable without a search index; that warning is silenced.
    The run is deterministic for a given ``seed`` (umap-learn then uses one thread).

    ``init`` can be the layout of the previous epoch, so that successive layouts stay
    close; umap-learn rescales it to a 10 x 10 box before optimising. Follow with
    :func:`procrustes_align` to remove what is left of the rotation.

    Parameters
    ----------
    z : array of shape (n_samples, n_features), n_samples >= 3
    n_neighbors : int, default 15
        Size of the neighbourhood, the point itself included (umap-learn's meaning);
        reduced to ``n_samples - 1`` for tiny inputs.
    init : array of shape (n_samples, 2) or None
        Starting layout; ``None`` uses umap-learn's spectral initialisation.
    n_epochs : int, default 200
    seed : int, default 0
    metric : {"cosine", "euclidean"}, default "cosine"
    min_dist : float, default 0.1

    Returns
    -------
    ndarray of shape (n_samples, 2), float64
    """
    import umap  # lazy: numba compilation happens on first use only

    zt = _as_tensor(z, name="z")
    n = zt.shape[0]
    if n < 3:
        raise ValueError(f"umap_2d needs at least 3 samples; got {n}.")
    if n_neighbors < 2:
        raise ValueError(f"n_neighbors must be at least 2; got {n_neighbors}.")
    k = min(n_neighbors, n - 1)
    init_arg: str | np.ndarray = "spectral"
    if init is not None:
        init_array = _as_numpy(init, name="init").astype(np.float32)
        if init_array.shape != (n, 2):
            raise ValueError(
                f"init must have shape (n_samples, 2) = ({n}, 2); got {init_array.shape}."
            )
        init_arg = init_array
    indices, distances = exact_knn(zt, k=k, metric=metric)
    reducer = umap.UMAP(
        n_neighbors=k,
        n_components=2,
        metric=metric,
        n_epochs=n_epochs,
        min_dist=min_dist,
        init=init_arg,
        random_state=seed,
        n_jobs=1,
        precomputed_knn=(indices, distances, None),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r".*knn_search_index.*")
        layout = reducer.fit_transform(zt.cpu().numpy())
    return np.asarray(layout, dtype=np.float64)


def procrustes_align(y: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """Map ``y`` onto ``reference`` by the best similarity transform.

    Solves ``min_{s, R, t} ||s y R + t - reference||_F`` over a scale ``s > 0``, an
    orthogonal ``R`` (rotations and reflections) and a translation ``t`` (Schoenemann
    1966): with both centred, ``Yc^T Xc = U S V^T``, ``R = U V^T``,
    ``s = trace(S) / ||Yc||_F^2``, ``t = mean(reference) - s mean(y) R``. Returns the
    transformed ``y``; its rows keep their order. Use it to keep the layouts of
    successive epochs from spinning or flipping.

    Parameters
    ----------
    y : array of shape (n_samples, n_dims)
    reference : array of shape (n_samples, n_dims)

    Returns
    -------
    ndarray of shape (n_samples, n_dims), float64
    """
    yn = _as_numpy(y, name="y").astype(np.float64, copy=False)
    ref = _as_numpy(reference, name="reference").astype(np.float64, copy=False)
    if yn.shape != ref.shape:
        raise ValueError(
            f"y and reference must have the same shape; got {yn.shape} and {ref.shape}."
        )
    y_mean, ref_mean = yn.mean(axis=0), ref.mean(axis=0)
    yc, refc = yn - y_mean, ref - ref_mean
    norm_sq = float(np.sum(yc**2))
    if norm_sq == 0.0:  # all points at one place: only the translation is defined
        return np.broadcast_to(ref_mean, yn.shape).copy()
    u, s, vt = np.linalg.svd(yc.T @ refc)
    rotation = u @ vt
    scale = float(s.sum()) / norm_sq
    return scale * yc @ rotation + ref_mean
