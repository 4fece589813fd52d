"""The Import page: the preview and check of uploaded files (ui.importing, called with paths),
the import in a child process of its own, hostile names, and the page itself (AppTest)."""

from __future__ import annotations

import argparse
import io
import math
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tomllib

from jobs import importer
from jobs import store as stmod
from jobs.importer import ImportProblem
from tests.app.apptest import open_page
from tests.app.browser import HOSTILE_NAME
from ui import importing as imp
from ui.text import md_escape

ROOT = Path(__file__).resolve().parents[2]
PAGE = "pages/import_embeddings.py"


def clusters(n_per: int = 30, dim: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated clusters: (n, dim) float32 and their class names."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(3, dim)) * 6
    x = np.concatenate([c + rng.normal(size=(n_per, dim)) for c in centres]).astype(np.float32)
    return x, np.repeat(np.array(["setosa", "versicolor", "virginica"]), n_per)


def npy_bytes(a: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, a)
    return buf.getvalue()


def uniformity(x: np.ndarray, t: float = 2.0) -> float:
    """log of the mean of exp(-t |u - v|^2) over distinct pairs of L2-normalised rows."""
    z = x.astype(np.float64) / np.linalg.norm(x.astype(np.float64), axis=1, keepdims=True)
    sq = ((z[:, None, :] - z[None, :, :]) ** 2).sum(-1)
    iu = np.triu_indices(len(z), 1)
    return float(np.log(np.exp(-t * sq[iu]).mean()))


def wait_done(store: stmod.Store, job: imp.ImportJob, timeout: float = 180) -> imp.JobState:
    t = time.monotonic()
    while time.monotonic() - t < timeout:
        state = imp.job_state(store, job)
        if state.state != "running":
            return state
        time.sleep(0.2)
    raise AssertionError(f"the import did not end within {timeout:.0f} s")


def listing(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


# -- the upload limit and the explanation --------------------------------------------------------
def test_the_upload_limit_is_the_importers():
    cfg = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    mib = cfg["server"]["maxUploadSize"]
    assert mib == imp.MAX_UPLOAD_MB
    # every file the uploader takes is within the importer's limit, and it takes all but the last MiB of it
    assert mib * 2**20 <= importer.MAX_BYTES < (mib + 1) * 2**20


def test_the_snippets_are_those_of_the_docs():
    doc = (ROOT / "docs" / "import.md").read_text()
    assert imp.NOTEBOOK_SNIPPET in doc
    assert imp.CLI_EXAMPLE in doc


# -- the preview and the check --------------------------------------------------------------------
def test_preview_of_a_csv_with_a_label_column(tmp_path):
    x, species = clusters(n_per=20, dim=6)
    df = pd.DataFrame(x, columns=[f"f{i}" for i in range(6)])
    df.insert(0, "species", species)
    df.insert(0, "id", np.arange(100, 160))
    df.to_csv(tmp_path / "emb.csv", index=False)

    pv = imp.preview(tmp_path / "emb.csv")
    assert (pv.format, pv.n, pv.dim, pv.epochs) == ("csv", 60, 7, 1)  # 'id' is numeric: a dimension until picked
    assert pv.columns["species"] == "text" and pv.columns["id"] == "numeric"
    assert pv.label_choices()[:2] == [imp.NONE, "species"]
    assert "species" not in pv.target_choices() and "f3" in pv.target_choices()
    assert pv.defaults() == {"id_column": imp.NONE, "label_column": "species", "target_column": imp.NONE}  # its one text column
    # the first rows, as in the file
    assert len(pv.head) == imp.HEAD_ROWS
    assert pv.head["species"].tolist() == species[:5].tolist()
    np.testing.assert_allclose(pv.head["f2"].to_numpy(), x[:5, 2], rtol=1e-6)

    ck = imp.check(tmp_path / "emb.csv", imp.ImportOptions(label_column="species", id_column="id"))
    assert (ck.n, ck.dim, ck.task, ck.n_classes) == (60, 6, "classification", 3)
    assert ck.classes == ["setosa", "versicolor", "virginica"]
    # without the id column picked, it is a dimension, and that is pointed out
    ck = imp.check(tmp_path / "emb.csv", imp.ImportOptions(label_column="species"))
    assert ck.dim == 7 and any("'id'" in n for n in ck.notes)
    # a numeric column of whole numbers is a choice of labels; continuous values are refused as labels
    with pytest.raises(ImportProblem, match=r"label column 'f1' holds continuous values"):
        imp.check(tmp_path / "emb.csv", imp.ImportOptions(label_column="f1"))
    ck = imp.check(tmp_path / "emb.csv", imp.ImportOptions(target_column="f1"))
    assert (ck.task, ck.dim) == ("regression", 6)


def test_a_labels_file_joined_on_ids_and_its_problems(tmp_path):
    x, species = clusters(n_per=10, dim=4)
    ids = np.arange(30) * 7
    pd.DataFrame({"id": ids, **{f"d{i}": x[:, i] for i in range(4)}}).to_csv(tmp_path / "emb.csv", index=False)
    order = np.random.default_rng(1).permutation(30)
    pd.DataFrame({"id": ids[order], "species": species[order]}).to_csv(tmp_path / "labels.csv", index=False)

    pv = imp.preview(tmp_path / "emb.csv", labels=tmp_path / "labels.csv")
    assert pv.labels_rows == 30 and pv.labels_columns == {"id": "numeric", "species": "text"}
    assert pv.id_choices() == [imp.NONE, "id"]
    assert pv.defaults() == {"id_column": "id", "label_column": "species", "target_column": imp.NONE}
    ck = imp.check(tmp_path / "emb.csv", imp.ImportOptions(label_column="species", id_column="id"),
                   labels=tmp_path / "labels.csv")
    assert (ck.n, ck.dim, ck.n_classes) == (30, 4, 3)
    # the same row order is needed without the id column: the rows count, not the order, is checked here
    pd.DataFrame({"species": species[:29]}).to_csv(tmp_path / "short.csv", index=False)
    with pytest.raises(ImportProblem, match=r"short\.csv has 29 rows but emb\.csv has 30"):
        imp.check(tmp_path / "emb.csv", imp.ImportOptions(label_column="species"), labels=tmp_path / "short.csv")
    pd.DataFrame({"id": ids[1:], "species": species[1:]}).to_csv(tmp_path / "missing.csv", index=False)
    with pytest.raises(ImportProblem, match=r"no row for 1 id of emb\.csv \(0\)"):
        imp.check(tmp_path / "emb.csv", imp.ImportOptions(label_column="species", id_column="id"),
                  labels=tmp_path / "missing.csv")


def test_a_series_a_list_column_and_tensorboard_files(tmp_path):
    x, species = clusters(n_per=10, dim=4)
    # an .npz of two epochs (natural order of names) and a 1-D column of labels
    np.savez(tmp_path / "series.npz", epoch_10=x * 2, epoch_2=x, labels=np.repeat([3, 1, 2], 10))
    pv = imp.preview(tmp_path / "series.npz")
    assert (pv.format, pv.n, pv.dim, pv.epochs, pv.epoch_names) == ("npz", 30, 4, 2, ["epoch_2", "epoch_10"])
    assert pv.columns == {"labels": "numeric"} and pv.defaults()["label_column"] == "labels"
    np.testing.assert_allclose(pv.head[["dim 0", "dim 1", "dim 2", "dim 3"]].to_numpy(), x[:5], rtol=1e-6)
    ck = imp.check(tmp_path / "series.npz", imp.ImportOptions(label_column="labels"))
    assert (ck.epochs, ck.n_classes, ck.classes) == (2, 3, ["1", "2", "3"])
    # a Parquet file with a list<float> column
    pd.DataFrame({"emb": list(x.astype(np.float64)), "species": species}).to_parquet(tmp_path / "t.parquet")
    pv = imp.preview(tmp_path / "t.parquet")
    assert (pv.format, pv.n, pv.dim, pv.columns) == ("parquet", 30, 4, {"species": "text"})
    assert imp.check(tmp_path / "t.parquet", imp.ImportOptions(label_column="species")).n_classes == 3
    # TensorBoard's tensors.tsv, its one-column metadata.tsv uploaded as the labels file
    (tmp_path / "up").mkdir()
    np.savetxt(tmp_path / "up" / "tensors.tsv", x, delimiter="\t")
    (tmp_path / "metadata.tsv").write_text("\n".join(species) + "\n")
    pv = imp.preview(tmp_path / "up" / "tensors.tsv", labels=tmp_path / "metadata.tsv")
    assert (pv.format, pv.n, pv.dim, pv.labels_columns) == ("tensorboard", 30, 4, {"label": "text"})
    assert pv.defaults()["label_column"] == "label"
    ck = imp.check(tmp_path / "up" / "tensors.tsv", imp.ImportOptions(label_column="label"),
                   labels=tmp_path / "metadata.tsv")
    assert (ck.n, ck.dim, ck.n_classes) == (30, 4, 3)


def test_rows_with_nan_or_zeros_are_refused_or_dropped(tmp_path):
    x, species = clusters(n_per=10, dim=5)
    x[3, 1] = np.nan
    x[17] = 0.0
    np.save(tmp_path / "emb.npy", x)
    with pytest.raises(ImportProblem, match=r"emb\.npy: row 3 hold NaN.*tick “Drop rows with NaN, inf or zero norm”"):
        imp.check(tmp_path / "emb.npy", imp.ImportOptions())
    ck = imp.check(tmp_path / "emb.npy", imp.ImportOptions(drop_nonfinite=True))
    assert (ck.n, ck.dropped) == (28, 2)
    # the dropped rows leave the labels: a class of a single row is refused as the split needs two
    pd.DataFrame({"c": ["a"] * 27 + ["b", "b", "c"]}).to_csv(tmp_path / "labels.csv", index=False)
    with pytest.raises(ImportProblem, match=r"1 of the 3 classes .* have a single row"):
        imp.check(tmp_path / "emb.npy", imp.ImportOptions(label_column="c", drop_nonfinite=True),
                  labels=tmp_path / "labels.csv")


def test_a_second_view_of_another_shape_is_refused(tmp_path):
    x, _ = clusters(n_per=10, dim=5)
    np.save(tmp_path / "a.npy", x)
    np.save(tmp_path / "b.npy", x[:, :4])
    np.save(tmp_path / "c.npy", x[:20])
    with pytest.raises(ImportProblem, match=r"second view \(b\.npy\) has shape \(30, 4\) but a\.npy has \(30, 5\)"):
        imp.check(tmp_path / "a.npy", imp.ImportOptions(), view2=tmp_path / "b.npy")
    with pytest.raises(ImportProblem, match=r"second view \(c\.npy\) has 20 rows but a\.npy has 30"):
        imp.preview(tmp_path / "a.npy", view2=tmp_path / "c.npy")


@pytest.mark.parametrize("name, content, message", [
    ("bad.npy", b"this is not numpy", r"bad\.npy is not an \.npy file"),
    ("flat.npy", None, r"flat\.npy is a 1-D array of 12 values"),
    ("ragged.csv", b"a,b,c\n1,2,3\n4,5\n6,7,8\n", r"ragged\.csv: line 3 has 2 fields but the header has 3"),
    ("empty.csv", b"", r"empty\.csv is empty"),
    ("words.csv", b"a,b\nx,y\nz,w\nu,v\n", r"words\.csv has no numeric columns"),
    ("emb.pkl", b"\x80\x04K\x01.", r"unknown file type '\.pkl'"),
])
def test_a_bad_file_gives_the_message_and_writes_nothing(tmp_path, store, name, content, message):
    folder = imp.new_upload_folder(store)
    data = npy_bytes(np.arange(12.0)) if content is None else content
    path = imp.save_upload(folder, "embeddings", name, data)
    before = listing(store.root)
    with pytest.raises(ImportProblem, match=message):
        imp.preview(path)
    with pytest.raises(ImportProblem, match=message):
        imp.check(path, imp.ImportOptions())
    assert listing(store.root) == before
    assert store.list_runs() == [] and list(store.runs_dir.iterdir()) == []


# -- the import, in a child process ---------------------------------------------------------------
def test_an_import_runs_in_a_child_process_and_writes_the_run(tmp_path, store):
    x, species = clusters(n_per=40, dim=8)
    folder = imp.new_upload_folder(store)
    assert (folder.stat().st_mode & 0o777) == 0o700 and (folder.parent.stat().st_mode & 0o777) == 0o700
    path = imp.save_upload(folder, "embeddings", "emb.npy", npy_bytes(x))
    labels = imp.save_upload(folder, "labels", "labels.csv", pd.DataFrame({"species": species}).to_csv(index=False)
                             .encode())
    assert (path.stat().st_mode & 0o777) == 0o600
    opts = imp.ImportOptions(label_column="species", name=HOSTILE_NAME)
    job = imp.launch(store, folder, path, opts, labels=labels, name="emb.npy")
    assert os.getsid(job.pid) == job.pid  # its own session: it survives the server
    state = wait_done(store, job)
    assert state.state == "imported", state.error
    s, run = state.summary, state.run
    assert (s["n"], s["dim"], s["n_labels"], s["task"]) == (120, 8, 3, "classification")
    assert run.kind == "imported" and run.status == stmod.IMPORTED and run.name == HOSTILE_NAME
    assert run.config["label_names"] == ["setosa", "versicolor", "virginica"]
    # the figures: uniformity over all pairs, as defined; well separated clusters are found by the probes
    assert s["uniformity"] == pytest.approx(uniformity(x), abs=1e-4)
    assert run.metrics["uniformity"] == pytest.approx(s["uniformity"])
    assert s["knn_accuracy"] == 1.0 and s["linear_accuracy"] == 1.0
    assert 1.0 < s["rankme"] <= 8.0 and s["alignment"] is None
    arr = store.load_snapshot(run.id, 0)
    assert arr["emb"].shape == (120, 8) and sorted(arr["index"].tolist()) == list(range(120))
    np.testing.assert_array_equal(arr["emb"], x[arr["index"]])
    # the figures the page shows: those defined, accuracy as percent
    rows = {label: value for label, value, _ in imp.figure_rows(s)}
    assert rows["kNN accuracy"] == "100.0%" and rows["Uniformity"] == f"{s['uniformity']:.3f}"
    assert "Alignment" not in rows and "kNN MAE" not in rows
    # the child is reaped (no zombie of the server), its output is in the upload folder until the page lets go
    with pytest.raises(ChildProcessError):
        os.waitpid(job.pid, os.WNOHANG)
    assert (folder / imp.LOG).exists() and (folder / imp.EXIT).read_text() == "0"
    imp.finish(job)
    assert not folder.exists()


def test_a_failed_import_gives_the_childs_message_and_leaves_no_run(tmp_path, store):
    x, _ = clusters(n_per=10, dim=4)
    folder = imp.new_upload_folder(store)
    path = imp.save_upload(folder, "embeddings", '<i>my</i> "emb".npy', npy_bytes(x))
    job = imp.launch(store, folder, path, imp.ImportOptions(label_column="species"), name='<i>my</i> "emb".npy',
                     names={path.name: '<i>my</i> "emb".npy'})
    state = wait_done(store, job)
    assert state.state == "failed"
    # the importer's own message, with the file's name as it was uploaded
    assert state.error.startswith('<i>my</i> "emb".npy has no column \'species\'')
    assert (folder / imp.EXIT).read_text() == "2"
    assert store.list_runs() == []


def test_a_killed_import_says_how_it_ended(tmp_path, store):
    x, _ = clusters(n_per=10, dim=4)
    folder = imp.new_upload_folder(store)
    path = imp.save_upload(folder, "embeddings", "e.npy", npy_bytes(x))
    job = imp.launch(store, folder, path, imp.ImportOptions())
    os.kill(job.pid, 9)
    state = wait_done(store, job)
    assert state.state == "failed" and state.error.startswith("the import process was stopped by signal 9")


# -- hostile names -------------------------------------------------------------------------------
@pytest.mark.parametrize("name", [HOSTILE_NAME + ".npy", '<b id="inj">x</b>.npy', "../../../etc/passwd.npy",
                                  ".bashrc.npy", "a\x00b\nc.npy", "é" * 300 + ".csv", "..", "/", "x_tensors.tsv"])
def test_uploaded_names_stay_inside_the_upload_folder(tmp_path, name):
    path = imp.save_upload(tmp_path, "embeddings", name, b"data")
    assert path.parent == tmp_path / "embeddings" and path.read_bytes() == b"data"
    assert not path.name.startswith(".") and len(path.name) <= 120 and "/" not in path.name
    if name.endswith((".npy", ".csv")):
        assert path.suffix == Path(name).suffix
    if name == "x_tensors.tsv":
        assert path.name == "x_tensors.tsv"  # TensorBoard's files keep their name
    assert imp.as_uploaded(f"{path.name} has 2 rows", {path.name: name}) == f"{name} has 2 rows"


def test_names_as_the_browser_sends_them():
    # HTML's multipart encoding of a file name: '"' -> %22, CR -> %0D, LF -> %0A
    assert imp.uploaded_name("<b id=%22inj%22>x</b>.npy") == '<b id="inj">x</b>.npy'
    assert imp.uploaded_name("a%0Ab%0Dc.npy") == "a\nb\rc.npy"
    assert imp.uploaded_name("100% done.npy") == "100% done.npy"
    # a run is named after the file without its extension; a '/' in the name is text, not a folder
    assert imp.default_run_name('<b id="inj">x</b>.npy') == '<b id="inj">x</b>'
    assert imp.default_run_name("model.v2.emb.parquet") == "model.v2.emb"
    assert imp.default_run_name(".npy") == ".npy" and imp.default_run_name("emb") == "emb"


def test_hostile_column_and_run_names_reach_the_command_as_values():
    opts = imp.ImportOptions(label_column="--json", id_column="-x", name=HOSTILE_NAME + " --drop-nonfinite")
    args = imp.import_args("/tmp/a b.npy", opts, labels="/tmp/l.csv")
    p = argparse.ArgumentParser()
    importer.add_import_parser(p.add_subparsers(dest="cmd"))
    a = p.parse_args(args)
    assert (a.path, a.labels, a.label_column, a.id_column) == ("/tmp/a b.npy", "/tmp/l.csv", "--json", "-x")
    assert a.name == HOSTILE_NAME + " --drop-nonfinite" and not a.drop_nonfinite and a.json


def test_the_shell_command_is_exact(store):
    opts = imp.ImportOptions(label_column="species", name="it's mine")
    cmd = imp.cli_command(store, opts, path="/path/to/my emb.npy", labels="/path/to/labels.csv", max_mb=20_000)
    cd, _, rest = cmd.partition(" && ")
    assert shlex.split(cd) == ["cd", str(ROOT)]
    argv = shlex.split(rest)
    assert argv[1:5] == ["-m", "trainers", f"--store={store.root}", "import"]
    assert (ROOT / argv[0]).resolve() == Path(sys.executable).resolve()  # this app's interpreter
    assert argv[5:] == ["/path/to/my emb.npy", "--labels=/path/to/labels.csv", "--label-column=species",
                        "--name=it's mine", "--max-mb=20000", "--json"]


def test_the_progress_line_escapes_the_name():
    job = imp.ImportJob("/nowhere", 1, None, time.time(), HOSTILE_NAME, epochs=3)
    line = imp.progress_line(job, imp.JobState("running", 2.0))
    assert md_escape(HOSTILE_NAME) in line and "<b" not in line.replace("\\<b", "")


# -- upload folders left behind ------------------------------------------------------------------
def test_upload_folders_that_no_page_needs_are_swept(store):
    now = time.time()
    ended_long_ago, ended_now, stale, fresh, mine = (imp.new_upload_folder(store) for _ in range(5))
    for f in (ended_long_ago, ended_now):
        (f / imp.EXIT).write_text("0")
    os.utime(ended_long_ago / imp.EXIT, (now - imp.DONE_AGE - 5,) * 2)
    (stale / imp.PID).write_text(f"{os.getpid() + 10**7} ")  # a process that is gone
    for f in (stale, mine):
        (f / "embeddings").mkdir()
        (f / "embeddings" / "e.npy").write_bytes(b"x")
        for p in [*f.rglob("*"), f]:
            os.utime(p, (now - imp.STALE_AGE - 5,) * 2)
    removed = imp.sweep_uploads(store, keep=[mine], now=now)
    assert sorted(removed) == sorted([ended_long_ago, stale])
    assert ended_now.exists() and fresh.exists() and mine.exists()


# -- the page (AppTest) --------------------------------------------------------------------------
def test_the_page_shows_its_explanation_and_uploaders(store):
    at = open_page(PAGE)
    assert at.title[0].value == "Import"
    uploaders = at.get("file_uploader")
    assert [u.proto.label for u in uploaders] == ["Embeddings", "Labels file (optional)", "Second view (optional)"]
    assert uploaders[0].proto.max_upload_size_mb == imp.MAX_UPLOAD_MB
    assert list(uploaders[0].proto.type) == [".npy", ".npz", ".csv", ".tsv", ".parquet"]
    # the explanation is open while nothing is uploaded
    what = at.expander[0]
    assert what.label == "What can I import?" and what.proto.expanded
    text = " ".join(m.value for m in what.markdown)
    assert "TensorBoard" in text and "**A second view**" in text and "**series**" in text and "**Labels**" in text
    codes = [c.value for c in at.code]
    assert imp.NOTEBOOK_SNIPPET in codes and imp.CLI_EXAMPLE in codes
    big = next(c for c in codes if "--max-mb" in c)
    assert f"--store={store.root}" in big and " import /path/to/embeddings.npy " in big
    assert at.expander[1].label == "A file above 2,000 MB? Import it from a shell"
    assert not at.error and not at.success


def test_the_page_follows_an_import_to_its_figures_and_views(tmp_path, store):
    x, species = clusters(n_per=20, dim=6)
    name = '<b id="inj">x</b>.npy'
    folder = imp.new_upload_folder(store)
    path = imp.save_upload(folder, "embeddings", name, npy_bytes(x))
    labels = imp.save_upload(folder, "labels", "l.csv", pd.DataFrame({"c": species}).to_csv(index=False).encode())
    job = imp.launch(store, folder, path, imp.ImportOptions(label_column="c", name="x"), labels=labels, name=name)

    at = open_page(PAGE, import_job=job, import_folder=str(folder))
    if "import_job" in at.session_state:  # still running: the page says so, and picks up the end on a later run
        assert at.get("status")[0].proto.label.startswith(f"Importing **{md_escape(name)}**: ")
        wait_done(store, job)
        at.run()
    assert not at.exception, [e.value for e in at.exception]
    run = store.list_runs()[0]
    success = at.success[0].value
    assert success.startswith(f"Imported **{md_escape(name)}** as the run **x** ({md_escape(run.id)}): 60 rows × 6 "
                              "dimensions, 3 classes in ")
    assert "<b" not in success.replace("\\<b", "")
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["kNN accuracy"] == "100.0%"
    assert float(metrics["Uniformity"]) == pytest.approx(run.metrics["uniformity"], abs=5e-4)
    assert math.isfinite(float(metrics["RankMe"]))
    assert [pl.proto.page for pl in at.get("page_link")] == ["alignment_uniformity", "collapse", "embedding_map", "runs"]
    assert at.session_state["lab_selected_runs"][0] == run.id  # the views open on it
    assert not at.expander[0].proto.expanded  # the explanation makes room for the outcome
    assert not folder.exists()  # the upload is gone once the import has ended
    assert "import_job" not in at.session_state
    # the next file starts from empty uploaders
    assert at.session_state["import_gen"] == 1
