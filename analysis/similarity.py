"""How similar are two representations of the same samples? (teacher vs student, epochs)

References
----------
- S. Kornblith, M. Norouzi, H. Lee, G. Hinton, "Similarity of Neural Network
  Representations Revisited", ICML 2019 (linear CKA, eq. 5 and sec. 3).
"""

from __future__ import annotations

import numpy as np
import torch

from analysis._checks import _as_tensor
from analysis._knn import _nearest_neighbours
from analysis.arrays import ArrayLike

__all__ = ["linear_cka", "knn_overlap"]


def linear_cka(a: ArrayLike, b: ArrayLike) -> float:
    """Linear centred kernel alignment between two embeddings of the same samples.

    With ``A`` and ``B`` column-centred (N x D_a and N x D_b, row i = sample i in both):
    ``CKA = ||B^T A||_F^2 / (||A^T A||_F ||B^T B||_F)`` (Kornblith et al. 2019, eq. 5;
    equal to HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)) with linear kernels). It lies in
    [0, 1], is invariant to orthogonal transforms and isotropic scaling of either side
    (so ``b = a Q`` with Q orthogonal, or ``b = c a``, gives 1) but not to general
    invertible linear maps, and is close to 0 for independent random matrices with many
    samples (about ``sqrt(D_a D_b) / N``). The embeddings need not have the same
    width. Computed in float64; uses N x N Gram matrices instead when N is smaller than
    both widths. No row normalisation is applied.

    Parameters
    ----------
    a : array of shape (n_samples, n_features_a)
    b : array of shape (n_samples, n_features_b)

    Returns
    -------
    float in [0, 1]; nan if either matrix has zero variance
    """
    at = _as_tensor(a, name="a").to(torch.float64)
    bt = _as_tensor(b, name="b").to(device=at.device, dtype=torch.float64)
    if at.shape[0] != bt.shape[0]:
        raise ValueError(
            f"a and b must hold the same samples in the same order; got {at.shape[0]} "
            f"and {bt.shape[0]} rows."
        )
    if at.shape[0] < 2:
        raise ValueError("linear CKA needs at least 2 samples.")
    at = at - at.mean(dim=0, keepdim=True)
    bt = bt - bt.mean(dim=0, keepdim=True)
    n = at.shape[0]
    if n < min(at.shape[1], bt.shape[1]):
        k, m = at @ at.T, bt @ bt.T  # centred linear kernels, N x N
        cross = float((k * m).sum())
        self_a = float(torch.linalg.matrix_norm(k))
        self_b = float(torch.linalg.matrix_norm(m))
    else:
        cross = float(torch.linalg.matrix_norm(bt.T @ at) ** 2)
        self_a = float(torch.linalg.matrix_norm(at.T @ at))
        self_b = float(torch.linalg.matrix_norm(bt.T @ bt))
    if self_a == 0.0 or self_b == 0.0:
        return float("nan")
    return cross / (self_a * self_b)


def knn_overlap(a: ArrayLike, b: ArrayLike, *, k: int = 10) -> float:
    """Mean fraction of shared k nearest neighbours between two embeddings.

    For each sample i, ``N_a(i)`` and ``N_b(i)`` are its k nearest OTHER samples by
    cosine similarity in ``a`` and in ``b`` (exact search); returns
    ``mean_i |N_a(i) & N_b(i)| / k``. 1 means identical neighbourhoods; for unrelated
    embeddings the expected value is about ``k / (N - 1)``. The widths of ``a`` and
    ``b`` may differ.

    Parameters
    ----------
    a : array of shape (n_samples, n_features_a)
    b : array of shape (n_samples, n_features_b)
    k : int, default 10
        ``1 <= k < n_samples``.

    Returns
    -------
    float in [0, 1]
    """
    at = _as_tensor(a, name="a")
    bt = _as_tensor(b, name="b")
    n = at.shape[0]
    if bt.shape[0] != n:
        raise ValueError(
            f"a and b must hold the same samples in the same order; got {n} and {bt.shape[0]} rows."
        )
    if not 1 <= k < n:
        raise ValueError(f"k must be between 1 and n_samples - 1 = {n - 1}; got {k}.")
    idx_a, _ = _nearest_neighbours(at, at, k + 1, metric="cosine", self_first=True)
    idx_b, _ = _nearest_neighbours(bt, bt, k + 1, metric="cosine", self_first=True)
    na = np.sort(idx_a[:, 1:].cpu().numpy(), axis=1)
    nb = np.sort(idx_b[:, 1:].cpu().numpy(), axis=1)
    # count common entries row by row: both rows are sorted and hold distinct indices
    merged = np.sort(np.concatenate([na, nb], axis=1), axis=1)
    shared = np.sum(merged[:, 1:] == merged[:, :-1], axis=1)
    return float(np.mean(shared) / k)
