"""Export a run's snapshot to the tools people already use.

    python -m trainers export RUN [--epoch E] --format {parquet,csv,npy,tensorboard,mlflow} --out DIR [--json]

Formats (docs/export.md):

- ``parquet``: one row per sample: ``index``, ``label`` (or ``target``; an imported run's
  class names, with their codes in ``label_code``; neither for an embedding without labels),
  ``split`` (train / test), the 2-D maps (``pca_emb_x``, ``pca_emb_y``, ``pca_rep_x``, ``pca_rep_y``, and
  ``umap_emb_*`` / ``umap_rep_*`` when the store has a UMAP map of that epoch; rows outside
  a sampled map are NaN), the per-sample values (``knn_hit``, ``tau``, ...: a snapshot's
  ``ps_<name>`` arrays become ``<name>``), any other per-sample column the run has, and the
  embedding and the representation as list columns ``embedding`` and ``representation``
  (an imported run's one matrix, stored as both, is exported once, as the embedding).
  The file's key-value metadata ``embedding_geometry_lab`` holds the run (id, name, kind,
  status, epoch, config), the snapshot's metrics and its covariance spectra, as JSON.
- ``csv``: the same rows, with the matrices as wide columns ``emb_0..emb_{D-1}`` and
  ``rep_0..rep_{R-1}``.
- ``npy``: ``embedding.npy``, ``representation.npy``, ``labels.npy`` (or ``targets.npy``),
  ``index.npy`` and ``is_test.npy``, each readable with ``np.load(allow_pickle=False)``.
- ``tensorboard``: ``tensors.tsv`` (the embedding), ``representation.tsv``, ``metadata.tsv``
  (a header row, then one row per sample) and ``projector_config.pbtxt``:
  ``tensorboard --logdir DIR`` opens them in the Embedding Projector.
- ``mlflow``: one MLflow run in the tracking store of ``$MLFLOW_TRACKING_URI`` (default:
  the folder ``./mlruns``) with the run's config as params, every snapshot's metrics as
  metric steps (step = epoch), the loss history (``loss``: the mean loss of each epoch,
  step = epoch; ``loss_by_step``: every history row, step = training step), and the Parquet
  export, the snapshot file and ``config.json`` as artifacts. Needs ``pip install
  mlflow-skinny`` (the ``mlflow`` extra). The Parquet file and ``mlflow_run.json`` (where
  the MLflow run is) are written to DIR as well.

Every file is written to a hidden folder inside DIR first and renamed into place once all
of an export's files are complete: a failed export leaves nothing behind. Bad input (an
unknown run, epoch or format, a folder that cannot be written) raises :class:`ExportError`,
whose message says what to do; the command line prints it and exits with status 2.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import io
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import urlparse

import numpy as np

from jobs import store as st
from trainers import registry

FORMATS = ("parquet", "csv", "npy", "tensorboard", "mlflow")
BASE_ARRAYS = ("rep", "emb", "index", "y", "is_test", "pca_emb", "pca_rep", "label_names")  # not extra columns
PARQUET_KEY = b"embedding_geometry_lab"  # the Parquet file's key-value metadata: run, metrics, spectra
MLFLOW_EXPERIMENT = "Embedding Geometry Lab"  # used unless $MLFLOW_EXPERIMENT_NAME names another
MLFLOW_DEFAULT_DIR = "mlruns"  # the tracking store when $MLFLOW_TRACKING_URI is not set
MLFLOW_RECEIPT = "mlflow_run.json"
MLFLOW_PARAM_CHARS = 500  # the shortest parameter value limit of MLflow versions; the full config is an artifact
MLFLOW_INSTALL = ("the mlflow format needs MLflow's tracking client: `pip install mlflow-skinny` "
                  "(or `pip install -e '.[mlflow]'` in the lab's folder), then export again")


class ExportError(ValueError):
    """Bad input to an export (unknown run, epoch or format; a folder that cannot be
    written; a missing optional package); ``str(e)`` ends with what to do."""


@dataclass
class ExportedSnapshot:
    """What an export writes: one snapshot of one run, as per-sample columns and matrices."""

    run: st.RunRecord
    epoch: int
    columns: dict[str, np.ndarray]  # 1-D, N each, rows by index: index, label / target, split, maps, values
    embedding: np.ndarray  # (N, D)
    representation: np.ndarray | None  # (N, R); None when the run has none (an imported embedding)
    target: str | None  # the column of the labels ("label") or targets ("target"); None: the run has neither
    metrics: dict[str, Any]
    spectra: dict[str, list[float]] = field(default_factory=dict)  # covariance spectra (held-out split)
    snapshot_file: Path | None = None  # the snapshot's .npz in the store

    @property
    def n(self) -> int:
        return len(self.embedding)

    def header(self) -> dict[str, Any]:
        """The run and snapshot as plain JSON values (the Parquet file's metadata)."""
        r = self.run
        return {"run_id": r.id, "name": r.name, "kind": r.kind, "group": r.group, "status": r.status,
                "epoch": self.epoch, "target": self.target, "config": r.config, "metrics": _finite(self.metrics),
                "spectra": self.spectra, "exported": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


# -- reading a snapshot ------------------------------------------------------------------
def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise ExportError(f"unknown export format {fmt!r}: choose one of {', '.join(FORMATS)}")
    return fmt


def pick_snapshot(store: st.Store, run_id: str, epoch: int | None = None) -> tuple[st.RunRecord, st.SnapshotRecord]:
    """The run and its snapshot at ``epoch`` (None: the last one)."""
    try:
        rec = store.get_run(run_id)
    except KeyError:
        raise ExportError(f"no run {run_id!r} in the store at {store.root}: `python -m trainers list` "
                          "shows the runs (or pass --store)") from None
    snaps = store.snapshots(run_id)
    if not snaps:
        raise ExportError(f"run {run_id} ({rec.name}) has no snapshot yet ({rec.status}): export it once its "
                          "first snapshot is written")
    if epoch is None:
        return rec, snaps[-1]
    for s in snaps:
        if s.epoch == epoch:
            return rec, s
    raise ExportError(f"run {run_id} has no snapshot at epoch {epoch}; its snapshots are at epochs "
                      f"{', '.join(str(s.epoch) for s in snaps)}: pass one of those (or leave the epoch out for the last)")


def task_of(config: dict[str, Any], y: np.ndarray) -> str:
    """"classification", "regression" or "none" (an imported embedding without labels or
    targets): the config's ``task``, else its registry dataset's task, else from the values
    (floating-point values are targets)."""
    task = config.get("task")
    if task in ("classification", "regression", "none"):
        return task
    name = config.get("dataset")
    spec = registry.DATASETS.get(name) if isinstance(name, str) else None
    if spec is not None:
        return spec.task
    return "regression" if y.dtype.kind == "f" else "classification"


def read_snapshot(store: st.Store, run_id: str, epoch: int | None = None) -> ExportedSnapshot:
    """The snapshot of ``run_id`` at ``epoch`` (None: the last) as columns and matrices.

    Runs of any kind: a snapshot needs only ``emb``; ``rep``, ``y``, ``index``, ``is_test``
    and the PCA maps are used when present (an imported embedding may lack them)."""
    rec, snap = pick_snapshot(store, run_id, epoch)
    arrays = store.load_snapshot(run_id, snap.epoch)
    emb = arrays.get("emb")
    if emb is None or emb.ndim != 2:
        raise st.StoreDamaged("the snapshot holds no (N, D) embedding 'emb'", run_id=run_id, epoch=snap.epoch)
    n = len(emb)

    def rows(name: str, ndim: int = 1) -> np.ndarray | None:  # an array with one row per sample, or None
        a = arrays.get(name)
        return a if a is not None and a.ndim == ndim and len(a) == n else None

    config = rec.config
    y = rows("y")
    task = "none" if y is None else task_of(config, y)
    target = {"regression": "target", "classification": "label"}.get(task)
    index, is_test = rows("index"), rows("is_test")
    cols: dict[str, np.ndarray] = {"index": np.arange(n, dtype=np.int64) if index is None else index}
    if target is not None and y is not None:
        names = arrays.get("label_names")  # an imported run's class names: y holds their codes
        if target == "label" and names is not None and names.ndim == 1 and y.dtype.kind in "iu" and len(y) \
                and 0 <= y.min() and y.max() < len(names):
            cols["label"], cols["label_code"] = names[y], y
        else:
            cols[target] = y
    cols["split"] = np.full(n, "all") if is_test is None else np.where(is_test.astype(bool), "test", "train")
    for method in ("pca", "umap"):
        for space in ("emb", "rep"):
            xy = rows(f"pca_{space}", 2) if method == "pca" else store.projection(run_id, snap.epoch, space, method)
            if xy is not None and xy.shape == (n, 2):
                cols[f"{method}_{space}_x"], cols[f"{method}_{space}_y"] = xy[:, 0], xy[:, 1]
    original = config.get("metadata") if isinstance(config.get("metadata"), dict) else {}
    for k, v in arrays.items():  # per-sample values (knn_hit, ps_tau, ...) and any other column of the run
        if k in BASE_ARRAYS or v.ndim != 1 or len(v) != n:
            continue
        name = k[3:] if k.startswith("ps_") and len(k) > 3 else k
        if isinstance(original.get(k), str) and original[k]:  # an imported run's text column: its own name
            name = original[k]
        taken = name in cols or name in ("label", "target", "embedding", "representation")
        cols[f"meta_{k}" if taken else name] = v
    rep = rows("rep", 2)
    if rep is not None and rep.shape == emb.shape and np.array_equal(rep, emb):
        rep = None  # an imported run's one matrix stands for both: exported once, as the embedding
    spectra = {k: [float(x) for x in v] for k, v in arrays.items() if k.startswith("spectrum_") and v.ndim == 1}
    try:
        path = store.run_file(run_id, snap.file)
    except (st.StoreDamaged, ValueError):
        path = None
    # rows in the order of their index (the dataset's, or the imported file's), not the snapshot's
    # training-split-first order: importing the export back gives the same rows, split and figures
    order = np.argsort(cols["index"], kind="stable")
    cols = {k: v[order] for k, v in cols.items()}
    return ExportedSnapshot(run=rec, epoch=snap.epoch, columns=cols, embedding=emb[order],
                            representation=None if rep is None else rep[order],
                            target=target, metrics=dict(snap.metrics), spectra=spectra, snapshot_file=path)


def file_stem(run_id: str, epoch: int) -> str:
    """The name of a run's table files: ``<run id>_epoch_00004``."""
    return f"{run_id}_epoch_{epoch:05d}"


# -- the formats -------------------------------------------------------------------------
def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise ExportError("the parquet format needs pyarrow: `pip install pyarrow` (streamlit, which the lab "
                          "installs, brings it), then export again") from None
    return pa, pq


def _list_column(pa: Any, m: np.ndarray) -> Any:
    """An (N, D) matrix as a list column, one list of D values per row."""
    m = np.ascontiguousarray(m)
    n, d = m.shape
    big = m.size >= 2**31 - 1
    offsets = np.arange(0, n * d + 1, d, dtype=np.int64 if big else np.int32)
    cls = pa.LargeListArray if big else pa.ListArray
    return cls.from_arrays(pa.array(offsets), pa.array(m.reshape(-1)))


def arrow_table(snap: ExportedSnapshot) -> Any:
    """The snapshot as a ``pyarrow.Table`` (the Parquet export's contents)."""
    pa, _ = _pyarrow()
    names, values = list(snap.columns), [pa.array(v) for v in snap.columns.values()]
    names.append("embedding")
    values.append(_list_column(pa, snap.embedding))
    if snap.representation is not None:
        names.append("representation")
        values.append(_list_column(pa, snap.representation))
    table = pa.Table.from_arrays(values, names=names)
    return table.replace_schema_metadata({PARQUET_KEY: json.dumps(snap.header()).encode()})


def write_parquet(snap: ExportedSnapshot, f: IO[bytes]) -> None:
    _, pq = _pyarrow()
    pq.write_table(arrow_table(snap), f)


def parquet_bytes(store: st.Store, run_id: str, epoch: int | None = None) -> bytes:
    """The Parquet export of a run's snapshot, built in memory (for a download button)."""
    buf = io.BytesIO()
    write_parquet(read_snapshot(store, run_id, epoch), buf)
    return buf.getvalue()


def csv_frame(snap: ExportedSnapshot) -> Any:
    """The snapshot as a pandas DataFrame with wide matrix columns (the CSV export's contents)."""
    import pandas as pd

    parts = [pd.DataFrame(snap.columns)]
    parts.append(pd.DataFrame(snap.embedding, columns=[f"emb_{j}" for j in range(snap.embedding.shape[1])]))
    if snap.representation is not None:
        parts.append(pd.DataFrame(snap.representation, columns=[f"rep_{j}" for j in range(snap.representation.shape[1])]))
    return pd.concat(parts, axis=1)


def write_csv(snap: ExportedSnapshot, f: IO[bytes]) -> None:
    # %.9g keeps every float32 exactly (and float64 to 9 digits); NaN is written as an empty field
    csv_frame(snap).to_csv(f, index=False, float_format="%.9g", lineterminator="\n")


def _npy_writer(a: np.ndarray) -> Callable[[IO[bytes]], None]:
    if a.dtype.kind == "O":  # never written: np.load(allow_pickle=False) could not read it back
        a = a.astype(str)
    return lambda f: np.save(f, a, allow_pickle=False)


def npy_files(snap: ExportedSnapshot) -> dict[str, Callable[[IO[bytes]], None]]:
    files = {"embedding.npy": _npy_writer(snap.embedding)}
    if snap.representation is not None:
        files["representation.npy"] = _npy_writer(snap.representation)
    if snap.target is not None:
        files[f"{snap.target}s.npy"] = _npy_writer(snap.columns[snap.target])
    files["index.npy"] = _npy_writer(snap.columns["index"])
    files["is_test.npy"] = _npy_writer(snap.columns["split"] == "test")
    return files


def _tsv_value(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return "" if not math.isfinite(v) else f"{v:.9g}"  # an empty field is a missing value to the projector
    return re.sub(r"[\t\r\n]+", " ", str(v))


def metadata_columns(snap: ExportedSnapshot) -> list[str]:
    """The columns of ``metadata.tsv``: the label or target, split, index, then the per-sample
    values and other columns (the 2-D maps are left out: the projector computes its own)."""
    first = [k for k in (snap.target, "split", "index") if k is not None]
    return first + [k for k in snap.columns if k not in first and not re.match(r"^(pca|umap)_(emb|rep)_[xy]$", k)]


def _write_tsv_matrix(m: np.ndarray) -> Callable[[IO[bytes]], None]:
    return lambda f: np.savetxt(f, m, fmt="%.9g", delimiter="\t")


def _write_metadata(snap: ExportedSnapshot, f: IO[bytes]) -> None:
    names = metadata_columns(snap)
    cols = [snap.columns[k].tolist() for k in names]
    lines = ["\t".join(names)] + ["\t".join(_tsv_value(c[i]) for c in cols) for i in range(snap.n)]
    f.write(("\n".join(lines) + "\n").encode("utf-8"))


def projector_config(snap: ExportedSnapshot) -> str:
    """``projector_config.pbtxt``: a ``tensorboard.projector.ProjectorConfig`` in protobuf
    text format, one ``embeddings`` entry per matrix, paths relative to the file's folder."""
    tensors = [("embedding", "tensors.tsv", snap.embedding)]
    if snap.representation is not None:
        tensors.append(("representation", "representation.tsv", snap.representation))
    out = []
    for name, path, m in tensors:
        out += ["embeddings {", f'  tensor_name: "{name}"', f"  tensor_shape: {m.shape[0]}",
                f"  tensor_shape: {m.shape[1]}", f'  tensor_path: "{path}"', '  metadata_path: "metadata.tsv"', "}"]
    return "\n".join(out) + "\n"


def tensorboard_files(snap: ExportedSnapshot) -> dict[str, Callable[[IO[bytes]], None]]:
    files = {"tensors.tsv": _write_tsv_matrix(snap.embedding)}
    if snap.representation is not None:
        files["representation.tsv"] = _write_tsv_matrix(snap.representation)
    files["metadata.tsv"] = lambda f: _write_metadata(snap, f)
    config = projector_config(snap).encode()
    files["projector_config.pbtxt"] = lambda f: f.write(config)
    return files


# -- writing files: all or nothing -------------------------------------------------------
def _folder_problem(out_dir: Path, e: OSError) -> ExportError:
    if e.errno in (errno.ENOSPC, errno.EDQUOT):
        return ExportError(f"no space left on the disk of {out_dir} ({st.free_mb(out_dir):.0f} MB free): free some "
                           "space or choose another --out folder; nothing was written")
    return ExportError(f"cannot write to {out_dir} ({e.strerror or e}): choose a folder you can write to "
                       "(--out), or fix its permissions; nothing was written")


def _make_folder(out_dir: Path) -> Path:
    out_dir = Path(out_dir).expanduser()
    if out_dir.exists() and not out_dir.is_dir():
        raise ExportError(f"{out_dir} is a file, not a folder: pass a folder (new or existing) as --out")
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise _folder_problem(out_dir, e) from None
    return out_dir


@contextlib.contextmanager
def staged(out_dir: Path) -> Iterator[tuple[Path, Callable[[str, Callable[[IO[bytes]], None]], Path]]]:
    """Write files into a hidden folder inside ``out_dir``; on success rename each into
    ``out_dir`` (replacing an earlier export of the same name), on failure remove them all.

    Yields ``(staging folder, write)``; ``write(name, writer)`` calls ``writer`` with the open
    file of the staged ``name`` and returns that file's path."""
    out_dir = _make_folder(out_dir)
    try:
        stage = Path(tempfile.mkdtemp(prefix=f".export-{os.getpid()}-", suffix=".tmp", dir=out_dir))
    except OSError as e:
        raise _folder_problem(out_dir, e) from None
    names: list[str] = []

    def write(name: str, writer: Callable[[IO[bytes]], None]) -> Path:
        p = stage / name
        with open(p, "wb") as f:
            writer(f)
            f.flush()
            os.fsync(f.fileno())
        names.append(name)
        return p

    try:
        try:
            yield stage, write
        except OSError as e:
            raise _folder_problem(out_dir, e) from None
        done: list[Path] = []
        try:
            for name in names:
                os.replace(stage / name, out_dir / name)
                done.append(out_dir / name)
        except OSError as e:
            for p in done:
                p.unlink(missing_ok=True)
            raise _folder_problem(out_dir, e) from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


# -- MLflow ------------------------------------------------------------------------------
def mlflow_uri() -> str:
    """``$MLFLOW_TRACKING_URI``, else the folder ``./mlruns`` as a ``file:`` URI."""
    return os.environ.get("MLFLOW_TRACKING_URI") or Path(MLFLOW_DEFAULT_DIR).resolve().as_uri()


@contextlib.contextmanager
def _file_store_allowed(uri: str) -> Iterator[None]:
    """MLflow 3 refuses a folder as the tracking store unless ``MLFLOW_ALLOW_FILE_STORE`` is
    true; the export asked for one, so it is allowed for the export's duration."""
    if urlparse(uri).scheme not in ("", "file") or "MLFLOW_ALLOW_FILE_STORE" in os.environ:
        yield
        return
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        yield
    finally:
        os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(_flat(v, key + "."))
        else:
            text = v if isinstance(v, str) else json.dumps(v)
            out[key] = text if len(text) <= MLFLOW_PARAM_CHARS else text[: MLFLOW_PARAM_CHARS - 3] + "..."
    return out


def _mlflow_key(k: str) -> str:
    return re.sub(r"[^A-Za-z0-9_\-. /]", "_", str(k))[:250] or "_"


def _finite(d: dict[str, Any]) -> dict[str, Any]:
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float, np.integer, np.floating)):
        return None
    return float(v) if math.isfinite(v) else None


def mlflow_metrics(store: st.Store, rec: st.RunRecord) -> list[tuple[str, float, int, int]]:
    """(key, value, timestamp in ms, step) of every metric the run's MLflow run gets: each
    snapshot's metrics at step = epoch, and the loss history (``loss`` at step = epoch for
    each epoch's mean loss, ``loss_by_step`` at step = training step for every row)."""
    out = []
    for s in store.snapshots(rec.id):
        for k, v in s.metrics.items():
            x = _number(v)
            if x is not None and k != "epoch":
                out.append((_mlflow_key(k), x, int(s.created * 1000), s.epoch))
    h = store.history(rec.id)
    t0 = rec.started or rec.created
    for step, epoch, seconds, loss in zip(h["step"], h["epoch"], h["seconds"], h["loss"], strict=True):
        if not math.isfinite(loss):
            continue
        ts = int((t0 + seconds) * 1000)
        out.append(("loss_by_step", float(loss), ts, int(step)))
        if float(epoch).is_integer():
            out.append(("loss", float(loss), ts, int(epoch)))
    return out


def _log_to_mlflow(store: st.Store, snap: ExportedSnapshot, parquet: Path, config: Path) -> dict[str, Any]:
    """One MLflow run for ``snap``'s run; returns where it is. A failure deletes the run."""
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient

    uri = mlflow_uri()
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or MLFLOW_EXPERIMENT
    rec = snap.run
    with _file_store_allowed(uri):
        client, run_id = None, None
        try:
            client = MlflowClient(tracking_uri=uri)
            exp = client.get_experiment_by_name(name)
            if exp is None:
                exp_id = client.create_experiment(name)
            else:
                exp_id = exp.experiment_id
                if exp.lifecycle_stage == "deleted":
                    client.restore_experiment(exp_id)
            tags = {"lab.run_id": rec.id, "lab.kind": rec.kind, "lab.status": rec.status, "lab.epoch": str(snap.epoch),
                    "lab.store": str(store.root), "mlflow.note.content": f"Embedding Geometry Lab run {rec.id}, "
                    f"snapshot of epoch {snap.epoch}"}
            run_id = client.create_run(exp_id, run_name=rec.name or rec.id, tags=tags).info.run_id
            params = [Param(k, v) for k, v in {_mlflow_key(k): v for k, v in _flat(rec.config).items()}.items()]
            for i in range(0, len(params), 100):
                client.log_batch(run_id, params=params[i : i + 100])
            metrics = [Metric(k, v, ts, step) for k, v, ts, step in mlflow_metrics(store, rec)]
            for i in range(0, len(metrics), 1000):
                client.log_batch(run_id, metrics=metrics[i : i + 1000])
            client.log_artifact(run_id, str(parquet), "export")
            client.log_artifact(run_id, str(config), "export")
            if snap.snapshot_file is not None and snap.snapshot_file.exists():
                client.log_artifact(run_id, str(snap.snapshot_file), "snapshot")
            client.set_terminated(run_id, "FINISHED")
            artifacts = client.get_run(run_id).info.artifact_uri
        except Exception as e:  # any error of MLflow's client, its store or its server
            if client is not None and run_id is not None:
                with contextlib.suppress(Exception):
                    client.delete_run(run_id)
            raise ExportError(f"could not log to MLflow at {uri} ({type(e).__name__}: {e}): check "
                              "$MLFLOW_TRACKING_URI (a folder as file:/path, sqlite:///mlflow.db, or a tracking "
                              "server's http address); nothing was kept") from e
    return {"tracking_uri": uri, "experiment": name, "experiment_id": exp_id, "run_id": run_id,
            "run_name": rec.name or rec.id, "artifact_uri": artifacts, "lab_run_id": rec.id, "epoch": snap.epoch}


# -- the export ----------------------------------------------------------------------------
def export_run(store: st.Store, run_id: str, *, epoch: int | None = None, fmt: str, out_dir: str | os.PathLike) -> list[Path]:
    """Export the snapshot of ``run_id`` at ``epoch`` (None: the last) as ``fmt`` (one of
    :data:`FORMATS`) into the folder ``out_dir`` (made if missing); return the files written.

    Raises :class:`ExportError` on bad input, with nothing written; a damaged snapshot raises
    :class:`jobs.store.StoreDamaged`."""
    return _export(store, run_id, epoch, fmt, Path(out_dir).expanduser())[1]


def _export(store: st.Store, run_id: str, epoch: int | None, fmt: str, out_dir: Path) -> tuple[int, list[Path]]:
    """(the epoch exported, the files written)."""
    check_format(fmt)
    if fmt == "mlflow":
        try:
            import mlflow  # noqa: F401
        except ImportError:
            raise ExportError(MLFLOW_INSTALL) from None
    if fmt in ("parquet", "mlflow"):
        _pyarrow()
    snap = read_snapshot(store, run_id, epoch)
    stem = file_stem(snap.run.id, snap.epoch)
    with staged(out_dir) as (stage, write):
        if fmt == "parquet":
            files = [write(f"{stem}.parquet", lambda f: write_parquet(snap, f))]
        elif fmt == "csv":
            files = [write(f"{stem}.csv", lambda f: write_csv(snap, f))]
        elif fmt == "npy":
            files = [write(name, w) for name, w in npy_files(snap).items()]
        elif fmt == "tensorboard":
            files = [write(name, w) for name, w in tensorboard_files(snap).items()]
        else:  # mlflow: the Parquet file and the run's config, logged from the staging folder
            parquet = write(f"{stem}.parquet", lambda f: write_parquet(snap, f))
            config = stage / "config.json"
            config.write_text(json.dumps(snap.run.config, indent=2, sort_keys=True))
            where = _log_to_mlflow(store, snap, parquet, config)
            config.unlink()
            receipt = json.dumps(where, indent=2).encode()
            files = [parquet, write(MLFLOW_RECEIPT, lambda f: f.write(receipt))]
    return snap.epoch, [out_dir / p.name for p in files]


# -- the command line ----------------------------------------------------------------------
def add_export_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``export`` to the CLI's sub-commands; return its parser."""
    p = subparsers.add_parser(
        "export", help="export a run's snapshot (Parquet, CSV, NumPy, TensorBoard projector, MLflow)",
        description="Export one snapshot of a run: one row per sample with its label or target, split, 2-D maps, "
                    "per-sample values and the embedding. See docs/export.md.")
    p.add_argument("run_id", metavar="RUN", help="the run's id (`python -m trainers list`)")
    p.add_argument("--epoch", type=int, default=None, help="the snapshot's epoch (default: the last snapshot)")
    p.add_argument("--format", dest="fmt", required=True, choices=FORMATS, help="what to write")
    p.add_argument("--out", required=True, metavar="DIR", help="the folder to write into (made if missing)")
    p.add_argument("--json", action="store_true", help="print one JSON object with the files written")
    return p


def run_export(args: argparse.Namespace, store: st.Store) -> int:
    """Run ``export``: 0 when written, 2 on bad input, 1 on a store problem (one message each)."""
    fmt = args.fmt
    try:
        epoch, files = _export(store, args.run_id, args.epoch, fmt, Path(args.out).expanduser())
    except ExportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except st.StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out: dict[str, Any] = {"run_id": args.run_id, "epoch": epoch, "format": fmt, "files": [str(p) for p in files]}
    receipt = [p for p in files if p.name == MLFLOW_RECEIPT]
    if receipt:
        out["mlflow"] = json.loads(receipt[0].read_text())
    if args.json:
        print(json.dumps(out))
    else:
        for p in files:
            print(f"wrote {p}")
        if receipt:
            m = out["mlflow"]
            print(f"MLflow run {m['run_id']} in experiment {m['experiment']!r} at {m['tracking_uri']}")
    return 0
