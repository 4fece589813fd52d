"""Exponential moving average of a student into its teacher (BYOL, DINO), and the cosine
schedule of its momentum::

    theta_t <- m * theta_t + (1 - m) * theta_s
    m(step) = final - (final - base) * (1 + cos(pi * step / total_steps)) / 2
"""

from __future__ import annotations

import math

import torch
from torch import nn

from trainers.losses._checks import _check_unit_interval

__all__ = ["ema_update", "momentum_schedule"]


@torch.no_grad()
def ema_update(teacher: nn.Module, student: nn.Module, momentum: float) -> None:
    """In-place exponential moving average of the student into the teacher (BYOL, DINO):

        theta_t <- m * theta_t + (1 - m) * theta_s

    for every parameter, matched by name. Buffers: floating-point buffers (BatchNorm
    running mean / var) get the same average; other buffers (e.g. the integer
    ``num_batches_tracked``) are copied from the student. m = 1 leaves the teacher
    unchanged, m = 0 copies the student. Runs under ``torch.no_grad``; the teacher's
    ``requires_grad`` flags are not touched.

    Raises ValueError when m is outside [0, 1] or the two modules' parameter / buffer
    names or shapes differ.
    """
    _check_unit_interval("momentum", momentum)
    for kind, t_items, s_items in (
        ("parameters", teacher.named_parameters(), student.named_parameters()),
        ("buffers", teacher.named_buffers(), student.named_buffers()),
    ):
        t_dict, s_dict = dict(t_items), dict(s_items)
        if t_dict.keys() != s_dict.keys():
            missing = sorted(set(t_dict) ^ set(s_dict))
            raise ValueError(
                f"teacher and student must have the same {kind}; these names are in only "
                f"one of them: {missing[:10]}"
            )
        for name, t in t_dict.items():
            s = s_dict[name]
            if t.shape != s.shape:
                raise ValueError(
                    f"{kind[:-1]} {name!r}: teacher shape {tuple(t.shape)} != student shape "
                    f"{tuple(s.shape)}"
                )
            if t.is_floating_point():
                t.mul_(momentum).add_(
                    s.detach().to(device=t.device, dtype=t.dtype), alpha=1.0 - momentum
                )
            else:
                t.copy_(s)


def momentum_schedule(
    step: int, total_steps: int, *, base: float = 0.996, final: float = 1.0
) -> float:
    """Cosine schedule of the EMA momentum (BYOL, DINO):

        m(step) = final - (final - base) * (1 + cos(pi * step / total_steps)) / 2

    so m(0) = base and m(total_steps) = final; steps beyond total_steps give final.
    As in DINO, a run of N optimiser steps uses steps 0..N-1, so the last update is just
    below ``final``.
    """
    if total_steps < 1:
        raise ValueError(f"total_steps must be >= 1, got {total_steps}")
    if step < 0:
        raise ValueError(f"step must be >= 0, got {step}")
    progress = min(step, total_steps) / total_steps
    return final - (final - base) * (1.0 + math.cos(math.pi * progress)) / 2.0
