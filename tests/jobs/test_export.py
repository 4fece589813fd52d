"""Exports of a run's snapshot: each format read back with the tool it is for and compared
with the snapshot, on a real trained run and on an imported embedding; every bad input
refused with a message that says what to do, and nothing half-written."""

from __future__ import annotations

import argparse
import errno
import json
import sqlite3
import sys

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from jobs import export
from jobs import store as st
from tests.conftest import FAST
from trainers.config import RunConfig


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A run trained for 2 epochs (snapshots at 0, 1, 2) with a UMAP map of the embedding at epoch 2."""
    from trainers.train import train_run

    s = st.Store(tmp_path_factory.mktemp("export") / "store")
    rid = s.create_run(RunConfig(**{**FAST, "epochs": 2}), status=st.RUNNING)
    assert train_run(s, rid, log=lambda m: None)["status"] == st.FINISHED
    n = len(s.load_snapshot(rid, 2)["emb"])
    umap = np.random.default_rng(1).normal(size=(n, 2)).astype(np.float32)
    umap[::7] = np.nan  # rows outside a sampled map
    s.add_projection(rid, 2, "emb", "umap", umap, 0.1)
    return s, rid, umap


def imported_run(s: st.Store, task: str = "classification") -> str:
    """A run the way jobs/importer.py records one: kind "imported", a config with no registry
    dataset, no history; the imported matrix as both ``emb`` and ``rep``, labels as codes with
    ``label_names``, a text column ``meta_word``. ``task="none"``: an embedding and nothing else."""
    rid = s.create_run(RunConfig(**FAST), status=st.IMPORTED, kind="imported")
    config = {"name": "word vectors", "source": "vectors.npz", "task": task, "dataset": "imported:vectors.npz",
              "loss": "imported", "encoder": None, "metadata": {"meta_word": "word"}, "rows": 12}
    with sqlite3.connect(s.db_path) as c:
        c.execute("UPDATE runs SET config = ?, name = ? WHERE id = ?", (json.dumps(config), "word vectors", rid))
    rng = np.random.default_rng(0)
    emb = rng.normal(size=(12, 5)).astype(np.float32)
    arrays = {"emb": emb, "rep": emb, "index": np.arange(100, 112), "is_test": np.r_[np.zeros(9, bool), np.ones(3, bool)],
              "pca_emb": emb[:, :2], "pca_rep": emb[:, :2], "spectrum_emb": np.ones(5), "spectrum_rep": np.ones(5),
              "meta_word": np.array([f"w{i}" for i in range(11)] + ["tab\there"]),
              "ps_score": rng.uniform(size=12).astype(np.float32)}
    if task == "classification":
        arrays["y"], arrays["label_names"] = np.arange(12) % 3, np.array(["cat", "dog", "emu"])
    elif task == "regression":
        arrays["y"] = rng.normal(size=12).astype(np.float32)
    else:
        arrays = {"emb": emb}
    s.add_snapshot(rid, 0, 0, arrays, {"note": "imported", "n": 12})
    return rid


def _by_index(arrays):
    """A snapshot's per-sample arrays in the order an export writes its rows: by index."""
    order = np.argsort(arrays["index"], kind="stable") if "index" in arrays else np.arange(len(arrays["emb"]))
    n = len(order)
    return {k: (v[order] if v.ndim >= 1 and len(v) == n else v) for k, v in arrays.items()}


def _snapshot(s, rid, epoch):
    return _by_index(s.load_snapshot(rid, epoch))


def _rows_equal(a, b):
    return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=np.asarray(b).dtype.kind == "f")


# -- parquet -----------------------------------------------------------------------------
def test_parquet_round_trip_has_the_snapshots_values(trained, tmp_path):
    s, rid, umap = trained
    files = export.export_run(s, rid, fmt="parquet", out_dir=tmp_path / "out")
    assert [p.name for p in files] == [f"{rid}_epoch_00002.parquet"]  # the last snapshot by default
    snap = _snapshot(s, rid, 2)
    order = np.argsort(s.load_snapshot(rid, 2)["index"], kind="stable")
    df = pd.read_parquet(files[0])
    assert len(df) == len(snap["emb"]) == 1797
    assert _rows_equal(df["index"], snap["index"]) and _rows_equal(df["label"], snap["y"])
    assert set(df["split"]) == {"train", "test"}
    assert _rows_equal(df["split"] == "test", snap["is_test"])
    for space in ("emb", "rep"):
        assert _rows_equal(df[f"pca_{space}_x"], snap[f"pca_{space}"][:, 0])
        assert _rows_equal(df[f"pca_{space}_y"], snap[f"pca_{space}"][:, 1])
    assert _rows_equal(df["umap_emb_x"], umap[order, 0]) and _rows_equal(df["umap_emb_y"], umap[order, 1])
    assert "umap_rep_x" not in df  # the store has no map of the representation
    assert _rows_equal(df["knn_hit"], snap["knn_hit"])
    assert df["knn_hit"].notna().sum() == snap["is_test"].sum()  # the probe's outcome on held-out rows only
    emb, rep = np.stack(df["embedding"].to_numpy()), np.stack(df["representation"].to_numpy())
    assert emb.dtype == np.float32 and np.array_equal(emb, snap["emb"]) and np.array_equal(rep, snap["rep"])
    # pyarrow: list columns, and the run in the file's metadata
    table = pq.read_table(files[0])
    emb_type = table.schema.field("embedding").type
    assert pa.types.is_list(emb_type) and emb_type.value_type == pa.float32()
    meta = json.loads(table.schema.metadata[export.PARQUET_KEY])
    assert meta["run_id"] == rid and meta["epoch"] == 2 and meta["config"]["loss"] == "nt_xent"
    assert meta["metrics"]["knn_accuracy"] == s.snapshots(rid)[-1].metrics["knn_accuracy"]
    assert np.allclose(meta["spectra"]["spectrum_emb"], snap["spectrum_emb"])
    assert not list((tmp_path / "out").glob(".*"))  # no staging folder left


def test_an_earlier_epoch_has_its_own_values_and_no_map(trained, tmp_path):
    s, rid, _ = trained
    (path,) = export.export_run(s, rid, epoch=1, fmt="parquet", out_dir=tmp_path)
    assert path.name == f"{rid}_epoch_00001.parquet"
    df = pd.read_parquet(path)
    assert np.array_equal(np.stack(df["embedding"].to_numpy()), _snapshot(s, rid, 1)["emb"])
    assert not np.array_equal(np.stack(df["embedding"].to_numpy()), _snapshot(s, rid, 2)["emb"])
    assert not [c for c in df if c.startswith("umap_")]


def test_parquet_bytes_match_the_file(trained, tmp_path):
    s, rid, _ = trained
    (path,) = export.export_run(s, rid, epoch=0, fmt="parquet", out_dir=tmp_path)
    import io

    a, b = pd.read_parquet(io.BytesIO(export.parquet_bytes(s, rid, 0))), pd.read_parquet(path)
    assert list(a.columns) == list(b.columns)
    assert a.drop(columns=["embedding", "representation"]).equals(b.drop(columns=["embedding", "representation"]))
    assert np.array_equal(np.stack(a["embedding"].to_numpy()), np.stack(b["embedding"].to_numpy()))


# -- csv ---------------------------------------------------------------------------------
def test_csv_has_wide_matrix_columns_with_exact_values(trained, tmp_path):
    s, rid, umap = trained
    (path,) = export.export_run(s, rid, fmt="csv", out_dir=tmp_path)
    snap = _snapshot(s, rid, 2)
    order = np.argsort(s.load_snapshot(rid, 2)["index"], kind="stable")
    df = pd.read_csv(path)
    d, r = snap["emb"].shape[1], snap["rep"].shape[1]
    assert [c for c in df if c.startswith("emb_")] == [f"emb_{j}" for j in range(d)]
    assert [c for c in df if c.startswith("rep_")] == [f"rep_{j}" for j in range(r)]
    # %.9g: every float32 comes back exactly
    assert np.array_equal(df[[f"emb_{j}" for j in range(d)]].to_numpy(np.float32), snap["emb"])
    assert np.array_equal(df[[f"rep_{j}" for j in range(r)]].to_numpy(np.float32), snap["rep"])
    assert _rows_equal(df["label"], snap["y"]) and _rows_equal(df["index"], snap["index"])
    assert _rows_equal(df["knn_hit"].to_numpy(np.float32), snap["knn_hit"])  # NaN: an empty field
    assert _rows_equal(df["umap_emb_x"].to_numpy(np.float32), umap[order, 0])
    assert _rows_equal(df["split"] == "test", snap["is_test"])


# -- npy ---------------------------------------------------------------------------------
def test_npy_files_load_without_pickle(trained, tmp_path):
    s, rid, _ = trained
    files = export.export_run(s, rid, fmt="npy", out_dir=tmp_path)
    assert sorted(p.name for p in files) == ["embedding.npy", "index.npy", "is_test.npy", "labels.npy",
                                             "representation.npy"]
    snap = _snapshot(s, rid, 2)
    got = {p.stem: np.load(p, allow_pickle=False) for p in files}
    assert np.array_equal(got["embedding"], snap["emb"]) and got["embedding"].dtype == np.float32
    assert np.array_equal(got["representation"], snap["rep"])
    assert np.array_equal(got["labels"], snap["y"]) and np.array_equal(got["index"], snap["index"])
    assert np.array_equal(got["is_test"], snap["is_test"])


# -- tensorboard -------------------------------------------------------------------------
def projector_config_class():
    """tensorboard.projector.ProjectorConfig (tensorboard/plugins/projector/projector_config.proto),
    built at run time so that the test needs protobuf only."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

    F = descriptor_pb2.FieldDescriptorProto
    f = descriptor_pb2.FileDescriptorProto(name="test_projector_config.proto", package="tensorboard.projector",
                                           syntax="proto3")
    messages = {
        "SpriteMetadata": [("image_path", 1, F.TYPE_STRING, False, ""), ("single_image_dim", 2, F.TYPE_UINT32, True, "")],
        "EmbeddingInfo": [("tensor_name", 1, F.TYPE_STRING, False, ""), ("metadata_path", 2, F.TYPE_STRING, False, ""),
                          ("bookmarks_path", 3, F.TYPE_STRING, False, ""), ("tensor_shape", 4, F.TYPE_UINT32, True, ""),
                          ("sprite", 5, F.TYPE_MESSAGE, False, ".tensorboard.projector.SpriteMetadata"),
                          ("tensor_path", 6, F.TYPE_STRING, False, "")],
        "ProjectorConfig": [("model_checkpoint_path", 1, F.TYPE_STRING, False, ""),
                            ("embeddings", 2, F.TYPE_MESSAGE, True, ".tensorboard.projector.EmbeddingInfo"),
                            ("model_checkpoint_dir", 3, F.TYPE_STRING, False, "")],
    }
    for name, fields in messages.items():
        m = f.message_type.add(name=name)
        for fname, number, typ, repeated, type_name in fields:
            fd = m.field.add(name=fname, number=number, type=typ, label=F.LABEL_REPEATED if repeated else F.LABEL_OPTIONAL)
            if type_name:
                fd.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(f)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("tensorboard.projector.ProjectorConfig"))


def test_tensorboard_projector_files_parse_back(trained, tmp_path):
    from google.protobuf import text_format

    s, rid, _ = trained
    files = export.export_run(s, rid, fmt="tensorboard", out_dir=tmp_path)
    assert sorted(p.name for p in files) == ["metadata.tsv", "projector_config.pbtxt", "representation.tsv", "tensors.tsv"]
    snap = _snapshot(s, rid, 2)
    config = text_format.Parse((tmp_path / "projector_config.pbtxt").read_text(), projector_config_class()())
    tensors = {e.tensor_name: e for e in config.embeddings}
    assert set(tensors) == {"embedding", "representation"}
    for name, key in (("embedding", "emb"), ("representation", "rep")):
        e = tensors[name]
        assert e.metadata_path == "metadata.tsv" and list(e.tensor_shape) == list(snap[key].shape)
        m = np.loadtxt(tmp_path / e.tensor_path, delimiter="\t", dtype=np.float64)
        assert m.shape == snap[key].shape and np.array_equal(m.astype(np.float32), snap[key])
    lines = (tmp_path / "metadata.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["label", "split", "index"] and "knn_hit" in header
    assert len(lines) == 1 + len(snap["emb"])  # a header, then one row per tensor row
    rows = [ln.split("\t") for ln in lines[1:]]
    assert all(len(r) == len(header) for r in rows)
    assert [int(r[0]) for r in rows] == snap["y"].tolist() and [int(r[2]) for r in rows] == snap["index"].tolist()
    assert [r[1] == "test" for r in rows] == snap["is_test"].tolist()
    hit = [float(r[header.index("knn_hit")]) if r[header.index("knn_hit")] else np.nan for r in rows]
    assert _rows_equal(np.array(hit, np.float32), snap["knn_hit"])  # a missing value is an empty field


# -- imported runs -----------------------------------------------------------------------
def test_an_imported_run_exports_its_own_columns(tmp_path):
    s = st.Store(tmp_path / "store")
    rid = imported_run(s)
    (path,) = export.export_run(s, rid, fmt="parquet", out_dir=tmp_path / "pq")
    df = pd.read_parquet(path)
    assert df["label"].tolist() == ["cat", "dog", "emu"] * 4 and df["label_code"].tolist() == [0, 1, 2] * 4
    assert df["index"].tolist() == list(range(100, 112)) and df["split"].tolist() == ["train"] * 9 + ["test"] * 3
    assert df["word"].tolist()[-1] == "tab\there" and "score" in df  # text columns under their own names
    assert "representation" not in df  # its one matrix is the embedding
    assert np.array_equal(np.stack(df["embedding"].to_numpy()), _snapshot(s, rid, 0)["emb"])
    assert "label_names" not in df
    files = export.export_run(s, rid, fmt="npy", out_dir=tmp_path / "npy")
    assert sorted(p.name for p in files) == ["embedding.npy", "index.npy", "is_test.npy", "labels.npy"]
    assert np.load(tmp_path / "npy" / "labels.npy", allow_pickle=False).tolist() == ["cat", "dog", "emu"] * 4
    export.export_run(s, rid, fmt="tensorboard", out_dir=tmp_path / "tb")
    lines = (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    assert header[:3] == ["label", "split", "index"] and len(lines) == 13
    assert lines[-1].split("\t")[header.index("word")] == "tab here"  # a tab would split the row
    assert lines[1].split("\t")[:3] == ["cat", "train", "100"]
    assert "representation" not in (tmp_path / "tb" / "projector_config.pbtxt").read_text()
    (csv,) = export.export_run(s, rid, fmt="csv", out_dir=tmp_path / "csv")
    assert [c for c in pd.read_csv(csv) if c.startswith(("emb_", "rep_"))] == [f"emb_{j}" for j in range(5)]


def test_an_imported_regression_run_has_targets(tmp_path):
    s = st.Store(tmp_path / "store")
    rid = imported_run(s, "regression")
    files = export.export_run(s, rid, fmt="npy", out_dir=tmp_path / "npy")
    assert "targets.npy" in {p.name for p in files} and "labels.npy" not in {p.name for p in files}
    assert np.array_equal(np.load(tmp_path / "npy" / "targets.npy"), _snapshot(s, rid, 0)["y"])
    (path,) = export.export_run(s, rid, fmt="csv", out_dir=tmp_path / "csv")
    df = pd.read_csv(path)
    assert "target" in df and "label" not in df
    assert np.array_equal(df["target"].to_numpy(np.float32), _snapshot(s, rid, 0)["y"])


def test_an_embedding_alone_exports_index_split_and_embedding(tmp_path):
    s = st.Store(tmp_path / "store")
    rid = imported_run(s, "none")
    (path,) = export.export_run(s, rid, fmt="parquet", out_dir=tmp_path / "pq")
    df = pd.read_parquet(path)
    assert list(df.columns) == ["index", "split", "embedding"]
    assert df["index"].tolist() == list(range(12)) and set(df["split"]) == {"all"}
    files = export.export_run(s, rid, fmt="npy", out_dir=tmp_path / "npy")
    assert sorted(p.name for p in files) == ["embedding.npy", "index.npy", "is_test.npy"]
    export.export_run(s, rid, fmt="tensorboard", out_dir=tmp_path / "tb")
    assert (tmp_path / "tb" / "metadata.tsv").read_text().splitlines()[:2] == ["split\tindex", "all\t0"]


# -- mlflow ------------------------------------------------------------------------------
@pytest.fixture
def mlflow_store(tmp_path, monkeypatch):
    mlflow = pytest.importorskip("mlflow", reason="MLflow is optional: `pip install mlflow-skinny` (the mlflow extra)")
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE", raising=False)  # the export allows a folder store itself
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    return mlflow, uri


def _read_back(monkeypatch):
    """MLflow 3 reads a folder store only with MLFLOW_ALLOW_FILE_STORE; the export set it for
    its own duration only."""
    import os

    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")


def test_mlflow_run_has_params_metric_steps_loss_and_artifacts(trained, tmp_path, mlflow_store, monkeypatch):
    from mlflow.tracking import MlflowClient

    mlflow, uri = mlflow_store
    s, rid, _ = trained
    files = export.export_run(s, rid, fmt="mlflow", out_dir=tmp_path / "out")
    _read_back(monkeypatch)
    assert sorted(p.name for p in files) == sorted([f"{rid}_epoch_00002.parquet", export.MLFLOW_RECEIPT])
    where = json.loads((tmp_path / "out" / export.MLFLOW_RECEIPT).read_text())
    runs = mlflow.search_runs(experiment_names=[export.MLFLOW_EXPERIMENT])
    assert len(runs) == 1 and runs.iloc[0]["run_id"] == where["run_id"] and where["tracking_uri"] == uri
    row = runs.iloc[0]
    config = s.get_run(rid).config
    assert row["params.loss"] == config["loss"] == "nt_xent" and row["params.epochs"] == "2"
    assert row["params.lr"] == json.dumps(config["lr"]) and row["tags.lab.run_id"] == rid
    client = MlflowClient()
    snaps = s.snapshots(rid)
    hist = client.get_metric_history(where["run_id"], "knn_accuracy")
    assert sorted((m.step, m.value) for m in hist) == [(x.epoch, x.metrics["knn_accuracy"]) for x in snaps]
    h = s.history(rid)
    loss = sorted((m.step, m.value) for m in client.get_metric_history(where["run_id"], "loss"))
    assert loss == [(int(e), v) for e, v in zip(h["epoch"], h["loss"], strict=True) if float(e).is_integer()]
    assert [e for e, _ in loss] == [1, 2]
    by_step = sorted((m.step, m.value) for m in client.get_metric_history(where["run_id"], "loss_by_step"))
    assert by_step == [(int(t), v) for t, v in zip(h["step"], h["loss"], strict=True)]
    artifacts = {a.path for d in ("export", "snapshot") for a in client.list_artifacts(where["run_id"], d)}
    assert {f"export/{rid}_epoch_00002.parquet", "export/config.json", "snapshot/epoch_00002.npz"} <= artifacts
    local = client.download_artifacts(where["run_id"], f"export/{rid}_epoch_00002.parquet", str(tmp_path / "dl"))
    assert np.array_equal(np.stack(pd.read_parquet(local)["embedding"].to_numpy()), _snapshot(s, rid, 2)["emb"])


def test_mlflow_export_of_an_imported_run_without_history(tmp_path, mlflow_store, monkeypatch):
    from mlflow.tracking import MlflowClient

    mlflow, _ = mlflow_store
    s = st.Store(tmp_path / "store")
    rid = imported_run(s)
    export.export_run(s, rid, fmt="mlflow", out_dir=tmp_path / "out")
    _read_back(monkeypatch)
    row = mlflow.search_runs(experiment_names=[export.MLFLOW_EXPERIMENT]).iloc[0]
    assert row["params.source"] == "vectors.npz" and row["params.metadata.meta_word"] == "word"
    assert row["params.encoder"] == "null" and row["params.rows"] == "12"
    assert row["tags.lab.kind"] == "imported"
    client = MlflowClient()
    assert [(m.step, m.value) for m in client.get_metric_history(row["run_id"], "n")] == [(0, 12.0)]
    assert client.get_metric_history(row["run_id"], "loss") == []


def test_mlflow_default_store_is_the_mlruns_folder(trained, tmp_path, mlflow_store, monkeypatch):
    s, rid, _ = trained
    monkeypatch.delenv("MLFLOW_TRACKING_URI")
    monkeypatch.chdir(tmp_path)
    export.export_run(s, rid, epoch=0, fmt="mlflow", out_dir="out")
    where = json.loads((tmp_path / "out" / export.MLFLOW_RECEIPT).read_text())
    assert where["tracking_uri"] == (tmp_path / "mlruns").as_uri() and where["epoch"] == 0
    assert (tmp_path / "mlruns").is_dir() and where["artifact_uri"].startswith((tmp_path / "mlruns").as_uri())


def test_mlflow_failure_is_explained_and_leaves_no_files(trained, tmp_path, mlflow_store, monkeypatch):
    s, rid, _ = trained
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "nosuchscheme://host/path")
    with pytest.raises(export.ExportError, match=r"could not log to MLflow at nosuchscheme://host/path .*check "
                                                 r"\$MLFLOW_TRACKING_URI"):
        export.export_run(s, rid, fmt="mlflow", out_dir=tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_mlflow_missing_says_what_to_install(trained, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    s, rid, _ = trained
    with pytest.raises(export.ExportError, match=r"pip install mlflow-skinny"):
        export.export_run(s, rid, fmt="mlflow", out_dir=tmp_path / "out")
    assert not (tmp_path / "out").exists()


# -- bad input ---------------------------------------------------------------------------
def test_unknown_run_epoch_and_format_are_refused_with_what_to_do(trained, tmp_path):
    s, rid, _ = trained
    out = tmp_path / "out"
    with pytest.raises(export.ExportError, match=r"no run 'nope'.*python -m trainers list"):
        export.export_run(s, "nope", fmt="parquet", out_dir=out)
    with pytest.raises(export.ExportError, match=r"no snapshot at epoch 3; its snapshots are at epochs 0, 1, 2"):
        export.export_run(s, rid, epoch=3, fmt="parquet", out_dir=out)
    with pytest.raises(export.ExportError, match=r"unknown export format 'xlsx': choose one of parquet, csv, npy, "
                                                 r"tensorboard, mlflow"):
        export.export_run(s, rid, fmt="xlsx", out_dir=out)
    queued = s.create_run(RunConfig(**FAST))
    with pytest.raises(export.ExportError, match=r"has no snapshot yet \(queued\)"):
        export.export_run(s, queued, fmt="csv", out_dir=out)
    assert not out.exists()


def test_a_folder_that_cannot_be_written_is_refused(trained, tmp_path):
    s, rid, _ = trained
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(export.ExportError, match=r"is a file, not a folder: pass a folder"):
        export.export_run(s, rid, fmt="npy", out_dir=afile)
    with pytest.raises(export.ExportError, match=r"cannot write to .*choose a folder you can write to"):
        export.export_run(s, rid, fmt="npy", out_dir=afile / "sub")
    assert afile.read_text() == "x"


def test_a_read_only_folder_is_refused(trained, tmp_path, monkeypatch):
    s, rid, _ = trained

    def denied(*a, **kw):  # what a folder without write permission answers (root ignores the bits)
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(export.tempfile, "mkdtemp", denied)
    with pytest.raises(export.ExportError, match=r"cannot write to .* \(Permission denied\): choose a folder you can "
                                                 r"write to \(--out\), or fix its permissions; nothing was written"):
        export.export_run(s, rid, fmt="csv", out_dir=tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_a_failure_half_way_leaves_nothing_behind(trained, tmp_path, monkeypatch):
    s, rid, _ = trained
    out = tmp_path / "out"
    out.mkdir()
    (out / "labels.npy").write_bytes(b"an earlier file")
    real, calls = np.save, []

    def save(f, a, **kw):  # the third file runs out of space
        calls.append(1)
        if len(calls) == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(f, a, **kw)

    monkeypatch.setattr(np, "save", save)
    with pytest.raises(export.ExportError, match=r"no space left on the disk of .*nothing was written"):
        export.export_run(s, rid, fmt="npy", out_dir=out)
    assert [p.name for p in out.iterdir()] == ["labels.npy"] and (out / "labels.npy").read_bytes() == b"an earlier file"


# -- the command line --------------------------------------------------------------------
def _parser():
    p = argparse.ArgumentParser(prog="python -m trainers")
    sub = p.add_subparsers(dest="cmd", required=True)
    export.add_export_parser(sub)
    return p


def test_cli_exports_and_prints_one_json_object(trained, tmp_path, capsys):
    s, rid, _ = trained
    a = _parser().parse_args(["export", rid, "--epoch", "1", "--format", "tensorboard", "--out", str(tmp_path), "--json"])
    assert export.run_export(a, s) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["run_id"] == rid and out["epoch"] == 1 and out["format"] == "tensorboard"
    assert sorted(out["files"]) == sorted(str(tmp_path / n) for n in ("tensors.tsv", "representation.tsv", "metadata.tsv",
                                                                      "projector_config.pbtxt"))
    m = np.loadtxt(tmp_path / "tensors.tsv", delimiter="\t").astype(np.float32)
    assert np.array_equal(m, _snapshot(s, rid, 1)["emb"])
    a = _parser().parse_args(["export", rid, "--format", "csv", "--out", str(tmp_path)])
    assert export.run_export(a, s) == 0
    assert capsys.readouterr().out.strip() == f"wrote {tmp_path / f'{rid}_epoch_00002.csv'}"


def test_cli_bad_input_exits_2_with_one_message(trained, tmp_path, capsys):
    s, rid, _ = trained
    for argv, said in ((["nope", "--format", "csv"], "no run 'nope'"),
                       ([rid, "--epoch", "5", "--format", "npy"], "epochs 0, 1, 2"),
                       ([rid, "--format", "npy", "--out-of-place"], None)):
        try:
            a = _parser().parse_args(["export", *argv, "--out", str(tmp_path / "out")])
        except SystemExit as e:  # argparse: an unknown flag
            assert e.code == 2 and said is None
            assert "unrecognized arguments: --out-of-place" in capsys.readouterr().err
            continue
        assert export.run_export(a, s) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and said in err[0]
    with pytest.raises(SystemExit) as e:
        _parser().parse_args(["export", rid, "--format", "xlsx", "--out", str(tmp_path)])
    assert e.value.code == 2 and "invalid choice: 'xlsx'" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_cli_damaged_snapshot_exits_1_with_the_stores_message(tmp_path, capsys):
    s = st.Store(tmp_path / "store")
    rid = imported_run(s)
    s.run_file(rid, s.snapshots(rid)[0].file).write_bytes(b"not a snapshot")
    a = _parser().parse_args(["export", rid, "--format", "parquet", "--out", str(tmp_path / "out")])
    assert export.run_export(a, s) == 1
    err = capsys.readouterr().err
    assert "checksum mismatch" in err and "python -m trainers doctor" in err
    assert not (tmp_path / "out").exists()
