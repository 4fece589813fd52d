"""Loss functions of the lab: one loss, one module (the formula is in each module's docstring).

Contrastive: :mod:`~trainers.losses.nt_xent`, :mod:`~trainers.losses.dcl`,
:mod:`~trainers.losses.supcon`, :mod:`~trainers.losses.isogclr`,
:mod:`~trainers.losses.multiview` (pairwise NT-Xent, MV-InfoNCE, MV-DHEL),
:mod:`~trainers.losses.regression` (SupReMix, RnC); noise views: :mod:`~trainers.losses.noise`.

Distillation: :mod:`~trainers.losses.kd`, :mod:`~trainers.losses.feature`,
:mod:`~trainers.losses.similarity`, :mod:`~trainers.losses.crd`, :mod:`~trainers.losses.rkd`,
:mod:`~trainers.losses.msd` (momentum self-distillation), with the EMA teacher update and its
schedule in :mod:`~trainers.losses.ema`. Spec: METHODS.md, section "Distillation".

Every loss function is pure (no state, no side effects) and takes
``reduction="mean" | "none"``: ``"none"`` returns one value per sample (shape ``(B,)``)
so the app can plot per-sample losses; ``"mean"`` is the mean of those values unless a
docstring says otherwise. Where a loss has settings or learned parts worth holding once
(a projection, an embedding head, a centre, a temperature per sample), a thin
``nn.Module`` wraps the function.

In the distillation losses the teacher never receives a gradient: every function detaches
the teacher's tensor itself, except :func:`crd`, whose teacher-side tensor is the output of
a *learned* head (see its docstring; :class:`CRDHead` detaches the teacher's features
before that head).

Argument checks shared by these modules live in the private ``_checks`` module; they
raise ``ValueError``.
"""

from trainers.losses.crd import CRDHead, crd
from trainers.losses.dcl import dcl
from trainers.losses.ema import ema_update, momentum_schedule
from trainers.losses.feature import FeatureDistillation, feature_distillation
from trainers.losses.isogclr import ISogCLRLoss
from trainers.losses.kd import kd
from trainers.losses.msd import MSDLoss, center_update, msd_loss
from trainers.losses.multiview import mv_dhel, mv_infonce, pairwise_nt_xent
from trainers.losses.noise import noise_view
from trainers.losses.nt_xent import nt_xent
from trainers.losses.regression import rnc, supremix
from trainers.losses.rkd import rkd
from trainers.losses.similarity import similarity_distillation
from trainers.losses.supcon import supcon

__all__ = [
    "CRDHead",
    "FeatureDistillation",
    "ISogCLRLoss",
    "MSDLoss",
    "center_update",
    "crd",
    "dcl",
    "ema_update",
    "feature_distillation",
    "kd",
    "momentum_schedule",
    "msd_loss",
    "mv_dhel",
    "mv_infonce",
    "noise_view",
    "nt_xent",
    "pairwise_nt_xent",
    "rkd",
    "rnc",
    "similarity_distillation",
    "supcon",
    "supremix",
]
