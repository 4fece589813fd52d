"""Importing embeddings made elsewhere: every format, every bad input (one message, nothing
written), the figures against direct calls of the analysis functions, series of epochs, the
notebook function, the command, and a fuzz of the readers with malformed files."""

from __future__ import annotations

import argparse
import io
import json
import subprocess
import sys
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from jobs import importer
from jobs.importer import ImportProblem, import_embeddings, log_embeddings
from jobs.store import Store

ROOT = Path(__file__).resolve().parents[2]
N, D = 60, 8
NAMES = np.array(["emu", "cat", "dog"])  # stored sorted: cat, dog, emu
TRAINED_ARRAYS = {"rep", "emb", "index", "y", "is_test", "pca_emb", "pca_rep", "spectrum_emb", "spectrum_rep"}


def mixture(n: int = N, d: int = D, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three separated classes with string labels."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = (3.0 * rng.normal(size=(3, d))[y] + rng.normal(size=(n, d))).astype(np.float32)
    return x, NAMES[y]


def state(store: Store) -> tuple[list[str], list[str]]:
    """The store's runs and run folders (an import that fails must leave both unchanged)."""
    return sorted(r.id for r in store.list_runs()), sorted(p.name for p in store.runs_dir.iterdir())


def only_run(store: Store):
    runs = store.list_runs()
    assert len(runs) == 1
    return runs[0]


# -- formats -------------------------------------------------------------------------------------
def test_npy_with_a_labels_file_is_a_run_the_views_can_read(store, tmp_path):
    x, labels = mixture()
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"species": labels, "note": [f"<b>{i}</b>" for i in range(N)]}).to_csv(tmp_path / "lab.csv", index=False)
    res = import_embeddings(tmp_path / "emb.npy", labels=tmp_path / "lab.csv", label_column="species", store=store)
    rec = only_run(store)
    assert rec.id == res.run_id and rec.kind == "imported" and rec.status == "imported" and rec.name == "emb"
    c = rec.config
    assert c["source"] == "emb.npy" and c["task"] == "classification" and c["label_names"] == ["cat", "dog", "emu"]
    from trainers import registry

    assert c["dataset"] not in registry.DATASETS and registry.temperature_of(c) is None
    assert c["metadata"] == {"meta_note": "note"}
    a = store.load_snapshot(rec.id, 0)
    assert TRAINED_ARRAYS | {"knn_hit", "label_names", "meta_note"} == set(a)
    assert np.array_equal(a["rep"], x[a["index"]]) and np.array_equal(a["emb"], a["rep"])
    assert sorted(a["index"]) == list(range(N))
    # legends show the names: code k is label_names[k]
    assert list(a["label_names"][a["y"]]) == list(labels[a["index"]])
    assert list(a["meta_note"]) == [f"<b>{i}</b>" for i in a["index"]]
    assert res.n == N and res.dim == D and res.n_labels == 3 and rec.metrics == store.snapshots(rec.id)[0].metrics


def test_the_split_and_the_figures_are_the_analysis_functions_on_the_same_rows(store, tmp_path):
    from sklearn.model_selection import train_test_split

    from analysis import geometry, probes, projections, spectrum

    x, labels = mixture()
    np.savez(tmp_path / "emb.npz", emb=x, labels=labels)
    np.save(tmp_path / "v2.npy", x + 0.1 * np.random.default_rng(1).normal(size=x.shape).astype(np.float32))
    import_embeddings(tmp_path / "emb.npz", label_column="labels", view2=tmp_path / "v2.npy", store=store)
    rec = only_run(store)
    a, m = store.load_snapshot(rec.id, 0), store.snapshots(rec.id)[0].metrics
    codes = np.searchsorted(["cat", "dog", "emu"], labels)
    _, test = train_test_split(np.arange(N), test_size=0.2, stratify=codes, random_state=0)
    assert sorted(a["index"][a["is_test"]]) == sorted(test)
    z, y, te = a["rep"], a["y"], a["is_test"]
    v2 = np.load(tmp_path / "v2.npy")[a["index"]]
    assert m["alignment"] == geometry.alignment(z, v2)
    assert m["uniformity_clean"] == geometry.uniformity(z)
    assert m["uniformity"] == 0.5 * (geometry.uniformity(z) + geometry.uniformity(v2))
    assert m["n_eval"] == N
    assert m["rankme"] == spectrum.rankme(z) and m["erank_cov_rep"] == spectrum.effective_rank_covariance(z)
    assert m["alpha_req"] == spectrum.alpha_req(z) or (np.isnan(spectrum.alpha_req(z)) and m["alpha_req"] is None)
    assert np.array_equal(a["spectrum_emb"], spectrum.covariance_spectrum(z))
    assert np.array_equal(a["pca_emb"], projections.pca_2d(z).astype(np.float32))
    assert m["knn_accuracy"] == probes.knn_accuracy(z[~te], y[~te], z[te], y[te], k=20)
    assert m["linear_accuracy"] == probes.linear_probe_accuracy(z[~te], y[~te], z[te], y[te])
    hit = probes.knn_predict(z[~te], y[~te], z[te], k=20) == y[te]
    assert np.array_equal(a["knn_hit"][te], hit) and np.isnan(a["knn_hit"][~te]).all()
    assert m["knn_accuracy"] > 0.9  # the classes are separated: the probe sees it


def test_the_caps_of_large_imports_are_seeded_samples_said_in_the_figures(store, tmp_path, monkeypatch):
    from analysis import geometry, probes, projections
    from trainers.evaluate import EVAL_SEED

    monkeypatch.setattr(importer, "uniformity_rows", lambda dim: 30)
    monkeypatch.setattr(importer, "LINEAR_MAX_TRAIN", 21)
    monkeypatch.setattr(importer, "PCA_FIT_ROWS", 25)
    monkeypatch.setattr(importer, "PCA_BLOCK", 7)
    x, labels = mixture()
    res = log_embeddings(x, labels=labels, store=store)
    a, m = store.load_snapshot(res, 0), store.snapshots(res)[0].metrics
    z, y, te = a["rep"], a["y"], a["is_test"]
    assert m["n_eval"] == 30 and m["uniformity"] == geometry.uniformity(z, max_points=30, seed=0)
    assert m["uniformity"] != geometry.uniformity(z)
    lin = projections.stratified_sample(y[~te], 21, seed=EVAL_SEED)
    assert m["n_linear_train"] == 21
    assert m["linear_accuracy"] == probes.linear_probe_accuracy(z[~te][lin], y[~te][lin], z[te], y[te])
    sample = np.sort(np.random.default_rng(0).choice(N, 25, replace=False))
    expected = projections.PCA2D().fit(z[sample]).transform(z).astype(np.float32)
    assert np.allclose(a["pca_emb"], expected, rtol=1e-5, atol=1e-6)


def test_a_small_import_uses_fewer_neighbours(store):
    from analysis import probes

    x, labels = mixture(n=12)
    labels = np.array(["a", "b"] * 6)
    res = log_embeddings(x, labels=labels, store=store)
    a, m = store.load_snapshot(res, 0), store.snapshots(res)[0].metrics
    z, y, te = a["rep"], a["y"], a["is_test"]
    assert (m["knn_k"], m["n_test"]) == (9, 3)
    assert m["knn_accuracy"] == probes.knn_accuracy(z[~te], y[~te], z[te], y[te], k=9)


def test_targets_in_a_tsv_with_a_list_column(store, tmp_path):
    from sklearn.model_selection import train_test_split

    from analysis import ordinality, probes

    x, _ = mixture()
    t = x[:, 0] * 2.0 + 1.0
    pd.DataFrame({"name": [f"s{i}" for i in range(N)], "embedding": [str(list(map(float, r))) for r in x], "t": t}) \
        .to_csv(tmp_path / "emb.tsv", sep="\t", index=False)
    res = import_embeddings(tmp_path / "emb.tsv", target_column="t", store=store)
    a, m = store.load_snapshot(res.run_id, 0), res.metrics
    assert np.array_equal(a["rep"], x[a["index"]]) and a["y"].dtype == np.float32
    _, test = train_test_split(np.arange(N), test_size=0.2, random_state=0)
    assert sorted(a["index"][a["is_test"]]) == sorted(test)
    z, y, te = a["rep"], a["y"], a["is_test"]
    assert m["knn_mae"] == probes.knn_regression_mae(z[~te], y[~te], z[te], y[te], k=20)
    lin = probes.linear_probe_regression(z[~te], y[~te], z[te], y[te])
    assert (m["linear_mae"], m["linear_r2"]) == (lin["mae"], lin["r2"])
    assert m["rank_correlation"] == ordinality.distance_rank_correlation(z, y)
    assert store.get_run(res.run_id).config["task"] == "regression" and list(a["meta_name"][:2]) == [
        f"s{i}" for i in a["index"][:2]]
    summary = res.summary()
    assert summary["knn_accuracy"] is None and summary["n_labels"] is None and summary["linear_r2"] == m["linear_r2"]


def test_a_wide_csv_written_by_pandas(store, tmp_path):
    x, labels = mixture()
    df = pd.DataFrame(x, columns=[f"d{i}" for i in range(D)])
    df["species"], df["url"] = labels, [f"https://x/{i}" for i in range(N)]
    df.to_csv(tmp_path / "emb.csv")  # with pandas' row numbers as an unnamed first column
    res = import_embeddings(tmp_path / "emb.csv", label_column="species", store=store)
    a = store.load_snapshot(res.run_id, 0)
    assert a["rep"].shape == (N, D) and np.allclose(a["rep"], x[a["index"]], rtol=1e-6)
    assert list(a["label_names"][a["y"]]) == list(labels[a["index"]])
    assert list(a["meta_url"][:3]) == [f"https://x/{i}" for i in a["index"][:3]]
    assert any("row numbers pandas writes" in note for note in res.notes)


def test_a_numeric_label_column_is_not_a_dimension(store, tmp_path):
    x, labels = mixture()
    df = pd.DataFrame(x, columns=[f"d{i}" for i in range(D)])
    df["label"] = np.searchsorted(["cat", "dog", "emu"], labels) + 10
    df.to_csv(tmp_path / "emb.csv", index=False)
    res = import_embeddings(tmp_path / "emb.csv", label_column="label", store=store)
    assert res.dim == D and store.get_run(res.run_id).config["label_names"] == ["10", "11", "12"]
    assert not any("read as a dimension" in n for n in res.notes)
    res = import_embeddings(tmp_path / "emb.csv", store=store)  # not named: a dimension, and that is said
    assert res.dim == D + 1 and any("'label' was read as a dimension" in n for n in res.notes)


@pytest.mark.parametrize("layout", ["wide", "list"])
def test_parquet(store, tmp_path, layout):
    x, labels = mixture()
    if layout == "wide":
        df = pd.DataFrame(x, columns=[f"d{i}" for i in range(D)])
        df["species"] = labels
    else:
        df = pd.DataFrame({"id": np.arange(N), "embedding": list(x), "species": labels})
    df.to_parquet(tmp_path / "emb.parquet")
    res = import_embeddings(tmp_path / "emb.parquet", label_column="species", store=store)
    a = store.load_snapshot(res.run_id, 0)
    assert np.array_equal(a["rep"], x[a["index"]])
    assert list(a["label_names"][a["y"]]) == list(labels[a["index"]])
    if layout == "list":
        assert list(a["meta_id"][:3]) == [str(i) for i in a["index"][:3]]


def test_tensorboard_projector_files(store, tmp_path):
    x, labels = mixture()
    folder = tmp_path / "projector"
    folder.mkdir()
    (folder / "tensors.tsv").write_text("\n".join("\t".join(f"{v:.6g}" for v in r) for r in x) + "\n")
    (folder / "metadata.tsv").write_text("\n".join(labels) + "\n")  # one column: no header line
    res = import_embeddings(folder, store=store)
    a = store.load_snapshot(res.run_id, 0)
    assert np.allclose(a["rep"], x[a["index"]], rtol=1e-5) and res.n_labels == 3
    assert list(a["label_names"][a["y"]]) == list(labels[a["index"]])
    # the tensors file named directly, with several metadata columns (a header line)
    (tmp_path / "emb_tensors.tsv").write_text((folder / "tensors.tsv").read_text())
    (tmp_path / "emb_metadata.tsv").write_text("species\tsize\n" + "\n".join(f"{s}\t{i}" for i, s in enumerate(labels)))
    res = import_embeddings(tmp_path / "emb_tensors.tsv", label_column="species", store=store)
    a = store.load_snapshot(res.run_id, 0)
    assert list(a["label_names"][a["y"]]) == list(labels[a["index"]]) and list(a["meta_size"][:2]) == [
        str(i) for i in a["index"][:2]]


def test_an_npz_series_in_the_natural_order_of_its_names(store, tmp_path):
    x, labels = mixture()
    mats = {"ckpt_10": x * 3, "ckpt_2": x * 2, "ckpt_1": x + 0}
    np.savez(tmp_path / "run.npz", labels=labels, **mats)
    res = import_embeddings(tmp_path / "run.npz", label_column="labels", store=store)
    rec = store.get_run(res.run_id)
    assert [s.epoch for s in store.snapshots(rec.id)] == [0, 1, 2] and (rec.epoch, rec.total_epochs) == (2, 2)
    assert rec.config["epoch_names"] == ["ckpt_1", "ckpt_2", "ckpt_10"]
    snaps = [store.load_snapshot(rec.id, e) for e in range(3)]
    for s, name in zip(snaps, rec.config["epoch_names"], strict=True):
        assert np.array_equal(s["rep"], mats[name][s["index"]])
        for k in ("index", "y", "is_test"):  # the same rows, labels and split at every epoch
            assert np.array_equal(s[k], snaps[0][k])
    assert rec.metrics == store.snapshots(rec.id)[-1].metrics


def test_a_folder_of_npy_files_is_a_series(store, tmp_path):
    x, _ = mixture()
    folder = tmp_path / "epochs"
    folder.mkdir()
    for e in (0, 1, 2, 10):
        np.save(folder / f"epoch_{e:04d}.npy", x * (e + 1))
    (folder / "README.txt").write_text("not an epoch")
    res = import_embeddings(folder, store=store)
    assert res.epochs == 4 and res.task == "none" and res.summary()["knn_accuracy"] is None
    assert store.get_run(res.run_id).config["epoch_names"] == ["epoch_0000", "epoch_0001", "epoch_0002", "epoch_0010"]
    last = store.load_snapshot(res.run_id, 3)
    assert np.array_equal(last["rep"], x * 11) and not last["is_test"].any()
    assert any("not .npy" in n for n in res.notes)


def test_labels_joined_on_an_id_column(store, tmp_path):
    x, labels = mixture()
    ids = [f"id{i:03d}" for i in range(N)]
    df = pd.DataFrame(x, columns=[f"d{i}" for i in range(D)])
    df.insert(0, "key", ids)
    df.to_csv(tmp_path / "emb.csv", index=False)
    order = np.random.default_rng(3).permutation(N)
    pd.DataFrame({"key": np.array(ids)[order], "species": labels[order], "extra": order}).to_parquet(
        tmp_path / "labels.parquet")
    res = import_embeddings(tmp_path / "emb.csv", labels=tmp_path / "labels.parquet", id_column="key",
                            label_column="species", store=store)
    a = store.load_snapshot(res.run_id, 0)
    assert list(a["label_names"][a["y"]]) == list(labels[a["index"]])
    assert list(a["meta_key"][:3]) == [ids[i] for i in a["index"][:3]]


def test_drop_nonfinite_drops_the_rows_and_says_how_many(store, tmp_path):
    x, labels = mixture()
    x[5, 2], x[17] = np.nan, 0.0
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"label": labels}).to_csv(tmp_path / "lab.csv", index=False)
    before = state(store)
    with pytest.raises(ImportProblem, match=r"emb.npy: row 5 hold NaN or infinite values"):
        import_embeddings(tmp_path / "emb.npy", labels=tmp_path / "lab.csv", store=store)
    assert state(store) == before
    res = import_embeddings(tmp_path / "emb.npy", labels=tmp_path / "lab.csv", drop_nonfinite=True, store=store)
    a = store.load_snapshot(res.run_id, 0)
    assert res.dropped == 2 and res.n == N - 2 and sorted(a["index"]) == [i for i in range(N) if i not in (5, 17)]
    assert "dropped 2 of 60 rows" in store.get_run(res.run_id).reason and res.summary()["dropped_rows"] == 2


# -- bad inputs: one message, nothing written ----------------------------------------------------
def _npy(x):
    return lambda p: np.save(p, x)


def _text(t):
    return lambda p: p.write_text(t)


BAD = [
    ("empty.csv", _text(""), {}, r"empty.csv is empty \(0 bytes\)"),
    ("empty.npy", _text(""), {}, r"empty.npy is empty \(0 bytes\)"),
    ("blank.tsv", _text("\n\n  \n"), {}, r"blank.tsv is empty"),
    ("head.csv", _text("a,b,c\n"), {}, r"head.csv has a header \(a, b, c\) but no rows"),
    ("nan.npy", _npy(np.r_[np.ones((4, 3)), [[1, np.nan, 2]], np.ones((3, 3))]), {}, r"nan.npy: row 4 hold NaN"),
    ("inf.csv", _text("a,b\n1,2\n3,inf\n5,6\n7,-inf\n"), {}, r"inf.csv: 2 rows \(1, 3\) hold NaN or infinite"),
    ("zero.npy", _npy(np.r_[np.ones((4, 3)), np.zeros((1, 3))]), {}, r"zero.npy: row 4 is all zeros: a zero row has no "
                                                                      r"direction and cannot be normalised"),
    ("short.csv", _text("a,b,c\n1,2,3\n4,5,6\n7,8\n9,1,2\n"), {}, r"short.csv: line 4 has 2 fields but the header has 3"),
    ("long.csv", _text("a,b,c\n1,2,3\n4,5,6,7\n8,9,1\n"), {}, r"long.csv: line 3 has 4 fields"),
    ("cell.csv", _text("a,b,c\n1,2,3\n4,x,6\n7,8,9\n1,1,1\n"), {}, r"cell.csv: row 1 \(line 3\), column 'b': 'x' is not "
                                                                   r"a number"),
    ("cell.tsv", _text("e\n[1, 2]\n[3, x]\n[5, 6]\n"), {}, r"cell.tsv: row 1 \(line 3\), column 'e': 'x' is not a number"),
    ("ragged.tsv", _text("e\n[1, 2]\n[3, 4, 5]\n[5, 6]\n"), {}, r"row 1 \(line 3\), column 'e' has 3 numbers but row 0 has 2"),
    ("obj.npy", lambda p: np.save(p, np.array([{"a": 1}, None] * 3, dtype=object), allow_pickle=True), {},
     r"obj.npy holds Python objects .* never unpickles"),
    ("pickle.npy", lambda p: p.write_bytes(b"\x80\x04\x95" + b"\x00" * 40), {}, r"pickle.npy is not an .npy file"),
    ("flat.npy", _npy(np.arange(10.0)), {}, r"flat.npy is a 1-D array of 10 values"),
    ("cube.npy", _npy(np.ones((2, 3, 4))), {}, r"cube.npy has shape \(2, 3, 4\)"),
    ("two.npy", _npy(np.ones((2, 4))), {}, r"two.npy has 2 rows; the lab needs at least 3"),
    ("text.npy", _npy(np.array([["a", "b"]] * 4)), {}, r"text.npy holds text"),
    ("one.csv", _text("a\n1\n2\n3\n4\n"), {}, r"one.csv has 1 numeric column left as dimensions"),
    ("words.csv", _text("a,b\nx,y\nz,w\nu,v\n"), {}, r"words.csv has no numeric columns \(a, b\)"),
    ("emb.txt", _text("1 2 3\n"), {}, r"emb.txt: unknown file type '.txt'"),
    ("big.npy", _npy(np.ones((50, 50))), {"max_bytes": 1000}, r"big.npy is 0 MB, above the limit of 0 MB"),
    ("mixed.npz", lambda p: np.savez(p, a=np.ones((5, 2)), b=np.ones((4, 2))), {}, r"2-D arrays of different shapes"),
    ("npz.npy", lambda p: p.write_bytes(open(_npz_file(), "rb").read()), {}, r"is an .npz archive"),
    ("ok.npy", _npy(np.random.default_rng(0).normal(size=(10, 3))), {"label_column": "y"},
     r"ok.npy has no column 'y': it holds a bare matrix with no columns"),
    ("cols.csv", _text("a,b,c\n1,2,3\n4,5,6\n7,8,9\n"), {"label_column": "nope"},
     r"cols.csv has no column 'nope'; its columns are: a, b, c"),
    ("both.csv", _text("a,b,c\n1,2,3\n4,5,6\n7,8,9\n"), {"label_column": "a", "target_column": "b"}, r"either"),
    ("single.csv", _text("a,b,c,k\n1,2,3,u\n4,5,6,u\n7,8,9,u\n"), {"label_column": "k"}, r"a single class \('u'\)"),
    ("cont.csv", _text("a,b,c,k\n1,2,3,0.5\n4,5,6,1\n7,8,9,2\n"), {"label_column": "k"},
     r"holds continuous values \(e.g. 0.5\), not classes: use target_column"),
    ("lonely.csv", _text("a,b,k\n1,2,u\n4,5,v\n7,8,v\n1,3,v\n"), {"label_column": "k"}, r"classes have a single row"),
    ("tgt.csv", _text("a,b,t\n1,2,3\n4,5,x\n7,8,9\n"), {"target_column": "t"},
     r"tgt.csv: row 1 \(line 3\), column 't': 'x' is not a number"),
    ("words_t.csv", _text("a,b,t\n1,2,u\n4,5,v\n7,8,3\n"), {"target_column": "t"},
     r"target column 't': row 0 holds 'u', not a number; a target column holds continuous numbers"),
]


def _npz_file() -> str:
    path = Path(tempfile.mkdtemp()) / "a.npz"
    np.savez(path, a=np.ones((4, 2)))
    return str(path)


@pytest.mark.parametrize("name,write,kwargs,message", BAD, ids=[b[0] for b in BAD])
def test_a_bad_input_gets_one_message_and_writes_nothing(store, tmp_path, name, write, kwargs, message):
    write(tmp_path / name)
    before = state(store)
    with pytest.raises(ImportProblem, match=message) as e:
        import_embeddings(tmp_path / name, store=store, **kwargs)
    assert "\n" not in str(e.value)
    assert state(store) == before


def test_bad_labels_and_second_views(store, tmp_path):
    x, labels = mixture()
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"label": labels[:-1]}).to_csv(tmp_path / "short.csv", index=False)
    pd.DataFrame({"label": labels, "other": labels}).to_csv(tmp_path / "two.csv", index=False)
    pd.DataFrame({"key": range(N), "label": labels}).to_csv(tmp_path / "keyed.csv", index=False)
    np.save(tmp_path / "v2.npy", x[:, :4])
    np.save(tmp_path / "v2nan.npy", np.where(np.arange(N)[:, None] == 7, np.inf, x))
    before = state(store)
    cases = [
        ({"labels": tmp_path / "short.csv"}, r"the labels file short.csv has 59 rows but emb.npy has 60: give one label "
                                             r"per row in the same order, or join them on an id column"),
        ({"labels": tmp_path / "two.csv"}, r"has the columns label, other: say which holds the labels"),
        ({"labels": tmp_path / "two.csv", "label_column": "nope"}, r"the labels file two.csv has no column 'nope'"),
        ({"labels": tmp_path / "keyed.csv", "id_column": "key", "label_column": "label"},
         r"it holds a bare matrix with no columns"),
        ({"labels": tmp_path / "missing.csv"}, r"the labels file .*missing.csv does not exist"),
        ({"labels": tmp_path / "emb.npy"}, r"labels are read from .csv, .tsv or .parquet"),
        ({"view2": tmp_path / "v2.npy"}, r"the second view \(v2.npy\) has shape \(60, 4\) but emb.npy has \(60, 8\)"),
        ({"view2": tmp_path / "v2nan.npy"}, r"the second view \(v2nan.npy\): row 7 hold NaN"),
    ]
    for kwargs, message in cases:
        with pytest.raises(ImportProblem, match=message):
            import_embeddings(tmp_path / "emb.npy", store=store, **kwargs)
    assert state(store) == before
    with pytest.raises(ImportProblem, match=r"does not exist"):
        import_embeddings(tmp_path / "nothing.npy", store=store)
    # ids joined: a missing or repeated id is named
    df = pd.DataFrame(x, columns=[f"d{i}" for i in range(D)])
    df.insert(0, "key", range(N))
    df.to_csv(tmp_path / "table.csv", index=False)
    pd.DataFrame({"key": [*range(N - 1), 3], "label": labels}).to_csv(tmp_path / "dup.csv", index=False)
    with pytest.raises(ImportProblem, match=r"the id column 'key' repeats ids \(3\)"):
        import_embeddings(tmp_path / "table.csv", labels=tmp_path / "dup.csv", id_column="key", store=store)
    pd.DataFrame({"key": range(1, N), "label": labels[1:]}).to_csv(tmp_path / "gap.csv", index=False)
    with pytest.raises(ImportProblem, match=r"has no row for 1 id of table.csv \(0\)"):
        import_embeddings(tmp_path / "table.csv", labels=tmp_path / "gap.csv", id_column="key", store=store)
    assert state(store) == before


def test_a_failed_write_deletes_the_run(store, tmp_path, monkeypatch):
    x, _ = mixture()
    np.savez(tmp_path / "s.npz", e0=x, e1=x * 2, e2=x * 3)
    before = state(store)
    real = Store.add_snapshot_streamed

    def fail_at_epoch_1(self, run_id, epoch, *a, **k):
        if epoch == 1:
            raise OSError("disk went away")
        return real(self, run_id, epoch, *a, **k)

    monkeypatch.setattr(Store, "add_snapshot_streamed", fail_at_epoch_1)
    with pytest.raises(OSError, match="disk went away"):
        import_embeddings(tmp_path / "s.npz", store=store)
    assert state(store) == before


# -- the notebook function -----------------------------------------------------------------------
def test_log_embeddings_grows_one_run_epoch_by_epoch(store):
    import torch

    x, labels = mixture()
    xs = [x, x * 2 + 1, torch.from_numpy(x * 3)]
    run = None
    for e, emb in enumerate(xs):
        got = log_embeddings(emb, labels=labels if e == 0 else None, name="my model", run=run, store=store)
        assert run is None or got == run
        run = got
        rec = store.get_run(run)
        assert (rec.status, rec.kind, rec.epoch, rec.name) == ("imported", "imported", e, "my model")
    snaps = [store.load_snapshot(run, e) for e in range(3)]
    assert [s.epoch for s in store.snapshots(run)] == [0, 1, 2]
    for s, emb in zip(snaps, (x, x * 2 + 1, x * 3), strict=True):
        assert np.array_equal(s["rep"], emb[s["index"]])
        for k in ("index", "y", "is_test", "label_names"):
            assert np.array_equal(s[k], snaps[0][k])
    assert store.get_run(run).metrics == store.snapshots(run)[-1].metrics
    assert store.get_run(run).config["source"] == "notebook"
    # the same labels again are accepted; other labels, rows or epochs are not, and add nothing
    assert log_embeddings(x, labels=labels, run=run, epoch=5, store=store) == run
    before = ([s.epoch for s in store.snapshots(run)], state(store))
    bad = [
        (dict(labels=labels[::-1]), r"the labels differ from those of run"),
        (dict(targets=np.ones(N)), r"was made with labels, not targets"),
        (dict(epoch=5), r"already has epochs up to 5"),
        (dict(view2=x[:, :3]), r"view2 has shape \(60, 3\) but emb has \(60, 8\)"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ImportProblem, match=message):
            log_embeddings(x, run=run, store=store, **kwargs)
    with pytest.raises(ImportProblem, match=r"emb has 59 rows but run .* has 60"):
        log_embeddings(x[1:], run=run, store=store)
    nan = x.copy()
    nan[3, 0] = np.nan
    with pytest.raises(ImportProblem, match=r"emb: row 3 hold NaN .* keeps the rows of its first epoch"):
        log_embeddings(nan, run=run, store=store)
    with pytest.raises(ImportProblem, match=r"is not in the store"):
        log_embeddings(x, run="20000101-000000-abcdef", store=store)
    assert ([s.epoch for s in store.snapshots(run)], state(store)) == before


def test_log_embeddings_with_targets_metadata_and_a_second_view(store):
    from analysis import geometry

    x, _ = mixture()
    t = x[:, 1].astype(np.float64)
    run = log_embeddings(x, targets=t, view2=x * 1.5, metadata={"city": [f"c{i}" for i in range(N)]}, epoch=3,
                         store=store)
    rec = store.get_run(run)
    a = store.load_snapshot(run, 3)
    assert rec.config["task"] == "regression" and rec.epoch == 3 and list(a["meta_city"][:2]) == [
        f"c{i}" for i in a["index"][:2]]
    assert store.snapshots(run)[0].metrics["alignment"] == pytest.approx(geometry.alignment(x, x * 1.5), abs=1e-12)
    with pytest.raises(ImportProblem, match=r"targets: shape \(59,\), but emb has 60 rows"):
        log_embeddings(x, targets=t[1:], store=store)
    with pytest.raises(ImportProblem, match=r"either labels .* or targets"):
        log_embeddings(x, labels=t, targets=t, store=store)


def test_an_imported_run_refuses_a_trained_run_as_its_continuation(store, fast_config):
    run = store.create_run(fast_config)
    with pytest.raises(ImportProblem, match=r"was trained by the lab"):
        log_embeddings(mixture()[0], run=run, store=store)


# -- the command ---------------------------------------------------------------------------------
def _parse(*argv: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m trainers")
    importer.add_import_parser(p.add_subparsers(dest="cmd", required=True))
    return p.parse_args(list(argv))


def test_the_command_prints_one_json_object(store, tmp_path, capsys):
    x, labels = mixture()
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"species": labels}).to_csv(tmp_path / "lab.csv", index=False)
    args = _parse("import", str(tmp_path / "emb.npy"), "--labels", str(tmp_path / "lab.csv"), "--label-column",
                  "species", "--name", "from a file", "--json")
    assert importer.run_import(args, store) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rec = only_run(store)
    m = rec.metrics
    assert out["run_id"] == rec.id and out["status"] == "imported" and rec.name == "from a file"
    assert (out["n"], out["dim"], out["n_labels"]) == (N, D, 3) and out["seconds"] > 0
    assert (out["uniformity"], out["effective_rank"], out["rankme"], out["alpha_req"], out["knn_accuracy"],
            out["linear_accuracy"]) == (m["uniformity"], m["erank_cov_rep"], m["rankme"], m["alpha_req"],
                                        m["knn_accuracy"], m["linear_accuracy"])
    assert out["alignment"] is None and m["alignment"] is None  # no second view: the key is there, undefined


def test_the_command_exits_2_with_one_line_for_a_bad_input(store, tmp_path, capsys):
    (tmp_path / "emb.csv").write_text("a,b,c\n1,2,3\n4,5\n")
    before = state(store)
    assert importer.run_import(_parse("import", str(tmp_path / "emb.csv"), "--json"), store) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == "error: emb.csv: line 3 has 2 fields but the header has 3: every " \
        "line needs the same number of fields (look for a missing value or a stray separator)\n"
    assert state(store) == before
    assert importer.run_import(_parse("import", str(tmp_path / "emb.csv"), "--max-mb", "0.000001"), store) == 2
    assert "above the limit" in capsys.readouterr().err and state(store) == before


def test_the_command_drops_rows_when_asked(store, tmp_path, capsys):
    x, _ = mixture()
    x[2] = np.inf
    np.save(tmp_path / "emb.npy", x)
    assert importer.run_import(_parse("import", str(tmp_path / "emb.npy"), "--drop-nonfinite"), store) == 0
    out = capsys.readouterr().out
    assert "dropped 1 of 60 rows" in out and only_run(store).config["rows"] == N - 1


# -- the server reads files without the numeric libraries ----------------------------------------
def test_the_readers_load_no_torch_or_sklearn(tmp_path):
    x, labels = mixture()
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"embedding": list(x), "species": labels}).to_parquet(tmp_path / "emb.parquet")
    pd.DataFrame(x).assign(species=labels).to_csv(tmp_path / "emb.csv", index=False)
    code = ("import sys\nfrom jobs import importer\n"
            f"for f in ('emb.npy', 'emb.parquet', 'emb.csv'):\n"
            f"    s = importer.read_embeddings({str(tmp_path)!r} + '/' + f)\n"
            "    print(f, s.n, s.dim, sorted(s.columns))\n"
            "print(sorted(m for m in ('torch', 'sklearn', 'umap') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    lines = proc.stdout.strip().splitlines()
    assert lines == [f"emb.npy {N} {D} []", f"emb.parquet {N} {D} ['species']", f"emb.csv {N} {D} ['species']", "[]"]


# -- fuzz: malformed files give ImportProblem or a complete run, never anything else --------------
CELLS = hs.one_of(hs.floats(allow_nan=True, allow_infinity=True).map(repr), hs.integers(-3, 3).map(str),
                  hs.sampled_from(["", "x", "nan", "-inf", "[1, 2]", "[1,", "[]", '"', "1e999", " ", "[a, 1]", "\x00"]),
                  hs.text(max_size=4))


def _table(rows: list[list[str]], sep: str) -> str:
    return "\n".join(sep.join(r) for r in rows) + "\n"


def _mangled_npy(data: bytes) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.arange(24, dtype=np.float32).reshape(6, 4))
    good = buf.getvalue()
    cut = data[0] % len(good) if data else len(good) // 2
    return good[:cut] + data[1:]


def _zip_of(members: list[tuple[str, bytes]]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a repeated member name is one of the malformed inputs
        for name, data in members:
            z.writestr(name, data)
    return buf.getvalue()


FILES = hs.one_of(
    hs.tuples(hs.sampled_from([".csv", ".tsv"]), hs.lists(hs.lists(CELLS, max_size=5), max_size=7)).map(
        lambda t: (t[0], _table(t[1], "," if t[0] == ".csv" else "\t").encode("utf-8", "surrogatepass"))),
    hs.tuples(hs.sampled_from([".npy", ".npz", ".parquet", ".csv", ".tsv"]), hs.binary(max_size=200)),
    hs.binary(min_size=1, max_size=60).map(lambda b: (".npy", _mangled_npy(b))),
    hs.lists(hs.tuples(hs.sampled_from(["a.npy", "b.npy", "c", "labels.npy"]), hs.binary(max_size=80)), max_size=3).map(
        lambda m: (".npz", _zip_of(m))),
)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(FILES, hs.sampled_from([{}, {"label_column": "0"}, {"drop_nonfinite": True}, {"target_column": "1"}]))
def test_fuzz_malformed_files_give_an_import_problem_or_a_whole_run(file, kwargs):
    suffix, data = file
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"f{suffix}"
        try:
            path.write_bytes(data)
        except UnicodeError:
            return
        store = Store(Path(tmp) / "store")
        before = state(store)
        try:
            res = import_embeddings(path, store=store, **kwargs)
        except ImportProblem as e:
            assert str(e) and state(store) == before
        else:
            rec = store.get_run(res.run_id)
            assert rec.status == "imported" and len(store.snapshots(rec.id)) == res.epochs
        finally:
            store.close()


LABEL_FILES = hs.one_of(
    hs.tuples(hs.sampled_from([".csv", ".tsv"]), hs.lists(hs.lists(CELLS, max_size=3), max_size=12)).map(
        lambda t: (t[0], _table(t[1], "," if t[0] == ".csv" else "\t").encode("utf-8", "surrogatepass"))),
    hs.tuples(hs.sampled_from([".csv", ".tsv", ".parquet", ".json"]), hs.binary(max_size=120)),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(LABEL_FILES, hs.sampled_from([{}, {"label_column": "label"}, {"target_column": "label"}, {"id_column": "0"}]))
def test_fuzz_malformed_labels_files(file, kwargs):
    suffix, data = file
    with tempfile.TemporaryDirectory() as tmp:
        emb, labels = Path(tmp) / "emb.csv", Path(tmp) / f"labels{suffix}"
        x = np.random.default_rng(0).normal(size=(10, 3))
        emb.write_text("0,a,b,c\n" + "".join(f"{i},{r[0]},{r[1]},{r[2]}\n" for i, r in enumerate(x)))
        labels.write_bytes(data)
        store = Store(Path(tmp) / "store")
        before = state(store)
        try:
            res = import_embeddings(emb, labels=labels, store=store, **kwargs)
        except ImportProblem as e:
            assert str(e) and state(store) == before
        else:
            assert store.get_run(res.run_id).status == "imported"
        finally:
            store.close()


# -- an imported run among the others ----------------------------------------------------
def test_export_to_parquet_and_import_again_gives_the_same_figures(store, tmp_path):
    """Round trip: the Parquet export of an imported run, imported back, is the same run."""
    from jobs import export

    x, y = mixture()
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"species": y}).to_csv(tmp_path / "labels.csv", index=False)
    first = import_embeddings(tmp_path / "emb.npy", labels=tmp_path / "labels.csv", label_column="species", store=store)
    (path,) = export.export_run(store, first.run_id, fmt="parquet", out_dir=tmp_path / "out")
    again = import_embeddings(path, label_column="label", store=store)
    a, b = store.get_run(first.run_id).metrics, store.get_run(again.run_id).metrics
    for k in ("uniformity", "erank_cov_emb", "rankme", "alpha_req", "knn_accuracy", "linear_accuracy"):
        assert b[k] == pytest.approx(a[k], rel=1e-5, abs=1e-6), k
    sa, sb = store.load_snapshot(first.run_id, 0), store.load_snapshot(again.run_id, 0)
    assert np.array_equal(sa["index"], sb["index"]) and np.array_equal(sa["is_test"], sb["is_test"])
    assert list(sb["label_names"]) == sorted(set(y))


def test_an_imported_run_is_complete_states_its_task_and_cannot_be_resumed(store, tmp_path):
    from jobs import runner

    x, y = mixture()
    np.save(tmp_path / "emb.npy", x)
    pd.DataFrame({"t": x[:, 0] * 0.5}).to_csv(tmp_path / "targets.csv", index=False)
    rid = import_embeddings(tmp_path / "emb.npy", labels=tmp_path / "targets.csv", target_column="t", store=store).run_id
    rec = store.get_run(rid)
    assert rec.imported and rec.progress == 1.0 and rec.task == "regression"
    with pytest.raises(ValueError, match="imported embeddings: there is no training to resume"):
        runner.resume(store, rid, start=False)


def test_doctor_repair_indexes_an_imported_run_folder_the_database_lost(store, tmp_path):
    import sqlite3

    from jobs.store import doctor

    x, y = mixture()
    np.save(tmp_path / "emb.npy", x)
    rid = import_embeddings(tmp_path / "emb.npy", name="lost and found", store=store).run_id
    with sqlite3.connect(store.db_path) as c:
        c.execute("DELETE FROM snapshots WHERE run_id = ?", (rid,))
        c.execute("DELETE FROM runs WHERE id = ?", (rid,))
    doctor(store.root, repair=True)
    rec = Store(store.root).get_run(rid)
    assert (rec.kind, rec.status, rec.name) == ("imported", "imported", "lost and found")
    assert [s.epoch for s in Store(store.root).snapshots(rid)] == [0]
