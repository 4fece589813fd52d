"""CUDA: a short run on the GPU finishes and agrees with the same run on the CPU, and every
loss gives the same value and gradient on CUDA as on the CPU. Skipped without CUDA
(bench/gpu_check.sh runs these on a GPU machine)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from jobs import store as st
from tests.conftest import FAST
from trainers import losses as L
from trainers.config import RunConfig
from trainers.train import train_run

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (torch.cuda.is_available() is False)"),
]


def _train(store: st.Store, device: str, **kw) -> str:
    rid = store.create_run(RunConfig(**{**FAST, "device": device, **kw}), status=st.RUNNING)
    out = train_run(store, rid, log=lambda m: None)
    assert out["status"] == st.FINISHED, out
    return rid


@pytest.mark.parametrize("encoder", ["mlp", "cnn"])
def test_cuda_run_finishes_and_matches_cpu(store, encoder):
    gpu = _train(store, "cuda", encoder=encoder)
    cpu = _train(store, "cpu", encoder=encoder)
    s_gpu, s_cpu = store.snapshots(gpu), store.snapshots(cpu)
    assert [s.epoch for s in s_gpu] == [s.epoch for s in s_cpu] == [0, 1, 2, 4]
    # epoch 0: the same seeded initial weights, the same (CPU-generated) evaluation views
    a0, b0 = store.load_snapshot(gpu, 0), store.load_snapshot(cpu, 0)
    tol = 1e-4 if encoder == "mlp" else 5e-3  # cuDNN convolutions may use TF32
    np.testing.assert_allclose(a0["emb"], b0["emb"], rtol=tol, atol=tol)
    m0g, m0c = s_gpu[0].metrics, s_cpu[0].metrics
    for k in ("alignment", "uniformity", "rankme"):
        assert m0g[k] == pytest.approx(m0c[k], rel=1e-2, abs=1e-3), k
    assert abs(m0g["knn_accuracy"] - m0c["knn_accuracy"]) <= 0.01
    # after training: augmentations come from the device's generator, so the runs differ,
    # but they must land in the same place
    mg, mc = s_gpu[-1].metrics, s_cpu[-1].metrics
    assert abs(mg["knn_accuracy"] - mc["knn_accuracy"]) <= 0.06
    assert abs(mg["uniformity"] - mc["uniformity"]) <= 0.3
    assert abs(mg["alignment"] - mc["alignment"]) <= 0.3
    assert mg["rankme"] == pytest.approx(mc["rankme"], rel=0.25)
    assert torch.load(store.checkpoint_path(gpu), map_location="cpu", weights_only=True)["epoch"] == 4


def _loss_cases(b: int, d: int, device: str):
    g = torch.Generator().manual_seed(0)
    z1 = torch.randn(b, d, generator=g, dtype=torch.float64)
    z2 = torch.randn(b, d, generator=g, dtype=torch.float64)
    views = torch.randn(4, b, d, generator=g, dtype=torch.float64)
    labels = torch.randint(0, 4, (b,), generator=g)
    targets = torch.randn(b, generator=g, dtype=torch.float64).round(decimals=1)
    teacher = torch.randn(b, d, generator=g, dtype=torch.float64)
    leaves = {k: v.to(device).requires_grad_(True) for k, v in (("z1", z1), ("z2", z2), ("views", views))}
    lab, tgt, tch = labels.to(device), targets.to(device), teacher.to(device)
    z1, z2, views = leaves["z1"], leaves["z2"], leaves["views"]
    zz = lambda: torch.cat([z1, z2])  # noqa: E731
    return leaves, {
        "nt_xent": lambda: L.nt_xent(z1, z2, temperature=0.5),
        "dcl": lambda: L.dcl(z1, z2, temperature=0.1),
        "dclw": lambda: L.dcl(z1, z2, temperature=0.1, weighted=True),
        "supcon": lambda: L.supcon(zz(), torch.cat([lab, lab]), temperature=0.1),
        "pairwise_nt_xent": lambda: L.pairwise_nt_xent(views, temperature=0.5),
        "mv_infonce": lambda: L.mv_infonce(views, temperature=0.5),
        "mv_dhel": lambda: L.mv_dhel(views, temperature=0.5),
        "rnc": lambda: L.rnc(zz(), torch.cat([tgt, tgt]), temperature=2.0),
        "supremix": lambda: L.supremix(zz(), torch.cat([tgt, tgt]), temperature=0.3,
                                       generator=torch.Generator().manual_seed(1)),
        "kd": lambda: L.kd(z1, tch, T=4.0),
        "similarity_distillation": lambda: L.similarity_distillation(z1, tch, temperature=0.1),
        "crd": lambda: L.crd(z1, tch, temperature=0.07),
        "rkd": lambda: L.rkd(z1, tch),
    }


@pytest.mark.parametrize("name", ["nt_xent", "dcl", "dclw", "supcon", "pairwise_nt_xent", "mv_infonce", "mv_dhel",
                                  "rnc", "supremix", "kd", "similarity_distillation", "crd", "rkd"])
def test_loss_on_cuda_equals_cpu(name):
    out = {}
    for device in ("cpu", "cuda"):
        leaves, cases = _loss_cases(32, 16, device)
        value = cases[name]()
        value.backward()
        out[device] = (value.detach().cpu(), {k: (v.grad.cpu() if v.grad is not None else None) for k, v in leaves.items()})
    (v_cpu, g_cpu), (v_gpu, g_gpu) = out["cpu"], out["cuda"]
    torch.testing.assert_close(v_gpu, v_cpu, rtol=1e-9, atol=1e-10)
    for k in g_cpu:
        if g_cpu[k] is None:
            assert g_gpu[k] is None
        else:
            torch.testing.assert_close(g_gpu[k], g_cpu[k], rtol=1e-8, atol=1e-10)


def test_isogclr_state_on_cuda_equals_cpu():
    res = {}
    for device in ("cpu", "cuda"):
        g = torch.Generator().manual_seed(0)
        loss = L.ISogCLRLoss(64, tau_init=0.5).to(device=device, dtype=torch.float64)
        values = []
        for _ in range(3):
            z1 = torch.randn(16, 8, generator=g, dtype=torch.float64).to(device).requires_grad_(True)
            z2 = torch.randn(16, 8, generator=g, dtype=torch.float64).to(device)
            idx = torch.randperm(64, generator=g)[:16].to(device)
            v = loss(z1, z2, idx)
            v.backward()
            values.append((v.detach().cpu(), z1.grad.cpu()))
        res[device] = (values, loss.tau.cpu(), loss.u.cpu())
    (vc, tau_c, u_c), (vg, tau_g, u_g) = res["cpu"], res["cuda"]
    for (a, ga), (b, gb) in zip(vc, vg, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-10)
        torch.testing.assert_close(gb, ga, rtol=1e-8, atol=1e-10)
    torch.testing.assert_close(tau_g, tau_c)
    torch.testing.assert_close(u_g, u_c)
