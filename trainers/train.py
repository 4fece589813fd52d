"""The training loop: read it top to bottom.

``train_run(store, run_id)`` trains the run's config into the store: :func:`setup` builds
everything (data on the device, encoder, objective, optimiser, generators, and the state of
a resume), then one flat loop trains, with its periodic jobs written inline: every half
second a divergence check, progress and a look for a cancel; at the end of each epoch its
loss, a snapshot on the config's schedule, and a checkpoint at each snapshot and whenever
``checkpoint_seconds`` have passed since the last (a resume continues from it). A step whose
loss is NaN, infinite or beyond ``LOSS_LIMIT`` in magnitude stops the run as ``diverged``.
Bookkeeping stays out of the hot loop: losses are kept as tensors and read once per poll, so
the loop runs at the speed of a bare forward/backward loop.

The store is passed in (the job system's :class:`jobs.store.Store`, or anything with its
methods): this package never imports the job system.
"""

from __future__ import annotations

import io
import math
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from trainers import data as data_mod
from trainers import distill, evaluate
from trainers.augment import make_augment
from trainers.config import RunConfig
from trainers.data import DataSplit
from trainers.encoders import build_encoder, pick_device
from trainers.losses import noise_view
from trainers.objectives import Objective, build_objective
from trainers.states import CANCELLED, DIVERGED, FINISHED

POLL_SECONDS = 0.5  # how often the loop writes progress and checks for cancellation
HISTORY_SECONDS = 1.0  # at most one intermediate loss point per second inside an epoch
# A step whose loss exceeds this in magnitude has diverged (as a NaN has). The registry's losses
# on normalised embeddings stay below 2 / temperature + log(2 * batch) (about 2,000 at the
# smallest temperature a config allows, 1e-3); measured at the defaults (digits, gmm, swiss
# roll, diabetes): nt_xent 5.5, supremix 7.5, msd 6.6, rnc 4.4, l1 0.9, isogclr about 0 and
# below; rnc and l1 on a linear encoder at the largest learning rate (10) peaked at 1.6e4.
LOSS_LIMIT = 1e6
SUMMARY = ("knn_accuracy", "linear_accuracy", "alignment", "uniformity", "rankme", "knn_mae", "linear_mae", "linear_r2",
           "rank_correlation", "factor_probes", "factor_probes_embedding")  # the snapshot metrics the CLI's JSON reports


class Stop(Exception):
    """Raised inside the loop to stop it cleanly (cancel or divergence)."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class Setup:
    """Everything the loop needs, built by :func:`setup`."""

    cfg: RunConfig
    device: torch.device
    ds: DataSplit
    X: torch.Tensor  # (N, F) the training split, on the device
    Y: torch.Tensor  # (N,) labels, or standardised targets
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    model: torch.nn.Module
    objective: Objective
    opt: torch.optim.Optimizer
    gens: dict[str, torch.Generator]  # gen (augmentations), perm_gen (batch order), noise_gen
    batch: int
    steps_per_epoch: int
    start_epoch: int  # 0, or the epoch of the checkpoint a resume continues from
    step: int
    seconds_before: float  # training time of the run before this worker
    last_metrics: dict[str, Any]  # the metrics of the run's last snapshot kept


def setup(store: Any, run_id: str, *, log: Callable[[str], None] = print) -> Setup:
    """Build data, model, objective and optimiser for ``run_id``; load its checkpoint on resume."""
    rec = store.get_run(run_id)
    cfg = RunConfig.from_dict(rec.config)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = pick_device(cfg.device)
    torch.manual_seed(cfg.seed)
    np.random.seed(cfg.seed)

    # data (all on the device: these sets are small)
    ds = data_mod.load(cfg)
    n = len(ds.x_train)
    b = min(cfg.batch_size, n)  # a batch larger than the split becomes the whole split
    steps_per_epoch = max(1, n // b)  # the last partial batch is dropped
    y = ds.y_train
    if ds.task == "regression":  # losses see standardised targets; snapshots keep raw ones
        y = (y - y.mean()) / (y.std() + 1e-8)

    # model, objective (the registry loss, wrapped for a teacher or scarce labels), optimiser
    model = build_encoder(cfg.encoder, ds.n_features, hidden_dim=cfg.hidden_dim, rep_dim=cfg.rep_dim,
                          proj_dim=cfg.proj_dim).to(device)
    task = build_objective(cfg.loss, temperature=cfg.effective_temperature, options=cfg.loss_options, num_samples=n,
                           rep_dim=cfg.rep_dim, train_targets=y, proj_dim=cfg.proj_dim, model=model, x_test=ds.x_test,
                           total_steps=cfg.epochs * math.ceil(steps_per_epoch / cfg.accum_steps))
    teacher = None
    if cfg.distill:
        t = store.get_run(cfg.teacher)
        teacher = distill.load_teacher(t.id, t.config, store.checkpoint_path(t.id), ds.n_features, device)
    objective = distill.setup_objective(task, cfg, data=ds, teacher=teacher, device=device).to(device)
    params = [p for p in list(model.parameters()) + list(objective.parameters()) if p.requires_grad]  # teachers frozen
    opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    gens = {"gen": torch.Generator(device=device).manual_seed(cfg.seed),  # augmentations
            "perm_gen": torch.Generator().manual_seed(cfg.seed),  # batch order
            "noise_gen": torch.Generator(device=device).manual_seed(cfg.seed + 1)}  # noise views

    # resume: the checkpoint's epoch is the last one kept; "seconds" counts all the time spent
    # training the run, work redone after a crash included, so it never goes back
    start_epoch, step = 0, 0
    ckpt_path = store.checkpoint_path(run_id)
    if rec.resume and ckpt_path.exists():
        ck = torch.load(ckpt_path, map_location="cpu", weights_only=True)  # load_state_dict moves tensors to the device
        model.load_state_dict(ck["model"])
        objective.load_state_dict(ck["objective"])
        opt.load_state_dict(ck["opt"])
        start_epoch, step = int(ck["epoch"]), int(ck["step"])
        torch.set_rng_state(ck["rng_cpu"])
        gens["gen"].set_state(ck["gen"])
        if "perm_gen" in ck:
            gens["perm_gen"].set_state(ck["perm_gen"])
            gens["noise_gen"].set_state(ck["noise_gen"])
        else:  # a checkpoint written before the batch order was saved
            gens["perm_gen"].manual_seed(cfg.seed + 1000 * start_epoch)
        store.truncate_after(run_id, start_epoch)
        log(f"resumed from epoch {start_epoch} (step {step})")
    elif rec.resume:
        store.truncate_after(run_id, -1)
        log("no checkpoint: starting from scratch")
    snaps = store.snapshots(run_id)
    return Setup(cfg=cfg, device=device, ds=ds, X=torch.as_tensor(ds.x_train, device=device),
                 Y=torch.as_tensor(y, device=device), augment=make_augment(ds.kind, cfg.aug_strength, ds.noisy_dims,
                                                                          options=ds.augment_options),
                 model=model, objective=objective, opt=opt, gens=gens, batch=b, steps_per_epoch=steps_per_epoch,
                 start_epoch=start_epoch, step=step, seconds_before=rec.seconds if rec.resume else 0.0,
                 last_metrics=dict(snaps[-1].metrics) if snaps else {})


def train_run(store: Any, run_id: str, *, log: Callable[[str], None] = print,
              threads: Callable[[], int] | None = None) -> dict[str, Any]:
    """Train ``run_id`` (status must already be ``running``); return the CLI's summary dict.

    ``threads``, when given, says how many torch threads this worker should use now; the
    loop asks it at every poll (the job system re-fits threads as runs start and end)."""
    s = setup(store, run_id, log=log)
    cfg, model, objective, opt, gens = s.cfg, s.model, s.objective, s.opt, s.gens
    X, Y, V, b, A, steps = s.X, s.Y, cfg.views, s.batch, cfg.accum_steps, s.steps_per_epoch
    n = len(X)
    step, last_metrics = s.step, s.last_metrics
    store.update_run(run_id, resume=0, epoch=s.start_epoch, step=step, total_epochs=cfg.epochs, metrics=last_metrics)
    snap_epochs = set(cfg.snapshot_epochs())
    t0 = time.monotonic() - s.seconds_before
    signalled: list[int] = []  # SIGTERM: stop at the next poll, keep everything
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda signum, frame: signalled.append(signum))

    def snapshot(epoch: int) -> dict[str, Any]:
        arrays, metrics = evaluate.snapshot(model, s.ds, device=s.device, aug_strength=cfg.aug_strength,
                                            per_sample=objective.per_sample(), extra=objective.snapshot_extra)
        metrics["epoch"] = epoch
        store.add_snapshot(run_id, epoch, step, arrays, metrics)
        store.update_run(run_id, metrics=metrics)
        return metrics

    def checkpoint(epoch: int, at_step: int) -> None:
        buf = io.BytesIO()
        torch.save({"model": model.state_dict(), "objective": objective.state_dict(), "opt": opt.state_dict(),
                    "epoch": epoch, "step": at_step, "seconds": time.monotonic() - t0, "rng_cpu": torch.get_rng_state(),
                    **{name: g.get_state() for name, g in gens.items()}}, buf)
        store.write_checkpoint(run_id, buf.getvalue())

    def poll(epoch: int) -> None:  # progress, then a stop if one was asked for
        store.update_run(run_id, epoch=epoch, step=step, seconds=time.monotonic() - t0, heartbeat=time.time())
        resume = "resume starts from scratch" if epoch == 0 else f"resume continues from epoch {epoch}"
        if signalled:
            raise Stop(CANCELLED, f"stopped by signal {signalled[0]} at epoch {epoch}; {resume}")
        if store.get_run(run_id).cancel_requested:
            raise Stop(CANCELLED, f"cancelled at epoch {epoch}; {resume}")
        if threads is not None and threads() != torch.get_num_threads():
            torch.set_num_threads(threads())

    status, reason = FINISHED, ""
    done_epoch, done_step = s.start_epoch, step  # the last fully completed epoch and its last step
    ckpt_epoch, ckpt_time = s.start_epoch, time.monotonic()  # the last checkpoint: its epoch, when it was written
    snap_seconds = 0.0  # time spent taking snapshots (reported, so benchmarks can leave it out)
    try:
        if s.start_epoch == 0:
            ts = time.monotonic()
            last_metrics = snapshot(0)
            checkpoint(0, step)
            snap_seconds += time.monotonic() - ts
        next_poll = time.monotonic() + POLL_SECONDS
        next_hist = time.monotonic() + HISTORY_SECONDS
        for epoch in range(s.start_epoch + 1, cfg.epochs + 1):
            model.train()
            perm = torch.randperm(n, generator=gens["perm_gen"]).to(s.device)  # (N,)
            losses: list[torch.Tensor] = []  # one per step of this epoch
            for i in range(steps):
                idx = perm[i * b : (i + 1) * b]  # (B,) positions in the training split
                x_views = torch.cat([s.augment(X[idx], gens["gen"]) for _ in range(V)])  # (V*B, F)
                h, z = model(x_views)  # (V*B, R), (V*B, D)
                h, z = h.view(V, b, -1), z.view(V, b, -1)
                if cfg.noise_eps > 0:
                    z = noise_view(z.reshape(V * b, -1), cfg.noise_eps, generator=gens["noise_gen"],
                                   scale=cfg.noise_scale).view(V, b, -1)
                loss = objective(z, h, Y[idx], idx, x=x_views.view(V, b, -1) if objective.needs_input else None)
                (loss / A if A > 1 else loss).backward()
                if (i + 1) % A == 0 or i + 1 == steps:  # accumulated A micro-batches (or the epoch ended)
                    opt.step()
                    opt.zero_grad(set_to_none=True)
                    objective.after_step()
                losses.append(loss.detach())
                step += 1

                now = time.monotonic()
                if now >= next_poll:  # bookkeeping, at most twice a second
                    next_poll = now + POLL_SECONDS
                    check_losses(store, run_id, losses, step, epoch, steps, now - t0)
                    if now >= next_hist:
                        next_hist = now + HISTORY_SECONDS
                        recent = torch.stack(losses[-max(1, len(losses) // 2):]).mean().item()
                        store.append_history(run_id, [{"step": step, "epoch": epoch - 1 + (i + 1) / steps,
                                                       "seconds": now - t0, "loss": recent}])
                    poll(epoch - 1)

            # end of the epoch: its loss, a snapshot on schedule, a checkpoint when due
            check_losses(store, run_id, losses, step, epoch, steps, time.monotonic() - t0)
            store.append_history(run_id, [{"step": step, "epoch": epoch, "seconds": time.monotonic() - t0,
                                           "loss": torch.stack(losses).mean().item()}])
            done_epoch, done_step = epoch, step
            if epoch in snap_epochs:
                ts = time.monotonic()
                last_metrics = snapshot(epoch)
                snap_seconds += time.monotonic() - ts
            if epoch in snap_epochs or time.monotonic() - ckpt_time >= cfg.checkpoint_seconds:
                checkpoint(epoch, step)
                ckpt_epoch, ckpt_time = epoch, time.monotonic()
            poll(epoch)
    except Stop as e:
        status, reason = e.status, e.reason
        if status == CANCELLED and done_epoch > ckpt_epoch:
            # keep the epochs done since the last checkpoint; stopped mid-epoch, the weights also hold
            # part of the next epoch (close enough), which a resume trains again in full from done_step
            checkpoint(done_epoch, done_step)
        log(f"stopped: {status}: {reason}")

    seconds = time.monotonic() - t0
    store.update_run(run_id, status=status, reason=reason, finished=time.time(), seconds=seconds, step=step,
                     epoch=(cfg.epochs if status == FINISHED else done_epoch), cancel_requested=0, pid=None)
    out = {"run_id": run_id, "status": status, "reason": reason, "epochs": cfg.epochs, "seconds": round(seconds, 3)}
    out.update({k: last_metrics[k] for k in SUMMARY if k in last_metrics})
    out["metrics_epoch"] = last_metrics.get("epoch")
    out["steps"] = step
    out["snapshot_seconds"] = round(snap_seconds, 3)
    return out


def check_losses(store: Any, run_id: str, losses: list[torch.Tensor], step: int, epoch: int, steps_per_epoch: int,
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
    raise Stop(DIVERGED, f"loss {what} at step {bad_step} (epoch {epoch}); data kept, resume continues from the last checkpoint")
