import numpy as np
import pytest

from jobs import store as st
from trainers.config import RunConfig


def test_create_list_update_delete(store):
    c = RunConfig(name="hello")
    rid = store.create_run(c)
    r = store.get_run(rid)
    assert r.status == st.QUEUED and r.name == "hello" and r.run_config() == c
    assert (store.run_dir(rid) / "config.json").read_text() == c.to_json()
    store.update_run(rid, status=st.RUNNING, epoch=3, metrics={"knn_accuracy": 0.5})
    r = store.get_run(rid)
    assert r.epoch == 3 and r.metrics == {"knn_accuracy": 0.5}
    assert [x.id for x in store.list_runs(status=st.RUNNING)] == [rid]
    with pytest.raises(RuntimeError, match="cancel it before deleting"):
        store.delete_run(rid)
    store.update_run(rid, status=st.CANCELLED)
    store.delete_run(rid)
    assert store.list_runs() == []
    assert not store.run_dir(rid).exists()


def test_transition_only_from_given_status(store):
    rid = store.create_run(RunConfig())
    assert store.transition(rid, (st.QUEUED,), status=st.RUNNING)
    assert not store.transition(rid, (st.QUEUED,), status=st.CANCELLED)
    assert store.get_run(rid).status == st.RUNNING


def test_snapshots_and_projections_roundtrip_without_pickle(store):
    rid = store.create_run(RunConfig())
    arrays = {"emb": np.random.rand(5, 3).astype(np.float32), "y": np.arange(5)}
    store.add_snapshot(rid, 0, 0, arrays, {"alignment": 0.1, "bad": float("nan")})
    store.add_snapshot(rid, 4, 40, arrays, {"alignment": 0.2})
    snaps = store.snapshots(rid)
    assert [s.epoch for s in snaps] == [0, 4]
    assert snaps[0].metrics == {"alignment": 0.1, "bad": None}
    back = store.load_snapshot(rid, 4)
    np.testing.assert_array_equal(back["emb"], arrays["emb"])
    light = store.load_snapshot(rid, 4, skip=("emb", "rep"))  # what pages draw from
    assert set(light) == {"y"}
    np.testing.assert_array_equal(light["y"], arrays["y"])
    assert store.pending_projections("umap", spaces=("emb",)) == [(rid, 0, "emb"), (rid, 4, "emb")]
    store.add_projection(rid, 0, "emb", "umap", np.ones((5, 2)), 0.5)
    assert store.pending_projections("umap", spaces=("emb",)) == [(rid, 4, "emb")]
    np.testing.assert_array_equal(store.projection(rid, 0, "emb", "umap"), np.ones((5, 2), np.float32))
    store.truncate_after(rid, 0)
    assert [s.epoch for s in store.snapshots(rid)] == [0]
    # no temporary files left behind by atomic writes
    assert not [p for p in store.run_dir(rid).rglob(".*tmp")]


def test_history_drops_non_finite(store):
    rid = store.create_run(RunConfig())
    store.append_history(rid, [{"step": 1, "epoch": 1, "seconds": 0.1, "loss": 2.0},
                               {"step": 2, "epoch": 2, "seconds": 0.2, "loss": float("inf")}])
    h = store.history(rid)
    assert list(h["step"]) == [1, 2] and h["loss"][0] == 2.0 and np.isnan(h["loss"][1])


def test_wal_mode_and_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv("LAB_STORE", str(tmp_path / "elsewhere"))
    s = st.Store()
    assert s.root == (tmp_path / "elsewhere").resolve()
    mode = s._connection().execute("PRAGMA journal_mode").fetchone()[0]
    assert mode.lower() == "wal"


def test_store_files_refuse_pickles(store, tmp_path):
    rid = store.create_run(RunConfig())
    bad = store.run_dir(rid) / "snapshots" / "epoch_00000.npz"
    bad.parent.mkdir(parents=True, exist_ok=True)
    np.savez(bad, obj=np.array([{"a": 1}], dtype=object))
    with store._tx() as c:
        c.execute("INSERT INTO snapshots (run_id, epoch, step, created, file, metrics) VALUES (?,?,?,?,?,?)",
                  (rid, 0, 0, 0.0, "snapshots/epoch_00000.npz", "{}"))
    with pytest.raises(st.StoreDamaged, match="allow_pickle"):
        store.load_snapshot(rid, 0)
