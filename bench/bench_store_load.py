"""Store load benchmark: how far one writer of the lab store goes when many runs stream into it.

Simulated workers (no training) produce what ``trainers/train.py`` writes, at its cadence:
a progress update (``update_run``) every half second, a loss row (``append_history``) at most
once a second inside an epoch and one at each epoch's end, at the configured snapshot epochs
(``pow2``: 0, 1, 2, 4, ..., and the last) a snapshot (``add_snapshot``: ``rep`` N x R, ``emb``
N x D, labels, PCA maps, spectra, kNN hits; 1.45 MB at the defaults, as a digits run writes)
followed by its metrics dict (``update_run``), a checkpoint (``write_checkpoint``, 2 MB) at
each snapshot and whenever 30 s have passed, and at a run's end its final update, after which
the slot starts a new run (``create_run``). Each simulated run starts at a random point of its
life, so the level streams at its steady rate from the first second.

Designs, each on a fresh store:

- ``one writer``: every simulated run's writes go into one queue that one thread drains, as
  the scheduler of the Ray backend does (the store's single writer). The generator replays the
  schedule in real time in the same process; when the writer falls behind, the queue grows.
- ``one writer, batched``: the same, but the writer takes everything waiting (up to 512 items)
  and commits the small writes and the snapshot rows of that batch in one transaction (files
  are still written and fsynced one by one): what an ``append_history_many`` would give. The
  store is subclassed here; ``jobs/store.py`` is unchanged.
- ``many writers``: the current local design: one process per run (``--writers`` to change)
  writing its own run's stream straight into the store; SQLite's lock serialises them.

Per level: each write kind's service time (median, p95, p99: from taking the write off the
queue to its return), its staleness (from when the simulated worker produced it to when it
is in the store: queueing included), throughput (writes, history rows, snapshots and MB per
second), the writer's busy fraction, the queue's backlog over time and its growth rate over
the level's second half (> 0: it does not keep up), and the store's growth (MB per run-minute;
database vs snapshot files vs checkpoints). Every level ends by draining the queue (at most
``--drain`` seconds) and reading the store back: rows and files are counted against what the
writer wrote, and snapshots are loaded and checked against their checksums. The 10-run level
runs ``--repeats`` times for each design, interleaved (medians reported); the larger levels
run once (their figures are over tens of thousands of writes). A breakdown of one write of each
kind (serialise, checksum, write + fsync, rename, SQLite) on an idle store says where the time
goes. Ratios are against the one-writer 10-run level.

    nice -n 10 .venv/bin/python bench/bench_store_load.py                  # 10, 100, 1000 runs, 10 s each
    nice -n 10 .venv/bin/python bench/bench_store_load.py --levels 10,100,1000,3000 --seconds 20
    nice -n 10 .venv/bin/python bench/bench_store_load.py --quick --json out.json   # a smoke run, ~20 s

Prints figures; never passes or fails on time.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing as mp
import os
import queue
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from jobs import store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402

KINDS = ("append_history", "update_run", "add_snapshot", "write_checkpoint", "create_run")
EVENT_KIND = {"history": "append_history", "progress": "update_run", "metrics": "update_run", "finish": "update_run",
              "snapshot": "add_snapshot", "checkpoint": "write_checkpoint", "start": "create_run"}
POLL_SECONDS = 0.5  # trainers/train.py: progress at most twice a second
HISTORY_SECONDS = 1.0  # trainers/train.py: at most one intermediate loss row a second
CHECKPOINT_SECONDS = 30.0  # RunConfig.checkpoint_seconds
POOL = 3  # distinct snapshot arrays / checkpoint blobs in rotation (queued items share them)
BATCH_MAX = 512  # the batched writer takes at most this many waiting items at once
METRIC_KEYS = ("n_eval", "alignment", "uniformity", "uniformity_clean", "rankme", "rankme_emb", "erank_cov_rep",
               "erank_cov_emb", "alpha_req", "n_knn_eval", "knn_accuracy", "linear_accuracy", "knn_accuracy_emb")


@dataclass(frozen=True)
class Load:
    """What one simulated run looks like."""

    epochs: int = 50  # epochs of a run; then its slot starts a new run
    epoch_seconds: float = 1.0  # wall time of one epoch
    steps_per_epoch: int = 11  # digits, batch 128
    samples: int = 1797  # rows of a snapshot (train + held-out)
    rep_dim: int = 128  # representation width
    emb_dim: int = 64  # embedding width
    checkpoint_mb: float = 2.0  # a checkpoint's size (the default MLP with its Adam state: 2.04 MB)


# -- the workload ---------------------------------------------------------------------------
def snapshot_arrays(load: Load, seed: int) -> dict[str, np.ndarray]:
    """Arrays shaped as ``trainers.evaluate.snapshot`` returns for a classification run."""
    rng = np.random.default_rng(seed)
    n = load.samples
    n_test = n // 5
    return {
        "rep": rng.standard_normal((n, load.rep_dim)).astype(np.float32),
        "emb": rng.standard_normal((n, load.emb_dim)).astype(np.float32),
        "index": np.arange(n, dtype=np.int64),
        "y": rng.integers(0, 10, n).astype(np.int64),
        "is_test": np.r_[np.zeros(n - n_test, bool), np.ones(n_test, bool)],
        "pca_emb": rng.standard_normal((n, 2)).astype(np.float32),
        "pca_rep": rng.standard_normal((n, 2)).astype(np.float32),
        "spectrum_emb": np.sort(rng.random(load.emb_dim))[::-1].astype(np.float64),
        "spectrum_rep": np.sort(rng.random(load.rep_dim))[::-1].astype(np.float64),
        "knn_hit": np.r_[np.full(n - n_test, np.nan, np.float32), (rng.random(n_test) < 0.9).astype(np.float32)],
    }


def metrics_dict(epoch: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed * 1000 + epoch)
    return {**{k: rng.random() for k in METRIC_KEYS}, "epoch": epoch}


class Payloads:
    """The arrays and blobs queued writes refer to (shared, so a long queue costs no memory)."""

    def __init__(self, load: Load) -> None:
        self.arrays = [snapshot_arrays(load, seed) for seed in range(POOL)]
        self.snapshot_bytes = len(st.npz_bytes(self.arrays[0]))
        rng = np.random.default_rng(7)
        self.checkpoints = [rng.bytes(int(load.checkpoint_mb * 1e6)) for _ in range(POOL)]
        self.checkpoint_bytes = len(self.checkpoints[0])

    def size(self, kind: str) -> int:
        return {"add_snapshot": self.snapshot_bytes, "write_checkpoint": self.checkpoint_bytes}.get(kind, 0)


def run_events(slot: int, load: Load, t_start: float, duration: float) -> list[tuple]:
    """The writes of the runs of one slot, as (time, order, event, slot, a, b, c), for times in
    [0, duration). The first run started at ``t_start`` (<= 0: it was already running)."""
    e_s, spe = load.epoch_seconds, load.steps_per_epoch
    snaps = set(RunConfig(epochs=load.epochs).snapshot_epochs())
    out: list[tuple] = []
    order = 0

    def emit(t: float, ev: str, a: Any = 0, b: Any = 0, c: Any = 0) -> None:
        nonlocal order
        if 0.0 <= t < duration:
            out.append((t, slot * 10_000_000 + order, ev, slot, a, b, c))
        order += 1

    first = True
    rng = random.Random(slot)
    t_run = t_start
    while t_run < duration:
        if not first:
            emit(t_run, "start")
        first = False
        emit(t_run, "snapshot", 0, 0, rng.randrange(POOL))
        emit(t_run, "metrics", 0)
        emit(t_run, "checkpoint", rng.randrange(POOL))
        last_ckpt, last_hist_step, next_hist = t_run, -1, t_run + HISTORY_SECONDS
        poll = t_run + POLL_SECONDS
        for epoch in range(1, load.epochs + 1):
            t0, t_end = t_run + (epoch - 1) * e_s, t_run + epoch * e_s
            if t0 >= duration:
                return out
            while poll < t_end - 1e-9:  # polls inside the epoch
                step = (epoch - 1) * spe + int((poll - t0) / e_s * spe)
                emit(poll, "progress", epoch - 1, step, poll - t_run)
                if poll >= next_hist and step > last_hist_step:
                    emit(poll, "history", step, epoch - 1 + (poll - t0) / e_s, poll - t_run)
                    last_hist_step, next_hist = step, poll + HISTORY_SECONDS
                poll += POLL_SECONDS
            step = epoch * spe
            emit(t_end, "history", step, float(epoch), t_end - t_run)
            last_hist_step = step
            if epoch in snaps:
                emit(t_end, "snapshot", epoch, step, rng.randrange(POOL))
                emit(t_end, "metrics", epoch)
            if epoch in snaps or t_end - last_ckpt >= CHECKPOINT_SECONDS:
                emit(t_end, "checkpoint", rng.randrange(POOL))
                last_ckpt = t_end
            emit(t_end, "progress", epoch, step, t_end - t_run)
            poll = t_end + POLL_SECONDS
        t_run += load.epochs * e_s
        emit(t_run, "finish", load.epochs, load.epochs * spe, t_run - t_start)
    return out


def schedule(runs: int, load: Load, duration: float, seed: int) -> tuple[list[tuple], list[float]]:
    """Every write of ``runs`` simulated runs over ``duration`` seconds, in time order, and each
    slot's first run's start (a random point of its life before 0)."""
    rng = random.Random(seed)
    life = load.epochs * load.epoch_seconds
    starts = [-rng.uniform(0.0, life) for _ in range(runs)]
    events = [ev for slot, t in enumerate(starts) for ev in run_events(slot, load, t, duration)]
    events.sort()
    return events, starts


# -- writing one event ------------------------------------------------------------------------
class Writer:
    """Applies events to a store; ``ids[slot]`` is the slot's current run."""

    def __init__(self, store: st.Store, ids: dict[int, str], payloads: Payloads, cfg: RunConfig,
                 snapshot_call: str = "add_snapshot") -> None:
        self.store, self.ids, self.p, self.cfg = store, ids, payloads, cfg
        self.snapshot_call = snapshot_call
        self.history_rows = 0

    def apply(self, ev: tuple) -> None:
        _, _, kind, slot, a, b, c = ev
        s = self.store
        if kind == "history":
            s.append_history(self.ids[slot], [{"step": a, "epoch": b, "seconds": c, "loss": 1.0 / (1 + b)}])
            self.history_rows += 1
        elif kind == "progress":
            s.update_run(self.ids[slot], epoch=a, step=b, seconds=c, heartbeat=time.time())
        elif kind == "metrics":
            s.update_run(self.ids[slot], metrics=metrics_dict(a, slot))
        elif kind == "snapshot":
            getattr(s, self.snapshot_call)(self.ids[slot], a, b, self.p.arrays[c], metrics_dict(a, slot))
        elif kind == "checkpoint":
            s.write_checkpoint(self.ids[slot], self.p.checkpoints[a])
        elif kind == "finish":
            s.update_run(self.ids[slot], status=st.FINISHED, epoch=a, step=b, seconds=c, finished=time.time())
        elif kind == "start":
            self.ids[slot] = s.create_run(self.cfg.replace(seed=slot), status=st.RUNNING)
            s.update_run(self.ids[slot], started=time.time(), backend="ray", node=f"node-{slot % 64}")
        else:
            raise ValueError(f"unknown event {kind!r}")


class BatchingStore(st.Store):
    """The store plus one write method: many history rows, run updates and snapshot rows in one
    transaction (``commit_many``); what a scheduler draining a queue would call."""

    def commit_many(self, ops: list[tuple]) -> None:
        """ops: ("history", run_id, rows) / ("update", run_id, fields) / ("snapshot_row", run_id,
        epoch, step, file, metrics, sha256), applied in order in one transaction."""
        if not ops:
            return
        with self._tx() as c:
            for op in ops:
                if op[0] == "history":
                    c.executemany("INSERT OR REPLACE INTO history VALUES (?,?,?,?,?,?)",
                                  [(op[1], int(r["step"]), float(r["epoch"]), float(r["seconds"]), r.get("loss"), "{}")
                                   for r in op[2]])
                elif op[0] == "update":
                    fields = dict(op[2])
                    if "metrics" in fields and not isinstance(fields["metrics"], str):
                        fields["metrics"] = json.dumps(fields["metrics"])
                    c.execute(f"UPDATE runs SET {', '.join(f'{k} = ?' for k in fields)} WHERE id = ?",
                              (*fields.values(), op[1]))
                else:
                    _, run_id, epoch, step, fname, metrics, sha = op
                    c.execute("INSERT OR REPLACE INTO snapshots (run_id, epoch, step, created, file, metrics, sha256) "
                              "VALUES (?,?,?,?,?,?,?)", (run_id, epoch, step, time.time(), fname, json.dumps(metrics), sha))


class BatchWriter(Writer):
    """Applies a batch of events: files first (each fsynced), then every row in one transaction."""

    def apply_batch(self, evs: list[tuple]) -> None:
        s = self.store
        assert isinstance(s, BatchingStore)
        ops: list[tuple] = []
        for ev in evs:
            _, _, kind, slot, a, b, c = ev
            if kind == "start":  # a new run: its folder and row first (rare)
                s.commit_many(ops)
                ops = []
                self.apply(ev)
            elif kind == "history":
                ops.append(("history", self.ids[slot], [{"step": a, "epoch": b, "seconds": c, "loss": 1.0 / (1 + b)}]))
                self.history_rows += 1
            elif kind == "progress":
                ops.append(("update", self.ids[slot], {"epoch": a, "step": b, "seconds": c, "heartbeat": time.time()}))
            elif kind == "metrics":
                ops.append(("update", self.ids[slot], {"metrics": metrics_dict(a, slot)}))
            elif kind == "finish":
                ops.append(("update", self.ids[slot], {"status": st.FINISHED, "epoch": a, "step": b, "seconds": c,
                                                       "finished": time.time()}))
            elif kind == "snapshot":
                fname = f"snapshots/epoch_{a:05d}.npz"
                sha = st.atomic_save_npz(s.run_dir(self.ids[slot]) / fname, self.p.arrays[c])
                ops.append(("snapshot_row", self.ids[slot], a, b, fname, metrics_dict(a, slot), sha))
            else:
                self.apply(ev)  # a checkpoint: a file only
        s.commit_many(ops)


# -- one level, one writer --------------------------------------------------------------------
def setup_store(root: Path, runs: int, load: Load, starts: list[float]) -> tuple[dict[int, str], RunConfig]:
    cfg = RunConfig(epochs=load.epochs)
    store = st.Store(root)
    ids = {}
    for slot in range(runs):
        rid = store.create_run(cfg.replace(seed=slot), status=st.RUNNING)
        epoch = int(-starts[slot] // load.epoch_seconds)
        store.update_run(rid, started=time.time() + starts[slot], epoch=epoch, step=epoch * load.steps_per_epoch,
                         backend="ray", node=f"node-{slot % 64}")
        ids[slot] = rid
    store.close()
    return ids, cfg


def store_sizes(root: Path) -> dict[str, int]:
    db = sum(p.stat().st_size for p in root.glob("lab.sqlite*") if p.is_file())
    snaps = sum(p.stat().st_size for p in root.glob("runs/*/snapshots/*.npz"))
    ckpts = sum(p.stat().st_size for p in root.glob("runs/*/checkpoint.pt"))
    other = sum(p.stat().st_size for p in root.glob("runs/*/*") if p.is_file() and p.name != "checkpoint.pt")
    return {"db": db, "snapshots": snaps, "checkpoints": ckpts, "other": other}


def pct(xs: list[float]) -> dict[str, float | int]:
    if not xs:
        return {"n": 0}
    a = np.asarray(xs) * 1e3
    return {"n": int(len(a)), "p50": float(np.percentile(a, 50)), "p95": float(np.percentile(a, 95)),
            "p99": float(np.percentile(a, 99)), "mean": float(a.mean()), "max": float(a.max())}


def one_writer(root: Path, runs: int, load: Load, seconds: float, drain: float, seed: int, payloads: Payloads, *,
               batched: bool = False, snapshot_call: str = "add_snapshot") -> dict[str, Any]:
    """A level with one writer thread draining a queue fed in real time by a generator thread."""
    events, starts = schedule(runs, load, seconds, seed)
    ids, cfg = setup_store(root, runs, load, starts)
    size0 = store_sizes(root)
    store = (BatchingStore if batched else st.Store)(root)
    writer = (BatchWriter if batched else Writer)(store, ids, payloads, cfg, snapshot_call)
    q: queue.Queue = queue.Queue()
    gen = {k: 0 for k in KINDS}
    done = {k: 0 for k in KINDS}
    service: dict[str, list[float]] = {k: [] for k in KINDS}
    stale: dict[str, list[float]] = {k: [] for k in KINDS}
    busy = [0.0]
    batches: list[tuple[int, float]] = []  # (items, seconds) of each batch of the batched writer
    stop = threading.Event()
    errors: list[BaseException] = []
    t0 = time.perf_counter() + 0.2

    def generate() -> None:
        for ev in events:
            due = t0 + ev[0]
            wait = due - time.perf_counter()
            if wait > 0.001:
                time.sleep(wait)
            gen[EVENT_KIND[ev[2]]] += 1
            q.put((ev, due))

    def drain_queue() -> None:
        try:
            while not stop.is_set():
                item = q.get()
                if item is None:
                    return
                batch = [item]
                if batched:
                    while len(batch) < BATCH_MAX:
                        try:
                            nxt = q.get_nowait()
                        except queue.Empty:
                            break
                        if nxt is None:
                            q.put(None)
                            break
                        batch.append(nxt)
                ts = time.perf_counter()
                if batched:
                    writer.apply_batch([ev for ev, _ in batch])  # type: ignore[attr-defined]
                else:
                    writer.apply(item[0])
                te = time.perf_counter()
                busy[0] += te - ts
                if batched:
                    batches.append((len(batch), te - ts))
                for ev, due in batch:
                    k = EVENT_KIND[ev[2]]
                    service[k].append(te - ts)
                    stale[k].append(te - due)
                    done[k] += 1
        except BaseException as e:  # reported by the caller: a writer that dies must not look like a slow one
            errors.append(e)
        finally:
            store.close()  # its connection is this thread's: the last close folds the WAL into the database

    def backlog() -> tuple[int, float]:
        items = sum(gen.values()) - sum(done.values())
        mb = sum((gen[k] - done[k]) * payloads.size(k) for k in KINDS) / 1e6
        return items, mb

    th_w = threading.Thread(target=drain_queue, daemon=True)
    th_g = threading.Thread(target=generate, daemon=True)
    th_w.start()
    th_g.start()
    samples = []  # (seconds since start, items waiting, MB waiting)
    while th_g.is_alive():
        time.sleep(0.25)
        samples.append((time.perf_counter() - t0, *backlog()))
    t_gen_end = time.perf_counter()
    done_in_window = dict(done)
    busy_in_window = busy[0]
    q.put(None)
    th_w.join(timeout=drain)
    stop.set()
    q.put(None)
    th_w.join(timeout=60)
    drain_s = time.perf_counter() - t_gen_end
    store.close()  # this thread's connection (the store's schema check opened it)
    if errors:
        raise RuntimeError(f"the writer failed: {errors[0]!r}") from errors[0]
    left = sum(gen.values()) - sum(done.values())
    window = t_gen_end - t0
    out = summarise(root, runs, seconds, window, gen, done_in_window, done, service, stale, payloads, size0,
                    writer.history_rows, ids)
    out.update(design="one writer, batched" if batched else "one writer", busy=busy_in_window / window,
               drain_s=drain_s, left_in_queue=left, backlog=backlog_figures(samples, seconds))
    if batched and batches:
        sizes = [b for b, _ in batches]
        out["batches"] = {"n": len(batches), "items_p50": float(np.median(sizes)), "items_max": max(sizes),
                          "ms": pct([t for _, t in batches])}
    return out


def backlog_figures(samples: list[tuple[float, int, float]], seconds: float) -> dict[str, Any]:
    """Backlog at the end and at its peak, and its growth (items/s, MB/s) over the second half."""
    if not samples:
        return {"end": 0, "peak": 0, "end_mb": 0.0, "growth_items_s": 0.0, "growth_mb_s": 0.0, "samples": []}
    half = [s for s in samples if s[0] >= seconds / 2] or samples
    t = np.array([s[0] for s in half])
    growth = mb_growth = 0.0
    if len(half) >= 3 and np.ptp(t) > 0:
        growth = float(np.polyfit(t, [s[1] for s in half], 1)[0])
        mb_growth = float(np.polyfit(t, [s[2] for s in half], 1)[0])
    return {"end": samples[-1][1], "peak": max(s[1] for s in samples), "end_mb": samples[-1][2],
            "growth_items_s": growth, "growth_mb_s": mb_growth,
            "samples": [(round(a, 2), b, round(c, 1)) for a, b, c in samples]}


def summarise(root: Path, runs: int, seconds: float, window: float, gen: dict[str, int], done_window: dict[str, int],
              done: dict[str, int], service: dict[str, list[float]], stale: dict[str, list[float]], payloads: Payloads,
              size0: dict[str, int], history_rows: int, ids: dict[int, str]) -> dict[str, Any]:
    size1 = store_sizes(root)
    mb_written = sum(done_window[k] * payloads.size(k) for k in KINDS) / 1e6
    run_minutes = runs * seconds / 60
    growth = {k: (size1[k] - size0[k]) / 1e6 for k in size1}
    return {
        "runs": runs, "seconds": seconds, "window_s": window,
        "generated": dict(gen), "written": dict(done),
        "offered_writes_s": sum(gen.values()) / window, "writes_s": sum(done_window.values()) / window,
        "rows_s": done_window["append_history"] / window, "snapshots_s": done_window["add_snapshot"] / window,
        "checkpoints_s": done_window["write_checkpoint"] / window, "mb_s": mb_written / window,
        "offered_mb_s": sum(gen[k] * payloads.size(k) for k in KINDS) / 1e6 / window,
        "service_ms": {k: pct(v) for k, v in service.items()}, "stale_ms": {k: pct(v) for k, v in stale.items()},
        "store_mb": {k: v / 1e6 for k, v in size1.items()}, "growth_mb": growth,
        "mb_per_run_minute": (growth["db"] + growth["snapshots"] + growth["other"]) / run_minutes,
        "checkpoint_mb_per_run_minute": done_window["write_checkpoint"] * payloads.checkpoint_bytes / 1e6 / run_minutes,
        "db_mb_per_run_minute": growth["db"] / run_minutes,
        "verify": verify(root, done, history_rows, ids),
    }


def verify(root: Path, done: dict[str, int], history_rows: int, ids: dict[int, str]) -> dict[str, Any]:
    """Read the store back: rows and files against what the writers wrote, snapshots against checksums."""
    s = st.Store(root)
    with s._conn() as c:
        n_hist = c.execute("SELECT COUNT(*) FROM history").fetchone()[0]
        snaps = c.execute("SELECT run_id, epoch FROM snapshots").fetchall()
        n_runs = c.execute("SELECT COUNT(*) FROM runs").fetchone()[0]
        integrity = c.execute("PRAGMA quick_check").fetchone()[0]
    files = list(root.glob("runs/*/snapshots/epoch_*.npz"))
    rng = random.Random(0)
    bad = 0
    for run_id, epoch in rng.sample(list(snaps), min(10, len(snaps))):
        try:
            arrays = s.load_snapshot(run_id, epoch)
            bad += int(arrays["rep"].ndim != 2)
        except st.StoreError:
            bad += 1
    tmp = list(root.glob("runs/*/.*.tmp")) + list(root.glob("runs/*/*/.*.tmp"))
    s.close()
    return {"history_rows": n_hist, "history_rows_written": history_rows, "snapshot_rows": len(snaps),
            "snapshot_files": len(files), "snapshots_written": done["add_snapshot"], "runs": n_runs,
            "runs_created": len(ids) + done["create_run"], "snapshots_checked": min(10, len(snaps)), "snapshots_bad": bad,
            "leftover_tmp": len(tmp), "integrity": integrity,
            "ok": (n_hist == history_rows and len(snaps) == len(files) == done["add_snapshot"] and bad == 0
                   and n_runs == len(ids) + done["create_run"] and not tmp and integrity == "ok")}


# -- one level, many writer processes (the local design) --------------------------------------
def writer_process(root: str, ids: dict[int, str], events: list[tuple], load: Load, ready: Any, go: Any,
                   start_at: Any, out: str) -> None:
    """One worker process: replays its runs' writes in real time, straight into the store, from
    the wall-clock time ``start_at`` the parent sets once every process is ready."""
    payloads = Payloads(load)
    store = st.Store(root)
    writer = Writer(store, dict(ids), payloads, RunConfig(epochs=load.epochs))
    service: dict[str, list[float]] = {k: [] for k in KINDS}
    stale: dict[str, list[float]] = {k: [] for k in KINDS}
    if ids:
        store.get_run(next(iter(ids.values())))  # the connection is open before the clock starts
    ready.wait()
    go.wait()
    while time.time() < start_at.value:
        time.sleep(min(0.01, max(0.0, start_at.value - time.time())))
    t0 = time.perf_counter() - (time.time() - start_at.value)
    for ev in events:
        due = t0 + ev[0]
        wait = due - time.perf_counter()
        if wait > 0.001:
            time.sleep(wait)
        ts = time.perf_counter()
        writer.apply(ev)
        te = time.perf_counter()
        service[EVENT_KIND[ev[2]]].append(te - ts)
        stale[EVENT_KIND[ev[2]]].append(te - due)
    store.close()
    Path(out).write_text(json.dumps({"service": service, "stale": stale, "history_rows": writer.history_rows,
                                     "end": time.perf_counter() - t0}))


def many_writers(root: Path, runs: int, writers: int, load: Load, seconds: float, seed: int,
                 payloads: Payloads) -> dict[str, Any]:
    events, starts = schedule(runs, load, seconds, seed)
    ids, _ = setup_store(root, runs, load, starts)
    size0 = store_sizes(root)
    ctx = mp.get_context("spawn")
    out_dir = Path(tempfile.mkdtemp(prefix="writers-", dir=root.parent))
    ready, go, start_at = ctx.Barrier(writers + 1), ctx.Event(), ctx.Value("d", 0.0)
    procs = []
    for w in range(writers):
        mine = [ev for ev in events if ev[3] % writers == w]
        p = ctx.Process(target=writer_process, args=(str(root), {s: ids[s] for s in ids if s % writers == w}, mine, load,
                                                     ready, go, start_at, str(out_dir / f"{w}.json")))
        p.start()
        procs.append(p)
    ready.wait(timeout=120)  # every process has started, imported and opened the store
    start_at.value = time.time() + 0.2
    go.set()
    for p in procs:
        p.join(timeout=seconds + 120)
        if p.is_alive():
            p.terminate()
            p.join()
    window = seconds
    service: dict[str, list[float]] = {k: [] for k in KINDS}
    stale: dict[str, list[float]] = {k: [] for k in KINDS}
    rows = 0
    for w in range(writers):
        f = out_dir / f"{w}.json"
        if not f.exists():
            raise RuntimeError(f"writer process {w} failed (exit code {procs[w].exitcode})")
        r = json.loads(f.read_text())
        rows += r["history_rows"]
        window = max(window, r["end"])
        for k in KINDS:
            service[k] += r["service"][k]
            stale[k] += r["stale"][k]
    shutil.rmtree(out_dir, ignore_errors=True)
    gen = {k: 0 for k in KINDS}
    for ev in events:
        gen[EVENT_KIND[ev[2]]] += 1
    done = {k: len(service[k]) for k in KINDS}
    out = summarise(root, runs, seconds, window, gen, done, done, service, stale, payloads, size0, rows, ids)
    out.update(design=f"many writers ({writers} processes)", busy=sum(sum(v) for v in service.values()) / window,
               drain_s=window - seconds, left_in_queue=0, backlog=None)
    return out


# -- where the time of one write goes ---------------------------------------------------------
def breakdown(root: Path, load: Load, payloads: Payloads, reps: int) -> dict[str, Any]:
    """Median ms of each part of a snapshot, checkpoint and history write on an idle store, and
    history rows per second one at a time vs 100 in one transaction."""
    store = BatchingStore(root)
    rid = store.create_run(RunConfig(epochs=load.epochs), status=st.RUNNING)
    d = store.run_dir(rid) / "snapshots"
    d.mkdir(exist_ok=True)
    arrays = payloads.arrays[0]
    parts: dict[str, list[float]] = {k: [] for k in ("npz", "npz_compressed", "sha256", "write_fsync", "write_nofsync",
                                                    "rename", "sqlite_row", "add_snapshot", "add_snapshot_streamed",
                                                    "write_checkpoint", "append_history", "update_run")}
    compressed = 0
    for i in range(reps):
        t = time.perf_counter()
        data = st.npz_bytes(arrays)
        parts["npz"].append(time.perf_counter() - t)
        t = time.perf_counter()
        buf = io.BytesIO()
        np.savez_compressed(buf, **arrays)
        parts["npz_compressed"].append(time.perf_counter() - t)
        compressed = len(buf.getvalue())
        t = time.perf_counter()
        hashlib.sha256(data).hexdigest()
        parts["sha256"].append(time.perf_counter() - t)
        tmp, final = d / f".x{i}.tmp", d / f"x{i}.npz"
        t = time.perf_counter()
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        parts["write_fsync"].append(time.perf_counter() - t)
        t = time.perf_counter()
        os.replace(tmp, final)
        parts["rename"].append(time.perf_counter() - t)
        t = time.perf_counter()
        with open(d / f"y{i}.npz", "wb") as f:
            f.write(data)
        parts["write_nofsync"].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.commit_many([("snapshot_row", rid, 10_000 + i, i, f"snapshots/x{i}.npz", {"a": 1.0}, "")])
        parts["sqlite_row"].append(time.perf_counter() - t)
        for name, call, epoch in (("add_snapshot", store.add_snapshot, i), ("add_snapshot_streamed",
                                                                            store.add_snapshot_streamed, 1000 + i)):
            t = time.perf_counter()
            call(rid, epoch, i, arrays, metrics_dict(i, 0))
            parts[name].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.write_checkpoint(rid, payloads.checkpoints[i % POOL])
        parts["write_checkpoint"].append(time.perf_counter() - t)
    for i in range(reps * 20):
        t = time.perf_counter()
        store.append_history(rid, [{"step": i, "epoch": i / 10, "seconds": i / 10, "loss": 1.0}])
        parts["append_history"].append(time.perf_counter() - t)
        t = time.perf_counter()
        store.update_run(rid, epoch=i, step=i, seconds=float(i), heartbeat=time.time())
        parts["update_run"].append(time.perf_counter() - t)
    # rows per second: one row per transaction vs 100 rows (of 100 runs) in one transaction
    rids = [store.create_run(RunConfig(epochs=load.epochs), status=st.RUNNING) for _ in range(100)]
    one_s, many_s = [], []
    step = 10**6
    for _ in range(3):
        t = time.perf_counter()
        for r in rids:
            step += 1
            store.append_history(r, [{"step": step, "epoch": 1.0, "seconds": 1.0, "loss": 1.0}])
        one_s.append(100 / (time.perf_counter() - t))
        t = time.perf_counter()
        step += 1
        store.commit_many([("history", r, [{"step": step, "epoch": 1.0, "seconds": 1.0, "loss": 1.0}]) for r in rids])
        many_s.append(100 / (time.perf_counter() - t))
    store.close()
    disk = {threads: disk_mb_s(d, threads, payloads.snapshot_bytes, files=8 if reps < 10 else 32) for threads in (1, 4)}
    med = {k: statistics.median(v) * 1e3 for k, v in parts.items()}
    return {"ms": med, "disk_mb_s": disk, "snapshot_mb": payloads.snapshot_bytes / 1e6, "snapshot_compressed_mb": compressed / 1e6,
            "checkpoint_mb": payloads.checkpoint_bytes / 1e6, "rows_s_one_per_tx": statistics.median(one_s),
            "rows_s_100_per_tx": statistics.median(many_s), "reps": reps}


def disk_mb_s(folder: Path, threads: int, size: int, files: int) -> float:
    """MB/s of ``files`` files of ``size`` bytes written and fsynced by ``threads`` threads at once
    (the GIL is released while a thread writes or fsyncs)."""
    data = np.random.default_rng(threads).bytes(size)

    def write(k: int) -> None:
        for i in range(k, files, threads):
            with open(folder / f"disk{threads}_{i}.bin", "wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())

    ths = [threading.Thread(target=write, args=(k,)) for k in range(threads)]
    t = time.perf_counter()
    for th in ths:
        th.start()
    for th in ths:
        th.join()
    return files * size / 1e6 / (time.perf_counter() - t)


# -- the report -----------------------------------------------------------------------------------
def median_level(results: list[dict[str, Any]]) -> dict[str, Any]:
    """The median over repeats of every figure the tables show (the first repeat's other fields)."""
    if len(results) == 1:
        return results[0]
    out = dict(results[0])
    for key in ("offered_writes_s", "writes_s", "rows_s", "snapshots_s", "checkpoints_s", "mb_s", "offered_mb_s", "busy",
                "mb_per_run_minute", "db_mb_per_run_minute", "checkpoint_mb_per_run_minute"):
        out[key] = statistics.median(r[key] for r in results)
    for fig in ("service_ms", "stale_ms"):
        out[fig] = {k: {q: statistics.median(r[fig][k][q] for r in results) if results[0][fig][k].get("n") else 0
                        for q in results[0][fig][k]} for k in KINDS}
    if results[0]["backlog"] is not None:
        out["backlog"] = dict(results[0]["backlog"])
        for key in ("end", "peak", "end_mb", "growth_items_s", "growth_mb_s"):
            out["backlog"][key] = statistics.median(r["backlog"][key] for r in results)
    out["repeats"] = len(results)
    out["verify"] = {"ok": all(r["verify"]["ok"] for r in results), "each": [r["verify"] for r in results]}
    return out


def fmt_lat(d: dict[str, Any]) -> str:
    return f"{d['p50']:.2f} / {d['p95']:.2f} / {d['p99']:.2f}" if d.get("n") else "-"


def report(levels: list[dict[str, Any]], bd: dict[str, Any], load: Load, args: argparse.Namespace) -> None:
    base = levels[0]
    print(f"\nload per run: epoch {load.epoch_seconds:g} s, {load.epochs} epochs (pow2 snapshots), snapshot "
          f"{bd['snapshot_mb']:.2f} MB ({load.samples} x ({load.rep_dim} + {load.emb_dim}) float32 + labels, maps), "
          f"checkpoint {bd['checkpoint_mb']:.2f} MB; {args.seconds:g} s per level; load average "
          f"{os.getloadavg()[0]:.1f} at the end")
    print("\n| runs | design | offered writes/s | written writes/s | history rows/s | snapshots/s | MB/s (offered) "
          f"| writer busy | backlog at end (peak) | backlog growth | x {base['runs']}-run writes/s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in levels:
        b = r["backlog"]
        bl = (f"{b['end']:,} items, {b['end_mb']:.0f} MB ({b['peak']:,})" if b else "- (each process waits for its own writes)")
        gr = f"{b['growth_items_s']:+.0f} items/s, {b['growth_mb_s']:+.1f} MB/s" if b else "-"
        rep = f" (median of {r['repeats']})" if r.get("repeats", 1) > 1 else ""
        print(f"| {r['runs']:,} | {r['design']}{rep} "
              f"| {r['offered_writes_s']:,.0f} | {r['writes_s']:,.0f} | {r['rows_s']:,.0f} | {r['snapshots_s']:.1f} "
              f"| {r['mb_s']:.1f} ({r['offered_mb_s']:.1f}) | {r['busy'] * 100:.0f}% | {bl} | {gr} "
              f"| {r['writes_s'] / base['writes_s']:.1f}x |")
    print("\nbacklog over time (seconds: items waiting)")
    for r in levels:
        if r["backlog"]:
            series = r["backlog"]["samples"][::4]
            print(f"  {r['runs']:,} runs, {r['design']}: " + ", ".join(f"{t:.0f} s: {n:,}" for t, n, _ in series))
    print("\nservice time per write, ms (p50 / p95 / p99), and staleness p99 (produced -> in the store), ms")
    print("\n| runs | design | append_history | update_run | add_snapshot | write_checkpoint | create_run "
          f"| staleness p99: history / snapshot | x {base['runs']}-run history p99 |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in levels:
        s, z = r["service_ms"], r["stale_ms"]
        zs = " / ".join(f"{z[k]['p99']:,.0f}" if z[k].get("n") else "-" for k in ("append_history", "add_snapshot"))
        if "batches" in r:  # every item of a batch waits for the batch's commit
            b = r["batches"]
            print(f"| {r['runs']:,} | {r['design']} | in {b['n']:,} batches of {b['items_p50']:.0f} items (median; "
                  f"at most {b['items_max']}): {fmt_lat(b['ms'])} ms per batch | | | | | {zs} | - |")
            continue
        ratio = s["append_history"]["p99"] / base["service_ms"]["append_history"]["p99"] if s["append_history"].get("n") else 0
        print(f"| {r['runs']:,} | {r['design']} | {fmt_lat(s['append_history'])} | {fmt_lat(s['update_run'])} "
              f"| {fmt_lat(s['add_snapshot'])} | {fmt_lat(s['write_checkpoint'])} | {fmt_lat(s['create_run'])} | {zs} "
              f"| {ratio:.1f}x |")
    print("\nstore growth")
    print("\n| runs | design | store growth, MB per run-minute | of which database | checkpoints written, MB per run-minute "
          "| store at end: database / snapshots / checkpoints MB | drained in | left in queue | read back |")
    print("|---|---|---|---|---|---|---|---|---|")
    for r in levels:
        m = r["store_mb"]
        print(f"| {r['runs']:,} | {r['design']} | {r['mb_per_run_minute']:.1f} | {r['db_mb_per_run_minute']:.3f} "
              f"| {r['checkpoint_mb_per_run_minute']:.1f} "
              f"| {m['db']:.1f} / {m['snapshots']:.0f} / {m['checkpoints']:.0f} | {r['drain_s']:.1f} s "
              f"| {r['left_in_queue']:,} | {'ok' if r['verify']['ok'] else 'MISMATCH'} |")
    ms = bd["ms"]
    print(f"\none write on an idle store, median of {bd['reps']} (ms)")
    print(f"\n| add_snapshot | npz (uncompressed) | sha256 | write + fsync | rename | SQLite row | write, no fsync "
          f"| add_snapshot_streamed | npz compressed ({bd['snapshot_compressed_mb']:.2f} MB) | write_checkpoint "
          "| append_history (1 row) | update_run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {ms['add_snapshot']:.2f} | {ms['npz']:.2f} | {ms['sha256']:.2f} | {ms['write_fsync']:.2f} "
          f"| {ms['rename']:.3f} | {ms['sqlite_row']:.3f} | {ms['write_nofsync']:.2f} | {ms['add_snapshot_streamed']:.2f} "
          f"| {ms['npz_compressed']:.1f} | {ms['write_checkpoint']:.2f} | {ms['append_history']:.3f} | {ms['update_run']:.3f} |")
    print(f"\nhistory rows/s into the store: one row per transaction {bd['rows_s_one_per_tx']:,.0f}; "
          f"100 rows in one transaction {bd['rows_s_100_per_tx']:,.0f} "
          f"({bd['rows_s_100_per_tx'] / bd['rows_s_one_per_tx']:.1f}x)")
    print(f"disk, files of {bd['snapshot_mb']:.2f} MB written and fsynced: 1 thread {bd['disk_mb_s'][1]:.0f} MB/s, "
          f"4 threads {bd['disk_mb_s'][4]:.0f} MB/s")
    # the writer's time per run-second at the baseline: how many runs one writer serves
    per_run = base["busy"] / base["runs"]
    if per_run > 0:
        print(f"writer time per run at the {base['runs']}-run level: {per_run * 1e3:.2f} ms per second of a run -> one writer "
              f"serves about {1 / per_run:,.0f} such runs at 100% busy (the CPU and disk shared with the rest)")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--levels", default="10,100,1000", help="concurrent runs per level; the first is the baseline")
    ap.add_argument("--seconds", type=float, default=10.0, help="streaming time per level")
    ap.add_argument("--repeats", type=int, default=3, help="repeats of the baseline level, per design")
    ap.add_argument("--drain", type=float, default=3.0, help="at most this long to drain the queue after a level")
    ap.add_argument("--writers", type=int, default=0, help="processes of the many-writers design (0: one per run)")
    ap.add_argument("--batched", default="last", choices=("none", "last", "all"),
                    help="levels also run with the batched writer")
    ap.add_argument("--epoch-seconds", type=float, default=Load.epoch_seconds)
    ap.add_argument("--epochs", type=int, default=Load.epochs)
    ap.add_argument("--samples", type=int, default=Load.samples)
    ap.add_argument("--rep-dim", type=int, default=Load.rep_dim)
    ap.add_argument("--emb-dim", type=int, default=Load.emb_dim)
    ap.add_argument("--checkpoint-mb", type=float, default=Load.checkpoint_mb)
    ap.add_argument("--snapshot-call", default="add_snapshot", choices=("add_snapshot", "add_snapshot_streamed"))
    ap.add_argument("--dir", default=None, help="where the temporary stores go (default: the system's temp folder)")
    ap.add_argument("--keep", action="store_true", help="keep the stores")
    ap.add_argument("--json", default=None, help="also write every figure to this file")
    ap.add_argument("--quick", action="store_true",
                    help="a smoke run: 3 and 12 runs, 2.5 s each, 0.25 s epochs, the queue drained in full")
    args = ap.parse_args(argv)
    if args.quick:
        args.levels, args.seconds, args.repeats, args.drain = "3,12", 2.5, 1, 60.0
        args.epoch_seconds, args.epochs, args.batched = 0.25, 8, "last"
    load = Load(epochs=args.epochs, epoch_seconds=args.epoch_seconds, samples=args.samples, rep_dim=args.rep_dim,
                emb_dim=args.emb_dim, checkpoint_mb=args.checkpoint_mb)
    levels = [int(x) for x in args.levels.split(",")]
    base_dir = Path(tempfile.mkdtemp(prefix="bench-store-load-", dir=args.dir))
    payloads = Payloads(load)
    results: list[dict[str, Any]] = []
    started = time.perf_counter()
    n = 0

    def fresh() -> Path:
        nonlocal n
        n += 1
        return base_dir / f"store{n}"

    def done(root: Path) -> None:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
        os.sync()  # the next level starts with the disk's write cache flushed

    try:
        root = fresh()
        bd = breakdown(root, load, payloads, reps=5 if args.quick else 15)
        done(root)
        singles, multis = [], []
        for rep in range(args.repeats):  # the baseline, interleaved
            root = fresh()
            singles.append(one_writer(root, levels[0], load, args.seconds, args.drain, rep, payloads,
                                      snapshot_call=args.snapshot_call))
            done(root)
            print(f"{levels[0]} runs, one writer, repeat {rep + 1}: {singles[-1]['writes_s']:,.0f} writes/s", flush=True)
            root = fresh()
            multis.append(many_writers(root, levels[0], args.writers or levels[0], load, args.seconds, rep, payloads))
            done(root)
            print(f"{levels[0]} runs, many writers, repeat {rep + 1}: {multis[-1]['writes_s']:,.0f} writes/s", flush=True)
        results += [median_level(singles), median_level(multis)]
        for i, runs in enumerate(levels):
            if i > 0:
                root = fresh()
                results.append(one_writer(root, runs, load, args.seconds, args.drain, 0, payloads,
                                          snapshot_call=args.snapshot_call))
                done(root)
                print(f"{runs} runs, one writer: {results[-1]['writes_s']:,.0f} writes/s", flush=True)
            if args.batched == "all" or (args.batched == "last" and i == len(levels) - 1):
                root = fresh()
                results.append(one_writer(root, runs, load, args.seconds, args.drain, 0, payloads, batched=True))
                done(root)
                print(f"{runs} runs, one writer, batched: {results[-1]['writes_s']:,.0f} writes/s", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(base_dir, ignore_errors=True)
    report(results, bd, load, args)
    total = time.perf_counter() - started
    print(f"\nwhole benchmark: {total:.0f} s")
    out = {"levels": results, "breakdown": bd, "load": load.__dict__, "seconds": args.seconds, "total_s": total,
           "loadavg": os.getloadavg()[0]}
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
