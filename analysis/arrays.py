"""The array type that the ``analysis`` functions accept (numpy only).

A numpy array or a torch tensor (any device). Defined apart from the modules that compute
with torch so that the modules the app's server imports can name it without loading torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import torch

__all__ = ["ArrayLike"]

ArrayLike: TypeAlias = "np.ndarray | torch.Tensor"
