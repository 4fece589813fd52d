"""Loss functions of the lab: one loss, one module (see docs in each module)."""

from trainers.losses.dcl import dcl
from trainers.losses.isogclr import ISogCLRLoss
from trainers.losses.multiview import mv_dhel, mv_infonce
from trainers.losses.noise import noise_view
from trainers.losses.nt_xent import nt_xent, pairwise_nt_xent
from trainers.losses.regression import rnc, supremix
from trainers.losses.supcon import supcon

__all__ = [
    "ISogCLRLoss",
    "dcl",
    "mv_dhel",
    "mv_infonce",
    "noise_view",
    "nt_xent",
    "pairwise_nt_xent",
    "rnc",
    "supcon",
    "supremix",
]

# distillation losses are added below by another module
from trainers.losses.distillation import (  # noqa: E402
    CRDHead,
    FeatureDistillation,
    MSDLoss,
    center_update,
    crd,
    ema_update,
    feature_distillation,
    kd,
    momentum_schedule,
    msd_loss,
    rkd,
    similarity_distillation,
)

__all__ += [
    "CRDHead",
    "FeatureDistillation",
    "MSDLoss",
    "center_update",
    "crd",
    "ema_update",
    "feature_distillation",
    "kd",
    "momentum_schedule",
    "msd_loss",
    "rkd",
    "similarity_distillation",
]
