"""AppTest of the distillation pages (Teacher & Student, Momentum Self-Distillation, Kernel
Ridge Toy) against real runs in a temporary store: a teacher, students distilled from it,
the same student trained alone, and the three MSD switch runs."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from analysis.kernel_sd import make_toy, rbf_kernel, self_distillation_explicit, toy_function
from jobs import store as st
from tests.app.apptest import APP, open_page
from tests.app.apptest import decode as _arr
from tests.conftest import FAST, kill_store_processes
from trainers.config import RunConfig
from trainers.train import train_run
from ui import distillation as ds
from ui.text import md_escape
from ui.widgets import SELECTED

SMALL = {**FAST, "epochs": 2, "hidden_dim": 32, "rep_dim": 16, "proj_dim": 16}
TEACHER_NAME = "teacher <i>wide</i> *x*"  # markup in a name shows as typed
STUDENTS = "pages/distillation_teacher_student.py"
MSD = "pages/distillation_msd.py"
TOY = "pages/distillation_kernel_toy.py"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A teacher, a KD and a similarity student and a student alone (10% labels), and the three MSD switch runs."""
    root = tmp_path_factory.mktemp("distill_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    mp.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    s = st.Store(root)

    def train(cfg: RunConfig) -> str:
        rid = s.create_run(cfg, status=st.RUNNING)
        assert train_run(s, rid, log=lambda m: None)["status"] == st.FINISHED
        return rid

    ids = {"teacher": train(RunConfig(**{**FAST, "epochs": 2, "name": TEACHER_NAME}))}
    base = {**SMALL, "loss": "cross_entropy", "label_fraction": 0.1}
    ids["alone"] = train(RunConfig(**base, name="student alone"))
    ids["kd"] = train(RunConfig(**base, teacher=ids["teacher"], distill="kd", name="student kd"))
    ids["sim"] = train(RunConfig(**base, teacher=ids["teacher"], distill="similarity", name="student similarity"))
    for name, c, sh in (("centring only", True, False), ("sharpening only", False, True), ("both", True, True)):
        ids[name] = train(RunConfig(**{**SMALL, "loss": "msd", "group": "msd test", "name": name,
                                       "loss_options": {"centering": c, "sharpening": sh, "out_dim": 32}}))
    yield s, ids
    kill_store_processes(s)
    mp.undo()


def _titled(at) -> dict[str, dict]:
    figs = [json.loads(c.proto.spec) for c in at.get("plotly_chart")]
    return {f["layout"].get("title", {}).get("text", ""): f for f in figs}


def _maps(at) -> dict[str, dict]:
    """The map figures by role ("Teacher", "Student")."""
    return {t.split(":")[0]: f for t, f in _titled(at).items() if t.startswith(("Teacher:", "Student:"))}


def test_teacher_and_student_side_by_side(lab):
    s, ids = lab
    at = open_page(STUDENTS, distill_student=ids["kd"])
    assert at.title[0].value == "Teacher & Student"
    assert at.selectbox(key="distill_student").value == ids["kd"]
    figs = _titled(at)
    maps = _maps(at)
    assert set(maps) == {"Teacher", "Student"}
    for f in maps.values():  # every sample, one trace per digit class
        assert sum(len(_arr(t["x"])) for t in f["data"]) == 1797
        assert sorted(t["name"] for t in f["data"]) == [str(c) for c in range(10)]
    # names as typed: Plotly gets entities, Markdown gets escapes
    assert maps["Teacher"]["layout"]["title"]["text"] == "Teacher: PCA · teacher &lt;i&gt;wide&lt;/i&gt; *x* · epoch 2"
    assert maps["Student"]["layout"]["title"]["text"] == "Student: PCA · student kd · epoch 2"
    caption = next(c.value for c in at.caption if c.value.startswith("Distillation **kd**"))
    assert f"teacher: **{md_escape(TEACHER_NAME)}** ({md_escape(ids['teacher'])})" in caption
    assert "labels used by the task loss: 10%" in caption
    spec = figs["Covariance spectrum · representation"]
    assert spec["layout"]["yaxis"]["type"] == "log"
    lens = {t["name"].split(" · ")[0]: len(_arr(t["y"])) for t in spec["data"]}
    assert lens == {"teacher": 32, "student": 16}  # each model's own width
    np.testing.assert_allclose(_arr(spec["data"][1]["y"]), s.load_snapshot(ids["kd"], 2)["spectrum_rep"], rtol=1e-6)
    au = figs["Alignment and uniformity over epochs"]
    assert len(au["data"]) == 2 and all(len(_arr(t["x"])) == 3 for t in au["data"])  # epochs 0, 1, 2
    assert spec["data"][0]["line"]["color"] != spec["data"][1]["line"]["color"]  # one colour per run
    # CKA and kNN overlap per epoch equal the student's snapshot metrics
    cka = next(f for f in figs.values() if any(t.get("name") == "linear CKA" for t in f["data"]))
    snaps = s.snapshots(ids["kd"])
    got = {t["name"]: _arr(t["y"]) for t in cka["data"]}
    np.testing.assert_allclose(got["linear CKA"], [x.metrics["cka_teacher"] for x in snaps], rtol=1e-6)
    np.testing.assert_allclose(got["shared 10-NN fraction"], [x.metrics["knn_overlap_teacher"] for x in snaps], rtol=1e-6)
    # the table: teacher, both students distilled from it, the same student trained alone
    table = at.dataframe[0].value
    assert list(table["role"]) == ["teacher", "distilled", "distilled", "trained alone"]
    assert set(table["run"]) == {TEACHER_NAME, "student kd", "student similarity", "student alone"}
    row = table.set_index("run").loc["student kd"]
    assert row["distillation"] == "kd" and row["labels"] == "10%"
    assert row["CKA to teacher"] == pytest.approx(s.get_run(ids["kd"]).metrics["cka_teacher"])
    alone = table.set_index("role").loc["trained alone"]
    assert alone["linear (labelled only)"] == pytest.approx(s.get_run(ids["alone"]).metrics["linear_accuracy_labelled"])
    teacher_row = table.set_index("role").loc["teacher"]  # no own head, no teacher: missing numbers
    assert np.isnan(teacher_row["own classifier"]) and np.isnan(teacher_row["CKA to teacher"])
    assert teacher_row["kNN acc"] == pytest.approx(s.get_run(ids["teacher"]).metrics["knn_accuracy"])
    assert any("CKA" in x.value for x in at.get("latex"))
    assert not any("No run of the same student configuration" in c.value for c in at.caption)


def test_student_epoch_moves_the_student_not_the_teacher(lab):
    s, ids = lab
    at = open_page(STUDENTS, distill_student=ids["kd"], distill_epoch=1)
    assert at.select_slider(key="distill_epoch").value == 1
    maps = _maps(at)
    assert maps["Student"]["layout"]["title"]["text"].endswith("· epoch 1")
    assert maps["Teacher"]["layout"]["title"]["text"].endswith("· epoch 2")  # the teacher at its last snapshot
    au = _titled(at)["Alignment and uniformity over epochs"]
    assert {t["name"].split(" · ")[0]: len(_arr(t["x"])) for t in au["data"]} == {"teacher": 3, "student": 2}
    spec = _titled(at)["Covariance spectrum · representation"]
    np.testing.assert_allclose(_arr(spec["data"][1]["y"]), s.load_snapshot(ids["kd"], 1)["spectrum_rep"], rtol=1e-6)


def test_student_follows_the_runs_in_the_url_and_shares_a_new_pick(lab):
    s, ids = lab
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["runs"] = f"{ids['alone']},{ids['sim']}"  # a bookmark: the first run is no student
    at.run()
    at.switch_page(STUDENTS).run()
    assert not at.exception
    assert at.selectbox(key="distill_student").value == ids["sim"]
    assert _maps(at)["Student"]["layout"]["title"]["text"] == "Student: PCA · student similarity · epoch 2"
    assert any(c.value.startswith("Distillation **similarity**") for c in at.caption)
    at.selectbox(key="distill_student").set_value(ids["kd"]).run()
    assert _maps(at)["Student"]["layout"]["title"]["text"] == "Student: PCA · student kd · epoch 2"
    assert at.query_params["runs"] in (ids["kd"], [ids["kd"]])  # a run picked from outside the choice replaces it


def _orphan(lab, root, monkeypatch) -> tuple[st.Store, str]:
    """A store of its own holding a copy of the KD student whose teacher is not in it."""
    s, ids = lab
    monkeypatch.setenv("LAB_STORE", str(root))
    other = st.Store(root)
    rid = other.create_run(RunConfig(**{**SMALL, "loss": "cross_entropy", "teacher": "gone", "distill": "kd",
                                        "name": "orphan"}), status=st.FINISHED)
    for x in s.snapshots(ids["kd"]):
        other.add_snapshot(rid, x.epoch, x.step, s.load_snapshot(ids["kd"], x.epoch), x.metrics)
    return other, rid


def test_a_student_whose_teacher_is_gone(lab, tmp_path, monkeypatch):
    other, rid = _orphan(lab, tmp_path / "orphan", monkeypatch)
    at = open_page(STUDENTS)
    assert any("The teacher run gone is no longer in the store" in w.value for w in at.warning)
    assert set(_maps(at)) == {"Student"}
    spec = _titled(at)["Covariance spectrum · representation"]
    assert [t["name"] for t in spec["data"]] == ["student · orphan"]
    assert list(at.dataframe[0].value["role"]) == ["distilled"]
    assert any("No run of the same student configuration" in c.value for c in at.caption)
    # a snapshot written while the page is open shows on its next run (the epoch slider sat at the end)
    last = other.snapshots(rid)[-1]
    other.add_snapshot(rid, 3, last.step + 10, other.load_snapshot(rid, last.epoch), {**last.metrics, "epoch": 3})
    at.run()
    assert at.select_slider(key="distill_epoch").value == 3
    assert _maps(at)["Student"]["layout"]["title"]["text"].endswith("· epoch 3")
    cka = next(f for f in _titled(at).values() if any(t.get("name") == "linear CKA" for t in f["data"]))
    assert list(_arr(cka["data"][0]["x"])) == [0, 1, 2, 3]


def test_umap_map_once_the_worker_has_computed_it(lab, tmp_path, monkeypatch):
    other, rid = _orphan(lab, tmp_path / "orphan", monkeypatch)
    at = open_page(STUDENTS, distill_map="UMAP")
    assert _maps(at)["Student"]["layout"]["title"]["text"].startswith("Student: PCA · ")
    assert any("UMAP map is still being computed" in c.value for c in at.caption)
    coords = np.random.default_rng(0).normal(size=(1797, 2))
    other.add_projection(rid, 2, "rep", "umap", coords, 0.1)
    at.run()
    fig = _maps(at)["Student"]
    assert fig["layout"]["title"]["text"] == "Student: UMAP · orphan · epoch 2"
    assert fig["layout"]["xaxis"]["title"]["text"] == "UMAP 1"
    assert not any("UMAP map is still being computed" in c.value for c in at.caption)
    y = other.load_snapshot(rid, 2)["y"]
    for t in fig["data"]:  # each class's points at the worker's coordinates
        np.testing.assert_allclose(_arr(t["x"]), coords[y == int(t["name"]), 0])


def test_queued_runs_of_the_comparison_are_watched_for_new_snapshots(lab):
    s, ids = lab
    student, teacher = s.get_run(ids["kd"]), s.get_run(ids["teacher"])
    base = {**SMALL, "loss": "cross_entropy", "label_fraction": 0.1}
    queued = {
        "sibling": s.create_run(RunConfig(**base, teacher=ids["teacher"], distill="feature", name="q sibling")),
        "alone": s.create_run(RunConfig(**{**base, "seed": 7}, name="q alone")),
        "other labels": s.create_run(RunConfig(**{**base, "label_fraction": 0.5}, name="q other")),
        "msd": s.create_run(RunConfig(**{**SMALL, "loss": "msd", "name": "q msd"})),
    }
    try:
        watched = [r.id for r in ds.watched_runs(s, student, teacher)]
        assert watched[:2] == [ids["kd"], ids["teacher"]]
        assert set(watched[2:]) == {queued["sibling"], queued["alone"]}
        # without snapshots they are not in the table yet
        roles = [(role, r.id) for role, r in ds.comparison_group(s, student, teacher)]
        assert roles[0] == ("teacher", ids["teacher"]) and roles[-1] == ("trained alone", ids["alone"])
        assert sorted(roles[1:3]) == sorted([("distilled", ids["kd"]), ("distilled", ids["sim"])])
        assert len(roles) == 4
    finally:
        for rid in queued.values():
            s.delete_run(rid)


def test_msd_page_shows_the_three_switches(lab):
    s, ids = lab
    at = open_page(MSD)
    assert at.title[0].value == "Momentum Self-Distillation"
    # the newest group is chosen: the three switches
    assert set(at.multiselect(key="distill_msd_runs").value) == {ids["centring only"], ids["sharpening only"], ids["both"]}
    figs = _titled(at)
    ent = figs["Teacher output entropy"]
    names = [t["name"] for t in ent["data"]]
    for arm in ("centring only", "sharpening only", "both"):
        assert f"{arm} · H(p)" in names and f"{arm} · H(mean p)" in names
    tr = next(t for t in ent["data"] if t["name"] == "both · H(p)")
    np.testing.assert_allclose(_arr(tr["y"]), [x.metrics["teacher_entropy"] for x in s.snapshots(ids["both"])], rtol=1e-6)
    assert ent["layout"]["shapes"][0]["y0"] == pytest.approx(np.log(32))  # log K line
    assert len({t["line"]["color"] for t in ent["data"]}) == 3  # one colour per run
    rank = figs["Effective rank"]
    assert len(rank["data"]) == 6
    tr = next(t for t in rank["data"] if t["name"] == "centring only · embedding")
    np.testing.assert_allclose(_arr(tr["y"]), [x.metrics["rankme_emb"] for x in s.snapshots(ids["centring only"])],
                               rtol=1e-6)
    msd_table = at.dataframe[0].value
    assert set(msd_table["run"]) == {"centring only", "sharpening only", "both"}
    row = msd_table.set_index("run").loc["sharpening only"]
    assert not row["centring"] and row["sharpening"] and row["epoch"] == 2
    assert row["teacher entropy"] == pytest.approx(s.snapshots(ids["sharpening only"])[-1].metrics["teacher_entropy"])


def test_msd_page_shows_the_runs_picked_elsewhere(lab):
    s, ids = lab
    at = open_page(MSD, **{SELECTED: [ids["kd"], ids["both"]]})  # picked on another view
    assert at.multiselect(key="distill_msd_runs").value == [ids["both"]]
    ent = _titled(at)["Teacher output entropy"]
    assert [t["name"] for t in ent["data"]] == ["both · H(p)", "both · H(mean p)"]
    assert list(at.dataframe[0].value["run"]) == ["both"]


def test_kernel_toy_fits_match_explicit_refits():
    # (a selectbox with a format_func blocks AppTest's set_value on other widgets: set the state instead)
    at = open_page(TOY, distill_toy_steps=3, distill_toy_alpha=0.5)
    assert at.title[0].value == "Kernel Ridge Toy"
    figs = _titled(at)
    fit = next(f for t, f in figs.items() if t.startswith("The fit of each step"))
    assert fit["layout"]["title"]["text"] == "The fit of each step (α = 0.5, λ = 0.01)"
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
    want_mse = [np.mean((w - toy_function(grid)) ** 2) for w in want]  # to the noiseless function
    np.testing.assert_allclose(errs["error to the true function"][:3], want_mse, rtol=1e-6)
    # the text speaks of the weighted steps on the charts too, with their numbers
    text = next(m.value for m in at.markdown if "stronger ridge" in m.value)
    assert f"step 3's error is {want_mse[2]:.4f} against step 1's {want_mse[0]:.4f}" in text
    assert "ridge with λ/α = 0.02" in text


def test_kernel_toy_without_ground_truth_matches_a_stronger_ridge():
    at = open_page(TOY, distill_toy_steps=4)  # alpha 0: no limit curve, four steps
    figs = _titled(at)
    fit = figs["The fit of each step (α = 0, λ = 0.01)"]
    assert not any("∞ steps" in t["name"] for t in fit["data"])
    eq = figs["Shrinkage factors"]
    s4, ridge_eq = (_arr(t["y"]) for t in eq["data"][:2])
    assert eq["data"][0]["name"] == "s^4 (4 steps, α = 0)"
    np.testing.assert_allclose(s4, _arr(figs["Per-step shrinkage factor of each eigen-direction"]["data"][3]["y"]))
    assert np.all(np.diff(s4) <= 1e-12)  # directions of smaller eigenvalues are shrunk more
    text = next(m.value for m in at.markdown if "stronger ridge" in m.value)
    lam = float(text.split("λ' = ")[1].split(" ")[0])
    assert lam > 0.01  # a stronger ridge than one step's
    assert "λ/α" not in text  # α = 0: no weighted steps to speak of
    errs = at.dataframe[-1].value
    assert list(errs["fit"]) == ["step 1", "step 2", "step 3", "step 4", "4 steps, α = 0", "ridge λ'", "ridge λ"]
    np.testing.assert_allclose(errs["error to the true function"][3], errs["error to the true function"][4], rtol=1e-9)


def test_empty_store_says_what_to_launch(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "empty"))
    at = open_page(STUDENTS)
    assert "Distillation: KD vs alone" in " ".join(i.value for i in at.info)
    assert len(_titled(at)) == 0 and not at.dataframe
    at = open_page(MSD)
    assert "MSD: centring / sharpening / both" in " ".join(i.value for i in at.info)
    assert len(_titled(at)) == 0 and not at.dataframe
    at = open_page(TOY)  # needs no run
    assert len(_titled(at)) == 4 and len(at.dataframe) == 1


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
