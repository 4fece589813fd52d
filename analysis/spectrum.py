"""Eigen-spectra of embeddings: dimensional collapse, RankMe, effective rank, alpha-ReQ.

All spectra are computed in float64 from a small Gram matrix (``Z^T Z``, features x
features, or ``Z Z^T`` when there are fewer samples than features), never from an
SVD of the N x D matrix, so N = 50,000 x D = 512 takes a fraction of a second.

References
----------
- L. Jing, P. Vincent, Y. LeCun, Y. Tian, "Understanding Dimensional Collapse in
  Contrastive Self-supervised Learning", ICLR 2022 (covariance spectrum, sec. 4).
- Q. Garrido, R. Balestriero, L. Najman, Y. LeCun, "RankMe: Assessing the Downstream
  Performance of Pretrained Self-Supervised Representations by Their Rank", ICML 2023.
- O. Roy, M. Vetterli, "The effective rank: a measure of effective dimensionality",
  EUSIPCO 2007 (exp-entropy effective rank).
- K. Agrawal, A. Mondal, A. Ghosh, B. Richards, "alpha-ReQ: Assessing Representation
  Quality in Self-Supervised Learning by measuring eigenspectrum decay", NeurIPS 2022.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from analysis._checks import _as_tensor
from analysis.arrays import ArrayLike

__all__ = [
    "SPECTRUM_FLOOR",
    "covariance_spectrum",
    "rankme",
    "effective_rank_covariance",
    "alpha_req",
]

#: Eigenvalues below this are shown at this value (log-scale plots need a floor).
SPECTRUM_FLOOR = 1e-12
#: RankMe's epsilon added to every normalised singular value (Garrido et al. 2023).
_RANKME_EPS = 1e-7
#: alpha-ReQ drops eigenvalues below this fraction of the largest one (numerical zeros).
_ALPHA_REQ_RTOL = 1e-10
#: alpha-ReQ needs at least this many ranks left to fit a slope.
_ALPHA_REQ_MIN_POINTS = 3


def covariance_spectrum(z: ArrayLike) -> np.ndarray:
    """Eigenvalues of the covariance of the L2-normalised embeddings, descending.

    Rows are L2-normalised, centred, and ``C = Zc^T Zc / (N - 1)``; the ``D``
    eigenvalues of ``C`` are returned sorted descending and clipped below at
    ``SPECTRUM_FLOOR = 1e-12`` for log-scale plots (Jing et al. 2022, sec. 4).
    A rank-k embedding has k eigenvalues above the floor and the rest at it.
    Computed in float64. When ``N <= D`` the nonzero eigenvalues come from the
    N x N Gram matrix and the rest are set to the floor.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
        Embeddings, numpy array or torch tensor; ``n_samples >= 2``.

    Returns
    -------
    ndarray of shape (n_features,), float64
    """
    return np.maximum(_centred_covariance_eigenvalues(z), SPECTRUM_FLOOR)


def rankme(z: ArrayLike) -> float:
    """RankMe: exp-entropy of the normalised singular values of the raw embeddings.

    ``p_k = sigma_k / sum_j sigma_j + 1e-7`` and ``RankMe = exp(-sum_k p_k log p_k)``
    (Garrido et al. 2023, eq. 1), with ``sigma`` the singular values of the RAW
    N x D matrix: not centred, not normalised, not squared. Ranges from about 1
    (rank one) to ``min(N, D)`` (all singular values equal). The singular values are
    the square roots of the eigenvalues of the smaller Gram matrix, in float64.

    This is not the entropy of the covariance eigenvalues; that is
    :func:`effective_rank_covariance`.

    Parameters
    ----------
    z : array of shape (n_samples, n_features)

    Returns
    -------
    float
    """
    sigma = _singular_values(_as_tensor(z, name="z"))
    total = float(sigma.sum())
    if total <= 0.0:
        raise ValueError("z is all zeros; RankMe is undefined.")
    p = sigma / total + _RANKME_EPS
    return float(np.exp(-np.sum(p * np.log(p))))


def effective_rank_covariance(z: ArrayLike) -> float:
    """Effective rank of the covariance: exp-entropy of its normalised eigenvalues.

    ``q_k = lambda_k / sum_j lambda_j`` over the eigenvalues of the centred covariance
    of the L2-normalised rows (as in :func:`covariance_spectrum`, without the floor,
    negative round-off clipped to 0), and ``erank = exp(-sum_k q_k log q_k)`` with
    ``0 log 0 = 0`` (Roy & Vetterli 2007). Because the spectrum is of the covariance
    (squared singular values of the centred matrix), this differs from
    :func:`rankme`; show it under the name "effective rank (covariance)".

    Parameters
    ----------
    z : array of shape (n_samples, n_features)

    Returns
    -------
    float
    """
    lam = _centred_covariance_eigenvalues(z)
    total = float(lam.sum())
    if total <= 0.0:
        raise ValueError("all rows of z point the same way; the covariance is zero.")
    q = lam[lam > 0.0] / total
    return float(np.exp(-np.sum(q * np.log(q))))


def alpha_req(z: ArrayLike, *, k_min: int = 6, k_max: int = 100) -> float:
    """alpha-ReQ: decay exponent of the covariance eigenspectrum.

    Fits ``log lambda_k = -alpha log k + c`` by least squares weighted by ``1/k`` over
    the 1-based ranks ``k_min .. k_max`` of the centred-covariance eigenvalues of the
    L2-normalised rows (the spectrum of :func:`covariance_spectrum`, before the floor),
    and returns ``alpha`` (Agrawal et al. 2022). Eigenvalues below ``1e-10`` times the
    largest are numerical zeros and are dropped before the fit. Returns ``nan`` if
    fewer than 3 ranks remain (e.g. ``n_features < k_min + 2`` or a collapsed
    spectrum).

    Parameters
    ----------
    z : array of shape (n_samples, n_features)
    k_min, k_max : int, default 6 and 100
        First and last rank (1-based, inclusive) used in the fit.

    Returns
    -------
    float
    """
    if k_min < 1 or k_max < k_min:
        raise ValueError(f"need 1 <= k_min <= k_max; got k_min={k_min}, k_max={k_max}.")
    lam = _centred_covariance_eigenvalues(z)
    if lam[0] <= 0.0:
        return math.nan
    ranks = np.arange(1, lam.shape[0] + 1, dtype=np.float64)
    window = slice(k_min - 1, k_max)
    lam_w, ranks_w = lam[window], ranks[window]
    keep = lam_w > _ALPHA_REQ_RTOL * lam[0]
    if int(keep.sum()) < _ALPHA_REQ_MIN_POINTS:
        return math.nan
    x = np.log(ranks_w[keep])
    y = np.log(lam_w[keep])
    w = 1.0 / ranks_w[keep]
    x_bar = np.sum(w * x) / np.sum(w)
    y_bar = np.sum(w * y) / np.sum(w)
    slope = np.sum(w * (x - x_bar) * (y - y_bar)) / np.sum(w * (x - x_bar) ** 2)
    return float(-slope)


def _centred_covariance_eigenvalues(z: ArrayLike) -> np.ndarray:
    """Eigenvalues (descending, float64, >= 0, length D) of the covariance of the
    L2-normalised, centred rows, divided by N - 1."""
    zt = _as_tensor(z, name="z")
    n, d = zt.shape
    if n < 2:
        raise ValueError(f"the covariance needs at least 2 samples; got {n}.")
    x = zt.to(torch.float64, copy=True)  # one float64 work copy, modified in place
    x.div_(torch.linalg.vector_norm(x, dim=1, keepdim=True).clamp_min_(1e-12))
    x.sub_(x.mean(dim=0, keepdim=True))
    small = x.T @ x if n > d else x @ x.T  # the smaller Gram matrix, same nonzero spectrum
    eig = np.maximum(_eigvalsh_descending(small.cpu().numpy() / (n - 1)), 0.0)
    if eig.shape[0] < d:
        eig = np.concatenate([eig, np.zeros(d - eig.shape[0])])
    return eig


def _singular_values(zt: torch.Tensor) -> np.ndarray:
    """Singular values (descending, float64) of the raw matrix via its smaller Gram matrix."""
    n, d = zt.shape
    x = zt.to(torch.float64)
    small = x.T @ x if n > d else x @ x.T
    return np.sqrt(np.maximum(_eigvalsh_descending(small.cpu().numpy()), 0.0))


def _eigvalsh_descending(sym: np.ndarray) -> np.ndarray:
    """Eigenvalues of a small symmetric matrix, descending.

    numpy's LAPACK, not ``torch.linalg.eigvalsh``: on a busy machine torch's threaded
    MKL solver was measured 600x slower (9 s instead of 15 ms for 512 x 512 while two
    other processes ran torch matmuls); numpy's stayed at 15 ms.
    """
    return np.linalg.eigvalsh(sym)[::-1].copy()
