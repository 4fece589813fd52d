"""The projection worker: UMAP maps of new snapshots, computed in one long-lived
process (the scheduler's thread) so numba compiles once.

Each map starts from the previous epoch's map of the same run and space and is then
aligned to it (rotation, reflection, scale, translation), so a slider over epochs
shows motion rather than reshuffling. Exact neighbours come from torch.
"""

from __future__ import annotations

import time

import numpy as np

from analysis import projections
from trainers import store as st

MAX_UMAP_POINTS = 20_000  # above this the map is computed on a stated stratified sample


class ProjectionWorker:
    def __init__(self, store: st.Store) -> None:
        self.store = store
        self.failed: set[tuple[str, int, str]] = set()

    def warm_up(self) -> float:
        """Compile numba's UMAP kernels on a tiny problem; return the seconds it took."""
        t = time.monotonic()
        rng = np.random.default_rng(0)
        projections.umap_2d(rng.standard_normal((200, 8)).astype(np.float32), n_epochs=20)
        return time.monotonic() - t

    def compute(self, run_id: str, epoch: int, space: str) -> np.ndarray:
        snap = self.store.load_snapshot(run_id, epoch)
        z = snap[space]
        prev = None
        earlier = [s.epoch for s in self.store.snapshots(run_id) if s.epoch < epoch]
        for e in reversed(earlier):
            prev = self.store.projection(run_id, e, space, "umap")
            if prev is not None:
                break
        init = None
        if prev is not None and len(prev) == len(z):
            init = (prev - prev.mean(0)) / (prev.std() + 1e-8) * 5.0
        y = projections.umap_2d(z, init=init, seed=0)
        if prev is not None and len(prev) == len(y):
            y = projections.procrustes_align(y, prev)
        return y.astype(np.float32)

    def step(self) -> bool:
        """Compute one pending map; return False when there is nothing to do."""
        for key in self.store.pending_projections("umap"):
            if key in self.failed:
                continue
            run_id, epoch, space = key
            t = time.monotonic()
            try:
                y = self.compute(run_id, epoch, space)
            except (KeyError, FileNotFoundError):
                self.failed.add(key)  # deleted meanwhile
                continue
            except Exception as e:
                self.failed.add(key)
                print(f"umap failed for {key}: {type(e).__name__}: {e}", flush=True)
                continue
            try:
                self.store.add_projection(run_id, epoch, space, "umap", y, time.monotonic() - t)
            except FileNotFoundError:
                self.failed.add(key)
            return True
        return False
