"""iSogCLR: contrastive learning with a learned temperature per sample (Qiu et al. 2023).

With ``learn_tau=False`` the same module is SogCLR (Yuan et al. 2022): one fixed global
temperature, the moving average u still tracked.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from trainers.losses._checks import Reduction, _check_positive, _check_reduction, _check_views

__all__ = ["ISogCLRLoss"]


class ISogCLRLoss(nn.Module):
    r"""iSogCLR loss with per-sample temperatures (Qiu et al. 2023, Alg. 1; RGCL Eq. 6).

    State, one entry per dataset sample (registered buffers: saved in ``state_dict``,
    moved by ``.to(device)``):

    - ``u``       (N,) moving average of g_i, starts at 0;
    - ``tau``     (N,) current temperatures tau_i, start at ``tau_init``;
    - ``m``       (N,) momentum of the temperature gradient, starts at 0;
    - ``visited`` (N,) bool, True once sample i has been in a batch.

    One call ``forward(z1, z2, index)`` with B samples (rows L2-normalised inside; the
    2B anchors are the B view-1 rows and the B view-2 rows; row i's positive is the other
    view of sample ``index[i]``; its negatives N_a are the 2(B-1) rows of both views that
    are neither itself nor its positive), for each anchor a of sample i (tau_i shared by
    both views of the sample)::

        g_a   = MEAN_{j in N_a} exp(s_aj / tau_i)              (a mean, not a sum)
        u_a   = (1 - gamma_i) u_i + gamma_i g_a                (gamma weights the NEW value)
        p_aj  = exp(s_aj / tau_i) / max(u_a, eps)              (detached)
        l_a   = -s_a,a+ + MEAN_{j in N_a} p_aj s_aj            (surrogate; no 1/tau here)
        grad_a = log max(u_a, eps) + rho - MEAN_{j in N_a} p_aj s_aj / tau_i

    then the state of sample i, from its two anchors a (view 1) and a' (view 2)::

        u_i   <- (u_a + u_a') / 2
        m_i   <- (1 - beta) m_i + beta (grad_a + grad_a') / 2          (learn_tau only)
        tau_i <- clip(tau_i - eta m_i, tau_min, tau_max)               (learn_tau only)

    ``forward`` returns the mean of l_a over the 2B anchors (or the (2B,) values with
    ``reduction="none"``, view-1 anchors first). Its gradient is the SogCLR/iSogCLR
    gradient estimator; its value is not a log-likelihood (it can be negative).

    First visit (``gamma_i``): by default (``first_visit="sample"``, as in METHODS.md)
    gamma_i = 1 for a sample never seen before (so u_i = g_i) and ``gamma`` otherwise.
    LibAUC decides once per batch: gamma = 1 when EVERY sample of the batch is unvisited
    (its test is ``u[index].sum() == 0``), otherwise ``gamma`` for all, so an unseen sample
    in a partly seen batch gets u = gamma * g. ``first_visit="batch"`` reproduces that
    rule. The two agree whenever a batch is all-new or all-seen (e.g. every batch of the
    first epoch of a shuffled loader).

    Reference: LibAUC 2.0.1 ``GCLoss_v1(N, tau=tau_init, enable_isogclr=True,
    gamma_schedule="constant", rho, gamma, beta, eta, tau_min, tau_max, eps)``. With
    ``first_visit="batch"`` this module matches it step by step (u, temperatures ``tau``
    == its ``learnable_tau[:, 0]``, momentum ``m`` == its ``grad_tau[:, 0]``), except:

    - the returned loss is the MEAN over the 2B anchors; LibAUC returns
      ``(loss_view1 + loss_view2).mean()`` over B, i.e. twice this value;
    - ``log(u)`` here is ``log(max(u, eps))`` (LibAUC takes ``log(u)``; equal unless u
      underflows);
    - LibAUC's state is float32 on the CPU; here the buffers keep the module's dtype and
      device, the arithmetic runs in the dtype of z1.

    ``learn_tau=False`` is SogCLR: tau_i stays ``tau_init`` for all samples (one fixed
    global temperature), m stays 0, u is still tracked (LibAUC ``enable_isogclr=False``).

    State is updated only in training mode (``module.train()``, the default). In
    ``eval()`` mode the same values are returned and no buffer changes.

    ``exp(s / tau)`` is formed in linear space as in the paper (u is a mean of
    exponentials); with s in [-1, 1] it stays finite in float32 for tau >= 0.012.

    Args:
        num_samples: N, number of samples in the dataset (indices are 0..N-1).
        tau_init: initial (SogCLR: fixed) temperature.
        rho: the rho of RGCL (Eq. 6): larger rho pushes temperatures down.
        gamma: moving-average weight of the NEW value of g (0 < gamma <= 1).
        beta: momentum weight of the NEW temperature gradient (0 < beta <= 1).
        eta: temperature step size.
        tau_min, tau_max: clip range of the temperatures.
        learn_tau: True for iSogCLR, False for SogCLR.
        eps: floor of u before division and log.
        first_visit: ``"sample"`` (default) or ``"batch"`` (LibAUC's rule), see above.
    """

    u: Tensor
    tau: Tensor
    m: Tensor
    visited: Tensor

    def __init__(
        self,
        num_samples: int,
        *,
        tau_init: float = 0.5,
        rho: float = 0.4,
        gamma: float = 0.9,
        beta: float = 0.5,
        eta: float = 0.03,
        tau_min: float = 0.05,
        tau_max: float = 1.0,
        learn_tau: bool = True,
        eps: float = 1e-8,
        first_visit: Literal["sample", "batch"] = "sample",
    ) -> None:
        super().__init__()
        if int(num_samples) != num_samples or num_samples < 2:
            raise ValueError(f"num_samples must be an integer >= 2, got {num_samples!r}")
        _check_positive("tau_init", tau_init)
        _check_positive("tau_min", tau_min)
        if not tau_min <= tau_max:
            raise ValueError(f"need tau_min <= tau_max, got {tau_min} and {tau_max}")
        if learn_tau and not tau_min <= tau_init <= tau_max:
            raise ValueError(
                f"tau_init must lie in [tau_min, tau_max] = [{tau_min}, {tau_max}], got {tau_init}"
            )
        if not 0 < gamma <= 1:
            raise ValueError(f"gamma must be in (0, 1], got {gamma}")
        if not 0 < beta <= 1:
            raise ValueError(f"beta must be in (0, 1], got {beta}")
        if eta < 0:
            raise ValueError(f"eta must be >= 0, got {eta}")
        _check_positive("eps", eps)
        if first_visit not in ("sample", "batch"):
            raise ValueError(f"first_visit must be 'sample' or 'batch', got {first_visit!r}")
        self.num_samples = int(num_samples)
        self.tau_init = float(tau_init)
        self.rho = float(rho)
        self.gamma = float(gamma)
        self.beta = float(beta)
        self.eta = float(eta)
        self.tau_min = float(tau_min)
        self.tau_max = float(tau_max)
        self.learn_tau = bool(learn_tau)
        self.eps = float(eps)
        self.first_visit = first_visit
        n = self.num_samples
        self.register_buffer("u", torch.zeros(n))
        self.register_buffer("tau", torch.full((n,), self.tau_init))
        self.register_buffer("m", torch.zeros(n))
        self.register_buffer("visited", torch.zeros(n, dtype=torch.bool))

    def extra_repr(self) -> str:
        return (
            f"num_samples={self.num_samples}, tau_init={self.tau_init}, rho={self.rho}, "
            f"gamma={self.gamma}, beta={self.beta}, eta={self.eta}, "
            f"tau=[{self.tau_min}, {self.tau_max}], learn_tau={self.learn_tau}, "
            f"first_visit={self.first_visit!r}"
        )

    def _check_index(self, index: Tensor, b: int) -> Tensor:
        if not isinstance(index, Tensor):
            index = torch.as_tensor(index)
        if index.ndim != 1 or index.shape[0] != b:
            raise ValueError(
                f"index must have shape ({b},), one dataset index per row, got {tuple(index.shape)}"
            )
        if index.is_floating_point() or index.dtype == torch.bool:
            raise ValueError(f"index must be an integer tensor, got dtype {index.dtype}")
        index = index.to(device=self.u.device, dtype=torch.long)
        if int(index.min()) < 0 or int(index.max()) >= self.num_samples:
            raise ValueError(
                f"index values must be in [0, {self.num_samples - 1}], got range "
                f"[{int(index.min())}, {int(index.max())}]"
            )
        if torch.unique(index).numel() != b:
            raise ValueError("index has repeated entries: each sample may appear once per batch")
        return index

    def forward(
        self,
        z1: Tensor,
        z2: Tensor,
        index: Tensor,
        *,
        reduction: Reduction = "mean",
    ) -> Tensor:
        """Loss of one batch; updates the state of samples ``index`` (training mode only).

        Args:
            z1: (B, D) first view, B >= 2.
            z2: (B, D) second view.
            index: (B,) distinct integer dataset indices of the B samples.
            reduction: ``"mean"`` -> scalar over the 2B anchors; ``"none"`` -> (2B,),
                view-1 anchors first.
        """
        _check_views(z1, z2, min_batch=2)
        _check_reduction(reduction)
        b = z1.shape[0]
        index = self._check_index(index, b)
        dev, dt = z1.device, z1.dtype

        z = F.normalize(torch.cat([z1, z2], dim=0), dim=1)  # (2B, D)
        sim = z @ z.T  # (2B, 2B) s_aj, with gradient
        rows = torch.arange(2 * b, device=dev)
        pos_idx = (rows + b) % (2 * b)
        pos = sim[rows, pos_idx]  # (2B,) s_a,a+
        neg = torch.ones(2 * b, 2 * b, dtype=torch.bool, device=dev)  # (2B, 2B) N_a
        neg[rows, rows] = False
        neg[rows, pos_idx] = False
        n_neg = 2 * (b - 1)

        tau_b = self.tau[index].to(device=dev, dtype=dt)  # (B,)
        tau_a = torch.cat([tau_b, tau_b])  # (2B,)
        u_old = self.u[index].to(device=dev, dtype=dt)  # (B,)
        seen = self.visited[index].to(dev)  # (B,)
        if self.first_visit == "batch":
            gamma_b = torch.full_like(u_old, self.gamma if bool(seen.any()) else 1.0)
        else:
            gamma_b = torch.where(seen, torch.full_like(u_old, self.gamma), torch.ones_like(u_old))
        gamma_a = torch.cat([gamma_b, gamma_b])  # (2B,)

        with torch.no_grad():
            s = sim.detach()
            logits = (s / tau_a[:, None]).masked_fill(~neg, float("-inf"))  # (2B, 2B)
            g = torch.exp(torch.logsumexp(logits, dim=1) - math.log(n_neg))  # (2B,)
            u_a = (1.0 - gamma_a) * torch.cat([u_old, u_old]) + gamma_a * g  # (2B,)
            log_u = torch.log(u_a.clamp(min=self.eps))  # (2B,)
            p = torch.exp(logits - log_u[:, None])  # (2B, 2B), 0 off N_a
            mean_ps_over_tau = (p * logits.masked_fill(~neg, 0.0)).sum(dim=1) / n_neg
            grad_a = log_u + self.rho - mean_ps_over_tau  # (2B,)

        weighted = (p * sim.masked_fill(~neg, 0.0)).sum(dim=1) / n_neg  # (2B,) grad via sim
        per_anchor = -pos + weighted  # (2B,)

        if self.training:
            with torch.no_grad():
                buf = self.u.dtype
                self.u[index] = ((u_a[:b] + u_a[b:]) / 2).to(self.u.device, buf)
                if self.learn_tau:
                    grad_i = ((grad_a[:b] + grad_a[b:]) / 2).to(self.m.device, buf)
                    m_new = (1.0 - self.beta) * self.m[index] + self.beta * grad_i
                    self.m[index] = m_new
                    self.tau[index] = (self.tau[index] - self.eta * m_new).clamp(
                        self.tau_min, self.tau_max
                    )
                self.visited[index] = True

        return per_anchor.mean() if reduction == "mean" else per_anchor
