"""What a snapshot holds: embeddings of the whole dataset at one epoch, and the
metrics computed on the held-out split. Called by the worker; pages only read."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch import nn

from analysis import geometry, ordinality, probes, projections, spectrum
from trainers.augment import make_augment
from trainers.data import DataSplit

EVAL_SEED = 4242  # the augmented views used for alignment are the same at every epoch
# The kNN probes classify (or regress) at most this many held-out samples: a fixed stratified
# sample above it (generated sets of more than 25,000 samples). Their cost is queries x training
# samples: a 200,000-sample set took ~45 s per snapshot with every held-out sample, ~4 s with 5,000
# (docs/benchmarks.md, "Snapshots of large sets"). The standard error of an accuracy on 5,000 is
# at most 0.7 points.
KNN_MAX_QUERIES = 5_000


def knn_query_rows(y_test: np.ndarray, limit: int | None = None) -> np.ndarray:
    """Rows of the held-out split the kNN probes use: all up to ``limit`` (default
    :data:`KNN_MAX_QUERIES`), else a stratified sample (seed ``EVAL_SEED``: the same rows at
    every epoch of a run)."""
    limit = KNN_MAX_QUERIES if limit is None else limit
    if len(y_test) <= limit:
        return np.arange(len(y_test))
    return projections.stratified_sample(y_test, limit, seed=EVAL_SEED)


@torch.no_grad()
def embed(model: nn.Module, x: np.ndarray | torch.Tensor, device: torch.device, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """(N, F) -> representations (N, R) and embeddings (N, D), float32, eval mode."""
    was = model.training
    model.eval()
    xt = torch.as_tensor(x, dtype=torch.float32)
    hs, zs = [], []
    for i in range(0, len(xt), batch):
        h, z = model(xt[i : i + batch].to(device))
        hs.append(h.float().cpu())
        zs.append(z.float().cpu())
    model.train(was)
    return torch.cat(hs).numpy(), torch.cat(zs).numpy()


def snapshot(model: nn.Module, data: DataSplit, *, device: torch.device, aug_strength: float,
             per_sample: dict[str, np.ndarray] | None = None,
             extra: Callable[[dict[str, np.ndarray]], dict[str, Any]] | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """Return (arrays, metrics) for the current model.

    arrays: rep (N, R), emb (N, D) over [train; test] rows; index (N,) stable indices;
    y (N,) labels or targets; is_test (N,) bool; pca_emb / pca_rep (N, 2);
    spectrum_emb / spectrum_rep (covariance spectra on the held-out split);
    plus per-sample values (train rows; NaN on test rows); for classification ``knn_hit``
    (1 / 0: the kNN probe on the representation got the held-out sample right; NaN on train
    rows and on held-out rows outside the probe's sample); for a dataset with factors of
    variation (shapes) ``factor_<name>`` (N,) per factor, every row.
    metrics: held-out-split figures (see docs/metrics in the pages; the kNN probes classify at
    most :data:`KNN_MAX_QUERIES` held-out samples, ``n_knn_eval`` says how many), the invariance
    probes of a dataset with factors (:func:`factor_probes`: ``factor_probes`` on the
    representation, ``factor_probes_embedding`` on the projector output), plus ``extra(arrays)``'s
    when given (the objective's own: CKA to a teacher, MSD's teacher entropy; trainers/distill.py).
    """
    n_tr = len(data.x_train)
    x_all = np.concatenate([data.x_train, data.x_test])
    rep, emb = embed(model, x_all, device)
    rep_tr, rep_te = rep[:n_tr], rep[n_tr:]
    emb_tr, emb_te = emb[:n_tr], emb[n_tr:]
    y_all = np.concatenate([data.y_train, data.y_test])
    arrays: dict[str, np.ndarray] = {
        "rep": rep.astype(np.float32),
        "emb": emb.astype(np.float32),
        "index": np.concatenate([data.index_train, data.index_test]).astype(np.int64),
        "y": y_all,
        "is_test": np.r_[np.zeros(n_tr, bool), np.ones(len(data.x_test), bool)],
        "pca_emb": projections.pca_2d(emb).astype(np.float32),
        "pca_rep": projections.pca_2d(rep).astype(np.float32),
    }
    for k, v in (per_sample or {}).items():
        arrays[f"ps_{k}"] = np.r_[np.asarray(v, np.float32), np.full(len(data.x_test), np.nan, np.float32)]

    # alignment needs positive pairs: two augmented views of the held-out split
    for k, v in data.factors.items():
        arrays[f"factor_{k}"] = v[arrays["index"]]
    aug = make_augment(data.kind, aug_strength, data.noisy_dims, options=data.augment_options)
    g = torch.Generator().manual_seed(EVAL_SEED)
    xt = torch.as_tensor(data.x_test)
    v1 = aug(xt.clone(), g)
    v2 = aug(xt.clone(), g)
    _, z1 = embed(model, v1, device)
    _, z2 = embed(model, v2, device)

    m: dict[str, Any] = {"n_eval": int(len(data.x_test))}
    m["alignment"] = geometry.alignment(z1, z2)
    m["uniformity"] = 0.5 * (geometry.uniformity(z1) + geometry.uniformity(z2))
    m["uniformity_clean"] = geometry.uniformity(emb_te)
    m["rankme"] = spectrum.rankme(rep_te)
    m["rankme_emb"] = spectrum.rankme(emb_te)
    m["erank_cov_rep"] = spectrum.effective_rank_covariance(rep_te)
    m["erank_cov_emb"] = spectrum.effective_rank_covariance(emb_te)
    m["alpha_req"] = spectrum.alpha_req(rep_te)
    arrays["spectrum_emb"] = spectrum.covariance_spectrum(emb_te).astype(np.float64)
    arrays["spectrum_rep"] = spectrum.covariance_spectrum(rep_te).astype(np.float64)
    q = knn_query_rows(data.y_test)
    m["n_knn_eval"] = int(len(q))
    if data.task == "classification":
        hit = probes.knn_predict(rep_tr, data.y_train, rep_te[q]) == data.y_test[q]
        m["knn_accuracy"] = float(hit.mean())
        arrays["knn_hit"] = np.full(len(y_all), np.nan, np.float32)  # per held-out sample, for per-class views
        arrays["knn_hit"][n_tr + q] = hit
        m["linear_accuracy"] = probes.linear_probe_accuracy(rep_tr, data.y_train, rep_te, data.y_test)
        m["knn_accuracy_emb"] = probes.knn_accuracy(emb_tr, data.y_train, emb_te[q], data.y_test[q])
    else:
        m["knn_mae"] = probes.knn_regression_mae(rep_tr, data.y_train, rep_te[q], data.y_test[q])
        lin = probes.linear_probe_regression(rep_tr, data.y_train, rep_te, data.y_test)
        m["linear_mae"], m["linear_r2"] = lin["mae"], lin["r2"]
        m["rank_correlation"] = ordinality.distance_rank_correlation(rep_te, data.y_test)
        m["rank_correlation_emb"] = ordinality.distance_rank_correlation(emb_te, data.y_test)
        m["neighbour_gap"] = ordinality.neighbour_target_gap(rep_te, data.y_test)
    if data.factors:
        m["factor_probes"] = factor_probes(rep_tr, rep_te[q], data, q)
        m["factor_probes_embedding"] = factor_probes(emb_tr, emb_te[q], data, q)
    for k, v in (per_sample or {}).items():
        v = np.asarray(v, np.float64)
        m[f"{k}_mean"], m[f"{k}_std"] = float(v.mean()), float(v.std())
    if extra is not None:
        m.update(extra(arrays))
    return arrays, {k: (float(v) if isinstance(v, (int, float, np.floating)) else v) for k, v in m.items()}


def factor_probes(x_train: np.ndarray, x_query: np.ndarray, data: DataSplit, q: np.ndarray) -> dict[str, float]:
    """What ``x`` keeps of each factor of ``data`` (:func:`analysis.probes.knn_factor_probes`: kNN
    accuracy of a class factor, kNN R^2 of a numeric one, k = 20, cosine): fitted on the training
    rows ``x_train``, scored on the held-out rows ``q`` (:func:`knn_query_rows`), ``x_query``."""
    f_train = {k: v[data.index_train] for k, v in data.factors.items()}
    f_query = {k: v[data.index_test[q]] for k, v in data.factors.items()}
    return probes.knn_factor_probes(x_train, x_query, f_train, f_query)


def raw_probes(data: DataSplit) -> dict[str, Any]:
    """The probes of a snapshot on the raw input itself (a baseline for any representation):
    on the held-out split, the label's kNN (k = 20, cosine) and linear probes (classification:
    accuracies; regression: MAE and R^2) and the factor probes of a dataset with factors, with
    the conventions of :func:`snapshot` (kNN on at most :data:`KNN_MAX_QUERIES` held-out rows)."""
    q = knn_query_rows(data.y_test)
    x_tr, x_te = data.x_train, data.x_test
    m: dict[str, Any] = {"n_train": int(len(x_tr)), "n_eval": int(len(x_te)), "n_knn_eval": int(len(q)),
                         "n_features": data.n_features}
    if data.task == "classification":
        m["knn_accuracy"] = probes.knn_accuracy(x_tr, data.y_train, x_te[q], data.y_test[q])
        m["linear_accuracy"] = probes.linear_probe_accuracy(x_tr, data.y_train, x_te, data.y_test)
    else:
        m["knn_mae"] = probes.knn_regression_mae(x_tr, data.y_train, x_te[q], data.y_test[q])
        m["knn_r2"] = probes.knn_regression_r2(x_tr, data.y_train, x_te[q], data.y_test[q])
        lin = probes.linear_probe_regression(x_tr, data.y_train, x_te, data.y_test)
        m["linear_mae"], m["linear_r2"] = lin["mae"], lin["r2"]
    if data.factors:
        m["factor_probes"] = factor_probes(x_tr, x_te[q], data, q)
    return m
