"""What the views show follows the store and the person: a snapshot written after a view was
first drawn shows in a new session and in the same one (no stale cache), epoch sliders follow
a training run while they sit at its last epoch, and the chosen runs are shared by the views
and kept in the URL."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.app.apptest import APP, chart, decode
from tests.conftest import FAST


@pytest.fixture
def lab(store, monkeypatch):
    """Two small finished runs in a temporary store; the scheduler is never started."""
    from jobs import store as st
    from trainers.config import RunConfig
    from trainers.train import train_run

    monkeypatch.setattr("jobs.runner.ensure_scheduler", lambda store: False)
    ids = []
    for name in ("first", "second"):
        rid = store.create_run(RunConfig(**{**FAST, "epochs": 2, "name": name}), status=st.RUNNING)
        train_run(store, rid, log=lambda m: None)
        ids.append(rid)
    return store, ids


def _write_epoch(store, run_id: str, epoch: int) -> None:
    """A snapshot at ``epoch``, as a worker that trains on would write it (arrays of the last one)."""
    last = store.snapshots(run_id)[-1]
    arrays = store.load_snapshot(run_id, last.epoch)
    store.add_snapshot(run_id, epoch, last.step + 10 * epoch, arrays, {**last.metrics, "epoch": epoch})


def _open(page: str, **state) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    for k, v in state.items():
        at.session_state[k] = v
    at.run()
    at.switch_page(page).run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def _au_epochs(at: AppTest) -> list[int]:
    fig = chart(at, "au_chart")
    return [int(e) for e in decode(fig["data"][0]["customdata"])]


def test_a_new_snapshot_shows_in_a_new_session_and_in_the_open_one(lab):
    s, (first, _) = lab
    at = _open("pages/alignment_uniformity.py", au_runs=[first])
    assert _au_epochs(at) == [0, 1, 2]
    _write_epoch(s, first, 3)
    # a new visitor (same server process, so the same caches) sees epoch 3
    assert _au_epochs(_open("pages/alignment_uniformity.py", au_runs=[first])) == [0, 1, 2, 3]
    # and so does the open page on its next run
    at.run()
    assert _au_epochs(at) == [0, 1, 2, 3]


def test_epoch_slider_follows_new_snapshots_only_while_at_the_end(lab):
    s, (first, _) = lab
    at = _open("pages/collapse.py", dc_runs=[first])
    slider = at.select_slider(key="dc_epoch")
    assert slider.options == ["0", "1", "2"] and slider.value == 2
    _write_epoch(s, first, 3)
    at.run()
    assert at.select_slider(key="dc_epoch").value == 3  # was at the end: follows
    assert "(epoch 3)" in chart(at, "dc_spectrum")["data"][0]["name"]
    at.select_slider(key="dc_epoch").set_value(1).run()
    _write_epoch(s, first, 4)
    at.run()
    assert at.select_slider(key="dc_epoch").value == 1  # moved back by the person: stays
    assert at.select_slider(key="dc_epoch").options == ["0", "1", "2", "3", "4"]
    assert "(epoch 1)" in chart(at, "dc_spectrum")["data"][0]["name"]


def test_chosen_runs_come_from_the_url_and_are_shared_by_the_views(lab):
    s, (first, second) = lab
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["runs"] = second
    at.run()
    at.switch_page("pages/alignment_uniformity.py").run()
    assert at.multiselect(key="au_runs").value == [second]
    # pick both on this view: the Collapse page opens with both, and the URL holds both
    at.multiselect(key="au_runs").set_value([first, second]).run()
    assert at.session_state["lab_selected_runs"] == [first, second]
    at.switch_page("pages/collapse.py").run()
    assert at.multiselect(key="dc_runs").value == [first, second]
    assert at.query_params["runs"] in (f"{first},{second}", [f"{first},{second}"])
    # a view of one run shows the first; picking the other there moves it to the front
    at.switch_page("pages/embedding_map.py").run()
    assert at.selectbox(key="map_run").value == first
    at.selectbox(key="map_run").set_value(second).run()
    assert at.session_state["lab_selected_runs"] == [second, first]
    at.switch_page("pages/alignment_uniformity.py").run()
    assert at.multiselect(key="au_runs").value == [second, first]


def test_unknown_run_ids_in_the_url_are_ignored(lab):
    s, (first, second) = lab
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["runs"] = f"nope,{first},../../etc"
    at.run()
    at.switch_page("pages/alignment_uniformity.py").run()
    assert not at.exception
    assert at.multiselect(key="au_runs").value == [first]


def test_one_run_has_one_colour_on_every_chart(lab):
    s, (first, second) = lab
    at = _open("pages/collapse.py", dc_runs=[first, second])
    spec = chart(at, "dc_spectrum")["data"]
    rank = chart(at, "dc_rank")["data"]
    colour = {t["name"].split(" (epoch")[0]: t["line"]["color"] for t in spec}
    assert colour["first"] != colour["second"]
    for t in rank:  # RankMe (solid) and effective rank (dotted) of a run share its colour
        assert t["line"]["color"] == colour[t["name"].split(" · ")[0]]
    au = _open("pages/alignment_uniformity.py", au_runs=[first, second])
    for t in chart(au, "au_chart")["data"]:
        assert t["line"]["color"] == t["marker"]["color"] == colour[t["name"]]


def test_a_damaged_snapshot_is_named_and_the_other_runs_still_show(lab):
    s, (first, second) = lab
    path = s.run_dir(first) / "snapshots" / "epoch_00002.npz"
    path.write_bytes(path.read_bytes()[:200])  # truncated, as by a crash of the disk
    at = _open("pages/collapse.py", dc_runs=[first])
    assert not at.exception
    errors = " ".join(e.value for e in at.error)
    assert "damaged" in errors and first in errors and "epoch 2" in errors
    assert any("doctor" in c.value for c in at.caption)  # what to do
    assert at.multiselect(key="dc_runs").value == [first]  # the picker is still there to choose another run
    other = _open("pages/collapse.py", dc_runs=[second])
    assert not other.error
    assert "(epoch 2)" in chart(other, "dc_spectrum")["data"][0]["name"]


def test_a_store_that_cannot_be_opened_says_so_on_every_page(tmp_path, monkeypatch):
    bad = tmp_path / "store"
    bad.write_text("not a folder")  # LAB_STORE pointing at a file
    monkeypatch.setenv("LAB_STORE", str(bad))
    at = AppTest.from_file(APP, default_timeout=60).run()
    assert not at.exception
    assert any("cannot be opened" in e.value for e in at.error)


def test_compare_shows_every_run_of_a_large_group_or_says_which(lab):
    """A sweep of 14 runs: Compare shows 12 at a time, says so, and lets a person choose which;
    a group of 8 shows all 8."""
    from jobs import store as st
    from trainers.config import RunConfig

    s, (first, _) = lab
    last = s.snapshots(first)[-1]
    arrays = s.load_snapshot(first, last.epoch)

    def group(name: str, n: int) -> list[str]:
        ids = []
        for i in range(n):
            rid = s.create_run(RunConfig(**{**FAST, "epochs": 2, "temperature": 0.05 * (i + 1), "group": name,
                                            "name": f"{name} τ {0.05 * (i + 1):.2f}"}), status=st.FINISHED)
            s.add_snapshot(rid, 2, last.step, arrays, last.metrics)
            ids.append(rid)
        return ids

    eight, fourteen = group("sweep8", 8), group("sweep14", 14)
    at = _open("pages/compare.py", cmp_group="sweep8")
    maps = chart(at, "cmp_maps")
    assert len(maps["layout"]["annotations"]) == 8  # one titled panel per run
    table = [d.value for d in at.dataframe if "best in" in d.value.columns][0]
    assert list(table["run"]) == [s.get_run(r).name for r in eight]  # every run of the group, in order
    assert list(table["temperature"]) == [f"{0.05 * (i + 1):g}" for i in range(8)]
    at = _open("pages/compare.py", cmp_group="sweep14")
    pick = at.multiselect(key="cmp_group_runs")
    assert "14 runs" in pick.label and len(pick.value) == 12
    assert len(chart(at, "cmp_maps")["layout"]["annotations"]) == 12
    pick.set_value(fourteen[10:]).run()  # the last four
    names = [a["text"] for a in chart(at, "cmp_maps")["layout"]["annotations"]]
    assert len(names) == 4 and "τ 0.70" in names[-1]


def test_compare_keeps_its_group_in_the_url(lab):
    from jobs import store as st
    from trainers.config import RunConfig

    s, (first, _) = lab
    last = s.snapshots(first)[-1]
    for i in range(2):
        rid = s.create_run(RunConfig(**{**FAST, "seed": i, "group": "seeds", "name": f"seed {i}"}), status=st.FINISHED)
        s.add_snapshot(rid, last.epoch, last.step, s.load_snapshot(first, last.epoch), last.metrics)
    at = AppTest.from_file(APP, default_timeout=60)
    at.query_params["group"] = "seeds"  # a reload or a link
    at.run()
    at.switch_page("pages/compare.py").run()
    assert at.selectbox(key="cmp_group").value == "seeds"
    assert len(chart(at, "cmp_maps")["layout"]["annotations"]) == 2
    at.selectbox(key="cmp_group").set_value("(choose runs)").run()
    assert "group" not in at.query_params
    at.selectbox(key="cmp_group").set_value("seeds").run()
    assert at.query_params["group"] in ("seeds", ["seeds"])
