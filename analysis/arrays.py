"""Array helpers of the ``analysis`` modules that need numpy only.

The analysis modules the app's server imports (``analysis.sampling``, ``analysis.temperature``)
take their helpers from here, so that they never load torch; a torch tensor given here (by a
caller that loaded torch) is converted to numpy. ``analysis.geometry`` re-exports them.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import torch

ArrayLike: TypeAlias = "np.ndarray | torch.Tensor"


def _as_targets(y: ArrayLike, *, name: str, n: int) -> np.ndarray:
    """Labels or targets as a 1-D numpy array of length ``n`` (an (n, 1) column is accepted)."""
    torch = sys.modules.get("torch")  # a tensor can only come from a caller that loaded torch
    arr = y.detach().cpu().numpy() if torch is not None and isinstance(y, torch.Tensor) else np.asarray(y)
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
