"""Import benchmark: seconds and peak memory of ``jobs.importer.import_embeddings`` for an
(N, 768) float32 ``.npy`` with a labels file of 10 classes (a Gaussian mixture, so the probes
do their usual work), each import in a fresh process into a fresh store.

    .venv/bin/python bench/bench_import.py                          # N = 10,000 and 100,000, 3 runs each
    .venv/bin/python bench/bench_import.py --sizes 100000 --repeats 5 --dim 768

Prints, per size, the median over ``--repeats`` of: the import's own seconds (read, check,
split, figures, snapshot written), the process's wall time (interpreter start and imports
included) and its peak resident memory (``VmHWM`` from /proc/self/status: everything the
process ever held at once, Python, torch and scikit-learn included). Never passes or fails on
time.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = """
import json, sys, time
t0 = time.monotonic()
from jobs.importer import import_embeddings
res = import_embeddings(sys.argv[1], labels=sys.argv[2], label_column="label", store=sys.argv[3])
hwm = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
print(json.dumps({"seconds": res.seconds, "total": time.monotonic() - t0, "vmhwm_mb": hwm / 1024,
                  "uniformity_rows": res.metrics["n_eval"], "knn_accuracy": res.metrics["knn_accuracy"],
                  "linear_accuracy": res.metrics["linear_accuracy"]}))
"""


def make_files(folder: Path, n: int, dim: int, classes: int, seed: int = 0) -> tuple[Path, Path]:
    import numpy as np

    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, n)
    x = np.empty((n, dim), np.float32)
    for a in range(0, n, 10_000):  # a few chunks: the benchmark's own memory stays small
        b = min(n, a + 10_000)
        x[a:b] = 0.15 * centres[y[a:b]] + rng.normal(size=(b - a, dim)).astype(np.float32)
    emb, labels = folder / f"emb_{n}.npy", folder / f"labels_{n}.csv"
    np.save(emb, x)
    labels.write_text("label\n" + "\n".join(f"class_{v}" for v in y) + "\n")
    return emb, labels


def one(emb: Path, labels: Path, store: Path) -> dict:
    t = time.monotonic()
    p = subprocess.run([sys.executable, "-c", CHILD, str(emb), str(labels), str(store)], cwd=ROOT,
                       capture_output=True, text=True, timeout=1800, env={**os.environ, "LAB_UMAP": "0"})
    if p.returncode != 0:
        raise SystemExit(p.stderr[-3000:])
    out = json.loads(p.stdout.strip().splitlines()[-1])
    out["wall"] = time.monotonic() - t
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--classes", type=int, default=10)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print(f"cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}; dim {a.dim}, {a.classes} classes, "
          f"median of {a.repeats}")
    print(f"{'rows':>9} {'import s':>9} {'process s':>10} {'peak MB':>8} {'uniformity rows':>16} {'kNN acc':>8} {'linear acc':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for n in a.sizes:
            emb, labels = make_files(folder, n, a.dim, a.classes)
            runs = [one(emb, labels, folder / f"store_{n}_{k}") for k in range(a.repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in ("seconds", "total", "vmhwm_mb")}
            r0 = runs[0]
            print(f"{n:>9,} {med['seconds']:>9.1f} {med['total']:>10.1f} {med['vmhwm_mb']:>8.0f} "
                  f"{r0['uniformity_rows']:>16,} {r0['knn_accuracy']:>8.3f} {r0['linear_accuracy']:>10.3f}")
            print("          runs: " + ", ".join(f"{r['seconds']:.1f} s / {r['vmhwm_mb']:.0f} MB" for r in runs))
            emb.unlink()
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
