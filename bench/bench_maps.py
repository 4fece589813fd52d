"""Map benchmark: seconds from a snapshot written to the store to its UMAP map in the store.

The real scheduler (``python -m trainers scheduler``, started by ``runner.ensure_scheduler``
with UMAP on) runs its projection thread; it is warmed up first (a tiny snapshot whose map
is awaited). Then, for each size, a run's snapshots are written one at a time through the
Store API (``store.add_snapshot``), and the clock runs from just before that call until
``store.projection(run, epoch, "emb", "umap")`` is not None (and until the "rep" map is
there too). The next snapshot is written once both maps are in, so each figure is the
latency of one snapshot with an idle, warm worker.

- 1,797 points: real digits snapshots (a short default digits run: epochs 0, 1, 2, 4, 8;
  embedding 64-D, representation 128-D);
- 5,000 and 10,000 points: Gaussian mixtures (10 classes; 64-D embedding, 128-D
  representation) that tighten over five "epochs" (a random start, then clusters forming).

Epoch 0 of a run is a cold map (no earlier map: started from the snapshot's PCA); later
epochs are warm (started from the previous epoch's map, then Procrustes-aligned to it).

Baselines, measured in the same run: a plain ``umap.UMAP().fit_transform(emb)`` (default
settings: pynndescent kNN, spectral init, 500 epochs below 10,000 points) in a FRESH
process (timed from before ``import umap``: import + numba compilation + fit), and the
same call repeated in that process (median of the later calls). Quality, on the last
epoch: neighbour preservation (share of the 15 nearest neighbours in the embedding, by
cosine, that are among the 15 nearest in the map) and the 10-NN label accuracy in the map;
consistency: after Procrustes alignment to the previous epoch's map, the residual
``||Y_e - Y_{e-1}||^2 / ||Y_{e-1} - mean||^2`` (0 = no motion, ~2 = unrelated layouts),
for the lab's chained maps and for independent plain UMAP maps of the same snapshots.

    .venv/bin/python bench/bench_maps.py                 # all sizes (~10 min on 2 busy cores)
    .venv/bin/python bench/bench_maps.py --sizes 1797 --repeats 2 --baseline-calls 2
    .venv/bin/python bench/bench_maps.py --sizes 50000 --repeats 2 --baseline-calls 2   # a sampled map

Above 20,000 points (``jobs.projector.MAX_UMAP_POINTS``) the lab maps a stratified
sample of 20,000 rows (the same rows at every epoch); the plain baseline maps every point.

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

EPOCHS = [0, 1, 2, 4, 8]
TARGET_S = {1797: 1.0, 5000: 2.0, 10000: 4.0}  # none set above 10,000 (there: a 20,000-point sample)


# -- snapshot data ------------------------------------------------------------------------
def digits_snapshots() -> list[dict[str, np.ndarray]]:
    """Real snapshots of a short default digits run (epochs 0, 1, 2, 4, 8)."""
    import torch

    from jobs import store as st
    from trainers.config import RunConfig
    from trainers.train import train_run

    with tempfile.TemporaryDirectory() as root:
        s = st.Store(root)
        rid = s.create_run(RunConfig(epochs=8, threads=torch.get_num_threads()), status=st.RUNNING)
        train_run(s, rid, log=lambda m: None)
        return [s.load_snapshot(rid, e) for e in EPOCHS]


def mixture_snapshots(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Five snapshots of n points: a random cloud that forms 10 clusters over the epochs."""
    from analysis.projections import pca_2d

    rng = np.random.default_rng(seed)
    y = np.arange(n) % 10
    out = []
    for dim_key, dim in (("emb", 64), ("rep", 128)):
        centres = rng.standard_normal((10, dim))
        start = rng.standard_normal((n, dim))
        noise = rng.standard_normal((n, dim))
        for i, mix in enumerate((0.0, 0.5, 0.7, 0.85, 0.95)):
            z = (1 - mix) * start + mix * (2.0 * centres[y] + 0.6 * noise)
            if len(out) <= i:
                out.append({})
            out[i][dim_key] = z.astype(np.float32)
    for a in out:
        a.update(index=np.arange(n, dtype=np.int64), y=y.astype(np.int64), is_test=np.arange(n) % 5 == 0,
                 pca_emb=pca_2d(a["emb"]).astype(np.float32), pca_rep=pca_2d(a["rep"]).astype(np.float32))
    return out


# -- the lab's projection worker, warm --------------------------------------------------
def start_scheduler(root: str) -> tuple[object, float]:
    """Start the real scheduler with UMAP on; return (store, seconds until its worker is warm)."""
    from jobs import runner
    from jobs import store as st
    from trainers.config import RunConfig

    os.environ["LAB_UMAP"] = "1"
    os.environ["LAB_SCHEDULER_IDLE"] = "3600"
    s = st.Store(root)
    rid = s.create_run(RunConfig(name="warm-up"), status=st.FINISHED)
    z = np.random.default_rng(0).standard_normal((300, 16)).astype(np.float32)
    t = time.perf_counter()
    runner.ensure_scheduler(s)
    s.add_snapshot(rid, 0, 0, {"emb": z, "rep": z, "y": np.zeros(300, np.int64)}, {})
    while s.projection(rid, 0, "rep", "umap") is None:
        time.sleep(0.05)
        if time.perf_counter() - t > 600:
            raise RuntimeError("the scheduler did not produce a map in 10 minutes; see scheduler.log")
    return s, time.perf_counter() - t


def stop_scheduler(s) -> None:
    from jobs.runner import pid_alive

    pid_file = Path(s.root) / "scheduler.pid"
    if pid_file.exists():
        try:
            pid = int(pid_file.read_text().strip())
            os.kill(pid, signal.SIGTERM)
        except (OSError, ValueError):
            return
        t = time.perf_counter()
        while pid_alive(pid) and time.perf_counter() - t < 20:
            time.sleep(0.05)


def scheduler_idle_cpu(s, seconds: float = 10.0) -> float:
    """CPU of the idle scheduler (polling), in % of one core, over ``seconds``."""
    pid = int((Path(s.root) / "scheduler.pid").read_text().strip())
    tick = os.sysconf("SC_CLK_TCK")

    def cpu() -> float:
        rest = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(rest[11]) + int(rest[12])) / tick

    c0, t0 = cpu(), time.perf_counter()
    time.sleep(seconds)
    return 100.0 * (cpu() - c0) / (time.perf_counter() - t0)


def lab_latencies(s, snaps: list[dict[str, np.ndarray]], name: str) -> list[dict]:
    """Write the snapshots one by one; per epoch, seconds until the emb map and both maps exist."""
    from jobs import store as st
    from trainers.config import RunConfig

    rid = s.create_run(RunConfig(name=name), status=st.RUNNING)
    rows = []
    for epoch, arrays in zip(EPOCHS, snaps, strict=True):
        t = time.perf_counter()
        s.add_snapshot(rid, epoch, epoch, arrays, {})
        t_emb = None
        while True:
            now = time.perf_counter() - t
            if t_emb is None and s.projection(rid, epoch, "emb", "umap") is not None:
                t_emb = now
            if t_emb is not None and s.projection(rid, epoch, "rep", "umap") is not None:
                rows.append({"epoch": epoch, "emb_s": t_emb, "both_s": now, "map": s.projection(rid, epoch, "emb", "umap")})
                break
            if now > 900:
                raise RuntimeError(f"no map for {name} epoch {epoch} after 15 minutes; see scheduler.log")
            time.sleep(0.01)
    s.update_run(rid, status=st.FINISHED)
    return rows


def train_to_first_map(root: str) -> dict:
    """Press Train with no scheduler running (``runner.submit``: the scheduler starts, its
    projection thread warms up while the worker starts): seconds to the epoch-0 snapshot
    and to its UMAP map."""
    from jobs import runner
    from jobs import store as st
    from trainers.config import RunConfig

    os.environ["LAB_UMAP"] = "1"
    s = st.Store(root)
    t = time.perf_counter()
    rid = runner.submit(s, RunConfig(epochs=8))
    while not s.snapshots(rid):
        time.sleep(0.01)
    t_snap = time.perf_counter() - t
    while s.projection(rid, 0, "emb", "umap") is None:
        time.sleep(0.01)
    t_map = time.perf_counter() - t
    while s.get_run(rid).status in st.ACTIVE:
        time.sleep(0.1)
    stop_scheduler(s)
    return {"snapshot_s": t_snap, "map_s": t_map}


# -- plain umap-learn baseline (fresh process) -------------------------------------------
def _baseline_child(path: str, calls: int) -> None:
    t0 = time.perf_counter()
    import umap  # noqa: F401  (timed: import + numba compilation + the first fit)

    data = np.load(path, allow_pickle=False)
    keys = sorted(data.files)
    times, maps = [], {}
    for i in range(calls):
        k = keys[min(i, len(keys) - 1)]
        t = time.perf_counter()
        y = umap.UMAP().fit_transform(data[k])
        times.append(time.perf_counter() - (t0 if i == 0 else t))
        maps[k] = y
    np.savez(path + ".out.npz", **maps)
    print(json.dumps({"fresh_s": times[0], "repeated_s": times[1:]}))


def plain_umap(snaps: list[dict[str, np.ndarray]], calls: int, tmp: str) -> dict:
    """Fresh-process plain UMAP on the embeddings of the last ``calls`` epochs (first call cold)."""
    path = os.path.join(tmp, f"plain_{len(snaps[0]['emb'])}.npz")
    use = list(range(len(EPOCHS)))[-calls:]
    np.savez(path, **{f"e{EPOCHS[i]:02d}": snaps[i]["emb"] for i in use})
    out = subprocess.run([sys.executable, __file__, "--baseline-child", path, str(calls)],
                         capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"plain UMAP baseline failed:\n{out.stderr[-3000:]}")
    res = json.loads(out.stdout.strip().splitlines()[-1])
    with np.load(path + ".out.npz") as f:
        res["maps"] = {int(k[1:]): f[k] for k in f.files}
    return res


# -- quality -------------------------------------------------------------------------------
def neighbour_preservation(z: np.ndarray, y2: np.ndarray, k: int = 15) -> float:
    from analysis.projections import exact_knn

    a, _ = exact_knn(z, k=k + 1, metric="cosine")
    b, _ = exact_knn(y2, k=k + 1, metric="euclidean")
    a, b = np.sort(a[:, 1:], axis=1), np.sort(b[:, 1:], axis=1)
    return float(np.mean([np.intersect1d(r, q, assume_unique=True).size for r, q in zip(a, b, strict=True)]) / k)


def knn_label_accuracy(y2: np.ndarray, labels: np.ndarray, k: int = 10) -> float:
    from analysis.projections import exact_knn

    b, _ = exact_knn(y2, k=k + 1, metric="euclidean")
    votes = labels[b[:, 1:]]
    pred = np.array([np.bincount(v).argmax() for v in votes])
    return float(np.mean(pred == labels))


def motion(y: np.ndarray, prev: np.ndarray) -> float:
    from analysis.projections import procrustes_align

    ok = np.isfinite(y).all(1) & np.isfinite(prev).all(1)  # above 20,000 points a map covers a sample
    y, prev = y[ok], prev[ok]
    ya = procrustes_align(y, prev)
    pc = prev - prev.mean(0)
    return float(((ya - prev) ** 2).sum() / (pc**2).sum())


# -- main -------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1797,5000,10000", help="comma-separated: 1797 (digits) and/or mixture sizes")
    ap.add_argument("--repeats", type=int, default=3, help="runs per size (each: 1 cold + 4 warm maps)")
    ap.add_argument("--baseline-calls", type=int, default=3, help="plain UMAP calls in the fresh process (first = fresh)")
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--baseline-child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.baseline_child:
        _baseline_child(a.baseline_child[0], int(a.baseline_child[1]))
        return

    import torch
    import umap

    from jobs.projector import COLD_EPOCHS, WARM_EPOCHS

    sizes = [int(x) for x in a.sizes.split(",")]
    load0 = os.getloadavg()
    print(f"# {os.cpu_count()} CPUs, torch {torch.__version__}, umap-learn {umap.__version__}; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}; repeats {a.repeats}")
    print(f"# lab settings: cold (budget, min, max epochs) {COLD_EPOCHS}, warm {WARM_EPOCHS}")
    data = {n: digits_snapshots() if n == 1797 else mixture_snapshots(n) for n in sizes}
    results = {}
    with tempfile.TemporaryDirectory() as root:
        s, warm_s = start_scheduler(root)
        print(f"scheduler start -> projection worker warm (import umap, numba kernels, a 300-point map): {warm_s:.2f} s")
        try:
            print(f"idle scheduler CPU (polling): {scheduler_idle_cpu(s):.1f} % of one core")
            for n in sizes:
                rows = []
                for r in range(a.repeats):
                    rows += lab_latencies(s, data[n], f"bench {n} #{r}")
                results[n] = {"rows": rows}
                cold = [x["emb_s"] for x in rows if x["epoch"] == 0]
                warm = [x["emb_s"] for x in rows if x["epoch"] != 0]
                print(f"N={n}: cold {statistics.median(cold):.2f} s, warm {statistics.median(warm):.2f} s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)
        finally:
            stop_scheduler(s)
        if not a.no_baseline:
            for n in sizes:
                results[n]["plain"] = plain_umap(data[n], a.baseline_calls, root)
                p = results[n]["plain"]
                print(f"N={n}: plain UMAP fresh {p['fresh_s']:.2f} s, repeated "
                      f"{statistics.median(p['repeated_s']) if p['repeated_s'] else float('nan'):.2f} s "
                      f"(load {os.getloadavg()[0]:.2f})", flush=True)

    e2e = []
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as root:
            e2e.append(train_to_first_map(root))
    snap_m = statistics.median(x["snapshot_s"] for x in e2e)
    map_m = statistics.median(x["map_s"] for x in e2e)
    print(f"Train pressed (scheduler not running) -> epoch-0 snapshot {snap_m:.2f} s -> its UMAP map {map_m:.2f} s "
          f"(the map waited {map_m - snap_m:.2f} s after its snapshot; default digits run; load {os.getloadavg()[0]:.2f})")

    print()
    head = (f"{'N':>6} {'target':>7} {'cold emb':>9} {'warm emb':>9} {'warm max':>9} {'warm both':>10} "
            f"{'plain fresh':>12} {'plain rep.':>11} {'fresh/warm':>11} {'rep./warm':>10}")
    print(head)
    print("-" * len(head))
    for n in sizes:
        rows = results[n]["rows"]
        cold = statistics.median([x["emb_s"] for x in rows if x["epoch"] == 0])
        warm_l = [x["emb_s"] for x in rows if x["epoch"] != 0]
        warm, wmax = statistics.median(warm_l), max(warm_l)
        both = statistics.median([x["both_s"] for x in rows if x["epoch"] != 0])
        p = results[n].get("plain")
        fresh = p["fresh_s"] if p else float("nan")
        rep = statistics.median(p["repeated_s"]) if p and p["repeated_s"] else float("nan")
        target = f"{TARGET_S[n]:.1f}s" if n in TARGET_S else "-"
        print(f"{n:>6} {target:>7} {cold:>8.2f}s {warm:>8.2f}s {wmax:>8.2f}s {both:>9.2f}s "
              f"{fresh:>11.2f}s {rep:>10.2f}s {fresh / warm:>10.1f}x {rep / warm:>9.1f}x")
    print("cold = epoch 0 of a run (PCA start); warm = later epochs (previous map as start); emb = the embedding "
          "map the page shows first; both = emb and rep maps; medians over runs and epochs")

    print()
    print(f"{'N':>6} {'NP@15 lab':>10} {'NP@15 plain':>12} {'10-NN acc lab':>14} {'acc plain':>10} "
          f"{'motion lab':>11} {'motion plain':>13}")
    for n in sizes:
        rows = results[n]["rows"][: len(EPOCHS)]  # the first run's chain of maps
        last = data[n][-1]
        lab_map = rows[-1]["map"]
        ok = np.isfinite(lab_map).all(1)  # quality on the rows the map covers (all up to 20,000 points)
        lab_motion = statistics.median(motion(rows[i]["map"], rows[i - 1]["map"]) for i in range(3, len(rows)))
        p = results[n].get("plain")
        np_plain = acc_plain = mot_plain = float("nan")
        if p:
            maps = p["maps"]
            if EPOCHS[-1] in maps:
                np_plain = neighbour_preservation(last["emb"][ok], maps[EPOCHS[-1]][ok])
                acc_plain = knn_label_accuracy(maps[EPOCHS[-1]][ok], last["y"][ok])
            pairs = [(e, EPOCHS[EPOCHS.index(e) - 1]) for e in maps if EPOCHS.index(e) > 0 and EPOCHS[EPOCHS.index(e) - 1] in maps]
            if pairs:
                mot_plain = statistics.median(motion(maps[e], maps[q]) for e, q in pairs)
        print(f"{n:>6} {neighbour_preservation(last['emb'][ok], lab_map[ok]):>10.3f} {np_plain:>12.3f} "
              f"{knn_label_accuracy(lab_map[ok], last['y'][ok]):>14.3f} {acc_plain:>10.3f} {lab_motion:>11.3f} {mot_plain:>13.3f}")
    print("NP@15: neighbour preservation of the last epoch's map (above 20,000 points: of the rows the lab's map covers, "
          "a stratified sample of 20,000, in both maps); motion: Procrustes residual between maps of "
          "snapshots (epochs 2->4 and 4->8), lower = steadier; plain = independent maps of the same snapshots")
    load1 = os.getloadavg()
    print(f"# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
