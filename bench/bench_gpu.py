"""GPU benchmark: training throughput and peak GPU memory of the default run and a larger
preset, through the real training loop, on the GPU and on the CPU for comparison.

Presets (digits; the loop is ``trainers.train.train_run``, snapshots only at the first and
last epoch, their time excluded as in bench_training.py):

- ``default``: the default run (MLP, NT-Xent, batch 256, 2 views; 5 steps per epoch);
- ``large``: CNN encoder, batch 1,024, 8 views, MV-DHEL (1 step per epoch: the training
  split has 1,438 samples).

For each device: one short warm-up run (CUDA context, kernels, allocator), then a timed run
of --steps (GPU) or --cpu-steps (CPU) optimiser steps; reported: steps/s, samples/s
(samples of the batch; each is seen in ``views`` augmented views), and on CUDA the peak
memory allocated by torch (``torch.cuda.max_memory_allocated``). Ratios: GPU over the CPU
of the same machine measured in the same run, and GPU over the 2-core development CPU
figure recorded in docs/benchmarks.md (``--cpu-reference``; target for ``large``: >= 10x).

    .venv/bin/python bench/bench_gpu.py                         # cuda if available, and cpu
    .venv/bin/python bench/bench_gpu.py --device cpu --steps 20 # CPU only (no GPU here)

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from jobs import store as st  # noqa: E402
from trainers.config import RunConfig  # noqa: E402
from trainers.train import train_run  # noqa: E402

TRAIN_SPLIT = 1438  # digits training split
PRESETS = {
    "default": dict(),
    "large": dict(encoder="cnn", batch_size=1024, views=8, loss="mv_dhel"),
}
# steps/s of the presets on the 2-core development CPU (2 threads, load ~2; docs/benchmarks.md,
# `bench_gpu.py --device cpu`), for the "GPU / dev CPU" ratio on a GPU machine
CPU_REFERENCE = {"default": 110.1, "large": 0.6}


def measure(preset: str, device: str, steps: int, threads: int) -> dict:
    """Warm-up run, then a timed run of about ``steps`` optimiser steps on ``device``."""
    base = RunConfig(**PRESETS[preset])
    per_epoch = max(1, TRAIN_SPLIT // base.batch_size)
    epochs = max(1, steps // per_epoch)
    cfg = base.replace(device=device, epochs=epochs, snapshot_every=str(epochs), threads=threads)
    warm = base.replace(device=device, epochs=2, snapshot_every="2", threads=threads)
    cuda = device.startswith("cuda")
    with tempfile.TemporaryDirectory() as root:
        s = st.Store(root)
        train_run(s, s.create_run(warm, status=st.RUNNING), log=lambda m: None)
        if cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        rid = s.create_run(cfg, status=st.RUNNING)
        t = time.perf_counter()
        out = train_run(s, rid, log=lambda m: None)
        if cuda:
            torch.cuda.synchronize()
        wall = time.perf_counter() - t
    if out["status"] != st.FINISHED:
        raise RuntimeError(f"{preset} on {device}: {out}")
    loop = wall - out["snapshot_seconds"]
    res = {"preset": preset, "device": device, "steps": out["steps"], "batch": cfg.batch_size, "views": cfg.views,
           "steps_per_s": out["steps"] / loop, "samples_per_s": out["steps"] * cfg.batch_size / loop,
           "seconds": loop, "knn_accuracy": out.get("knn_accuracy")}
    if cuda:
        res["peak_gpu_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="auto", help="auto (cuda if available, plus cpu), cuda, or cpu")
    ap.add_argument("--steps", type=int, default=None,
                    help="timed optimiser steps on the GPU (default 500); with --device cpu, on the CPU")
    ap.add_argument("--cpu-steps", type=int, default=20, help="timed optimiser steps on the CPU (it is slow)")
    ap.add_argument("--presets", default="default,large")
    ap.add_argument("--threads", type=int, default=0, help="CPU threads (0 = torch's default)")
    ap.add_argument("--cpu-reference", default="",
                    help="steps/s on the development CPU as preset=value,... (default: the figures in this file)")
    ap.add_argument("--json", help="also write the results to this file")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    ref = dict(CPU_REFERENCE)
    for item in filter(None, a.cpu_reference.split(",")):
        k, v = item.split("=")
        ref[k] = float(v)

    devices = []
    if a.device in ("auto", "cuda"):
        if torch.cuda.is_available():
            devices.append("cuda")
        elif a.device == "cuda":
            raise SystemExit("--device cuda: torch.cuda.is_available() is False")
    if a.device in ("auto", "cpu"):
        devices.append("cpu")
    load0 = os.getloadavg()
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    print(f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs ({torch.get_num_threads()} threads), "
          f"GPU: {gpu}, torch {torch.__version__} (CUDA {torch.version.cuda}); "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    gpu_steps = a.steps or 500
    cpu_steps = a.steps if (a.device == "cpu" and a.steps) else a.cpu_steps
    rows = []
    for preset in a.presets.split(","):
        for dev in devices:
            r = measure(preset, dev, gpu_steps if dev == "cuda" else cpu_steps, a.threads)
            rows.append(r)
            mem = f", peak GPU memory {r['peak_gpu_mb']:.0f} MB" if "peak_gpu_mb" in r else ""
            print(f"  {preset:<8} {dev:<5} {r['steps']:>5} steps: {r['steps_per_s']:9.1f} steps/s "
                  f"{r['samples_per_s']:11.0f} samples/s{mem}", flush=True)
    print()
    print(f"{'preset':<9}{'device':<7}{'batch x views':>14}{'steps/s':>10}{'samples/s':>12}{'peak GPU MB':>13}"
          f"{'GPU / this CPU':>16}{'GPU / dev CPU':>15}")
    by = {(r["preset"], r["device"]): r for r in rows}
    for r in rows:
        own = by.get((r["preset"], "cpu"))
        ratio = f"{r['steps_per_s'] / own['steps_per_s']:.1f}x" if r["device"] == "cuda" and own else "-"
        dev_ref = ref.get(r["preset"])
        ratio_ref = f"{r['steps_per_s'] / dev_ref:.1f}x" if r["device"] == "cuda" and dev_ref else "-"
        mem = f"{r['peak_gpu_mb']:.0f}" if "peak_gpu_mb" in r else "-"
        print(f"{r['preset']:<9}{r['device']:<7}{str(r['batch']) + ' x ' + str(r['views']):>14}{r['steps_per_s']:>10.1f}"
              f"{r['samples_per_s']:>12.0f}{mem:>13}{ratio:>16}{ratio_ref:>15}")
    print("steps/s through train_run (snapshot time excluded); samples/s = steps/s x batch; target: large preset "
          ">= 10x faster on an H100 than on the 2-core development CPU ('GPU / dev CPU')")
    load1 = os.getloadavg()
    print(f"# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")
    if a.json:
        Path(a.json).write_text(json.dumps({"gpu": gpu, "torch": torch.__version__, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
