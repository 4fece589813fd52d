"""AppTest of the Distillation page against real runs (teacher, students, MSD) in a temporary store."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis.kernel_sd import make_toy, rbf_kernel, self_distillation_explicit
from jobs import store as st
from tests.app.apptest import APP, open_page
from tests.app.apptest import decode as _arr
from tests.conftest import FAST, kill_store_processes
from trainers.config import RunConfig
from trainers.train import train_run

SMALL = {**FAST, "epochs": 2, "hidden_dim": 32, "rep_dim": 16, "proj_dim": 16}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A teacher, a KD student and a student alone (10% labels), and the three MSD switch runs."""
    root = tmp_path_factory.mktemp("distill_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    s = st.Store(root)

    def train(cfg: RunConfig) -> str:
        rid = s.create_run(cfg, status=st.RUNNING)
        assert train_run(s, rid, log=lambda m: None)["status"] == st.FINISHED
        return rid

    ids = {"teacher": train(RunConfig(**{**FAST, "epochs": 2, "name": "teacher"}))}
    base = {**SMALL, "loss": "cross_entropy", "label_fraction": 0.1}
    ids["alone"] = train(RunConfig(**base, name="student alone"))
    ids["kd"] = train(RunConfig(**base, teacher=ids["teacher"], distill="kd", name="student kd"))
    for name, c, sh in (("centring only", True, False), ("sharpening only", False, True), ("both", True, True)):
        ids[name] = train(RunConfig(**{**SMALL, "loss": "msd", "group": "msd test", "name": name,
                                       "loss_options": {"centering": c, "sharpening": sh, "out_dim": 32}}))
    yield s, ids
    kill_store_processes(s)
    mp.undo()


def _app(**state) -> AppTest:
    return open_page("pages/distillation.py", **state)


def _titled(at) -> dict[str, dict]:
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {f["layout"].get("title", {}).get("text", ""): f for f in figs}


def test_teacher_and_student_side_by_side(lab):
    s, ids = lab
    at = _app(distill_student=ids["kd"])
    assert at.title[0].value == "Distillation"
    figs = _titled(at)
    maps = {t.split(":")[0]: f for t, f in figs.items() if t.startswith(("Teacher:", "Student:"))}
    assert set(maps) == {"Teacher", "Student"}
    for f in maps.values():  # every sample, one trace per digit class
        assert sum(len(_arr(t["x"])) for t in f["data"]) == 1797
        assert sorted(t["name"] for t in f["data"]) == [str(c) for c in range(10)]
    spec = figs["Covariance spectrum · representation"]
    assert spec["layout"]["yaxis"]["type"] == "log"
    lens = {t["name"].split(" · ")[0]: len(_arr(t["y"])) for t in spec["data"]}
    assert lens == {"teacher": 32, "student": 16}  # each model's own width
    au = figs["Alignment and uniformity over epochs"]
    assert len(au["data"]) == 2 and all(len(_arr(t["x"])) == 3 for t in au["data"])  # epochs 0, 1, 2
    # CKA and kNN overlap per epoch equal the student's snapshot metrics
    cka = next(f for f in figs.values() if any(t.get("name") == "linear CKA" for t in f["data"]))
    snaps = s.snapshots(ids["kd"])
    got = {t["name"]: _arr(t["y"]) for t in cka["data"]}
    np.testing.assert_allclose(got["linear CKA"], [x.metrics["cka_teacher"] for x in snaps], rtol=1e-6)
    np.testing.assert_allclose(got["shared 10-NN fraction"], [x.metrics["knn_overlap_teacher"] for x in snaps], rtol=1e-6)
    assert all(0 <= v <= 1 for v in got["linear CKA"])
    # the table: teacher, the distilled student, the same student trained alone
    table = at.dataframe[0].value
    assert list(table["role"]) == ["teacher", "distilled", "trained alone"]
    row = table.set_index("role").loc["distilled"]
    assert row["distillation"] == "kd" and row["labels"] == "10%"
    assert row["CKA to teacher"] == pytest.approx(s.get_run(ids["kd"]).metrics["cka_teacher"])
    assert 0 < table.set_index("role").loc["trained alone"]["linear (labelled only)"] <= 1
    assert any("CKA" in x.value for x in at.get("latex"))


def test_msd_section_shows_the_three_switches(lab):
    s, ids = lab
    at = _app()
    figs = _titled(at)
    ent = figs["Teacher output entropy"]
    names = [t["name"] for t in ent["data"]]
    for arm in ("centring only", "sharpening only", "both"):
        assert f"{arm} · H(p)" in names and f"{arm} · H(mean p)" in names
    tr = next(t for t in ent["data"] if t["name"] == "both · H(p)")
    np.testing.assert_allclose(_arr(tr["y"]), [x.metrics["teacher_entropy"] for x in s.snapshots(ids["both"])], rtol=1e-6)
    assert ent["layout"]["shapes"][0]["y0"] == pytest.approx(np.log(32))  # log K line
    rank = figs["Effective rank"]
    assert len(rank["data"]) == 6
    msd_table = at.dataframe[1].value
    assert set(msd_table["run"]) == {"centring only", "sharpening only", "both"}
    row = msd_table.set_index("run").loc["sharpening only"]
    assert not row["centring"] and row["sharpening"]


def test_kernel_toy_fits_match_explicit_refits(lab):
    # (a selectbox with a format_func blocks AppTest's set_value on other widgets: set the state instead)
    at = _app(distill_toy_steps=3, distill_toy_alpha=0.5)
    figs = _titled(at)
    fit = next(f for t, f in figs.items() if t.startswith("The fit of each step"))
    steps = [t for t in fit["data"] if t["name"].startswith("step ")]
    assert [t["name"] for t in steps] == ["step 1", "step 2", "step 3"]
    assert any(t["name"].startswith("ridge λ/α = 0.02") for t in fit["data"])
    # the page's step functions equal three explicit kernel-ridge refits (40 points, noise 0.3, seed 0, λ = 0.01)
    toy = make_toy(n=40, noise=0.3, seed=0)
    grid = np.linspace(-1, 1, 200)[:, None]
    want = self_distillation_explicit(rbf_kernel(toy.x, gamma=10.0), toy.y, ridge=0.01, alphas=[0.5, 0.5],
                                      K_eval=rbf_kernel(grid, toy.x, gamma=10.0))
    for t, w in zip(steps, want, strict=True):
        np.testing.assert_allclose(_arr(t["y"]), w, atol=1e-8)
    data = next(t for t in fit["data"] if t["name"] == "noisy data")
    np.testing.assert_allclose(_arr(data["y"]), toy.y)
    shrink = figs["Per-step shrinkage factor of each eigen-direction"]
    assert [t["name"] for t in shrink["data"]][:3] == ["B_1", "B_2", "B_3"] and len(_arr(shrink["data"][0]["y"])) == 40
    assert any("Many unweighted steps = stronger ridge" in m.value for m in at.markdown)
    errs = at.dataframe[-1].value
    assert len(errs) == 3 + 3 + 1


def test_empty_store_says_what_to_launch(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "empty"))
    at = _app()
    text = " ".join(i.value for i in at.info)
    assert "Distillation: KD vs alone" in text and "MSD: centring / sharpening / both" in text
    assert len(_titled(at)) == 4  # only the kernel toy's figures


def _train_page(monkeypatch) -> AppTest:
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception and at.title[0].value == "Train"
    return at


def test_train_page_refuses_a_teacher_trained_on_other_data(lab, monkeypatch):
    s, ids = lab
    at = _train_page(monkeypatch)
    label = next(o for o in at.selectbox(key="train_teacher_label").options if o.endswith(ids["teacher"]))
    at.selectbox(key="train_dataset").set_value("wine").run()
    at.selectbox(key="train_loss").set_value("cross_entropy").run()
    at.selectbox(key="train_teacher_label").set_value(label)
    at.selectbox(key="train_distill").set_value("kd").run()
    n = len(s.list_runs())
    at.button[0].click().run()
    assert any("must see the same data" in e.value for e in at.error), [e.value for e in at.error]
    assert len(s.list_runs()) == n


def test_train_page_launches_the_kd_preset_with_its_own_teacher(lab, monkeypatch):
    s, ids = lab
    at = _train_page(monkeypatch)
    at.selectbox(key="train_preset").set_value("Distillation: KD vs alone with 10% labels").run()
    assert at.number_input(key="train_label_fraction").value == 1.0  # the form shows run 1, the teacher
    before = {r.id for r in s.list_runs()}
    at.button[0].click().run()
    assert not at.error and "Queued 4 run(s)" in at.success[0].value
    new = sorted((r for r in s.list_runs() if r.id not in before), key=lambda r: r.created)
    assert len(new) == 4 and len({r.group for r in new}) == 1
    teacher, *students = new
    assert teacher.config["teacher"] == "" and teacher.config["hidden_dim"] == 512
    assert [r.config["distill"] for r in students] == ["", "kd", "similarity"]
    assert [r.config["teacher"] for r in students] == ["", teacher.id, teacher.id]  # "@0" resolved
    assert all(r.config["label_fraction"] == 0.1 and r.status == st.QUEUED for r in students)
    for r in new:
        s.update_run(r.id, status=st.CANCELLED)
