"""The projection worker: UMAP maps of new snapshots, computed in one long-lived
process (the scheduler's thread) so numba compiles once.

Each map starts from the previous epoch's map of the same run and space and is then
aligned to it (rotation, reflection, scale, translation), so a slider over epochs
shows motion rather than reshuffling. Exact neighbours come from torch.

Speed (bench/bench_maps.py, docs/benchmarks.md): the first map of a run starts from the
snapshot's PCA coordinates (already in the snapshot; no spectral eigen-solve, and the
UMAP map grows out of the PCA map the page showed meanwhile: Kobak & Linderman 2021,
"Initialization is critical for preserving global data structure in both t-SNE and
UMAP"); later maps start from the previous epoch's map and need fewer optimisation
epochs (:func:`umap_epochs`). The numba kernels umap-learn uses are cached on disk
(:func:`_cache_umap_kernels`), so a fresh scheduler warms up in about a second instead
of compiling for 10-20 s.
"""

from __future__ import annotations

import time

import numpy as np

from analysis import projections
from jobs import store as st

MAX_UMAP_POINTS = 20_000  # above this the map is computed on a stated stratified sample
# optimisation epochs: a budget of point-epochs (cost is ~linear in N x epochs), clipped
COLD_EPOCHS = (500_000, 100, 200)  # (budget, min, max) for a map with no earlier map to start from
WARM_EPOCHS = (250_000, 50, 100)  # ... started from the previous epoch's map of the same run


def umap_epochs(n: int, *, warm_start: bool) -> int:
    """UMAP optimisation epochs for ``n`` points: ``clip(budget / n, lo, hi)``.

    Cold (no earlier map): 200 up to 2,500 points, 100 from 5,000 on. Warm (started from
    the previous epoch's map, which is already near an optimum): half that, 100 down to
    50. Measured on digits and Gaussian mixtures (bench/bench_maps.py): the 2-D kNN label
    accuracy is unchanged and the neighbour preservation drops by ~0.01-0.04 against 200
    epochs from a spectral start, while the maps of successive epochs move less.
    """
    budget, lo, hi = WARM_EPOCHS if warm_start else COLD_EPOCHS
    return int(min(hi, max(lo, budget // max(n, 1))))


def map_rows(labels: np.ndarray | None, n: int, limit: int | None = None) -> np.ndarray:
    """Rows of a snapshot that its UMAP map covers: all ``n`` up to ``limit`` (default
    :data:`MAX_UMAP_POINTS`), else a stratified sample (by label, or by quantile bins of a
    continuous target) drawn with seed 0, so every epoch of a run maps the same rows."""
    limit = MAX_UMAP_POINTS if limit is None else limit
    if n <= limit:
        return np.arange(n)
    if labels is None or len(labels) != n:
        return np.sort(np.random.default_rng(0).choice(n, limit, replace=False))
    return projections.stratified_sample(labels, limit, seed=0)


def _cache_umap_kernels() -> None:
    """Turn on numba's on-disk cache for umap-learn's jitted kernels (it ships them without
    ``cache=True``), so only the first scheduler ever on a machine pays the compilation."""
    try:
        import umap.layouts
        import umap.umap_
        import umap.utils
        from numba.core.registry import CPUDispatcher
    except ImportError:
        return
    for mod in (umap.umap_, umap.layouts, umap.utils):
        for obj in vars(mod).values():
            if isinstance(obj, CPUDispatcher):
                try:
                    obj.enable_caching()
                except Exception:  # an uncachable kernel just compiles as before
                    pass


class ProjectionWorker:
    def __init__(self, store: st.Store) -> None:
        self.store = store
        self.failed: set[tuple[str, int, str]] = set()

    def warm_up(self) -> float:
        """Compile numba's UMAP kernels on a tiny problem; return the seconds it took."""
        t = time.monotonic()
        _cache_umap_kernels()
        rng = np.random.default_rng(0)
        z = rng.standard_normal((200, 8)).astype(np.float32)
        projections.umap_2d(z, init=z[:, :2], n_epochs=20)  # the kernels compute() uses
        return time.monotonic() - t

    def compute(self, run_id: str, epoch: int, space: str) -> np.ndarray:
        """The UMAP map of one snapshot, shape (n, 2), aligned to the previous epoch's map.

        Above :data:`MAX_UMAP_POINTS` points the map is computed on a stratified sample of
        that many points (:func:`map_rows`: the same rows at every epoch of a run, so maps
        still start from and align to each other); the other rows are NaN, and pages say
        that the map is of a sample.
        """
        snap = self.store.load_snapshot(run_id, epoch)
        z = snap[space]
        n = len(z)
        rows = map_rows(snap.get("y"), n)
        prev = None
        earlier = [s.epoch for s in self.store.snapshots(run_id) if s.epoch < epoch]
        for e in reversed(earlier):
            prev = self.store.projection(run_id, e, space, "umap")
            if prev is not None:
                break
        if prev is not None and (len(prev) != n or not np.all(np.isfinite(prev[rows]))):
            prev = None  # another size or sample: start afresh
        warm = prev is not None
        start = prev if warm else snap.get(f"pca_{space}")  # PCA: already in the snapshot
        init = None
        if start is not None and start.shape == (n, 2):
            s0 = start[rows]
            if np.all(np.isfinite(s0)) and np.all(s0.std(0) > 1e-8):
                init = (s0 - s0.mean(0)) / (s0.std() + 1e-8) * 5.0
        y = projections.umap_2d(z[rows], init=init, seed=0, n_epochs=umap_epochs(len(rows), warm_start=warm))
        if prev is not None:
            y = projections.procrustes_align(y, prev[rows])
        if len(rows) == n:
            return y.astype(np.float32)
        out = np.full((n, 2), np.nan, dtype=np.float32)
        out[rows] = y
        return out

    def next_job(self) -> tuple[str, int, str] | None:
        """The next pending map (run id, epoch, space) not yet tried and failed, or None."""
        for key in self.store.pending_projections("umap"):
            if key not in self.failed:
                return key
        return None

    def run(self, key: tuple[str, int, str]) -> bool:
        """Compute and store one map; return whether it was stored. A map that cannot be made
        (deleted or damaged snapshot) is not tried again by this worker; one that cannot be
        stored for lack of space is tried again later."""
        run_id, epoch, space = key
        t = time.monotonic()
        try:
            y = self.compute(run_id, epoch, space)
        except (KeyError, FileNotFoundError, st.StoreDamaged):
            self.failed.add(key)  # deleted meanwhile, or damaged (doctor reports it)
            return False
        except Exception as e:
            self.failed.add(key)
            _say(f"umap failed for {key}: {type(e).__name__}: {e}")
            return False
        try:
            self.store.add_projection(run_id, epoch, space, "umap", y, time.monotonic() - t)
        except (FileNotFoundError, ValueError):
            self.failed.add(key)
            return False
        return True

    def step(self) -> bool:
        """Compute one pending map; return False when there is nothing to do."""
        while (key := self.next_job()) is not None:
            if self.run(key):
                return True
            if key not in self.failed:  # could not store it now (full disk): later
                return False
        return False


def _say(msg: str) -> None:
    try:
        print(msg, flush=True)
    except OSError:
        pass
