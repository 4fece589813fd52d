"""Training benchmark: the default run against a bare loop, and time to first snapshot.

(a) steps/s of the default run (digits, MLP, NT-Xent, batch 256) through the real
    training loop (`train_run`: augmentation, progress, history, NaN checks, snapshots),
    next to a bare forward/backward loop of the same encoder, augmentation and loss
    measured in the same process, as a ratio. Reported with and without snapshot time.
(b) seconds from pressing Train (`runner.submit`) to the first snapshot's metrics in
    the store, with the scheduler cold (not running) and warm.

Median of --repeats runs. Usage: python bench/bench_training.py [--repeats 3] [--epochs 30]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from jobs import runner  # noqa: E402
from jobs import store as st
from trainers import data  # noqa: E402
from trainers.augment import make_augment  # noqa: E402
from trainers.config import RunConfig  # noqa: E402
from trainers.encoders import build_encoder  # noqa: E402
from trainers.losses import nt_xent  # noqa: E402
from trainers.train import train_run  # noqa: E402


def bare_loop(cfg: RunConfig, steps: int) -> float:
    """steps/s of the bare loop: sample batch, two augmented views, forward, loss, backward, step."""
    torch.manual_seed(0)
    ds = data.load(cfg)
    x = torch.as_tensor(ds.x_train)
    model = build_encoder(cfg.encoder, x.shape[1], hidden_dim=cfg.hidden_dim, rep_dim=cfg.rep_dim, proj_dim=cfg.proj_dim)
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    aug = make_augment(ds.kind, cfg.aug_strength)
    g = torch.Generator().manual_seed(0)
    b = cfg.batch_size
    n = len(x)
    for warm in (True, False):
        t = time.perf_counter()
        for _ in range(10 if warm else steps):
            xb = x[torch.randint(0, n, (b,), generator=g)]
            _, z = model(torch.cat([aug(xb, g), aug(xb, g)]))
            loss = nt_xent(z[:b], z[b:], temperature=cfg.effective_temperature)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return steps / (time.perf_counter() - t)


def loop_run(cfg: RunConfig, root: str) -> tuple[float, float]:
    s = st.Store(root)
    rid = s.create_run(cfg, status=st.RUNNING)
    t = time.perf_counter()
    out = train_run(s, rid, log=lambda m: None)
    wall = time.perf_counter() - t
    return out["steps"] / wall, out["steps"] / (wall - out["snapshot_seconds"])


def time_to_first_snapshot(root: str, cfg: RunConfig) -> float:
    s = st.Store(root)
    t = time.perf_counter()
    rid = runner.submit(s, cfg)
    while not s.snapshots(rid):
        time.sleep(0.02)
    dt = time.perf_counter() - t
    runner.cancel(s, rid)
    while s.get_run(rid).status == st.RUNNING:
        time.sleep(0.05)
    return dt


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=30)
    a = ap.parse_args()
    threads = torch.get_num_threads()
    cfg = RunConfig(epochs=a.epochs, threads=threads)
    steps = a.epochs * (1438 // cfg.batch_size)
    print(f"# torch {torch.__version__}, {threads} threads, {os.cpu_count()} cores; default run: digits / mlp / nt_xent, "
          f"batch {cfg.batch_size}, {a.epochs} epochs = {steps} steps")
    bare, full, hot = [], [], []
    with tempfile.TemporaryDirectory() as root:
        for _ in range(a.repeats):
            bare.append(bare_loop(cfg, steps))
            f, h = loop_run(cfg, root)
            full.append(f)
            hot.append(h)
    mb, mf, mh = (statistics.median(v) for v in (bare, full, hot))
    print(f"bare forward/backward loop          {mb:8.1f} steps/s")
    print(f"train_run, snapshots excluded       {mh:8.1f} steps/s   ratio {mh / mb:.2f}x")
    print(f"train_run, wall incl. {len(cfg.snapshot_epochs())} snapshots   {mf:8.1f} steps/s   ratio {mf / mb:.2f}x")

    os.environ["LAB_UMAP"] = "0"
    cold, warm = [], []
    for _ in range(a.repeats):
        with tempfile.TemporaryDirectory() as root:
            cold.append(time_to_first_snapshot(root, cfg.replace(threads=0)))
            warm.append(time_to_first_snapshot(root, cfg.replace(threads=0)))
            s = st.Store(root)
            pid = (s.root / "scheduler.pid").read_text().strip()
            os.kill(int(pid), 15)
    print(f"Train -> first snapshot in store, scheduler cold   {statistics.median(cold):6.2f} s")
    print(f"Train -> first snapshot in store, scheduler warm   {statistics.median(warm):6.2f} s")


if __name__ == "__main__":
    main()
