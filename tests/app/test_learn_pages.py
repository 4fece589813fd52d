"""AppTest of the Learn pages: each explains its idea and asks its prediction question first;
its run button runs for real (the simulation process is a child of the test, stopped at the
end; lesson 3 trains through the runner and a worker), then the page shows the figure with
the run's data, sentences with the run's own numbers and the comparison with the prediction."""

from __future__ import annotations

import pytest

from jobs import store as stmod
from tests.app.apptest import chart, decode, open_page
from tests.conftest import kill_store_processes, wait_for
from ui import lessons as L
from ui.learn_widgets import LESSON3_NAME, lesson3_config, toy_server


@pytest.fixture
def lab(tmp_path, monkeypatch):
    """An empty store; the simulation process and every worker and scheduler of the store are
    stopped at the end."""
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "store"))
    s = stmod.Store(tmp_path / "store")
    yield s
    toy_server.clear()  # its on_release stops the child process
    kill_store_processes(s)


def texts(at) -> list[str]:
    return [m.value for m in at.markdown] + [c.value for c in at.caption]


def trace(fig: dict, name: str) -> dict:
    return next(t for t in fig["data"] if t.get("name") == name)


def test_playground_plays_the_simulation_and_replaces_it_when_the_settings_change(lab):
    at = open_page("pages/learn_playground.py")
    assert [t.value for t in at.title] == ["Sphere Playground"]
    assert any("press **Play**" in t for t in texts(at))
    assert not at.get("plotly_chart")  # nothing is simulated before Play
    at.button(key="learn_pg_play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fig = chart(at, "learn_pg_fig")
    assert len(fig["frames"]) == 101  # 300 steps, every third recorded
    assert fig["layout"]["title"]["text"] == "NT-Xent · τ = 0.5 · 200 points · encoder mode"
    assert {t["type"] for t in fig["data"] if (t.get("name") or "").startswith("class ")} == {"scatter", "scatter3d"}
    uni = decode(trace(fig, "uniformity")["y"])
    assert len(uni) == 301
    sentence = next(t for t in texts(at) if t.startswith("**NT-Xent · τ = 0.5**: uniformity"))
    assert f"from {L.num(float(uni[0]))} to {L.num(float(uni[-1]))}" in sentence
    timing = next(t for t in texts(at) if t.startswith("computed in "))
    assert float(timing.split()[2]) > 0 and "101 frames" in timing
    assert toy_server().running  # one warm child process serves the next Play

    # new settings: the figure says it is out of date until Play replaces it
    at.radio(key="learn_pg_mode").set_value("free").run()
    at.radio(key="learn_pg_dim").set_value(2).run()
    at.selectbox(key="learn_pg_loss").set_value("uniform").run()
    assert any("settings above changed" in i.value for i in at.info)
    pid = toy_server().pid
    at.button(key="learn_pg_play").click().run()
    assert not at.info
    fig = chart(at, "learn_pg_fig")
    assert fig["layout"]["title"]["text"] == "uniformity only · 200 points · free mode"
    assert all(t["type"] == "scatter" for t in fig["data"])  # the circle; no inputs panel in free mode
    assert not any(a["text"].startswith("inputs") for a in fig["layout"]["annotations"])
    assert toy_server().pid == pid  # the same process answered

    # positive pairs: a segment per point, drawn from the same run without simulating again
    at.toggle(key="learn_pg_pairs").set_value(True).run()
    fig = chart(at, "learn_pg_fig")
    seg = trace(fig, "positive pairs (the two views of a point)")
    assert len(decode(seg["x"])) == 3 * 200

    # a look at another page and back: the settings and their figure are as they were
    at.switch_page("pages/runs.py").run()
    at.switch_page("pages/learn_playground.py").run()
    assert (at.radio(key="learn_pg_mode").value, at.radio(key="learn_pg_dim").value) == ("free", 2)
    assert at.toggle(key="learn_pg_pairs").value is True
    assert not at.info  # the figure still matches the settings
    assert chart(at, "learn_pg_fig")["layout"]["title"]["text"] == "uniformity only · 200 points · free mode"


def test_playground_compares_temperatures_from_one_start(lab):
    at = open_page("pages/learn_playground.py")
    at.radio(key="learn_pg_cmp_what").set_value("temperatures").run()
    at.multiselect(key="learn_pg_cmp_taus").set_value([0.1, 1.0]).run()
    at.button(key="learn_pg_cmp_play").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fig = chart(at, "learn_pg_cmp_fig")
    assert [a["text"] for a in fig["layout"]["annotations"][:3]] == ["NT-Xent · τ = 1", "NT-Xent · τ = 0.1",
                                                                     "alignment–uniformity paths"]
    assert len(fig["frames"]) == 101
    paths = [trace(fig, name) for name in ("NT-Xent · τ = 1", "NT-Xent · τ = 0.1")]
    starts = [(float(decode(p["x"])[0]), float(decode(p["y"])[0])) for p in paths]
    assert starts[0] == pytest.approx(starts[1])  # the same start
    assert decode(paths[0]["x"])[-1] != decode(paths[1]["x"])[-1]
    lines = [t for t in texts(at) if t.startswith("**NT-Xent · τ = ")]
    assert [ln.split("**")[1] for ln in lines] == ["NT-Xent · τ = 1", "NT-Xent · τ = 0.1"]
    for p, ln in zip(paths, lines, strict=True):
        assert f"to {L.num(float(decode(p['x'])[-1]))}:" in ln


def _asks_first(at, key: str, question: L.Question) -> None:
    radio = at.radio(key=key)
    assert radio.value is None  # no default answer
    assert radio.options == list(question.options.values())
    assert at.button(key=key.replace("predict", "run")).disabled  # predict before running
    assert any("Choose an answer above first" in c.value for c in at.caption)


def test_lesson_1_explains_runs_and_compares_with_the_prediction(lab):
    lesson = L.ALIGNMENT_UNIFORMITY
    at = open_page("pages/learn_1_alignment_uniformity.py")
    assert [t.value for t in at.title] == [lesson.title]
    assert lesson.idea in texts(at)
    assert len(at.get("latex")) == len(lesson.latex)
    _asks_first(at, "learn1_predict", lesson.question)
    at.radio(key="learn1_predict").set_value("spread").run()
    at.button(key="learn1_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fig = chart(at, "learn1_fig")
    assert len(fig["frames"]) == 101
    align = trace(fig, "alignment only")  # its path in the (uniformity, alignment) plane
    u = decode(align["x"])
    sentence = next(t for t in texts(at) if t.startswith("**alignment only**"))
    assert f"uniformity rose from {L.num(float(u[0]))} to {L.num(float(u[-1]))}" in sentence
    assert "a collapse" in sentence
    (warn,) = at.warning
    assert warn.value.startswith("You predicted “They spread out evenly over the sphere”; the run shows every point")
    assert "That matches “They all fall into one spot” instead." in warn.value
    assert any(t.startswith("**From:** Tongzhou Wang and Phillip Isola") for t in texts(at))
    assert any(t.startswith("- In the playground") for t in texts(at))


def test_lesson_2_in_presentation_mode(lab):
    lesson = L.TEMPERATURE
    at = open_page("pages/learn_2_temperature.py")
    _asks_first(at, "learn2_predict", lesson.question)
    at.toggle(key="learn_present").set_value(True).run()
    at.radio(key="learn2_predict").set_value("falls").run()
    at.button(key="learn2_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    fig = chart(at, "learn2_fig")
    assert fig["layout"]["font"]["size"] == 22  # presentation mode: large fonts
    finals = {t: float(decode(trace(fig, f"NT-Xent · τ = {t}")["x"])[-1]) for t in ("2", "0.05")}
    (ok,) = at.success
    assert ok.value == (f"You predicted “It falls: the points spread more evenly”; the run shows the final uniformity "
                        f"fell from {L.num(finals['2'])} at τ = 2 to {L.num(finals['0.05'])} at τ = 0.05. "
                        "Your prediction holds.")
    # the explanation is set as headings, the reading list folded away
    assert any(m.value.startswith("#### **τ = 2**: uniformity") for m in at.markdown)
    (fold,) = [e for e in at.expander if e.label == "Try this next · the paper"]
    assert not fold.proto.expanded
    # the setting follows the learner to the next lesson and into the URL
    at.switch_page("pages/learn_1_alignment_uniformity.py").run()
    assert at.toggle(key="learn_present").value is True
    assert at.query_params.get("present") == "1"
    at.switch_page("pages/train.py").run()  # a page without the toggle, and back
    at.switch_page("pages/learn_2_temperature.py").run()
    assert at.toggle(key="learn_present").value is True


@pytest.mark.slow
def test_lesson_3_trains_the_preset_and_reads_its_spectrum(lab):
    lesson = L.DIMENSIONAL_COLLAPSE
    at = open_page("pages/learn_3_dimensional_collapse.py")
    _asks_first(at, "learn3_predict", lesson.question)
    at.radio(key="learn3_predict").set_value("none").run()
    at.button(key="learn3_run").click().run()
    assert not at.exception, [e.value for e in at.exception]
    (rec,) = lab.list_runs()
    assert rec.name == LESSON3_NAME and rec.config == lesson3_config().to_dict()
    assert at.get("progress")  # queued or training: its progress shows
    assert at.button(key="learn3_run").disabled  # one run at a time
    wait_for(lambda: lab.get_run(rec.id).status == stmod.FINISHED, 240, every=0.5, what="the lesson's run to finish")
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    assert not at.get("progress")
    snaps = lab.snapshots(rec.id)
    last = lab.load_snapshot(rec.id, snaps[-1].epoch, skip=("rep", "emb"))
    fig = chart(at, "learn3_fig")
    assert [t["name"] for t in fig["data"]] == [f"epoch {s.epoch}" for s in snaps]
    assert decode(fig["data"][-1]["y"]) == pytest.approx(last["spectrum_emb"])
    n = L.alive(last["spectrum_emb"])
    assert any(t.startswith(f"At epoch {snaps[-1].epoch} it uses {n}") for t in texts(at))
    key, evidence = L.collapse_observed((snaps[-1].epoch, last["spectrum_emb"]))
    verdict = (at.success or at.warning)[0].value
    assert verdict.startswith(f"You predicted “{lesson.question.options['none']}”; the run shows {evidence}.")
    assert ("Your prediction holds." in verdict) == (key == "none")

    # a second learner gets the finished run at once
    again = open_page("pages/learn_3_dimensional_collapse.py")
    again.radio(key="learn3_predict").set_value("half").run()
    again.button(key="learn3_run").click().run()
    assert len(lab.list_runs()) == 1
    assert any(rec.id in c.value and "already holds" in c.value for c in again.caption)
