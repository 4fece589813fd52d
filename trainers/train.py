"""The training loop: read it top to bottom.

``train_run(store, run_id)`` trains the run's config into the store: seeded, on the
``auto`` device, with snapshots on the config's schedule, a checkpoint at each
snapshot (and on cancel) that a resume continues from, live progress every half
second, and a stop marked ``diverged`` when the loss becomes NaN or infinite.
Bookkeeping stays out of the hot loop: losses are kept as tensors and read once per
poll, so the loop runs at the speed of a bare forward/backward loop.
"""

from __future__ import annotations

import os
import platform
import signal
import time
import traceback
from typing import Any

import numpy as np
import torch

from trainers import data as data_mod
from trainers import distill, evaluate
from trainers import store as st
from trainers.augment import make_augment
from trainers.config import RunConfig
from trainers.encoders import build_encoder, pick_device
from trainers.objectives import build_objective

POLL_SECONDS = 0.5  # how often the loop writes progress and checks for cancellation
HISTORY_SECONDS = 1.0  # at most one intermediate loss point per second inside an epoch


def boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return platform.node()


def process_start_time(pid: int) -> str | None:
    """Start time of ``pid`` (Linux: /proc/<pid>/stat field 22), to detect pid reuse."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
        return rest[19]
    except (OSError, IndexError):
        return None


class Stop(Exception):
    """Raised inside the loop to stop it cleanly (cancel or divergence)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _save_checkpoint(path, model, objective, opt, epoch: int, step: int, seconds: float, gen: torch.Generator) -> None:
    ckpt = {
        "model": model.state_dict(),
        "objective": objective.state_dict(),
        "opt": opt.state_dict(),
        "epoch": epoch,
        "step": step,
        "seconds": seconds,
        "rng_cpu": torch.get_rng_state(),
        "gen": gen.get_state(),
    }
    import io

    buf = io.BytesIO()
    torch.save(ckpt, buf)
    st.atomic_write_bytes(path, buf.getvalue())


def train_run(store: st.Store, run_id: str, *, log=print) -> dict[str, Any]:
    """Train ``run_id`` (status must already be ``running``); return the CLI's summary dict."""
    rec = store.get_run(run_id)
    cfg = RunConfig.from_dict(rec.config)
    threads = cfg.threads or int(os.environ.get("LAB_THREADS", "0") or 0)
    if threads > 0:
        torch.set_num_threads(threads)
    refit = not cfg.threads and threads > 0  # fitted by the runner: follow the number of running runs
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    # --- data (all on the device: these sets are small) ---------------------------------
    ds = data_mod.load(cfg)
    n = len(ds.x_train)
    b = min(cfg.batch_size, n)  # a batch larger than the split becomes the whole split
    steps_per_epoch = max(1, n // b)  # the last partial batch is dropped
    X = torch.as_tensor(ds.x_train, device=device)  # (N, F)
    y_np = ds.y_train
    if ds.task == "regression":  # losses see standardised targets; snapshots keep raw ones
        y_np = (y_np - y_np.mean()) / (y_np.std() + 1e-8)
    Y = torch.as_tensor(y_np, device=device)  # (N,)
    augment = make_augment(ds.kind, cfg.aug_strength, ds.noisy_dims)
    V = cfg.views

    # --- model, objective, optimiser ----------------------------------------------------
    model = build_encoder(cfg.encoder, ds.n_features, hidden_dim=cfg.hidden_dim, rep_dim=cfg.rep_dim, proj_dim=cfg.proj_dim).to(device)
    task = None if cfg.loss == "msd" else build_objective(  # msd is built by distill (it needs the model)
        cfg.loss, temperature=cfg.effective_temperature, options=cfg.loss_options, num_samples=n, rep_dim=cfg.rep_dim,
        train_targets=y_np,
    )
    # plain runs get `task` back; a teacher, scarce labels or msd wrap it (trainers/distill.py)
    objective = distill.setup_objective(task, cfg, model=model, store=store, data=ds, device=device,
                                        steps_per_epoch=steps_per_epoch).to(device)
    needs_input = getattr(objective, "needs_input", False)  # a teacher must see the same views
    after_step = getattr(objective, "after_step", None)  # e.g. the EMA teacher update of msd
    params = [p for p in list(model.parameters()) + list(objective.parameters()) if p.requires_grad]  # teachers frozen
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    A = cfg.accum_steps  # micro-batches per optimiser step
    gen = torch.Generator(device=device).manual_seed(cfg.seed)  # augmentations
    perm_gen = torch.Generator().manual_seed(cfg.seed)  # batch order
    noise_gen = torch.Generator(device=device).manual_seed(cfg.seed + 1)

    start_epoch, step, seconds_before = 0, 0, 0.0
    ckpt_path = store.checkpoint_path(run_id)
    if rec.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location=device, weights_only=True)
        model.load_state_dict(ck["model"])
        objective.load_state_dict(ck["objective"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step, seconds_before = int(ck["epoch"]), int(ck["step"]), float(ck["seconds"])
        torch.set_rng_state(ck["rng_cpu"])
        gen.set_state(ck["gen"])
        perm_gen.manual_seed(cfg.seed + 1000 * start_epoch)
        store.truncate_after(run_id, start_epoch)
        log(f"resumed from epoch {start_epoch} (step {step})")
    elif rec.resume:
        store.truncate_after(run_id, -1)
        log("no checkpoint: starting from scratch")
    store.update_run(run_id, resume=0, epoch=start_epoch, step=step, total_epochs=cfg.epochs)

    snap_epochs = set(cfg.snapshot_epochs())
    t0 = time.monotonic() - seconds_before
    last_metrics: dict[str, Any] = dict(rec.metrics) if rec.resume else {}

    stop_flag = {"sig": None}

    def _on_term(signum, frame):  # SIGTERM: stop at the next poll, keep everything
        stop_flag["sig"] = signum

    if hasattr(signal, "SIGTERM") and threading_is_main():
        signal.signal(signal.SIGTERM, _on_term)

    snap_seconds = [0.0]

    def take_snapshot(epoch: int) -> None:
        nonlocal last_metrics
        ts = time.monotonic()
        arrays, metrics = evaluate.snapshot(model, ds, device=device, aug_strength=cfg.aug_strength, per_sample=objective.per_sample(),
                                            extra=getattr(objective, "snapshot_extra", None))
        metrics["epoch"] = epoch
        store.add_snapshot(run_id, epoch, step, arrays, metrics)
        last_metrics = metrics
        _save_checkpoint(ckpt_path, model, objective, opt, epoch, step, time.monotonic() - t0, gen)
        store.update_run(run_id, metrics=metrics)
        snap_seconds[0] += time.monotonic() - ts

    status, reason = st.FINISHED, ""
    done_epoch = start_epoch  # the last fully completed epoch
    try:
        if start_epoch == 0:
            take_snapshot(0)
        next_poll = time.monotonic() + POLL_SECONDS
        next_hist = time.monotonic() + HISTORY_SECONDS
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=perm_gen).to(device)  # (N,)
            losses: list[torch.Tensor] = []
            checked = 0  # losses[:checked] are known to be finite
            for s in range(steps_per_epoch):
                idx = perm[s * b : (s + 1) * b]  # (B,) positions in the training split
                xb = X[idx]  # (B, F)
                x_views = torch.cat([augment(xb, gen) for _ in range(V)])  # (V*B, F)
                h, z = model(x_views)  # (V*B, R), (V*B, D)
                h, z = h.view(V, b, -1), z.view(V, b, -1)
                if cfg.noise_eps > 0:
                    from trainers.losses import noise_view

                    z = noise_view(z.reshape(V * b, -1), cfg.noise_eps, generator=noise_gen).view(V, b, -1)
                if needs_input:
                    loss = objective(z, h, Y[idx], idx, x=x_views.view(V, b, -1))
                else:
                    loss = objective(z, h, Y[idx], idx)
                (loss / A if A > 1 else loss).backward()
                if (s + 1) % A == 0 or s + 1 == steps_per_epoch:  # accumulated A micro-batches (or the epoch ended)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    if after_step is not None:
                        after_step()
                losses.append(loss.detach())
                step += 1

                now = time.monotonic()
                if now >= next_poll:  # bookkeeping, at most twice a second
                    next_poll = now + POLL_SECONDS
                    checked = _check_finite(losses, checked, step, epoch)
                    if now >= next_hist:
                        next_hist = now + HISTORY_SECONDS
                        recent = torch.stack(losses[-max(1, len(losses) // 2):]).mean().item()
                        store.append_history(run_id, [{"step": step, "epoch": epoch - 1 + (s + 1) / steps_per_epoch, "seconds": now - t0, "loss": recent}])
                    _poll(store, run_id, epoch - 1, step, now - t0, stop_flag)
                    if refit:
                        _refit_threads(store)

            _check_finite(losses, checked, step, epoch)
            mean_loss = torch.stack(losses).mean().item()
            now = time.monotonic()
            store.append_history(run_id, [{"step": step, "epoch": epoch, "seconds": now - t0, "loss": mean_loss}])
            done_epoch = epoch
            if epoch in snap_epochs:
                take_snapshot(epoch)
            _poll(store, run_id, epoch, step, time.monotonic() - t0, stop_flag)
    except Stop as e:
        status, reason = e.status, e.reason
        if status == st.CANCELLED and done_epoch not in snap_epochs:
            # keep the work done since the last snapshot (the model may be mid-epoch: close enough)
            _save_checkpoint(ckpt_path, model, objective, opt, done_epoch, step, time.monotonic() - t0, gen)
        log(f"stopped: {status}: {reason}")

    seconds = time.monotonic() - t0
    store.update_run(run_id, status=status, reason=reason, finished=time.time(), seconds=seconds, step=step,
                     epoch=(cfg.epochs if status == st.FINISHED else done_epoch), cancel_requested=0, pid=None)
    out = {"run_id": run_id, "status": status, "reason": reason, "epochs": cfg.epochs, "seconds": round(seconds, 3)}
    for k in ("knn_accuracy", "linear_accuracy", "alignment", "uniformity", "rankme", "knn_mae", "linear_mae", "linear_r2", "rank_correlation"):
        if k in last_metrics:
            out[k] = last_metrics[k]
    out["metrics_epoch"] = last_metrics.get("epoch")
    out["steps"] = step
    out["snapshot_seconds"] = round(snap_seconds[0], 3)
    return out


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _check_finite(losses: list[torch.Tensor], checked: int, step: int, epoch: int) -> int:
    """Raise Stop(diverged) naming the first step whose loss is NaN or infinite."""
    if checked >= len(losses):
        return checked
    new = torch.stack(losses[checked:])
    bad = (~torch.isfinite(new)).nonzero()
    if len(bad):
        first = checked + int(bad[0, 0])
        at_step = step - (len(losses) - first) + 1
        val = new[int(bad[0, 0])].item()
        raise Stop(st.DIVERGED, f"loss became {val} at step {at_step} (epoch {epoch}); data up to the last snapshot kept")
    return len(losses)


def _refit_threads(store: st.Store) -> None:
    """Set torch's threads to the runner's share for the runs running now (a run started alone
    would otherwise keep its threads when a second one starts, and oversubscribe the cores)."""
    from trainers import runner

    n = max(1, min(len(store.list_runs(status=st.RUNNING)), runner.concurrency()))
    want = runner.threads_per_worker(n)
    if want != torch.get_num_threads():
        torch.set_num_threads(want)


def _poll(store: st.Store, run_id: str, epoch: int, step: int, seconds: float, stop_flag: dict) -> None:
    store.update_run(run_id, epoch=epoch, step=step, seconds=seconds, heartbeat=time.time())
    if stop_flag["sig"] is not None:
        raise Stop(st.CANCELLED, f"stopped by signal {stop_flag['sig']} at epoch {epoch}; resume continues from the last checkpoint")
    if store.get_run(run_id).cancel_requested:
        raise Stop(st.CANCELLED, f"cancelled at epoch {epoch}; resume continues from the last checkpoint")


def run_worker(store: st.Store, run_id: str) -> int:
    """Entry point of a worker process: mark the run, train, record any failure."""
    import logging

    log_f = open(store.log_path(run_id), "a", buffering=1)

    def log(msg: str) -> None:
        log_f.write(f"{time.strftime('%H:%M:%S')} {msg}\n")

    logging.captureWarnings(True)
    pid = os.getpid()
    rec = store.get_run(run_id)
    if rec.status != st.RUNNING or (rec.pid not in (None, pid)):
        # launched by the scheduler, which marks the run running with our pid first
        store.update_run(run_id, status=st.RUNNING, pid=pid)
    store.update_run(run_id, pid=pid, pid_start=process_start_time(pid), boot_id=boot_id(), heartbeat=time.time(),
                     started=rec.started or time.time(), reason="")
    log(f"worker {pid} starting run {run_id}")
    try:
        out = train_run(store, run_id, log=log)
        log(f"done: {out}")
        return 0
    except Exception as e:  # a crash: mark the run, keep its data, log the traceback
        log(traceback.format_exc())
        cur = store.get_run(run_id)
        store.update_run(run_id, status=st.FAILED, reason=f"error at epoch {cur.epoch}: {type(e).__name__}: {e} (details in worker.log)",
                         finished=time.time(), pid=None)
        return 1
    finally:
        log_f.close()
