"""The Import page's work: keep uploaded files in the store, preview and check them, and run
the import in a process of its own.

An upload lives in ``<store>/uploads/<token>/`` (owner-only), one sub-folder per role
(``embeddings``, ``labels``, ``view2``), until its import ends or the page lets go of it.
The preview reads the files with the importer's readers (numpy, pandas and pyarrow only) and
checks the chosen columns and rows; the figures are computed by ``python -m trainers import
... --json``, started from here as a detached child process (its own session, the same
interpreter, the repository as working folder) whose output goes to ``import.log`` in the
upload folder. The page follows it through that folder and through the store, where the run
appears as ``running`` (kind ``imported``) while its snapshots are written.

``importer.prepare`` is not called in the server: with labels or targets it draws the split
with scikit-learn, which the server never loads. :func:`check` applies the same checks to the
columns and rows with the importer's public readers; the child process checks everything
again before it writes.
"""

from __future__ import annotations

import json
import math
import os
import re
import secrets
import shlex
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import streamlit as st

from jobs import importer
from jobs import store as stmod
from jobs.importer import ImportProblem
from ui.text import md_escape

ROOT = Path(__file__).resolve().parents[1]  # the repository: the child process runs here
UPLOADS = "uploads"  # the store's folder of uploads
ROLES = ("embeddings", "labels", "view2")
EMBEDDING_TYPES = ["npy", "npz", "csv", "tsv", "parquet"]
LABEL_TYPES = ["csv", "tsv", "parquet"]
#: What ``server.maxUploadSize`` (.streamlit/config.toml, in MiB) must be: the largest whole
#: number of MiB within the importer's limit, so that every file the uploader takes is a size
#: the importer reads.
MAX_UPLOAD_MB = importer.MAX_BYTES // 2**20
NONE = "none"  # the choice "no such column"
DROP_LABEL = "Drop rows with NaN, inf or zero norm"
LOG, EXIT, PID = "import.log", "exit_status", "import.pid"
HEAD_ROWS, HEAD_DIMS, HEAD_COLUMNS = 5, 12, 8  # what the preview table shows
DONE_AGE = 600.0  # an upload folder whose import ended this long ago is removed (its page was closed)
STALE_AGE = 86_400.0  # an upload folder left alone this long (no import running) is removed
LABEL_NAMES = ("label", "labels", "class", "classes", "y")
TARGET_NAMES = ("target", "targets")
ID_NAMES = ("id", "ids", "idx")

# The two ways in that do not go through this page, as docs/import.md shows them.
CLI_EXAMPLE = "python -m trainers import emb.npy --labels labels.csv --label-column species --json"
NOTEBOOK_SNIPPET = """\
from jobs.importer import log_embeddings

run_id = None
for epoch in range(epochs):                  # a model training in your own notebook or script
    train_one_epoch(model)
    run_id = log_embeddings(model.embed(x_eval), labels=y_eval, run=run_id, name="my model")"""

EXPLANATION = f"""\
**Formats.** `.npy` (one rows x dimensions array); `.npz` (its 2-D arrays; several of one shape are a
**series** of epochs, in the natural order of their names, and 1-D arrays of one value per row are
columns such as labels); `.csv` / `.tsv` (every numeric column is a dimension, or one column holds
lists such as `"[0.1, 0.2]"`; the other columns are labels or text); `.parquet` (the same, or a
`list<float>` column); TensorBoard projector files (`tensors.tsv`; upload its `metadata.tsv` as the
labels file).

**Labels** are classes of any type (their names are kept), from a column of the file or from a
labels file (`.csv` / `.tsv` with a header line, TensorBoard's one-column `metadata.tsv`, `.parquet`)
with one row per embedding in the same order, or joined on an id column present in both. A column
of continuous numbers is a **target** (regression). Other text columns are kept for hover.

**A second view** (the same rows embedded again, e.g. another augmentation: same shape) gives
alignment. Without labels there are no probes; without a second view, no alignment.

Rows holding NaN, infinite values or only zeros are refused, unless you drop them. Files up to
{importer.MAX_BYTES / 1e6:,.0f} MB; a folder of `.npy` files (a series) and larger files go in
from the command line."""

FIGURES = (  # (key of the import summary, label, help)
    ("uniformity", "Uniformity", "log E exp(−2 ‖f(x) − f(y)‖²) over distinct pairs of L2-normalised rows (t = 2); "
                                 "lower is more uniform"),
    ("effective_rank", "Effective rank", "exp of the entropy of the normalised covariance eigenvalues"),
    ("rankme", "RankMe", "the effective rank of the singular values of the embedding matrix"),
    ("alpha_req", "α-ReQ", "the decay exponent of the covariance eigenvalues"),
    ("knn_accuracy", "kNN accuracy", "held-out rows, k = 20, cosine, plain majority"),
    ("linear_accuracy", "Linear probe accuracy", "fitted on the training split, scored on the held-out rows"),
    ("knn_mae", "kNN MAE", "kNN regression on the held-out rows"),
    ("linear_mae", "Linear probe MAE", "linear regression scored on the held-out rows"),
    ("linear_r2", "Linear probe R²", "linear regression scored on the held-out rows"),
    ("rank_correlation", "Distance rank correlation", "distances between rows against distances between targets"),
    ("alignment", "Alignment", "mean squared distance between the two views of each row (normalised)"),
)


# -- upload folders --------------------------------------------------------------------------------
def uploads_root(store: stmod.Store) -> Path:
    return store.root / UPLOADS


def new_upload_folder(store: stmod.Store) -> Path:
    """A new owner-only folder ``<store>/uploads/<token>/`` (the store must be writable)."""
    if store.read_only:
        raise stmod.StoreReadOnly(store.root)
    base = uploads_root(store)
    base.mkdir(mode=0o700, exist_ok=True)
    os.chmod(base, 0o700)
    folder = base / secrets.token_hex(8)
    folder.mkdir(mode=0o700)
    os.chmod(folder, 0o700)
    return folder


def safe_name(name: str) -> str:
    """A file name for an uploaded file's name: path separators, control characters and a leading
    dot replaced, at most 120 characters, its extension kept (``x_tensors.tsv`` stays a
    TensorBoard file)."""
    base = re.sub(r"[/\\\x00-\x1f\x7f]", "_", str(name)).strip()
    base = base.lstrip(".") or "upload"
    low = base.lower()
    suffix = "tensors.tsv" if low.endswith("tensors.tsv") else Path(base).suffix
    stem = base[: len(base) - len(suffix)] if suffix else base
    return (stem[: 120 - len(suffix)] or "upload") + suffix


def save_upload(folder: Path, role: str, name: str, data: bytes | memoryview) -> Path:
    """Write ``data`` (an uploaded file's bytes) as ``folder/role/<safe name>``, owner-only,
    atomically; any earlier file of that role goes."""
    if role not in ROLES:
        raise ValueError(f"unknown upload role {role!r}; known: {', '.join(ROLES)}")
    d = folder / role
    if d.exists():
        shutil.rmtree(d)
    d.mkdir(mode=0o700, parents=True)
    path = d / safe_name(name)
    tmp = d / f".{secrets.token_hex(4)}.part"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def uploaded_name(name: str) -> str:
    """The name a person gave a file, from the name the browser sent: HTML's multipart form encoding
    writes ``"``, CR and LF in a file name as ``%22``, ``%0D`` and ``%0A`` (Chromium and Firefox do)."""
    return name.replace("%22", '"').replace("%0D", "\r").replace("%0A", "\n")


def default_run_name(name: str) -> str:
    """A run's name from the name a file was uploaded as: without its extension (``/`` is no path
    separator here: an uploaded name is text)."""
    stem, dot, ext = name.rpartition(".")
    return stem if dot and stem.strip() and ext and " " not in ext else name


def remove_folder(folder: str | os.PathLike) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def _read_pid(folder: Path) -> tuple[int, str | None] | None:
    try:
        pid, _, start = (folder / PID).read_text().partition(" ")
        return int(pid), (start.strip() or None)
    except (OSError, ValueError):
        return None


def sweep_uploads(store: stmod.Store, *, keep: Sequence[str | os.PathLike] = (), now: float | None = None) -> list[Path]:
    """Remove upload folders that no page needs any more: those whose import ended more than
    :data:`DONE_AGE` seconds ago, and those left alone for :data:`STALE_AGE` seconds without a
    running import (a page closed during a preview). ``keep``: this session's folders."""
    base = uploads_root(store)
    if store.read_only or not base.is_dir():
        return []
    now = time.time() if now is None else now
    kept = {Path(k).resolve() for k in keep}
    removed = []
    for folder in base.iterdir():
        if not folder.is_dir() or folder.resolve() in kept:
            continue
        try:
            ended = (folder / EXIT).stat().st_mtime if (folder / EXIT).exists() else None
            touched = max([folder.stat().st_mtime, *(p.stat().st_mtime for p in folder.rglob("*"))])
        except OSError:
            continue
        pid = _read_pid(folder)
        running = ended is None and pid is not None and stmod.pid_alive(*pid)
        if (ended is not None and now - ended > DONE_AGE) or (not running and now - touched > STALE_AGE):
            remove_folder(folder)
            removed.append(folder)
    return removed


# -- the preview -------------------------------------------------------------------------------------
def _kind(values: Any) -> str:
    kind = np.asarray(values).dtype.kind
    return "numeric" if kind in "iuf" else "text"


@dataclass
class Preview:
    """What the uploaded files hold, read but not checked row by row."""

    format: str
    n: int
    dim: int  # every numeric column of a table (some may become the label, target or id column)
    epochs: int
    epoch_names: list[str]
    head: pd.DataFrame  # the first rows, the first dimensions
    columns: dict[str, str]  # the table's columns that may be labels, targets or ids -> "numeric" / "text"
    numeric_columns: list[str]  # a table's numeric columns (read as dimensions unless picked)
    default_label: str | None = None
    labels_columns: dict[str, str] | None = None  # the labels file's columns -> kind (None: no labels file)
    labels_rows: int | None = None
    view2_shape: tuple[int, int] | None = None
    notes: list[str] = field(default_factory=list)

    def label_choices(self) -> list[str]:
        """Columns that may hold the class labels: the labels file's, else the table's (text first)."""
        cols = self.labels_columns if self.labels_columns is not None else self.columns
        return [NONE, *[c for c, k in cols.items() if k == "text"], *[c for c, k in cols.items() if k == "numeric"]]

    def target_choices(self) -> list[str]:
        """Numeric columns that may hold continuous targets."""
        cols = self.labels_columns if self.labels_columns is not None else self.columns
        return [NONE, *[c for c, k in cols.items() if k == "numeric"]]

    def id_choices(self) -> list[str]:
        """Columns that may join the labels file (present in both), or be set aside as ids."""
        if self.labels_columns is None:
            return [NONE, *self.columns]
        return [NONE, *[c for c in self.columns if c in self.labels_columns]]

    def defaults(self) -> dict[str, str]:
        """The choices a page starts from: a column named like labels, targets or ids."""
        def named(choices: list[str], names: tuple[str, ...]) -> str:
            return next((c for c in choices[1:] if c.lower() in names), NONE)

        ids = self.id_choices()
        out = {"id_column": named(ids, ID_NAMES) if self.labels_columns is not None else NONE}
        labels = [c for c in self.label_choices() if c == NONE or c != out["id_column"]]
        label = named(labels, LABEL_NAMES)
        if label == NONE and self.labels_columns is not None and len(labels) == 2:
            label = labels[1]  # a labels file with one column: it is the labels
        if label == NONE and self.labels_columns is None and self.default_label:
            label = self.default_label
        cols = self.labels_columns if self.labels_columns is not None else self.columns
        texts = [c for c in labels[1:] if cols.get(c) == "text"]
        if label == NONE and len(texts) == 1:  # one column of text beside the embedding: its classes
            label = texts[0]
        out["label_column"] = label
        out["target_column"] = named(self.target_choices(), TARGET_NAMES) if label == NONE else NONE
        return out


def _unique(name: str, taken: set[str]) -> str:
    key, k = name, 2
    while key in taken:
        key, k = f"{name} ({k})", k + 1
    taken.add(key)
    return key


def _head(src: importer.Source, rows: int) -> pd.DataFrame:
    """The first ``rows`` rows: the table's other columns (text cut at 60 characters), then at most
    :data:`HEAD_DIMS` dimensions."""
    k = min(rows, src.n)
    out: dict[str, Any] = {}
    taken: set[str] = set()
    for c, v in list(src.columns.items())[:HEAD_COLUMNS]:
        vals = np.asarray(v)[:k]
        out[_unique(c, taken)] = vals if _kind(vals) == "numeric" else [str(x)[:60] for x in vals.tolist()]
    if src.frame is not None:
        for c in src.embedding_columns[:HEAD_DIMS]:
            out[_unique(c, taken)] = src.frame[c].to_numpy()[:k]
    else:
        first = np.asarray(src.matrices[0][:k, :HEAD_DIMS], dtype=np.float64)
        for j in range(first.shape[1]):
            out[_unique(f"dim {j}", taken)] = first[:, j]
    return pd.DataFrame(out)


def preview(path: str | os.PathLike, *, labels: str | os.PathLike | None = None,
            view2: str | os.PathLike | None = None, rows: int = HEAD_ROWS) -> Preview:
    """Read the embeddings at ``path`` (and the labels file, the second view) for a preview: the
    format, the shape, the columns that may be labels, targets or ids, the first rows. numpy,
    pandas and pyarrow only. Raises :class:`ImportProblem` with the importer's message."""
    src = importer.read_embeddings(path)
    numeric = list(src.embedding_columns) if src.frame is not None else []  # else: the list column, if any
    columns = {c: _kind(v) for c, v in src.columns.items()}
    columns.update({c: "numeric" for c in numeric})
    pv = Preview(format=src.format, n=src.n, dim=src.dim, epochs=src.epochs, epoch_names=list(src.names),
                 head=_head(src, rows), columns=columns, numeric_columns=numeric,
                 default_label=src.default_label, notes=list(src.notes))
    if labels is not None:
        lab = importer.read_labels(labels)
        pv.labels_columns = {c: _kind(v) for c, v in lab.items()}
        pv.labels_rows = len(next(iter(lab.values()))) if lab else 0
    if view2 is not None:
        v2 = importer.read_embeddings(view2)
        pv.view2_shape = (v2.n, v2.dim)
        if v2.n != src.n:
            raise ImportProblem(f"the second view ({Path(view2).name}) has {v2.n:,} rows but {Path(path).name} has "
                                f"{src.n:,}: the second view holds the same rows in the same order")
    return pv


# -- the options and their check -------------------------------------------------------------------
@dataclass(frozen=True)
class ImportOptions:
    """What the page's widgets choose (the command's options)."""

    label_column: str | None = None
    target_column: str | None = None
    id_column: str | None = None
    name: str | None = None
    drop_nonfinite: bool = False

    @classmethod
    def from_choices(cls, *, label_column: str, target_column: str, id_column: str, name: str,
                     drop_nonfinite: bool) -> ImportOptions:
        """From the widgets' values (:data:`NONE` for no column, "" for the default name)."""
        def col(v: str) -> str | None:
            return None if v in (NONE, "", None) else v

        return cls(col(label_column), col(target_column), col(id_column), name.strip() or None, bool(drop_nonfinite))


@dataclass
class Checked:
    """What an import of the files with these options will make."""

    n: int  # rows kept
    dim: int
    epochs: int
    task: str  # "classification", "regression" or "none"
    n_classes: int | None
    classes: list[str]  # the first class names
    dropped: int
    notes: list[str]


def _rows(rows: np.ndarray) -> str:
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:10]) + (", ..." if len(rows) > 10 else "")
    return f"row {shown}" if len(rows) == 1 else f"{len(rows)} rows ({shown})"


def _bad_rows32(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`importer.bad_rows` of ``x`` as float32 (the importer's copy), a block of rows at a time:
    a memory-mapped file is not copied whole."""
    step = max(1, (1 << 22) // max(1, x.shape[1]))
    nonfinite, zero = [], []
    for a in range(0, len(x), step):
        with np.errstate(over="ignore", invalid="ignore"):
            block = np.asarray(x[a : a + step], dtype=np.float32)
        nf, z = importer.bad_rows(block)
        nonfinite.append(nf + a)
        zero.append(z + a)
    return np.concatenate(nonfinite), np.concatenate(zero)


def _drops(what: str, mats: Sequence[np.ndarray], drop_nonfinite: bool) -> np.ndarray:
    """Rows of the matrices to drop; without ``drop_nonfinite`` any is a problem."""
    drop = np.zeros(len(mats[0]), bool)
    for m in mats:
        nonfinite, zero = _bad_rows32(m)
        if not drop_nonfinite and len(nonfinite):
            raise ImportProblem(f"{what}: {_rows(nonfinite)} hold NaN or infinite values (or numbers beyond float32's "
                                f"range); row numbers count from 0. Fix them, or tick “{DROP_LABEL}”")
        if not drop_nonfinite and len(zero):
            raise ImportProblem(f"{what}: {_rows(zero)} {'is' if len(zero) == 1 else 'are'} all zeros (no direction: "
                                f"a zero row cannot be normalised); row numbers count from 0. Remove them, or tick "
                                f"“{DROP_LABEL}”")
        drop[nonfinite] = True
        drop[zero] = True
    return drop


def _key(v: Any) -> str:
    """An id as text; a whole float as a whole number (7.0 and 7 are one id)."""
    if isinstance(v, float) and math.isfinite(v) and v == round(v):
        v = int(v)
    return str(v)


def _joined(table: Mapping[str, np.ndarray], lab: Mapping[str, np.ndarray], id_column: str, what: str,
            lab_what: str) -> dict[str, np.ndarray]:
    """The labels file's columns in the table's row order, joined on ``id_column``."""
    if id_column not in lab:
        raise ImportProblem(f"{lab_what} has no column {id_column!r} to join on; its columns are: {', '.join(lab)}")
    pos: dict[str, int] = {}
    repeated = []
    for i, k in enumerate(np.asarray(lab[id_column]).tolist()):
        key = _key(k)
        if key in pos:
            repeated.append(key)
        pos[key] = i
    if repeated:
        raise ImportProblem(f"{lab_what}: the id column {id_column!r} repeats ids ({', '.join(repeated[:5])}): each id "
                            "needs one row")
    ids = [_key(k) for k in np.asarray(table[id_column]).tolist()]
    missing = [k for k in ids if k not in pos]
    if missing:
        raise ImportProblem(f"{lab_what} has no row for {len(missing)} id{'s' if len(missing) > 1 else ''} of {what} "
                            f"({', '.join(missing[:5])}): every row needs its label")
    order = np.array([pos[k] for k in ids], dtype=np.int64)
    return {k: np.asarray(v)[order] for k, v in lab.items()}


def check(path: str | os.PathLike, options: ImportOptions, *, labels: str | os.PathLike | None = None,
          view2: str | os.PathLike | None = None) -> Checked:
    """Check the embeddings at ``path`` with ``options`` as the import will: the columns named
    exist, enough dimensions are left, the labels are classes (two rows per class at least), the
    targets numbers, the second view of the same shape, no NaN, infinite or zero rows (or they are
    dropped). Nothing is written; numpy, pandas and pyarrow only. Raises :class:`ImportProblem`."""
    lc, tc, ic = options.label_column, options.target_column, options.id_column
    if lc and tc:
        raise ImportProblem("choose either a label column (classes) or a target column (continuous values), not both")
    if ic and ic in (lc, tc):
        raise ImportProblem(f"the column {ic!r} cannot be both the id column and the {'label' if ic == lc else 'target'} "
                            "column")
    src = importer.read_embeddings(path)
    what = Path(path).name
    reserved = {c for c in (lc, tc, ic) if c}
    mats = [src.matrix(reserved=reserved)] if src.frame is not None else list(src.matrices)
    n, d = mats[0].shape
    table = dict(src.columns)
    for c in reserved:
        v = src.column(c)
        if v is not None:
            table[c] = v
    names = [*src.columns, *(src.embedding_columns if src.frame is not None else [])]
    if ic and ic not in table:
        raise ImportProblem(f"{what} has no column {ic!r}; its columns are: {', '.join(names) or '(none)'}")
    source, source_what = table, what
    if labels is not None:
        source_what = f"the labels file {Path(labels).name}"
        source = importer.read_labels(labels)
        if ic:
            source = _joined(table, source, ic, what, source_what)
        else:
            got = len(next(iter(source.values()))) if source else 0
            if got != n:
                raise ImportProblem(f"{source_what} has {got:,} rows but {what} has {n:,}: give one label per row in the "
                                    "same order, or join them on an id column")
        names = list(source)
    for c in (lc, tc):
        if c and c not in source:
            raise ImportProblem(f"{source_what} has no column {c!r}; its columns are: {', '.join(names) or '(none)'}")
    drop = _drops(what if len(mats) == 1 else f"{what} (one of its {len(mats)} epochs)", mats, options.drop_nonfinite)
    if view2 is not None:
        v2 = importer.read_embeddings(view2)
        m2 = [v2.matrix()] if v2.frame is not None else list(v2.matrices)
        if len(m2) != len(mats) or any(a.shape != mats[0].shape for a in m2):
            theirs = m2[0].shape if len(m2) == 1 else f"{len(m2)} matrices of shape {m2[0].shape}"
            mine = mats[0].shape if len(mats) == 1 else f"{len(mats)} matrices of shape {mats[0].shape}"
            raise ImportProblem(f"the second view ({Path(view2).name}) has shape {theirs} but {what} has {mine}: the "
                                "second view holds the same rows in the same order, with the same dimensions")
        drop |= _drops(f"the second view ({Path(view2).name})", m2, options.drop_nonfinite)
    if tc:
        values = pd.to_numeric(pd.Series(np.asarray(source[tc], dtype=object)), errors="coerce").to_numpy(np.float64)
        text = np.flatnonzero(np.isnan(values) & ~pd.isna(pd.Series(np.asarray(source[tc], dtype=object))).to_numpy())
        if len(text):
            raise ImportProblem(f"target column {tc!r}: row {int(text[0])} holds {str(np.asarray(source[tc])[text[0]])[:40]!r}, "
                                "not a number; a target column holds continuous numbers (pick it as the label column "
                                "for classes)")
        with np.errstate(over="ignore", invalid="ignore"):
            missing = np.flatnonzero(~np.isfinite(values) | (np.abs(values) > np.finfo(np.float32).max))
        if len(missing) and not options.drop_nonfinite:
            raise ImportProblem(f"target column {tc!r}: {_rows(missing)} have no finite target (row numbers count from "
                                f"0): fix them, or tick “{DROP_LABEL}”")
        drop[missing] = True
    keep = np.flatnonzero(~drop)
    if len(keep) < importer.MIN_ROWS:
        raise ImportProblem(f"{what}: only {len(keep)} rows are left once the rows with NaN, infinite values or zeros are "
                            f"dropped; the lab needs at least {importer.MIN_ROWS}")
    task, n_classes, classes = "none", None, []
    if lc:
        codes, classes = importer.encode_labels(np.asarray(source[lc])[keep], f"label column {lc!r}")
        lonely = np.flatnonzero(np.bincount(codes) == 1)
        if len(lonely):
            raise ImportProblem(f"{len(lonely)} of the {len(classes)} classes of the label column {lc!r} have a single "
                                "row: a stratified 80/20 split needs at least 2 rows per class. Is it an id column, or "
                                "continuous (a target column)?")
        task, n_classes = "classification", len(classes)
    elif tc:
        task = "regression"
    notes = []
    if src.frame is not None:
        hints = [c for c in src.embedding_columns if c.lower() in importer.HINT_NAMES and c not in reserved]
        if hints:
            notes.append(f"the numeric column{'s' if len(hints) > 1 else ''} {', '.join(repr(c) for c in hints)} "
                         f"{'are' if len(hints) > 1 else 'is'} read as {'dimensions' if len(hints) > 1 else 'a dimension'}: "
                         "pick it as the label, target or id column if it is one")
    return Checked(n=len(keep), dim=d, epochs=len(mats), task=task, n_classes=n_classes, classes=classes[:12],
                   dropped=n - len(keep), notes=notes)


# -- the command -------------------------------------------------------------------------------------
def import_args(path: str | os.PathLike, options: ImportOptions, *, labels: str | os.PathLike | None = None,
                view2: str | os.PathLike | None = None) -> list[str]:
    """The arguments of ``python -m trainers import`` for these files and options (``--opt=value``
    forms: a column or run name that starts with a dash stays a value)."""
    args = ["import", str(path)]
    if labels is not None:
        args.append(f"--labels={labels}")
    for flag, v in (("--label-column", options.label_column), ("--target-column", options.target_column),
                    ("--id-column", options.id_column)):
        if v:
            args.append(f"{flag}={v}")
    if view2 is not None:
        args.append(f"--view2={view2}")
    if options.name:
        args.append(f"--name={options.name}")
    if options.drop_nonfinite:
        args.append("--drop-nonfinite")
    return [*args, "--json"]


def _python() -> str:
    exe = Path(sys.executable)
    try:
        return str(exe.relative_to(ROOT)) if exe.is_relative_to(ROOT) else str(exe)
    except ValueError:
        return str(exe)


def cli_command(store: stmod.Store, options: ImportOptions, *, path: str = "/path/to/embeddings.npy",
                labels: str | None = None, view2: str | None = None, max_mb: float | None = None) -> str:
    """The shell command that imports ``path`` into ``store`` with ``options`` (from the repository
    folder, with this app's interpreter); ``max_mb`` raises the importer's size limit."""
    args = import_args(path, options, labels=labels, view2=view2)
    if max_mb is not None:
        args.insert(-1, f"--max-mb={max_mb:g}")
    argv = [_python(), "-m", "trainers", f"--store={store.root}", *args]
    return f"cd {shlex.quote(str(ROOT))} && " + shlex.join(argv)


# -- the import, in its own process -------------------------------------------------------------------
@dataclass
class ImportJob:
    """An import started by :func:`launch`."""

    folder: str
    pid: int
    pid_start: str | None
    started: float
    name: str  # what the page calls it (the file's name as uploaded)
    epochs: int = 1
    names: dict[str, str] = field(default_factory=dict)  # saved file name -> name as uploaded (for messages)


@dataclass
class JobState:
    """Where an import stands: ``running``, ``imported`` or ``failed``."""

    state: str
    seconds: float
    run: stmod.RunRecord | None = None  # the run being written, or written
    summary: dict[str, Any] | None = None  # the command's JSON line
    error: str | None = None


_WAITERS: dict[int, threading.Thread] = {}  # pid -> the thread that waits for it (and reaps it)


def _wait(proc: subprocess.Popen, folder: Path) -> None:
    """Wait for the import process (no zombie is left) and record its exit status in its folder."""
    rc = proc.wait()
    try:
        tmp = folder / f".{EXIT}.part"
        tmp.write_text(str(rc))
        os.replace(tmp, folder / EXIT)
    except OSError:
        pass  # the folder is gone: the page has let go of this import
    _WAITERS.pop(proc.pid, None)


def launch(store: stmod.Store, folder: str | os.PathLike, path: str | os.PathLike, options: ImportOptions, *,
           labels: str | os.PathLike | None = None, view2: str | os.PathLike | None = None,
           name: str | None = None, epochs: int = 1, names: Mapping[str, str] | None = None) -> ImportJob:
    """Start ``python -m trainers import ... --json`` for these files as a detached process (its
    own session, this interpreter, the repository as working folder), its output in
    ``folder/import.log``; return the job to follow with :func:`job_state`."""
    folder = Path(folder)
    argv = [sys.executable, "-m", "trainers", f"--store={store.root}",
            *import_args(path, options, labels=labels, view2=view2)]
    env = dict(os.environ)
    env[stmod.ENV_VAR] = str(store.root)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    (folder / EXIT).unlink(missing_ok=True)
    fd = os.open(folder / LOG, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(fd, "ab") as log:
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=str(ROOT),
                                env=env, start_new_session=True)
    start = stmod.process_start_time(proc.pid)
    (folder / PID).write_text(f"{proc.pid} {start or ''}")
    waiter = threading.Thread(target=_wait, args=(proc, folder), name=f"import-{proc.pid}", daemon=True)
    _WAITERS[proc.pid] = waiter
    waiter.start()
    return ImportJob(str(folder), proc.pid, start, time.time(), name or Path(path).name, epochs, dict(names or {}))


def _exit_status(folder: Path) -> int | None:
    try:
        return int((folder / EXIT).read_text().strip())
    except (OSError, ValueError):
        return None


def _running(job: ImportJob) -> bool:
    if _exit_status(Path(job.folder)) is not None:
        return False
    waiter = _WAITERS.get(job.pid)
    if waiter is not None:
        return waiter.is_alive()
    return stmod.pid_alive(job.pid, job.pid_start)  # started by an earlier server process


def _summary(log: str) -> dict[str, Any] | None:
    """The command's JSON line (its last line that is a JSON object with a run id)."""
    for line in reversed(log.splitlines()):
        line = line.strip()
        if line.startswith("{"):
            try:
                out = json.loads(line)
            except ValueError:
                continue
            if isinstance(out, dict) and out.get("run_id"):
                return out
    return None


def _error(log: str, rc: int | None) -> str:
    """The child's message: its ``error:`` lines, else how it ended and its last lines."""
    lines = [ln.strip() for ln in log.splitlines() if ln.strip()]
    said = [ln[len("error:"):].strip() for ln in lines if ln.startswith("error:")]
    if said:
        return " ".join(said)
    how = (f"the import process was stopped by signal {-rc}" if rc is not None and rc < 0 else
           f"the import process ended with exit status {rc}" if rc is not None else "the import process ended")
    return how + (": " + " / ".join(lines[-3:]) if lines else " without a message")


def job_state(store: stmod.Store, job: ImportJob) -> JobState:
    """Where ``job`` stands: running (with its run once the store has it), imported (the command's
    summary and the run) or failed (the command's message)."""
    folder = Path(job.folder)
    seconds = time.time() - job.started
    if _running(job):
        run = next((r for r in store.list_runs(status=stmod.RUNNING) if r.imported and r.pid == job.pid), None)
        return JobState("running", seconds, run=run)
    try:
        log = (folder / LOG).read_text(errors="replace")
    except OSError:
        log = ""
    rc = _exit_status(folder)
    summary = _summary(log)
    if summary is not None and rc in (None, 0):
        try:
            run = store.get_run(str(summary["run_id"]))
        except KeyError:
            return JobState("failed", seconds, error=f"run {summary['run_id']} was imported but is no longer in the store")
        return JobState("imported", seconds, run=run, summary=summary)
    return JobState("failed", seconds, error=as_uploaded(_error(log, rc), job.names))


def finish(job: ImportJob) -> None:
    """Let go of an ended import: its upload folder (files, log) is removed."""
    remove_folder(job.folder)


def as_uploaded(message: str, names: Mapping[str, str]) -> str:
    """``message`` with the saved files' names replaced by the names they were uploaded as."""
    for saved, original in names.items():
        if saved != original:
            message = message.replace(saved, original)
    return message


def figure_rows(summary: Mapping[str, Any]) -> list[tuple[str, str, str]]:
    """The figures of an import's summary that are defined: (label, value as text, help)."""
    out = []
    for key, label, help_ in FIGURES:
        v = summary.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append((label, f"{v:.1%}" if key.endswith("accuracy") else f"{v:.3f}", help_))
    return out


def progress_line(job: ImportJob, state: JobState) -> str:
    """What a running import is doing, as Markdown (names escaped)."""
    what = f"Importing **{md_escape(job.name)}**"
    if state.run is None:
        return f"{what}: reading and checking the files… {state.seconds:.0f} s"
    epochs = f" (epoch {state.run.epoch + 1} of {job.epochs})" if job.epochs > 1 else ""
    return (f"{what}: computing the figures and writing run {md_escape(state.run.id)}{epochs}… "
            f"{state.seconds:.0f} s")


# -- what the page keeps in the session -------------------------------------------------------------
FOLDER, SAVED = "import_folder", "import_saved"  # this session's upload folder; role -> {id, name, path}


def keep_uploads(store: stmod.Store, files: Mapping[str, Any], *, frozen: bool = False) -> dict[str, dict[str, str]]:
    """The uploaded files (``role -> st.file_uploader's value``) saved in this session's upload
    folder (saved again only when a file changes or its copy is gone); a cleared uploader's copy
    is removed, and the folder once no file is left. ``frozen`` (an import is reading them):
    nothing changes. Returns ``role -> {"id", "name" (as uploaded), "path"}``."""
    saved: dict[str, dict[str, str]] = st.session_state.setdefault(SAVED, {})
    if frozen:
        return dict(saved)
    folder = st.session_state.get(FOLDER)
    for role in ROLES:
        f = files.get(role)
        have = saved.get(role)
        if f is None:
            if have is not None:
                remove_folder(Path(have["path"]).parent)
                saved.pop(role)
            continue
        if have is not None and have["id"] == f.file_id and Path(have["path"]).exists():
            continue
        if folder is None or not Path(folder).is_dir():
            folder = str(new_upload_folder(store)) if folder is None else folder
            Path(folder).mkdir(mode=0o700, parents=True, exist_ok=True)
            st.session_state[FOLDER] = folder
        name = uploaded_name(f.name)
        path = save_upload(Path(folder), role, name, f.getbuffer())
        saved[role] = {"id": f.file_id, "name": name, "path": str(path)}
    if not saved and folder is not None:
        remove_folder(folder)
        st.session_state.pop(FOLDER, None)
    return dict(saved)


@st.cache_data(show_spinner="Reading the file…", max_entries=16)
def cached_preview(path: str, labels: str | None, view2: str | None, stamp: tuple) -> Preview:
    """:func:`preview`, cached on the files' paths and (size, modification time) ``stamp``."""
    return preview(path, labels=labels, view2=view2)


@st.cache_data(show_spinner="Checking the rows…", max_entries=32)
def cached_check(path: str, labels: str | None, view2: str | None, stamp: tuple, label_column: str | None,
                 target_column: str | None, id_column: str | None, drop_nonfinite: bool) -> Checked:
    """:func:`check`, cached on the files, their ``stamp`` and the options that change it."""
    return check(path, ImportOptions(label_column, target_column, id_column, None, drop_nonfinite),
                 labels=labels, view2=view2)


def stamp(*paths: str | None) -> tuple:
    """(size, modification time) of each file: a re-uploaded file is read again."""
    out = []
    for p in paths:
        if p is None:
            out.append(None)
            continue
        s = Path(p).stat()
        out.append((s.st_size, s.st_mtime_ns))
    return tuple(out)


def watch(store: stmod.Store, job: ImportJob, *, every: float = 1.0) -> None:
    """While ``job`` runs: a status line, refreshed every ``every`` seconds; the page reruns when
    the job ends."""

    @st.fragment(run_every=every)
    def _watch() -> None:
        state = job_state(store, job)
        if state.state != "running":
            st.rerun()
        st.status(progress_line(job, state), state="running")

    _watch()
