"""Private input checks shared by the ``analysis`` modules: conversion of arrays and
tensors with messages that name the argument, row normalisation and seeded subsets.

Only what two or more analysis modules use lives here; a helper of one module stays in it.
The app's server imports ``analysis.sampling`` and ``analysis.temperature``, which take
their helpers from here, so this module loads numpy only: the helpers that compute with
torch import it when they are called.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import numpy as np

from analysis.arrays import ArrayLike

if TYPE_CHECKING:
    import torch



def _as_targets(y: ArrayLike, *, name: str, n: int) -> np.ndarray:
    """Labels or targets as a 1-D numpy array of length ``n`` (an (n, 1) column is accepted)."""
    torch = sys.modules.get("torch")  # a tensor can only come from a caller that loaded torch
    arr = (
        y.detach().cpu().numpy()
        if torch is not None and isinstance(y, torch.Tensor)
        else np.asarray(y)
    )
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(
            f"{name} must be a 1-D array of shape (n_samples,); got shape {arr.shape}."
        )
    if arr.shape[0] != n:
        raise ValueError(
            f"{name} has {arr.shape[0]} entries but the embeddings have {n} rows; "
            "they must describe the same samples."
        )
    return arr


def _as_tensor(x: ArrayLike, *, name: str, ndim: int = 2) -> torch.Tensor:
    """A detached floating tensor view of ``x`` (float64 kept, anything else float32).

    Raises ``ValueError`` if ``x`` does not have ``ndim`` dimensions, has no rows, or
    holds NaN / inf. Tensors stay on their device; numpy arrays are shared, not copied,
    when their layout allows it.
    """
    import torch

    if isinstance(x, torch.Tensor):
        t = x.detach()
    else:
        arr = np.asarray(x)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"{name} must hold numbers; got dtype {arr.dtype}.")
        if not arr.dtype.isnative:
            arr = arr.astype(arr.dtype.newbyteorder("="))
        if not arr.flags.writeable or not arr.flags.c_contiguous:
            arr = np.array(arr, order="C", copy=True)
        t = torch.from_numpy(arr)
    if t.dtype not in (torch.float32, torch.float64):
        t = t.to(torch.float32)
    if t.ndim != ndim:
        expected = "(n_samples, n_features)" if ndim == 2 else "(n_samples,)"
        raise ValueError(
            f"{name} must be a {ndim}-D array of shape {expected}; got shape {tuple(t.shape)}."
        )
    if t.shape[0] == 0:
        raise ValueError(f"{name} has no samples (shape {tuple(t.shape)}).")
    # cheap test first: a NaN or inf anywhere makes the sum non-finite
    if not bool(torch.isfinite(t.sum())) and not bool(torch.isfinite(t).all()):
        raise ValueError(f"{name} contains NaN or infinite values.")
    return t


def _as_numpy(x: ArrayLike, *, name: str, ndim: int = 2) -> np.ndarray:
    """``x`` as a finite floating numpy array with ``ndim`` dimensions (see ``_as_tensor``)."""
    return _as_tensor(x, name=name, ndim=ndim).cpu().numpy()


def _normalize_rows(z: torch.Tensor) -> torch.Tensor:
    """Rows divided by their L2 norm (an all-zero row stays zero)."""
    import torch

    return torch.nn.functional.normalize(z, p=2.0, dim=1, eps=1e-12)


def _subset_indices(n: int, m: int, seed: int) -> np.ndarray:
    """``m`` distinct indices out of ``range(n)``, sorted, from ``default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(n, size=m, replace=False))
