"""The exact nearest-neighbour search shared by the probes, the maps, the similarity and the
ordinality measures (private: the public modules wrap it)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from analysis._checks import _normalize_rows

if TYPE_CHECKING:
    import torch

#: Distances of the nearest-neighbour search: ``1 - cos`` or the L2 distance.
Metric = Literal["cosine", "euclidean"]
#: Elements of one similarity tile in the kNN search (64 MiB in float32).
_KNN_TILE_ELEMENTS = 1 << 24


def _nearest_neighbours(
    queries: torch.Tensor,
    keys: torch.Tensor,
    k: int,
    *,
    metric: Metric,
    self_first: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact k nearest keys of every query: (indices int64 (M, k), distances (M, k)).

    ``self_first=True`` means ``queries`` is ``keys`` and row i is forced to be its
    own first neighbour at distance 0 (umap-learn's convention, robust to duplicates).
    Cosine distance is ``1 - cos``; euclidean is the L2 distance. The search runs on
    similarity tiles; the chosen distances are recomputed from difference vectors.
    """
    import torch

    if metric not in ("cosine", "euclidean"):
        raise ValueError(f"metric must be 'cosine' or 'euclidean'; got {metric!r}.")
    if queries.shape[1] != keys.shape[1]:
        raise ValueError(f"queries have {queries.shape[1]} features but keys have {keys.shape[1]}.")
    dtype = torch.float64 if torch.float64 in (queries.dtype, keys.dtype) else torch.float32
    q = queries.to(dtype=dtype)
    kk = keys.to(device=q.device, dtype=dtype)
    if metric == "cosine":
        q, kk = _normalize_rows(q), _normalize_rows(kk)
        key_sq: torch.Tensor | None = None
    else:
        key_sq = (kk * kk).sum(dim=1)  # argmax of 2 q.k - |k|^2 = argmin of |q - k|
    m, n_keys = q.shape[0], kk.shape[0]
    rows = max(1, min(m, _KNN_TILE_ELEMENTS // max(n_keys, k * q.shape[1])))
    all_idx: list[torch.Tensor] = []
    all_dist: list[torch.Tensor] = []
    for start in range(0, m, rows):
        qc = q[start : start + rows]
        score = qc @ kk.T
        if key_sq is not None:
            score.mul_(2.0).sub_(key_sq)
        if self_first:
            own = torch.arange(start, start + qc.shape[0], device=q.device)
            score[torch.arange(qc.shape[0], device=q.device), own] = torch.inf
        idx = torch.topk(score, k, dim=1, largest=True, sorted=True).indices
        diff = qc[:, None, :] - kk[idx]  # (rows, k, D)
        dist = torch.linalg.vector_norm(diff, dim=2)
        if metric == "cosine":
            dist = 0.5 * dist * dist  # 1 - cos(a, b) = |a - b|^2 / 2 for unit vectors
        if self_first:
            dist[:, 0] = 0.0
        all_idx.append(idx)
        all_dist.append(dist)
    return torch.cat(all_idx), torch.cat(all_dist)
