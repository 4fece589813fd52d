"""The training loop: read it top to bottom.

``train_run(store, run_id)`` trains the run's config into the store: seeded, on the
``auto`` device, with snapshots on the config's schedule, a checkpoint at each
snapshot, at the end of any epoch that ends ``checkpoint_seconds`` after the last
checkpoint, and on cancel (a resume continues from it), live progress every half
second, and a stop marked ``diverged`` when a step's loss is NaN, infinite or beyond
``LOSS_LIMIT`` in magnitude.
Bookkeeping stays out of the hot loop: losses are kept as tensors and read once per
poll, so the loop runs at the speed of a bare forward/backward loop.
"""

from __future__ import annotations

import io
import os
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
from trainers.store import boot_id, process_start_time  # noqa: F401  (tests and the CLI import them from here)

POLL_SECONDS = 0.5  # how often the loop writes progress and checks for cancellation
HISTORY_SECONDS = 1.0  # at most one intermediate loss point per second inside an epoch
# A step whose loss exceeds this in magnitude has diverged (as a NaN has). The registry's losses
# on normalised embeddings stay below 2 / temperature + log(2 * batch) (about 2,000 at the
# smallest temperature a config allows, 1e-3); measured at the defaults (digits, gmm, swiss
# roll, diabetes): nt_xent 5.5, supremix 7.5, msd 6.6, rnc 4.4, l1 0.9, isogclr about 0 and
# below; rnc and l1 on a linear encoder at the largest learning rate (10) peaked at 1.6e4.
LOSS_LIMIT = 1e6


class Stop(Exception):
    """Raised inside the loop to stop it cleanly (cancel or divergence)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _save_checkpoint(path, model, objective, opt, gens: dict[str, torch.Generator], epoch: int, step: int, seconds: float) -> None:
    """Everything a resume needs to continue after ``epoch`` (written atomically)."""
    ckpt = {
        "model": model.state_dict(),
        "objective": objective.state_dict(),
        "opt": opt.state_dict(),
        "epoch": epoch,
        "step": step,
        "seconds": seconds,
        "rng_cpu": torch.get_rng_state(),
        **{name: g.get_state() for name, g in gens.items()},
    }
    buf = io.BytesIO()
    torch.save(ckpt, buf)
    st.atomic_write_bytes(path, buf.getvalue())


def _take_snapshot(store: st.Store, run_id: str, epoch: int, step: int, model, objective, ds, cfg: RunConfig, device) -> dict[str, Any]:
    """Embed every sample, compute the metrics, store the snapshot and the run's latest metrics; return them."""
    arrays, metrics = evaluate.snapshot(model, ds, device=device, aug_strength=cfg.aug_strength, per_sample=objective.per_sample(),
                                        extra=getattr(objective, "snapshot_extra", None))
    metrics["epoch"] = epoch
    store.add_snapshot(run_id, epoch, step, arrays, metrics)
    store.update_run(run_id, metrics=metrics)
    return metrics


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
    gens = {"gen": gen, "perm_gen": perm_gen, "noise_gen": noise_gen}  # their states go into the checkpoint

    # --- resume: the checkpoint's epoch is the last one kept; "seconds" counts all the time
    # spent training the run, work redone after a crash included, so it never goes back
    start_epoch, step = 0, 0
    seconds_before = rec.seconds if rec.resume else 0.0
    ckpt_path = store.checkpoint_path(run_id)
    if rec.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)  # load_state_dict moves tensors to the device
        model.load_state_dict(ck["model"])
        objective.load_state_dict(ck["objective"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step = int(ck["epoch"]), int(ck["step"])
        torch.set_rng_state(ck["rng_cpu"])
        gen.set_state(ck["gen"])
        if "perm_gen" in ck:
            perm_gen.set_state(ck["perm_gen"])
            noise_gen.set_state(ck["noise_gen"])
        else:  # a checkpoint written before the batch order was saved
            perm_gen.manual_seed(cfg.seed + 1000 * start_epoch)
        store.truncate_after(run_id, start_epoch)
        log(f"resumed from epoch {start_epoch} (step {step})")
    elif rec.resume:
        store.truncate_after(run_id, -1)
        log("no checkpoint: starting from scratch")
    snaps = store.snapshots(run_id)
    last_metrics: dict[str, Any] = dict(snaps[-1].metrics) if snaps else {}  # the last snapshot kept by the resume
    store.update_run(run_id, resume=0, epoch=start_epoch, step=step, total_epochs=cfg.epochs, metrics=last_metrics)

    snap_epochs = set(cfg.snapshot_epochs())
    t0 = time.monotonic() - seconds_before

    stop_flag = {"sig": None}

    def _on_term(signum, frame):  # SIGTERM: stop at the next poll, keep everything
        stop_flag["sig"] = signum

    if hasattr(signal, "SIGTERM") and threading_is_main():
        signal.signal(signal.SIGTERM, _on_term)

    status, reason = st.FINISHED, ""
    done_epoch, done_step = start_epoch, step  # the last fully completed epoch and its last step
    ckpt_epoch, ckpt_time = start_epoch, time.monotonic()  # the last checkpoint: its epoch, when it was written
    snap_seconds = 0.0  # time spent taking snapshots (reported, so benchmarks can leave it out)
    try:
        if start_epoch == 0:
            ts = time.monotonic()
            last_metrics = _take_snapshot(store, run_id, 0, step, model, objective, ds, cfg, device)
            _save_checkpoint(ckpt_path, model, objective, opt, gens, 0, step, time.monotonic() - t0)
            snap_seconds += time.monotonic() - ts
        next_poll = time.monotonic() + POLL_SECONDS
        next_hist = time.monotonic() + HISTORY_SECONDS
        for epoch in range(start_epoch + 1, cfg.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=perm_gen).to(device)  # (N,)
            losses: list[torch.Tensor] = []  # one per step of this epoch
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
                    _check_losses(store, run_id, losses, step, epoch, steps_per_epoch, now - t0)
                    if now >= next_hist:
                        next_hist = now + HISTORY_SECONDS
                        recent = torch.stack(losses[-max(1, len(losses) // 2):]).mean().item()
                        store.append_history(run_id, [{"step": step, "epoch": epoch - 1 + (s + 1) / steps_per_epoch, "seconds": now - t0, "loss": recent}])
                    _poll(store, run_id, epoch - 1, step, now - t0, stop_flag)
                    if refit:
                        _refit_threads(store)

            _check_losses(store, run_id, losses, step, epoch, steps_per_epoch, time.monotonic() - t0)
            mean_loss = torch.stack(losses).mean().item()
            store.append_history(run_id, [{"step": step, "epoch": epoch, "seconds": time.monotonic() - t0, "loss": mean_loss}])
            done_epoch, done_step = epoch, step
            # a snapshot epoch always gets a checkpoint; others when checkpoint_seconds have passed since the last
            if epoch in snap_epochs:
                ts = time.monotonic()
                last_metrics = _take_snapshot(store, run_id, epoch, step, model, objective, ds, cfg, device)
                snap_seconds += time.monotonic() - ts
            if epoch in snap_epochs or time.monotonic() - ckpt_time >= cfg.checkpoint_seconds:
                _save_checkpoint(ckpt_path, model, objective, opt, gens, epoch, step, time.monotonic() - t0)
                ckpt_epoch, ckpt_time = epoch, time.monotonic()
            _poll(store, run_id, epoch, step, time.monotonic() - t0, stop_flag)
    except Stop as e:
        status, reason = e.status, e.reason
        if status == st.CANCELLED and done_epoch > ckpt_epoch:
            # keep the epochs done since the last checkpoint; stopped mid-epoch, the weights also hold
            # part of the next epoch (close enough), which a resume trains again in full from done_step
            _save_checkpoint(ckpt_path, model, objective, opt, gens, done_epoch, done_step, time.monotonic() - t0)
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
    out["snapshot_seconds"] = round(snap_seconds, 3)
    return out


def threading_is_main() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


def _check_losses(store: st.Store, run_id: str, losses: list[torch.Tensor], step: int, epoch: int, steps_per_epoch: int,
                  seconds: float) -> None:
    """Raise Stop(diverged) at the first of this epoch's losses that is NaN, infinite or larger
    than LOSS_LIMIT in magnitude, naming its step and value. The mean loss of the epoch's steps
    before it goes into the history first, so the last finite losses are kept."""
    values = torch.stack(losses)  # (steps so far in this epoch,)
    bad = (~(values.abs() <= LOSS_LIMIT)).nonzero()  # NaN compares False, so it counts as bad
    if not len(bad):
        return
    first = int(bad[0, 0])  # position in this epoch
    bad_step = step - len(losses) + first + 1  # steps are counted from 1
    if first > 0:
        store.append_history(run_id, [{"step": bad_step - 1, "epoch": epoch - 1 + first / steps_per_epoch, "seconds": seconds,
                                       "loss": values[:first].mean().item()}])
    val = values[first].item()
    what = f"became {val}" if not np.isfinite(val) else f"exploded to {val:.3g} (beyond the limit of {LOSS_LIMIT:.0e} in magnitude)"
    raise Stop(st.DIVERGED, f"loss {what} at step {bad_step} (epoch {epoch}); data kept, resume continues from the last checkpoint")


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
    # a stop keeps (or writes) a checkpoint at `epoch`, so a resume continues from there
    resume = "resume starts from scratch" if epoch == 0 else f"resume continues from epoch {epoch}"
    if stop_flag["sig"] is not None:
        raise Stop(st.CANCELLED, f"stopped by signal {stop_flag['sig']} at epoch {epoch}; {resume}")
    if store.get_run(run_id).cancel_requested:
        raise Stop(st.CANCELLED, f"cancelled at epoch {epoch}; {resume}")


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
