"""AppTest of lessons 4 to 8. Lesson 4 runs its four simulations for real (the simulation
process is a child of the test, stopped at the end). Lessons 5 to 8 train real runs: the
store holds short runs of each lesson (its configurations with fewer epochs and samples,
trained in this process), so "Train it" takes them as finished; the page then draws their
snapshots and explains them with their numbers, which the tests read back from the store.
A press on an empty store queues the lesson's runs and shows their progress."""

from __future__ import annotations

import dataclasses
import math

import pytest

from analysis.lesson_numbers import positive_share, tau_classes
from jobs import store as stmod
from tests.app.apptest import chart, decode, open_page
from tests.conftest import kill_store_processes
from trainers.train import train_run
from ui import lessons as L
from ui import lessons_more as M
from ui.learn_widgets import lesson_configs, toy_server
from ui.widgets import SELECTED

FEW = {"epochs": 2, "snapshot_every": "2", "threads": 1}  # snapshots at epochs 0 and 2
SMALL = {**FEW, "hidden_dim": 64, "rep_dim": 32, "proj_dim": 16}
SHORT = {  # lesson -> what makes its runs short enough for a test
    "ISOGCLR": SMALL,
    "REGRESSION": SMALL,
    "DISTILLATION": FEW,
    "SHORTCUTS": {**FEW, "n_samples": 300, "batch_size": 128},
}
LESSONS = {name: getattr(M, name) for name in SHORT}  # as the app has them


def texts(at) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


def verdict_of(at) -> str:
    (v,) = list(at.success) + list(at.warning)
    return v.value


def _asks_first(at, key: str, question: L.Question) -> None:
    radio = at.radio(key=key)
    assert radio.value is None
    assert radio.options == list(question.options.values())
    assert at.button(key=key.replace("predict", "run")).disabled
    assert any("Choose an answer above first" in c.value for c in at.caption)


# --------------------------------------------------------------------------- lesson 4 (the sphere toy)


@pytest.fixture
def toy_lab(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "store"))
    yield
    toy_server.clear()  # its on_release stops the child process


def test_lesson_4_runs_both_losses_at_two_batch_sizes_and_explains_the_coupling(toy_lab):
    lesson = M.DCL_BATCH
    at = open_page("pages/learn_4_dcl_batch_size.py")
    assert [t.value for t in at.title] == [lesson.title]
    assert lesson.idea in texts(at)
    assert len(at.get("latex")) == len(lesson.latex)
    _asks_first(at, "learn4_predict", lesson.question)
    at.radio(key="learn4_predict").set_value("nt_xent").run()
    at.button(key="learn4_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fig = chart(at, "learn4_fig")
    labels = [label for label, _ in lesson.runs]
    assert [a["text"] for a in fig["layout"]["annotations"][:5]] == [*labels, "alignment–uniformity paths"]
    finals = {label: float(decode(next(t for t in fig["data"] if t.get("name") == label)["x"])[-1])
              for label in labels}
    lines = texts(at)
    for label in labels:
        assert any(t.startswith(f"**{label}**: uniformity fell") and f"to {L.num(finals[label])};" in t for t in lines)
    # the coupling, computed again from the runs' last views
    runs = dict(zip(M.DCL_KEYS, at.session_state["learn4_result"]["runs"], strict=True))
    small = positive_share(runs["nt_xent_small"].views[-1], temperature=0.5, batch_size=M.DCL_SMALL)
    full = positive_share(runs["nt_xent_all"].views[-1], temperature=0.5)
    coupling = next(t for t in lines if t.startswith("At the last step of NT-Xent with batches of 8 points"))
    assert f"takes on average {M.pct(small.mean())} of each anchor's denominator (15 terms)" in coupling
    assert f"multiplied by q = {L.num(1 - small.mean())} on average" in coupling
    assert f"With all 200 points in the batch the positive's share is {M.pct(full.mean())}" in coupling
    assert small.mean() > 5 * full.mean()
    a, b = finals["NT-Xent · batch 8"], finals["DCL · batch 8"]
    observed = "dcl" if b < a - L.UNIFORMITY_TOL else "nt_xent" if b > a + L.UNIFORMITY_TOL else "same"
    text = verdict_of(at)
    assert text.startswith("You predicted “NT-Xent: the positive in the denominator steadies it”; the run shows a final "
                           f"uniformity of {L.num(b)} for DCL and {L.num(a)} for NT-Xent with batches of 8 points")
    assert ("Your prediction holds." in text) == (observed == "nt_xent")
    assert any(t.startswith("**From:** Chun-Hsiao Yeh") for t in lines)


# --------------------------------------------------------------------------- lessons 5 to 8 (real runs)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A store with one finished short run of every run of lessons 5 to 8 (each lesson's
    configurations, shortened by SHORT, in place of the lesson's), and no background process."""
    root = tmp_path_factory.mktemp("lessons_store")
    mp = pytest.MonkeyPatch()
    mp.setenv("LAB_STORE", str(root))
    mp.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    s = stmod.Store(root)
    ids: dict[str, list[str]] = {}
    for name, short in SHORT.items():
        lesson = getattr(M, name)
        lesson = dataclasses.replace(lesson, train=[{**over, **short} for over in lesson.train])
        mp.setattr(M, name, lesson)
        ids[name] = []
        for cfg in lesson_configs(lesson):
            rid = s.create_run(cfg, status=stmod.RUNNING)
            train_run(s, rid, log=lambda m: None)
            ids[name].append(rid)
    yield s, ids
    kill_store_processes(s)
    mp.undo()


def _answer_and_train(page: str, n: int, answer: str):
    at = open_page(page)
    _asks_first(at, f"learn{n}_predict", getattr(M, {5: "ISOGCLR", 6: "REGRESSION", 7: "DISTILLATION",
                                                        8: "SHORTCUTS"}[n]).question)
    at.radio(key=f"learn{n}_predict").set_value(answer).run()
    at.button(key=f"learn{n}_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert any("already holds" in c.value for c in at.caption)  # the finished runs, not new ones
    assert not at.get("progress")
    return at


def _last(s: stmod.Store, rid: str) -> stmod.SnapshotRecord:
    return s.snapshots(rid)[-1]


def test_lesson_5_reads_the_learned_temperatures_by_class(lab):
    s, ids = lab
    (rid,) = ids["ISOGCLR"]
    at = _answer_and_train("pages/learn_5_temperature_per_sample.py", 5, "rare")
    assert len(s.list_runs()) == sum(len(v) for v in ids.values())  # nothing new was queued
    snap = _last(s, rid)
    arrays = s.load_snapshot(rid, snap.epoch, skip=("rep", "emb"))
    t = tau_classes(arrays["ps_tau"], arrays["y"])
    fig = chart(at, "learn5_fig")
    (bars,) = fig["data"]
    assert decode(bars["y"]) == pytest.approx(t.means)
    assert [x.split("<br>")[0] for x in bars["x"]] == [f"class {c}" for c in t.classes]
    assert t.counts[0] >= 5 * t.counts[-1]  # the long tail
    lines = texts(at)
    assert any(x.startswith(f"All {int(t.counts.sum())} training samples started at τ = 0.5; at epoch {snap.epoch}")
               and f"from {L.num(t.low)} to {L.num(t.high)}" in x for x in lines)
    assert any(f"is {t.correlation:+.2f} (±1: a strict order)" in x for x in lines)
    key = "frequent" if t.correlation > 0.1 else "rare" if t.correlation < -0.1 else "same"
    text = verdict_of(at)
    assert text.startswith(f"You predicted “Samples of the rare classes”; the run shows a correlation of "
                           f"{t.correlation:+.2f} between class size and τ_i")
    assert ("Your prediction holds." in text) == (key == "rare")
    at.button(key="learn5_open").click().run()  # the run, picked, on the Temperature page
    assert at.session_state[SELECTED] == [rid]
    assert not at.exception, [e.value for e in at.exception]


def test_lesson_6_compares_the_order_of_four_regression_losses(lab):
    s, ids = lab
    at = _answer_and_train("pages/learn_6_contrastive_regression.py", 6, "rnc")
    final = {s.get_run(r).config["loss"]: _last(s, r).metrics for r in ids["REGRESSION"]}
    fig = chart(at, "learn6_fig")
    assert [t["name"] for t in fig["data"]] == [M.REG_LABELS[k] for k in M.REG_LOSSES]
    for tr, k in zip(fig["data"], M.REG_LOSSES, strict=True):
        assert decode(tr["y"])[-1] == pytest.approx(final[k]["rank_correlation"])
    lines = texts(at)
    best = max(final, key=lambda k: final[k]["rank_correlation"])
    assert any(x.startswith(f"At epoch 2, ordered by rank correlation of the representation: **{M.REG_LABELS[best]}** "
                            f"ρ = {final[best]['rank_correlation']:.3f}") for x in lines)
    for k, m in final.items():
        assert any(x.startswith(f"**{M.REG_LABELS[k]}**: a kNN regressor on its representation misses the angle by "
                                f"{m['knn_mae']:.1f}°") for x in lines)
    text = verdict_of(at)
    assert text.startswith(f"You predicted “RnC”; the run shows {M.REG_LABELS[best]} with ρ = "
                           f"{final[best]['rank_correlation']:.3f}")
    assert ("Your prediction holds." in text) == (best == "rnc")


def test_lesson_7_reads_the_teachers_entropy_of_each_switch(lab):
    s, ids = lab
    at = _answer_and_train("pages/learn_7_self_distillation.py", 7, "uniform")
    final = {M.run_key(s.get_run(r).config): _last(s, r).metrics for r in ids["DISTILLATION"]}
    assert set(final) == set(M.MSD_KEYS)
    fig = chart(at, "learn7_fig")
    for key in M.MSD_KEYS:
        tr = next(t for t in fig["data"] if t["name"] == f"{M.MSD_LABELS[key]} · per input")
        assert decode(tr["y"])[-1] == pytest.approx(final[key]["teacher_entropy"])
    assert any(s_["line"]["dash"] == "dot" for s_ in fig["data"])  # the mean distributions' entropies
    assert fig["layout"]["shapes"][0]["y0"] == pytest.approx(math.log(256))  # log K
    lines = texts(at)
    for key in M.MSD_KEYS:
        m = final[key]
        assert any(x.startswith(f"**{M.MSD_LABELS[key]}**: the entropy per input") and
                   (f"to {L.num(m['teacher_entropy'])} (about {math.exp(m['teacher_entropy']):.0f} output" in x
                    or f"at about {L.num(m['teacher_entropy'])} " in x) for x in lines)
    c = final["centring"]
    key = ("uniform" if c["teacher_entropy"] >= 0.9 * c["entropy_max"] else
           "one" if c["teacher_mean_entropy"] <= 0.5 * c["entropy_max"] else "healthy")
    text = verdict_of(at)
    assert text.startswith("You predicted “Each input's distribution becomes uniform over all outputs”; the run shows "
                           f"the centring-only teacher's entropy per input at {L.num(c['teacher_entropy'])} of a "
                           f"maximum of {L.num(c['entropy_max'])}")
    assert ("Your prediction holds." in text) == (key == "uniform")


def test_lesson_8_probes_colour_in_both_spaces_of_both_runs(lab):
    s, ids = lab
    at = _answer_and_train("pages/learn_8_augmentations_shortcuts.py", 8, "worse")
    final = {M.run_key(s.get_run(r).config): _last(s, r).metrics for r in ids["SHORTCUTS"]}
    assert set(final) == {"colour", "crop"}
    fig = chart(at, "learn8_fig")
    names = [t["name"] for t in fig["data"]]
    assert names == ["crop + colour · representation", "crop + colour · projector output",
                     "crop only · representation", "crop only · projector output"]
    bars = dict(zip(names, fig["data"], strict=True))
    assert list(bars["crop only · representation"]["x"])[0] == "colour (accuracy)"
    assert decode(bars["crop only · representation"]["y"])[0] == pytest.approx(final["crop"]["factor_probes"]["colour"])
    assert decode(bars["crop + colour · projector output"]["y"])[0] == pytest.approx(
        final["colour"]["factor_probes_embedding"]["colour"])
    shape = chart(at, "learn8_shape")
    assert [t["name"] for t in shape["data"]] == ["crop + colour", "crop only"]
    lines = texts(at)
    for key, label in M.SHAPES_LABELS.items():
        m = final[key]
        assert any(x.startswith(f"**{label}**: the colour is read with accuracy {m['factor_probes']['colour']:.3f} from "
                                f"the representation and {m['factor_probes_embedding']['colour']:.3f} from the "
                                "projector output") for x in lines)
    a, b = final["colour"]["knn_accuracy"], final["crop"]["knn_accuracy"]
    text = verdict_of(at)
    assert text.startswith(f"You predicted “Worse: the crops are matched by their colour”; the run shows a shape "
                           f"accuracy of {b:.3f} with crops only against {a:.3f} with crop + colour")
    assert ("Your prediction holds." in text) == (b < a - M.PROBE_TOL)


def test_a_lesson_on_an_empty_store_queues_its_runs_and_shows_their_progress(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "empty"))
    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)  # they stay queued
    monkeypatch.setattr(M, "REGRESSION", LESSONS["REGRESSION"])  # the lesson's own runs, not the short ones
    at = open_page("pages/learn_6_contrastive_regression.py")
    at.radio(key="learn6_predict").set_value("supremix").run()
    at.button(key="learn6_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    s = stmod.Store(tmp_path / "empty")
    runs = s.list_runs()
    assert sorted(r.config["loss"] for r in runs) == sorted(M.REG_LOSSES)
    assert all(r.status == stmod.QUEUED for r in runs)
    assert {r.config["epochs"] for r in runs} == {50}  # the lesson's own configuration
    bars = at.get("progress")
    assert len(bars) == 4 and all("queued · epoch 0/50 · waits for a free worker" in b.proto.text for b in bars)
    assert at.button(key="learn6_run").disabled  # one launch at a time
    assert not at.success and not at.warning  # no verdict before the runs have finished
    # a run that failed says so
    s.update_run(runs[0].id, status=stmod.FAILED, reason="worker process 1 died")
    at.run()
    assert any("worker process 1 died" in e.value for e in at.error)
    assert len(at.get("progress")) == 3
