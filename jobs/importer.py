"""Embeddings made elsewhere, as runs of the lab store: read a file (or arrays from a
notebook), check it, compute the same figures as a trained run's snapshot, write the run.

    python -m trainers import emb.npy --labels labels.csv --label-column species --json
    run_id = log_embeddings(emb, labels=y, name="my model")           # epoch 0, a new run
    log_embeddings(emb_next, run=run_id)                               # epoch 1 of that run

What reads what (docs/import.md): ``.npy`` (one matrix), ``.npz`` (named 2-D arrays of one
shape = the epochs of a series, in the natural order of their names; 1-D arrays of one value
per row = columns such as labels), ``.csv`` / ``.tsv`` (numeric columns are the dimensions, or
one column holding a list per row such as ``"[0.1, 0.2]"``), ``.parquet`` (the same, a list
column read by pyarrow), TensorBoard projector files (``tensors.tsv`` and ``metadata.tsv``) and
a folder of ``.npy`` files (a series). Labels, continuous targets, ids and text come from the
table's own columns or from a separate labels file; an optional second view of the same rows
defines alignment.

Every problem with an input is one :class:`ImportProblem` whose message says what is wrong and
how to fix it, raised before the store is touched: a run is created only once every input is
read and checked. While its snapshots are written the run is ``running`` with this process as
its worker (the scheduler marks it failed if the process dies); any error deletes it, and a
complete run ends ``imported``.

The snapshot of each matrix holds the arrays of a trained run's snapshot (``rep`` and ``emb``
are both the imported matrix, ``index`` each row's number in the file, ``y``, ``is_test``,
``pca_emb`` / ``pca_rep``, ``spectrum_emb`` / ``spectrum_rep``, ``knn_hit``; the rows ordered
training split first, as a trained run's are), so every page reads an imported run as it reads
a trained one; ``label_names`` and ``meta_*`` (text for hover) are added. The figures use the
analysis functions with the settings of ``trainers/evaluate.py``:

* on every row: uniformity (t = 2, rows L2-normalised; all distinct pairs up to
  :func:`uniformity_rows`, above it a seeded subset of that many rows), the covariance spectrum,
  effective rank (covariance), RankMe and alpha-ReQ; the distance rank correlation to a target
  (on at most 2,000 rows, as for trained runs); alignment to the second view;
* on a split: with labels, ``train_test_split(rows, test_size=0.2, stratify=labels,
  random_state=0)`` (with targets the same without ``stratify``), which is the snapshot's
  ``is_test``; kNN accuracy (k = 20, cosine, plain majority) or kNN-regression MAE on at most
  ``evaluate.KNN_MAX_QUERIES`` held-out rows, and the linear probe (accuracy, or MAE and R^2)
  fitted on at most :data:`LINEAR_MAX_TRAIN` training rows;
* the 2-D PCA map of every row, its basis fitted on at most :data:`PCA_FIT_ROWS` rows.

The readers use numpy, pandas and pyarrow only: the app's server may call them for a preview.
torch and scikit-learn are imported inside the functions that compute figures.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
import re
import struct
import sys
import time
import tokenize
import warnings
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from jobs import store as st

#: Files (or a folder's files, or an .npz / .parquet once unpacked) larger than this are refused.
MAX_BYTES = 2_000_000_000
#: A .npy file larger than this is memory-mapped, not read at once.
MMAP_BYTES = 64 * 2**20
#: The fewest rows an import may have (a split and pairwise figures need a few).
MIN_ROWS = 3
#: The fewest dimensions (the 2-D PCA map needs two).
MIN_DIMS = 2
#: A row whose L2 norm is below this has no direction: it cannot be normalised.
ZERO_NORM = 1e-12
#: Neighbours of the kNN probes (as for trained runs); fewer when the training split is smaller.
KNN_K = 20
#: The linear probe fits on at most this many training rows (a stratified sample, seed
#: ``evaluate.EVAL_SEED``): L-BFGS costs rows x dimensions x classes per iteration.
LINEAR_MAX_TRAIN = 20_000
#: Held-out share of the split and its seed.
TEST_SIZE, SPLIT_SEED = 0.2, 0
#: Uniformity runs over all pairs while rows^2 x (dimensions + 48) stays below this (about a
#: second on 2 cores; 5,000 x 768 measured 0.56 s), else over a seeded subset.
UNIFORMITY_WORK = 3e10
UNIFORMITY_MIN_ROWS, UNIFORMITY_MAX_ROWS, UNIFORMITY_SEED = 2_000, 20_000, 0
#: Above this many rows the PCA basis is fitted on a seeded sample of this many (:func:`pca_map`).
PCA_FIT_ROWS, PCA_SEED, PCA_BLOCK = 20_000, 0, 8_192
#: Text kept for hover: at most this many columns, characters of each value, and bytes in all
#: (numpy stores text at the width of its longest value: 4 bytes a character).
META_MAX_COLUMNS, META_MAX_CHARS, META_MAX_BYTES = 16, 200, 64_000_000

SUFFIXES = (".npy", ".npz", ".csv", ".tsv", ".parquet")
LIST_NAMES = ("embedding", "embeddings", "vector", "vectors", "emb")
HINT_NAMES = ("label", "labels", "target", "targets", "y", "class", "id", "idx", "index")
_READ_ERRORS = (ValueError, TypeError, KeyError, IndexError, OSError, EOFError, UnicodeError, zipfile.BadZipFile,
                zlib.error, struct.error, OverflowError, RecursionError, NotImplementedError, csv.Error, SyntaxError,
                tokenize.TokenError)  # the last two: numpy parsing a damaged .npy header


class ImportProblem(ValueError):
    """An input that cannot be imported; the message says what is wrong and how to fix it."""


# -- what a file holds -------------------------------------------------------------------------
@dataclass
class Source:
    """What a file holds, read but not yet checked row by row.

    ``matrices`` are the (N, D) arrays as read (a large .npy stays memory-mapped), one per
    epoch of a series, named by ``names``; a table whose numeric columns are the dimensions
    keeps them in ``frame`` instead (``embedding_columns`` names them), since which of them are
    labels, targets or ids is known only later. ``columns`` are the table's other columns (text,
    or values of an .npz's 1-D arrays), one value per row. ``default_label`` names the column
    used as labels when none is named (the single unnamed column of TensorBoard metadata)."""

    path: Path
    format: str
    names: list[str]
    matrices: list[np.ndarray]
    columns: dict[str, np.ndarray] = field(default_factory=dict)
    embedding_columns: list[str] = field(default_factory=list)
    default_label: str | None = None
    notes: list[str] = field(default_factory=list)
    frame: Any = None

    @property
    def n(self) -> int:
        return len(self.frame) if self.frame is not None else int(self.matrices[0].shape[0])

    @property
    def dim(self) -> int:
        return len(self.embedding_columns) if self.frame is not None else int(self.matrices[0].shape[1])

    @property
    def epochs(self) -> int:
        return 1 if self.frame is not None else len(self.matrices)

    def column(self, name: str) -> np.ndarray | None:
        """A column of the table by name (a numeric one too), or None."""
        if name in self.columns:
            return self.columns[name]
        if self.frame is not None and name in self.embedding_columns:
            return self.frame[name].to_numpy()
        return None

    def matrix(self, i: int = 0, *, reserved: frozenset[str] | set[str] = frozenset()) -> np.ndarray:
        """The i-th matrix as C-contiguous float32; for a table, its numeric columns but ``reserved``
        (the label, target and id columns)."""
        if self.frame is None:
            return _as_float32(self.matrices[i])
        dims = [c for c in self.embedding_columns if c not in reserved]
        if len(dims) < MIN_DIMS:
            raise ImportProblem(f"{self.path.name} has {len(dims)} numeric column{'s' if len(dims) != 1 else ''} left as "
                                f"dimensions ({_list(dims) or 'none'}) once the label, target and id columns are set "
                                f"aside; the lab needs at least {MIN_DIMS}")
        out = np.empty((len(self.frame), len(dims)), np.float32)
        with np.errstate(over="ignore", invalid="ignore"):
            for j, c in enumerate(dims):
                out[:, j] = self.frame[c].to_numpy(dtype=np.float64, na_value=np.nan)
        return _check_array(out, self.path.name)


def natural_key(name: str) -> list[Any]:
    """Sort key that orders digits by value: ckpt_2 before ckpt_10."""
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", name)]


def read_embeddings(path: str | os.PathLike, *, embedding_column: str | None = None,
                    max_bytes: int = MAX_BYTES) -> Source:
    """Read the embeddings at ``path`` (a file or a folder; see the module docstring for the
    formats) without checking their rows. numpy, pandas and pyarrow only: the app's server may
    call it for a preview. Raises :class:`ImportProblem`."""
    p = Path(path).expanduser()
    what = p.name or str(p)
    if not p.exists():
        raise ImportProblem(f"{p} does not exist: check the path")
    try:
        if p.is_dir():
            return _read_folder(p, max_bytes=max_bytes)
        _check_size(p, max_bytes)
        name = p.name.lower()
        if name.endswith("tensors.tsv"):
            meta = p.with_name(p.name[: -len("tensors.tsv")] + "metadata.tsv")
            return _read_tensorboard(p, meta if meta.exists() else None, max_bytes=max_bytes)
        suffix = p.suffix.lower()
        if suffix == ".npy":
            arr = _load_npy(p)
            return Source(p, "npy", [p.stem], [_check_array(arr, what)])
        if suffix == ".npz":
            return _read_npz(p, max_bytes=max_bytes)
        if suffix in (".csv", ".tsv"):
            df = _read_delimited(p, "\t" if suffix == ".tsv" else ",")
            return _source_from_frame(p, suffix[1:], df, embedding_column=embedding_column)
        if suffix == ".parquet":
            return _read_parquet(p, embedding_column=embedding_column, max_bytes=max_bytes)
    except ImportProblem:
        raise
    except MemoryError:
        raise ImportProblem(f"{what} does not fit in memory: import a smaller file, or fewer rows at once") from None
    except Exception as e:
        if not _is_read_error(e):
            raise
        raise ImportProblem(f"{what} cannot be read ({type(e).__name__}: {e}): check that it is a complete "
                            f"{p.suffix or 'embeddings'} file") from None
    raise ImportProblem(f"{what}: unknown file type {p.suffix or '(no extension)'!r}. The lab reads "
                        f"{', '.join(SUFFIXES)}, TensorBoard projector files (tensors.tsv with metadata.tsv) and a "
                        "folder of .npy files (a series of epochs); save the embeddings as one of those")


def _check_size(p: Path, max_bytes: int, size: int | None = None, what: str = "") -> None:
    """Refuse ``p`` above ``max_bytes`` (``size``: its size once unpacked, or a folder's files
    together) and an empty file."""
    on_disk = size is None
    size = p.stat().st_size if size is None else size
    if size > max_bytes:
        raise ImportProblem(f"{p.name}{what} is {size / 1e6:,.0f} MB, above the limit of {max_bytes / 1e6:,.0f} MB: "
                            "import fewer rows or dimensions (or a float32 copy), or raise the limit (max_bytes, "
                            "--max-mb)")
    if on_disk and size == 0 and p.is_file():
        raise ImportProblem(f"{p.name} is empty (0 bytes): export the embeddings again")


def _load_npy(p: Path) -> np.ndarray:
    """An .npy file's array (memory-mapped when large); never unpickles."""
    with open(p, "rb") as f:
        magic = f.read(6)
    if magic[:4] == b"PK\x03\x04":
        raise ImportProblem(f"{p.name} is an .npz archive, not an .npy array: rename it to .npz")
    if magic != b"\x93NUMPY":
        raise ImportProblem(f"{p.name} is not an .npy file (it does not start with numpy's header; if it is a pickle, "
                            "the lab never unpickles files): save the array with np.save")
    try:
        arr = np.load(p, allow_pickle=False, mmap_mode="r" if p.stat().st_size > MMAP_BYTES else None)
    except ValueError as e:
        if "pickle" in str(e).lower() or "object" in str(e).lower():
            raise ImportProblem(f"{p.name} holds Python objects (a pickled or object array), which the lab never "
                                "unpickles: save a numeric array, e.g. np.save(path, np.asarray(emb, dtype=np.float32))"
                                ) from None
        raise ImportProblem(f"{p.name} is not a readable .npy file ({e}): save it again with np.save") from None
    except (OSError, EOFError) as e:
        raise ImportProblem(f"{p.name} is not a complete .npy file ({e}): save it again with np.save") from None
    return arr


def _check_array(arr: np.ndarray, what: str) -> np.ndarray:
    """``arr`` if it is a 2-D numeric array with enough rows and dimensions (else the problem)."""
    dt = arr.dtype
    if dt.hasobject:
        raise ImportProblem(f"{what} holds Python objects, which the lab never unpickles: save a numeric array")
    if dt.kind not in "biuf" or dt.fields is not None:
        kind = {"U": "text", "S": "bytes", "c": "complex numbers", "M": "dates", "m": "time spans"}.get(dt.kind, f"{dt}")
        raise ImportProblem(f"{what} holds {kind} (dtype {dt}), not real numbers: save the embedding as floats")
    if arr.ndim == 1:
        raise ImportProblem(f"{what} is a 1-D array of {arr.shape[0]} values; the lab needs a 2-D array of "
                            "rows x dimensions: one embedding per row (for a single embedding, reshape(1, -1); "
                            "for several, np.stack them)")
    if arr.ndim != 2:
        raise ImportProblem(f"{what} has shape {arr.shape}; the lab needs a 2-D array of rows x dimensions "
                            "(for a series of epochs, save one 2-D array per epoch in an .npz or a folder)")
    n, d = arr.shape
    if n == 0:
        raise ImportProblem(f"{what} has no rows (shape {arr.shape})")
    if n < MIN_ROWS:
        raise ImportProblem(f"{what} has {n} rows; the lab needs at least {MIN_ROWS} (its figures compare rows)")
    if d < MIN_DIMS:
        raise ImportProblem(f"{what} has {d} dimension{'s' if d != 1 else ''}; the lab needs at least {MIN_DIMS}")
    return arr


def _read_npz(p: Path, *, max_bytes: int) -> Source:
    try:
        with zipfile.ZipFile(p) as z:
            unpacked = sum(i.file_size for i in z.infolist())
    except zipfile.BadZipFile:
        raise ImportProblem(f"{p.name} is not an .npz archive (not a zip file): save it with np.savez") from None
    _check_size(p, max_bytes, unpacked, " once unpacked")
    arrays: dict[str, np.ndarray] = {}
    with np.load(p, allow_pickle=False) as f:
        if not f.files:
            raise ImportProblem(f"{p.name} holds no arrays: save the embeddings with np.savez(path, emb=...)")
        for k in f.files:
            try:
                arrays[k] = f[k]
                if not isinstance(arrays[k], np.ndarray):  # a member that is not an .npy file
                    raise ImportProblem(f"{p.name}: member {k!r} is not a numpy array: an .npz holds arrays saved "
                                        "with np.savez")
            except ValueError as e:
                if isinstance(e, ImportProblem):
                    raise
                if "pickle" in str(e).lower() or "object" in str(e).lower():
                    raise ImportProblem(f"{p.name}: array {k!r} holds Python objects, which the lab never unpickles: "
                                        "save numeric arrays only") from None
                raise ImportProblem(f"{p.name}: array {k!r} cannot be read ({e}): save the archive again") from None
    two = {k: a for k, a in arrays.items() if a.ndim == 2}
    if not two:
        k, a = next(iter(arrays.items()))
        _check_array(a, f"{p.name} (array {k!r})")
        raise AssertionError("unreachable")  # _check_array refuses anything but a 2-D array
    shapes = {a.shape for a in two.values()}
    if len(shapes) > 1:
        listed = ", ".join(f"{k} {a.shape}" for k, a in sorted(two.items(), key=lambda kv: natural_key(kv[0])))
        raise ImportProblem(f"{p.name} holds 2-D arrays of different shapes ({listed}): one array is one matrix, and "
                            "several arrays are the epochs of one series, so they need one shape")
    names = sorted(two, key=natural_key)
    n = next(iter(shapes))[0]
    columns = {}
    for k, a in arrays.items():
        if k in two:
            continue
        if a.ndim != 1 or a.shape[0] != n:
            raise ImportProblem(f"{p.name}: array {k!r} has shape {a.shape}; besides the (rows, dimensions) matrices, "
                                f"an .npz may hold 1-D arrays of one value per row ({n}), such as labels")
        columns[k] = a
    mats = [_check_array(two[k], f"{p.name} (array {k!r})") for k in names]
    return Source(p, "npz", names, mats, columns=columns)


def _read_folder(p: Path, *, max_bytes: int) -> Source:
    if (p / "tensors.tsv").exists():
        meta = p / "metadata.tsv"
        return _read_tensorboard(p / "tensors.tsv", meta if meta.exists() else None, max_bytes=max_bytes)
    files = sorted((f for f in p.iterdir() if f.is_file() and f.suffix.lower() == ".npy"), key=lambda f: natural_key(f.name))
    if not files:
        raise ImportProblem(f"the folder {p.name} holds no .npy files (and no TensorBoard tensors.tsv): a folder is "
                            "read as a series of epochs, one .npy matrix per epoch")
    _check_size(p, max_bytes, sum(f.stat().st_size for f in files), " (its .npy files together)")
    mats = []
    for f in files:
        _check_size(f, max_bytes)
        mats.append(_check_array(_load_npy(f), f"{p.name}/{f.name}"))
    shapes = {m.shape for m in mats}
    if len(shapes) > 1:
        listed = ", ".join(f"{f.name} {m.shape}" for f, m in zip(files, mats, strict=True))
        raise ImportProblem(f"the .npy files of {p.name} have different shapes ({listed}): a folder is a series of "
                            "epochs of the same rows, so every file needs the same shape")
    others = sum(1 for f in p.iterdir() if f.is_file() and f.suffix.lower() != ".npy")
    notes = [f"ignored {others} file{'s' if others != 1 else ''} of {p.name} that are not .npy"] if others else []
    return Source(p, "npy folder", [f.stem for f in files], mats, notes=notes)


def _read_tensorboard(tensors: Path, metadata: Path | None, *, max_bytes: int) -> Source:
    _check_size(tensors, max_bytes)
    df = _read_delimited(tensors, "\t")
    src = _source_from_frame(tensors, "tensorboard", df, embedding_column=None)
    if metadata is None:
        return src
    _check_size(metadata, max_bytes)
    first = _first_line(metadata)
    single = first is not None and "\t" not in first  # TensorBoard: one column has no header line
    meta = _read_delimited(metadata, "\t", header=not single, names=["label"] if single else None, dtype=str)
    if len(meta) != src.n:
        raise ImportProblem(f"{metadata.name} has {len(meta)} rows but {tensors.name} has {src.n}: TensorBoard's "
                            "metadata holds one line per embedding (after a header line when it has several columns)")
    src.columns = {**src.columns, **{str(c): meta[c].to_numpy() for c in meta.columns}}
    src.default_label = "label" if single else None
    src.path = tensors.parent if tensors.name == "tensors.tsv" else tensors
    return src


# -- delimited text ----------------------------------------------------------------------------
def _first_line(p: Path) -> str | None:
    """The first non-blank line of a text file (None if there is none)."""
    with open(p, encoding="utf-8-sig", newline="") as f:
        for line in f:
            if line.strip():
                return line.rstrip("\r\n")
    return None


def _has_header(first: str, sep: str) -> bool:
    """Whether a delimited file's first line is a header: it is data when every field is a number."""
    return not all(_is_number(x) for x in next(csv.reader([first], delimiter=sep)))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_delimited(p: Path, sep: str, *, header: bool | None = None, names: list[str] | None = None,
                    dtype: Any = None) -> Any:
    """A delimited text file as a DataFrame, with the lab's messages for an empty file, a header
    without rows and a ragged line. ``header=None``: a first line of numbers only is data."""
    import pandas as pd

    try:
        first = _first_line(p)
    except UnicodeDecodeError:
        raise ImportProblem(f"{p.name} is not UTF-8 text: save it as UTF-8 (or export the embeddings as .npy)") from None
    if first is None:
        raise ImportProblem(f"{p.name} is empty (no lines with values): export the embeddings again")
    if header is None:
        header = _has_header(first, sep)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", pd.errors.ParserWarning)
        try:
            df = pd.read_csv(p, sep=sep, header=0 if header and names is None else None, names=names, index_col=False,
                             encoding="utf-8-sig", dtype=dtype, skipinitialspace=True, low_memory=False)
        except pd.errors.EmptyDataError:
            raise ImportProblem(f"{p.name} is empty (no lines with values): export the embeddings again") from None
        except pd.errors.ParserError as e:
            m = re.search(r"Expected (\d+) fields in line (\d+), saw (\d+)", str(e))
            if m:
                raise ImportProblem(f"{p.name}: line {m.group(2)} has {m.group(3)} fields but the lines before it have "
                                    f"{m.group(1)}: every line needs the same number of fields (look for a stray "
                                    "separator or an unquoted value that contains one)") from None
            raise ImportProblem(f"{p.name} cannot be parsed as {'TSV' if sep == chr(9) else 'CSV'} ({e})") from None
        except UnicodeDecodeError:
            raise ImportProblem(f"{p.name} is not UTF-8 text: save it as UTF-8 (or export the embeddings as .npy)") from None
    if header and len(df) == 0:
        cols = ", ".join(str(c) for c in df.columns[:8])
        raise ImportProblem(f"{p.name} has a header ({cols}) but no rows: export the embeddings again")
    if not header and names is None:
        df.columns = [str(i) for i in range(df.shape[1])]
    longer = any(issubclass(w.category, pd.errors.ParserWarning) for w in caught)
    if longer or bool(df.isna().to_numpy().any()):  # pandas fills a short line with NaN: find it
        bad = _ragged_line(p, sep, df.shape[1])
        if bad is not None:
            line, got = bad
            raise ImportProblem(f"{p.name}: line {line} has {got} field{'s' if got != 1 else ''} but "
                                f"{'the header has' if header else 'the first line has'} {df.shape[1]}: every line "
                                "needs the same number of fields (look for a missing value or a stray separator)")
    return df


def _ragged_line(p: Path, sep: str, expected: int) -> tuple[int, int] | None:
    """(line number, fields) of the first line whose number of fields differs from ``expected``
    (None when every line has them, or when the csv module cannot tell: a field above its size limit)."""
    with open(p, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=sep, skipinitialspace=True)
        try:
            for row in reader:
                if not row or (len(row) == 1 and not row[0].strip()):
                    continue
                if len(row) != expected:
                    return reader.line_num, len(row)
        except csv.Error:
            return None
    return None


def _line_of_row(p: Path, sep: str, row: int, *, header: bool) -> int | None:
    """The line number of data row ``row`` (counting from 0) of a delimited file."""
    with open(p, encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=sep, skipinitialspace=True)
        k = -1 if header else 0
        for r in reader:
            if not r or (len(r) == 1 and not r[0].strip()):
                continue
            if k == row:
                return reader.line_num
            k += 1
    return None


# -- tables (CSV, TSV, Parquet, TensorBoard) ----------------------------------------------------
def _numeric(series: Any) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _looks_like_list(series: Any) -> bool:
    vals = series.dropna()
    return len(vals) > 0 and isinstance(vals.iloc[0], str) and vals.iloc[0].lstrip().startswith("[")


def _where(p: Path, fmt: str, row: int) -> str:
    """'row R' (and its line in a text file)."""
    if fmt in ("csv", "tsv", "tensorboard"):
        sep = "," if fmt == "csv" else "\t"
        try:
            first = _first_line(p)
            line = _line_of_row(p, sep, row, header=first is not None and _has_header(first, sep))
        except (OSError, UnicodeError, csv.Error):
            line = None
        if line is not None:
            return f"row {row} (line {line})"
    return f"row {row}"


def _source_from_frame(p: Path, fmt: str, df: Any, *, embedding_column: str | None,
                       matrix: np.ndarray | None = None, matrix_column: str | None = None) -> Source:
    """A table's embedding (its numeric columns, or one column of lists) and its other columns."""
    cols = [str(c) for c in df.columns]
    df.columns = cols
    notes = []
    if cols and cols[0] in ("Unnamed: 0", "") and _numeric(df[cols[0]]) and \
            np.array_equal(df[cols[0]].to_numpy(), np.arange(len(df))):
        df = df.drop(columns=[cols[0]])  # the row index pandas writes by default
        cols = cols[1:]
        notes.append("dropped the unnamed first column: it holds the row numbers pandas writes (to_csv's index)")
    if matrix is not None:
        rest = {c: df[c].to_numpy() for c in cols}
        return Source(p, fmt, [p.stem], [_check_array(matrix, p.name)], rest, [matrix_column or ""], notes=notes)
    lists = [c for c in cols if not _numeric(df[c]) and _looks_like_list(df[c])]
    if embedding_column is not None:
        if embedding_column not in cols:
            raise ImportProblem(f"{p.name} has no column {embedding_column!r} (embedding_column); its columns are: "
                                f"{_list(cols)}")
        if embedding_column not in lists:
            raise ImportProblem(f"{p.name}: column {embedding_column!r} does not hold lists of numbers such as "
                                "[0.1, 0.2]; leave embedding_column out to read the numeric columns as dimensions")
        lists = [embedding_column]
    if len(lists) > 1:
        named = [c for c in lists if c.lower() in LIST_NAMES]
        if len(named) != 1:
            raise ImportProblem(f"{p.name} has several columns of lists ({_list(lists)}): name the one that holds the "
                                "embedding with embedding_column (--embedding-column)")
        lists = named
    if lists:
        c = lists[0]
        mat = _parse_list_column(df[c], c, p, fmt)
        rest = {k: df[k].to_numpy() for k in cols if k != c}
        return Source(p, fmt, [p.stem], [_check_array(mat, p.name)], rest, [c], notes=notes)
    numeric = [c for c in cols if _numeric(df[c])]
    text = [c for c in cols if c not in numeric]
    for c in text:  # a column of numbers with a few cells that are not: name the first such cell
        import pandas as pd

        vals = df[c]
        filled = vals.notna()
        num = pd.to_numeric(vals, errors="coerce")
        bad = filled & num.isna()
        if bool(bad.any()) and int((filled & num.notna()).sum()) > int(filled.sum()) // 2:
            r = int(np.flatnonzero(bad.to_numpy())[0])
            raise ImportProblem(f"{p.name}: {_where(p, fmt, r)}, column {c!r}: {str(vals.iloc[r])[:40]!r} is not a "
                                "number. Fix the cell (or empty it and pass drop_nonfinite=True to drop the row)")
    if not numeric:
        raise ImportProblem(f"{p.name} has no numeric columns ({_list(cols)}): the lab reads one column per "
                            "dimension, or one column of lists such as \"[0.1, 0.2]\"")
    empty = [c for c in numeric if not df[c].notna().any()]
    if empty:
        raise ImportProblem(f"{p.name}: column{'s' if len(empty) > 1 else ''} {_list(empty)} hold{'' if len(empty) > 1 else 's'} "
                            "no values: remove empty columns")
    if len(df) < MIN_ROWS:
        raise ImportProblem(f"{p.name} has {len(df)} rows; the lab needs at least {MIN_ROWS} (its figures compare rows)")
    return Source(p, fmt, [p.stem], [], {c: df[c].to_numpy() for c in text}, numeric, notes=notes,
                  frame=df[numeric])


def _list(names: Sequence[str], k: int = 12) -> str:
    names = [str(x) for x in names]
    return ", ".join(names[:k]) + (f" and {len(names) - k} more" if len(names) > k else "")


def _parse_list_column(series: Any, column: str, p: Path, fmt: str) -> np.ndarray:
    """A column of lists written as text ("[0.1, 0.2]", "[0.1 0.2]") as an (N, D) float32 matrix."""
    vals = series.to_numpy(dtype=object)
    out: np.ndarray | None = None
    for i, v in enumerate(vals):
        s = v.strip() if isinstance(v, str) else ""
        if not (s.startswith("[") and s.endswith("]")):
            shown = "an empty cell" if not isinstance(v, str) or not s else repr(s[:40])
            raise ImportProblem(f"{p.name}: {_where(p, fmt, i)}, column {column!r} holds {shown}, not a list of numbers "
                                "such as [0.1, 0.2]: every row needs its embedding")
        parts = s[1:-1].replace(",", " ").split()
        try:
            row = np.array(parts, dtype=np.float64)
        except ValueError:
            bad = next((x for x in parts if not _is_number(x)), s[1:-1])
            raise ImportProblem(f"{p.name}: {_where(p, fmt, i)}, column {column!r}: {bad[:40]!r} is not a number") from None
        if out is None:
            if not len(row):
                raise ImportProblem(f"{p.name}: {_where(p, fmt, i)}, column {column!r} holds an empty list")
            out = np.empty((len(vals), len(row)), np.float32)
        if len(row) != out.shape[1]:
            raise ImportProblem(f"{p.name}: {_where(p, fmt, i)}, column {column!r} has {len(row)} numbers but row 0 has "
                                f"{out.shape[1]}: every embedding needs the same length")
        with np.errstate(over="ignore", invalid="ignore"):
            out[i] = row
    if out is None:
        raise ImportProblem(f"{p.name} has a header but no rows: export the embeddings again")
    return out


def _read_parquet(p: Path, *, embedding_column: str | None, max_bytes: int) -> Source:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        pf = pq.ParquetFile(p)
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ImportProblem(f"{p.name} is not a readable Parquet file ({e}): write it again (e.g. "
                            "DataFrame.to_parquet)") from None
    meta = pf.metadata
    unpacked = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
    _check_size(p, max_bytes, unpacked, " once unpacked")
    if meta.num_rows == 0:
        raise ImportProblem(f"{p.name} has columns ({_list(pf.schema_arrow.names)}) but no rows: export the embeddings "
                            "again")
    try:
        tbl = pf.read()
    except (pa.ArrowException, OSError, ValueError) as e:
        raise ImportProblem(f"{p.name} cannot be read ({e}): write it again") from None
    tbl = tbl.rename_columns([str(c) for c in tbl.column_names])

    def numeric_list(t: Any) -> bool:
        if not (pa.types.is_list(t) or pa.types.is_large_list(t) or pa.types.is_fixed_size_list(t)):
            return False
        v = t.value_type
        return pa.types.is_floating(v) or pa.types.is_integer(v)

    lists = [f.name for f in tbl.schema if numeric_list(f.type)]
    if embedding_column is not None:
        if embedding_column not in tbl.column_names:
            raise ImportProblem(f"{p.name} has no column {embedding_column!r} (embedding_column); its columns are: "
                                f"{_list(tbl.column_names)}")
        lists = [embedding_column] if embedding_column in lists else []
    if len(lists) > 1:
        named = [c for c in lists if c.lower() in LIST_NAMES]
        if len(named) != 1:
            raise ImportProblem(f"{p.name} has several columns of lists ({_list(lists)}): name the one that holds the "
                                "embedding with embedding_column (--embedding-column)")
        lists = named
    if not lists:
        return _source_from_frame(p, "parquet", tbl.to_pandas(), embedding_column=embedding_column)
    c = lists[0]
    col = tbl.column(c).combine_chunks()
    if col.null_count:
        r = int(np.flatnonzero(col.is_null().to_numpy(zero_copy_only=False))[0])
        raise ImportProblem(f"{p.name}: row {r}, column {c!r} is empty: every row needs its embedding")
    if pa.types.is_fixed_size_list(col.type):
        lengths = np.full(len(col), col.type.list_size)
        values = col.flatten()
    else:
        offsets = col.offsets.to_numpy()
        lengths = np.diff(offsets)
        values = col.values.slice(offsets[0], offsets[-1] - offsets[0])
    if len(lengths) and (lengths != lengths[0]).any():
        r = int(np.flatnonzero(lengths != lengths[0])[0])
        raise ImportProblem(f"{p.name}: row {r}, column {c!r} has {lengths[r]} numbers but row 0 has {lengths[0]}: every "
                            "embedding needs the same length")
    if not lengths[0]:
        raise ImportProblem(f"{p.name}: column {c!r} holds empty lists")
    with np.errstate(over="ignore", invalid="ignore"):
        flat = values.to_numpy(zero_copy_only=False).astype(np.float32, copy=False)
    mat = flat.reshape(len(col), int(lengths[0]))
    rest = tbl.drop_columns([c]).to_pandas() if tbl.num_columns > 1 else None
    if rest is None:
        return Source(p, "parquet", [p.stem], [_check_array(mat, p.name)], {}, [c])
    return _source_from_frame(p, "parquet", rest, embedding_column=None, matrix=mat, matrix_column=c)


# -- checks, labels, the split -----------------------------------------------------------------
def _rows_text(rows: np.ndarray) -> str:
    rows = [int(r) for r in rows]
    shown = ", ".join(str(r) for r in rows[:10])
    if len(rows) == 1:
        return f"row {shown}"
    return f"{len(rows)} rows ({shown}{', ...' if len(rows) > 10 else ''})"


def _as_float32(arr: np.ndarray) -> np.ndarray:
    """``arr`` as a C-contiguous float32 array in memory that this process owns and may write (a
    memory-mapped or read-only input is copied: the analysis functions copy what they cannot share)."""
    with np.errstate(over="ignore", invalid="ignore"):
        if isinstance(arr, np.memmap) or not arr.flags.writeable:
            return np.array(arr, dtype=np.float32, order="C", copy=True)
        return np.ascontiguousarray(arr, dtype=np.float32)


def bad_rows(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row numbers holding NaN or inf, and row numbers of (near-)zero rows (norm below
    :data:`ZERO_NORM`: no direction), of a float32 matrix."""
    finite = np.ones(len(x), bool)
    norm = np.zeros(len(x))
    step = max(1, (1 << 22) // max(1, x.shape[1]))
    for a in range(0, len(x), step):
        c = x[a : a + step]
        finite[a : a + step] = np.isfinite(c).all(axis=1)
        c64 = c.astype(np.float64)
        with np.errstate(over="ignore", invalid="ignore"):
            norm[a : a + step] = np.sqrt(np.einsum("ij,ij->i", c64, c64))
    return np.flatnonzero(~finite), np.flatnonzero(finite & (norm < ZERO_NORM))


def _nonfinite_message(what: str, rows: np.ndarray) -> str:
    return (f"{what}: {_rows_text(rows)} hold NaN or infinite values (or numbers beyond float32's range); row numbers "
            "count from 0. Fix them, or pass drop_nonfinite=True (--drop-nonfinite) to drop those rows")


def _zero_message(what: str, rows: np.ndarray) -> str:
    return (f"{what}: {_rows_text(rows)} {'is' if len(rows) == 1 else 'are'} all zeros: a zero row has no direction and "
            "cannot be normalised; row numbers count from 0. Remove them, or pass drop_nonfinite=True "
            "(--drop-nonfinite) to drop them")


def _missing(values: np.ndarray) -> np.ndarray:
    """Positions of missing values (None, NaN, empty text)."""
    out = np.zeros(len(values), bool)
    for i, v in enumerate(values):
        if v is None or (isinstance(v, float) and math.isnan(v)) or (isinstance(v, str) and not v.strip()):
            out[i] = True
    return out


def encode_labels(values: Sequence[Any] | np.ndarray, what: str) -> tuple[np.ndarray, list[str]]:
    """Class labels as codes 0..C-1 (int64) and the name of each code: names sort as numbers when
    every label is a number, else as text."""
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ImportProblem(f"{what} must hold one label per row (a 1-D sequence); got shape {arr.shape}")
    if arr.dtype.kind == "f":
        miss = np.flatnonzero(~np.isfinite(arr))
        if len(miss):
            raise ImportProblem(f"{what}: {_rows_text(miss)} have no label: give every row a label (or drop those rows "
                                "from the file)")
        continuous = (arr != np.round(arr)) | (np.abs(arr) > 2**53)
        if np.any(continuous):
            v = arr[np.flatnonzero(continuous)[0]]
            raise ImportProblem(f"{what} holds continuous values (e.g. {v:g}), not classes: use target_column "
                                "(--target-column) or targets= for continuous targets")
        arr = arr.astype(np.int64)
    if arr.dtype.kind in "iub":
        classes, codes = np.unique(arr, return_inverse=True)
        names = [str(c) for c in classes.tolist()]
    else:
        obj = arr.astype(object)
        miss = np.flatnonzero(_missing(obj))
        if len(miss):
            raise ImportProblem(f"{what}: {_rows_text(miss)} have no label: give every row a label (or drop those rows "
                                "from the file)")
        text = np.array([str(v) for v in obj], dtype=str)
        if all(_is_number(t) for t in set(text.tolist())):
            return encode_labels(np.array([float(t) for t in text]), what)
        classes, codes = np.unique(text, return_inverse=True)
        names = classes.tolist()
    if len(names) < 2:
        raise ImportProblem(f"{what} holds a single class ({names[0]!r}): the probes need at least two; import "
                            "without labels, or check the column")
    return codes.reshape(-1).astype(np.int64), names


def _targets(values: Sequence[Any] | np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise ImportProblem(f"{what} must hold one target per row (a 1-D sequence); got shape {arr.shape}")
    if arr.dtype.kind not in "iuf":
        obj = arr.astype(object)
        out = np.empty(len(obj))
        for i, v in enumerate(obj):
            if _missing(np.array([v], dtype=object))[0]:
                out[i] = np.nan
            elif isinstance(v, (int, float, np.number)) or (isinstance(v, str) and _is_number(v)):
                out[i] = float(v)
            else:
                raise ImportProblem(f"{what}: row {i} holds {str(v)[:40]!r}, not a number; a target column holds "
                                    "continuous numbers (use label_column for classes)")
        arr = out
    with np.errstate(over="ignore", invalid="ignore"):
        return arr.astype(np.float64)


def _split(y: np.ndarray | None, task: str) -> np.ndarray:
    """``is_test``: the stratified 80/20 split of the rows (labels), a plain one (targets), none."""
    n = len(y) if y is not None else 0
    is_test = np.zeros(n, bool)
    if task == "none" or y is None:
        return is_test
    from sklearn.model_selection import train_test_split

    if task == "classification":
        counts = np.bincount(y)
        lonely = np.flatnonzero(counts == 1)
        if len(lonely):
            raise ImportProblem(f"{len(lonely)} of the {len(counts)} classes have a single row: a stratified 80/20 "
                                "split needs at least 2 rows per class. Is the label column an id (use id_column, or "
                                "leave it as metadata) or continuous (use target_column)?")
    try:
        _, test = train_test_split(np.arange(n), test_size=TEST_SIZE, random_state=SPLIT_SEED,
                                   stratify=y if task == "classification" else None)
    except ValueError as e:
        raise ImportProblem(f"the rows cannot be split 80/20 for the probes ({e}): import more rows per class, or fewer "
                            "classes") from None
    is_test[test] = True
    return is_test


def _meta_key(name: str, taken: set[str]) -> str:
    base = "meta_" + (re.sub(r"[^0-9A-Za-z_]", "_", name)[:40] or "column")
    key, k = base, 2
    while key in taken:
        key, k = f"{base}_{k}", k + 1
    taken.add(key)
    return key


def _text_array(values: np.ndarray) -> np.ndarray:
    out = ["" if m else str(v)[:META_MAX_CHARS] for v, m in zip(values, _missing(np.asarray(values, dtype=object)),
                                                                 strict=True)]
    return np.array(out, dtype=str)


@dataclass
class Prepared:
    """Every input read and checked: what a run is written from."""

    matrices: list[np.ndarray]  # (n, d) float32 each, kept rows only
    view2: list[np.ndarray] | None
    index: np.ndarray  # each snapshot row's number in the source ([training; held-out] rows)
    y: np.ndarray
    task: str
    label_names: list[str]
    metadata: dict[str, np.ndarray]  # snapshot array name -> text per kept row
    is_test: np.ndarray
    config: dict[str, Any]
    notes: list[str]


def _column(where: Mapping[str, np.ndarray], name: str, what: str, names: Sequence[str] | None = None) -> np.ndarray:
    """Column ``name`` of ``where``; else the problem, listing ``names`` (default: ``where``'s)."""
    if name not in where:
        names = list(where) if names is None else list(names)
        if not names:
            raise ImportProblem(f"{what} has no column {name!r}: it holds a bare matrix with no columns; give the labels "
                                "in a separate file (labels=..., --labels), one per row in the same order")
        raise ImportProblem(f"{what} has no column {name!r}; its columns are: {_list(names)}")
    return where[name]


def _id_keys(values: np.ndarray) -> np.ndarray:
    """Ids as text; whole floats as whole numbers (7.0 and 7 are one id)."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        arr = arr.astype(np.int64)
    return np.array([str(v) for v in arr.tolist()], dtype=object)


def _is_read_error(e: BaseException) -> bool:
    """An error of a reader on a malformed file (pyarrow's errors share no base with the built-in ones)."""
    return isinstance(e, _READ_ERRORS) or any(c.__name__ == "ArrowException" for c in type(e).__mro__)


def read_labels(path: str | os.PathLike, *, max_bytes: int = MAX_BYTES) -> dict[str, np.ndarray]:
    """The columns of a labels file (.csv / .tsv with a header line; .tsv with one column and no
    header, as TensorBoard writes metadata.tsv; .parquet). Raises :class:`ImportProblem`."""
    p = Path(path).expanduser()
    if not p.exists():
        raise ImportProblem(f"the labels file {p} does not exist: check the path")
    if p.is_dir():
        raise ImportProblem(f"the labels file {p} is a folder: give a .csv, .tsv or .parquet file")
    _check_size(p, max_bytes)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".tsv", ".parquet"):
        raise ImportProblem(f"the labels file {p.name}: unknown file type {p.suffix or '(no extension)'!r}; labels are "
                            "read from .csv, .tsv or .parquet files")
    try:
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            pf = pq.ParquetFile(p)
            meta = pf.metadata
            _check_size(p, max_bytes, sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups)),
                        " once unpacked")
            df = pf.read().to_pandas()
            if len(df) == 0:
                raise ImportProblem(f"the labels file {p.name} has columns but no rows")
        else:
            first = _first_line(p)
            single = suffix == ".tsv" and first is not None and "\t" not in first
            df = _read_delimited(p, "\t" if suffix == ".tsv" else ",", header=not single,
                                 names=["label"] if single else None)
    except ImportProblem:
        raise
    except MemoryError:
        raise ImportProblem(f"the labels file {p.name} does not fit in memory") from None
    except Exception as e:
        if not _is_read_error(e):
            raise
        raise ImportProblem(f"the labels file {p.name} cannot be read ({type(e).__name__}: {e})") from None
    return {str(c): df[c].to_numpy() for c in df.columns}


def _join(table: Mapping[str, np.ndarray], labels: Mapping[str, np.ndarray], id_column: str, what: str,
          label_what: str) -> dict[str, np.ndarray]:
    """The labels file's columns in the table's row order, joined on ``id_column``."""
    ids = _id_keys(_column(table, id_column, what))
    lab_ids = _id_keys(_column(labels, id_column, label_what))
    pos: dict[str, int] = {}
    repeated = []
    for i, k in enumerate(lab_ids):
        if k in pos:
            repeated.append(k)
        pos[k] = i
    if repeated:
        raise ImportProblem(f"{label_what}: the id column {id_column!r} repeats ids ({_list(repeated[:5])}): each id "
                            "needs one row")
    missing = [k for k in ids if k not in pos]
    if missing:
        raise ImportProblem(f"{label_what} has no row for {len(missing)} id{'s' if len(missing) > 1 else ''} of {what} "
                            f"({_list(missing[:5])}): every row needs its label")
    order = np.array([pos[k] for k in ids], dtype=np.int64)
    return {k: np.asarray(v)[order] for k, v in labels.items()}


def _row_drops(label: str, m: np.ndarray, drop_nonfinite: bool) -> np.ndarray:
    """Rows of ``m`` to drop (non-finite or zero); without ``drop_nonfinite`` any is a problem."""
    nonfinite, zero = bad_rows(m)
    if not drop_nonfinite and len(nonfinite):
        raise ImportProblem(_nonfinite_message(label, nonfinite))
    if not drop_nonfinite and len(zero):
        raise ImportProblem(_zero_message(label, zero))
    return np.union1d(nonfinite, zero)


def prepare(src: Source, *, labels: str | os.PathLike | None = None, label_column: str | None = None,
            target_column: str | None = None, id_column: str | None = None, view2: Source | None = None,
            drop_nonfinite: bool = False, max_bytes: int = MAX_BYTES, name: str | None = None) -> Prepared:
    """Check ``src`` with its labels (a column of its own, or of the labels file ``labels``),
    targets, ids and second view; drop non-finite and zero rows when asked; draw the split.
    Nothing is written. Raises :class:`ImportProblem`."""
    if label_column and target_column:
        raise ImportProblem("give either label_column (classes) or target_column (continuous targets), not both")
    what = src.path.name or "the embeddings"
    reserved = {c for c in (label_column, target_column, id_column) if c}
    notes = list(src.notes)
    mats = [src.matrix(i, reserved=reserved) for i in range(src.epochs)]
    n, d = mats[0].shape
    if src.frame is not None:
        hints = [c for c in src.embedding_columns if c.lower() in HINT_NAMES and c not in reserved]
        if hints:
            notes.append(f"the numeric column{'s' if len(hints) > 1 else ''} {_list([repr(c) for c in hints])} "
                         f"{'were' if len(hints) > 1 else 'was'} read as {'dimensions' if len(hints) > 1 else 'a dimension'}: "
                         "name it as the label, target or id column if it is one")
    # the table's columns (a numeric one named as label, target or id included)
    table = dict(src.columns)
    for c in reserved:
        v = src.column(c)
        if v is not None:
            table[c] = v
    # where the labels / targets come from
    label_src: Mapping[str, np.ndarray] = table
    label_what, labels_name = what, None
    names: list[str] | None = [*src.embedding_columns, *src.columns]  # the table's columns, for messages
    if labels is not None:
        lp = Path(labels).expanduser()
        label_src, label_what, labels_name = read_labels(lp, max_bytes=max_bytes), f"the labels file {lp.name}", lp.name
        names = None
        if id_column:
            label_src = _join(table, label_src, id_column, what, label_what)
        else:
            got = len(next(iter(label_src.values()))) if label_src else 0
            if got != n:
                raise ImportProblem(f"{label_what} has {got} rows but {what} has {n}: give one label per row in the same "
                                    "order, or join them on an id column (id_column, --id-column)")
        if not label_column and not target_column:
            cands = [c for c in label_src if c != id_column]
            if len(cands) != 1:
                raise ImportProblem(f"{label_what} has the columns {_list(cands)}: say which holds the labels with "
                                    "label_column (--label-column), or target_column for continuous targets")
            label_column = cands[0]
    elif id_column:
        _column(table, id_column, what, names)
    if labels is None and not label_column and not target_column and src.default_label:
        label_column = src.default_label
    task, classes, targets = "none", None, None
    if label_column:
        classes, task = _column(label_src, label_column, label_what, names), "classification"
    elif target_column:
        targets = _targets(_column(label_src, target_column, label_what, names), f"target column {target_column!r}")
        task = "regression"
    # the second view
    v2: list[np.ndarray] | None = None
    if view2 is not None:
        v2 = [view2.matrix(i) for i in range(view2.epochs)]
        if len(v2) != len(mats) or any(a.shape != b.shape for a, b in zip(v2, mats, strict=False)):
            theirs = v2[0].shape if len(v2) == 1 else f"{len(v2)} matrices of shape {v2[0].shape}"
            mine = mats[0].shape if len(mats) == 1 else f"{len(mats)} matrices of shape {mats[0].shape}"
            raise ImportProblem(f"the second view ({view2.path.name}) has shape {theirs} but {what} has {mine}: view2 holds "
                                "the same rows in the same order, with the same dimensions")
    # rows to drop
    drop = np.zeros(n, bool)
    for i, m in enumerate(mats):
        drop[_row_drops(what if len(mats) == 1 else f"{what}, epoch {src.names[i]!r}", m, drop_nonfinite)] = True
    if view2 is not None and v2 is not None:
        for i, m in enumerate(v2):
            label = f"the second view ({view2.path.name})" + ("" if len(v2) == 1 else f", epoch {view2.names[i]!r}")
            drop[_row_drops(label, m, drop_nonfinite)] = True
    if targets is not None:
        bad_t = np.flatnonzero(~np.isfinite(targets) | (np.abs(targets) > np.finfo(np.float32).max))
        if len(bad_t) and not drop_nonfinite:
            raise ImportProblem(f"target column {target_column!r}: {_rows_text(bad_t)} have no finite target (row numbers "
                                "count from 0): fix them, or pass drop_nonfinite=True (--drop-nonfinite) to drop them")
        drop[bad_t] = True
    keep = np.flatnonzero(~drop)
    dropped = n - len(keep)
    if dropped:
        notes.append(f"dropped {dropped} of {n} rows holding NaN, infinite values or zeros, or no finite target")
        if len(keep) < MIN_ROWS:
            raise ImportProblem(f"{what}: only {len(keep)} rows are left once the rows with NaN, infinite values or zeros "
                                f"are dropped; the lab needs at least {MIN_ROWS}")
    label_names: list[str] = []
    if classes is not None:
        y, label_names = encode_labels(np.asarray(classes)[keep], f"label column {label_column!r}")
    elif targets is not None:
        y = targets[keep].astype(np.float32)
    else:
        y = np.zeros(len(keep), np.int64)  # no labels: one class, as the views draw it
    is_test = _split(y, task)
    # the snapshot's rows: [training; held-out] as in a trained run's snapshot (the probes then
    # read the training rows without a copy); ``index`` keeps each row's number in the source
    order = np.r_[np.flatnonzero(~is_test), np.flatnonzero(is_test)]
    rows = keep[order]
    y, is_test = y[order], is_test[order]
    if dropped or not np.array_equal(rows, np.arange(n)):
        for group in (mats, v2 or []):
            for i in range(len(group)):  # one matrix at a time: the old copy goes as the new one comes
                group[i] = np.ascontiguousarray(group[i][rows])
    # text kept for hover: the table's other columns and the labels file's
    extra = {k: v for k, v in table.items() if k not in (label_column, target_column)}
    if labels is not None:
        extra.update({k: v for k, v in label_src.items() if k not in (label_column, target_column, id_column)})
    taken: set[str] = set()
    metadata, meta_names, left_out = {}, {}, []
    for k, v in extra.items():
        text = _text_array(np.asarray(v, dtype=object)[rows])
        if len(metadata) == META_MAX_COLUMNS or sum(a.nbytes for a in metadata.values()) + text.nbytes > META_MAX_BYTES:
            left_out.append(k)
            continue
        key = _meta_key(k, taken)
        metadata[key], meta_names[key] = text, k
    if left_out:
        notes.append(f"kept {len(metadata)} of {len(extra)} text columns for hover (at most {META_MAX_COLUMNS} columns "
                     f"and {META_MAX_BYTES / 1e6:.0f} MB); left out: {_list(left_out)}")
    source = src.path.name or str(src.path)
    config = {
        "name": name or _default_name(src),
        "source": source,
        "format": src.format,
        "task": task,
        "label_names": label_names,
        "label_column": label_column,
        "target_column": target_column,
        "id_column": id_column,
        "labels_file": labels_name,
        "view2": view2.path.name if view2 is not None else None,
        "epoch_names": list(src.names),
        "rows_in_source": int(n),
        "rows": int(len(keep)),
        "dim": int(d),
        "dropped_rows": int(dropped),
        "metadata": meta_names,
        # what the views read from every run's config: an imported run has no dataset of the
        # registry and no loss (they look them up with .get and find none)
        "dataset": f"imported:{source}",
        "loss": "imported",
        "encoder": None,
        "temperature": None,
    }
    return Prepared(mats, v2, rows.astype(np.int64), y, task, label_names, metadata, is_test, config, notes)


def _default_name(src: Source) -> str:
    return src.path.stem if src.path.suffix else src.path.name


# -- the figures ---------------------------------------------------------------------------------
def uniformity_rows(dim: int) -> int:
    """The most rows uniformity uses at ``dim`` dimensions: all pairs while rows^2 (dim + 48)
    stays within :data:`UNIFORMITY_WORK` (about a second), between 2,000 and 20,000 rows."""
    return int(min(UNIFORMITY_MAX_ROWS, max(UNIFORMITY_MIN_ROWS, math.sqrt(UNIFORMITY_WORK / (dim + 48)))))


def pca_map(x: np.ndarray) -> np.ndarray:
    """The 2-D PCA map of ``x`` (float32): ``projections.pca_2d`` as for trained runs up to
    :data:`PCA_FIT_ROWS` rows; above that the basis is fitted on a seeded sample of that many rows
    (``projections.PCA2D``, seed :data:`PCA_SEED`) and every row is projected on it, in blocks (a fit
    on every row holds two float64 copies of the matrix: 1.2 GB at 100,000 x 768)."""
    from analysis import projections

    n = len(x)
    if n <= PCA_FIT_ROWS:
        return projections.pca_2d(x).astype(np.float32)
    rows = np.sort(np.random.default_rng(PCA_SEED).choice(n, PCA_FIT_ROWS, replace=False))
    pca = projections.PCA2D().fit(x[rows])
    out = np.empty((n, 2), np.float32)
    for a in range(0, n, PCA_BLOCK):
        out[a : a + PCA_BLOCK] = pca.transform(x[a : a + PCA_BLOCK])
    return out


def _rows_of(x: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """``x[rows]``: a view when ``rows`` is a run of consecutive rows, else a copy."""
    if len(rows) and rows[-1] - rows[0] + 1 == len(rows):
        return x[rows[0] : rows[-1] + 1]
    return x[rows]


def measure(x: np.ndarray, *, y: np.ndarray, task: str, is_test: np.ndarray,
            view2: np.ndarray | None = None) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    """The figures of one imported matrix ``x`` (N, D) float32: (arrays, metrics) of its snapshot
    (see the module docstring for what is computed on which rows)."""
    from analysis import geometry, ordinality, probes, projections, spectrum
    from trainers.evaluate import EVAL_SEED, knn_query_rows

    n, d = x.shape
    rows = uniformity_rows(d)
    m: dict[str, Any] = {"n": n, "dim": d, "n_eval": min(n, rows)}
    u = geometry.uniformity(x, max_points=rows, seed=UNIFORMITY_SEED)
    m["uniformity_clean"] = u
    if view2 is not None:
        m["alignment"] = geometry.alignment(x, view2)
        m["uniformity"] = 0.5 * (u + geometry.uniformity(view2, max_points=rows, seed=UNIFORMITY_SEED))
    else:  # no positive pairs: alignment is not defined (stored as null; the views read the key)
        m["alignment"], m["uniformity"] = math.nan, u
    m["rankme"] = m["rankme_emb"] = spectrum.rankme(x)
    lam = spectrum.covariance_spectrum(x)
    try:
        m["erank_cov_rep"] = m["erank_cov_emb"] = spectrum.effective_rank_covariance(x)
    except ValueError:  # every row points the same way: a covariance of zero has no effective rank
        m["erank_cov_rep"] = m["erank_cov_emb"] = math.nan
    m["alpha_req"] = spectrum.alpha_req(x)
    pca = pca_map(x)
    arrays: dict[str, np.ndarray] = {"rep": x, "emb": x, "y": y, "is_test": is_test, "pca_emb": pca, "pca_rep": pca,
                                     "spectrum_emb": lam.astype(np.float64), "spectrum_rep": lam.astype(np.float64)}
    if task in ("classification", "regression"):
        tr, te = np.flatnonzero(~is_test), np.flatnonzero(is_test)
        x_tr, x_te, y_tr, y_te = _rows_of(x, tr), _rows_of(x, te), y[tr], y[te]
        q = knn_query_rows(y_te)
        k = min(KNN_K, len(tr))
        lin = np.arange(len(tr))
        if len(tr) > LINEAR_MAX_TRAIN:
            lin = projections.stratified_sample(y_tr, LINEAR_MAX_TRAIN, seed=EVAL_SEED)
        m.update(n_test=len(te), n_knn_eval=len(q), knn_k=k, n_linear_train=len(lin))
        if task == "classification":
            hit = probes.knn_predict(x_tr, y_tr, x_te[q], k=k) == y_te[q]
            m["knn_accuracy"] = m["knn_accuracy_emb"] = float(hit.mean())
            knn_hit = np.full(n, np.nan, np.float32)
            knn_hit[te[q]] = hit
            arrays["knn_hit"] = knn_hit
            m["linear_accuracy"] = probes.linear_probe_accuracy(x_tr[lin], y_tr[lin], x_te, y_te)
        else:
            m["knn_mae"] = probes.knn_regression_mae(x_tr, y_tr, x_te[q], y_te[q], k=k)
            reg = probes.linear_probe_regression(x_tr[lin], y_tr[lin], x_te, y_te)
            m["linear_mae"], m["linear_r2"] = reg["mae"], reg["r2"]
            m["rank_correlation"] = m["rank_correlation_emb"] = ordinality.distance_rank_correlation(x, y)
    # an undefined figure (no second view, a collapsed spectrum) is None, in the run's row as in the snapshot's
    return arrays, {k: ((float(v) if math.isfinite(v) else None) if isinstance(v, (float, np.floating)) else v)
                    for k, v in m.items()}


# -- writing runs --------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import made: the run, its size, and the figures of its last epoch."""

    run_id: str
    name: str
    n: int
    dim: int
    epochs: int
    task: str
    n_labels: int | None
    dropped: int
    seconds: float
    metrics: dict[str, Any]
    notes: list[str]

    def summary(self) -> dict[str, Any]:
        """The command line's JSON object (None where a figure is not defined)."""
        m = self.metrics
        out: dict[str, Any] = {"run_id": self.run_id, "status": st.IMPORTED, "name": self.name, "n": self.n,
                               "dim": self.dim, "epochs": self.epochs, "task": self.task, "n_labels": self.n_labels,
                               "dropped_rows": self.dropped, "seconds": round(self.seconds, 3)}
        for key, metric in (("uniformity", "uniformity"), ("effective_rank", "erank_cov_rep"), ("rankme", "rankme"),
                            ("alpha_req", "alpha_req"), ("knn_accuracy", "knn_accuracy"),
                            ("linear_accuracy", "linear_accuracy"), ("knn_mae", "knn_mae"), ("linear_mae", "linear_mae"),
                            ("linear_r2", "linear_r2"), ("rank_correlation", "rank_correlation"),
                            ("alignment", "alignment")):
            v = m.get(metric)
            out[key] = v if isinstance(v, (int, float)) and math.isfinite(v) else None
        out["notes"] = list(self.notes)
        return out


def _open_store(store: st.Store | str | os.PathLike | None) -> st.Store:
    return store if isinstance(store, st.Store) else st.Store(store)


def _snapshot_arrays(prep: Prepared, i: int) -> tuple[dict[str, np.ndarray], dict[str, Any]]:
    arrays, metrics = measure(prep.matrices[i], y=prep.y, task=prep.task, is_test=prep.is_test,
                              view2=prep.view2[i] if prep.view2 is not None else None)
    arrays["index"] = prep.index
    if prep.label_names:
        arrays["label_names"] = np.array(prep.label_names, dtype=str)
    arrays.update(prep.metadata)
    return arrays, metrics


def write_run(prep: Prepared, *, store: st.Store | str | os.PathLike | None = None, group: str = "",
              first_epoch: int = 0) -> ImportResult:
    """Write ``prep`` as a new imported run, one snapshot per matrix (epochs ``first_epoch``,
    ``first_epoch + 1``, ...).

    The run is ``running`` (this process as its worker) while its snapshots are written and
    ``imported`` once all are; an error on the way deletes it (nothing is left behind)."""
    s = _open_store(store)
    t0 = time.monotonic()
    name = prep.config["name"]
    run_id = s.create_imported_run(prep.config, name=name, status=st.RUNNING, group=group)
    try:
        now = time.time()
        s.update_run(run_id, pid=os.getpid(), pid_start=st.process_start_time(os.getpid()), boot_id=st.boot_id(),
                     started=now, heartbeat=now)
        metrics: dict[str, Any] = {}
        for i in range(len(prep.matrices)):
            arrays, metrics = _snapshot_arrays(prep, i)
            s.add_snapshot_streamed(run_id, first_epoch + i, first_epoch + i, arrays, metrics)
            del arrays
            s.update_run(run_id, epoch=first_epoch + i, heartbeat=time.time())
        last = first_epoch + len(prep.matrices) - 1
        reason = "; ".join([f"imported from {prep.config['source']}", *prep.notes])
        seconds = time.monotonic() - t0
        s.update_run(run_id, status=st.IMPORTED, reason=reason, metrics=metrics, epoch=last, total_epochs=last,
                     finished=time.time(), seconds=seconds, pid=None)
    except BaseException:
        _discard(s, run_id)
        raise
    return ImportResult(run_id, name, len(prep.index), int(prep.matrices[0].shape[1]), len(prep.matrices), prep.task,
                        len(prep.label_names) if prep.task == "classification" else None,
                        int(prep.config["dropped_rows"]), seconds, metrics, prep.notes)


def _discard(s: st.Store, run_id: str) -> None:
    """Delete a run whose writing failed (its row first leaves ``running``: delete refuses a live worker's run)."""
    try:
        s.update_run(run_id, status=st.FAILED, pid=None, reason="import interrupted")
    except st.StoreError:
        pass
    try:
        s.delete_run(run_id)
    except (st.StoreError, KeyError, RuntimeError, OSError):
        pass  # the store cannot be changed: the scheduler marks the run failed once this process ends


def import_embeddings(path: str | os.PathLike, *, labels: str | os.PathLike | None = None,
                      label_column: str | None = None, target_column: str | None = None, id_column: str | None = None,
                      embedding_column: str | None = None, view2: str | os.PathLike | None = None,
                      name: str | None = None, drop_nonfinite: bool = False, max_bytes: int = MAX_BYTES,
                      store: st.Store | str | os.PathLike | None = None, group: str = "") -> ImportResult:
    """Read the embeddings at ``path`` (and their labels, targets, ids, second view), check
    them, and write them as a new imported run of ``store`` (default: ``$LAB_STORE`` or
    ``./lab_store``). Raises :class:`ImportProblem`, with nothing written, for a bad input."""
    src = read_embeddings(path, embedding_column=embedding_column, max_bytes=max_bytes)
    v2 = read_embeddings(view2, max_bytes=max_bytes) if view2 is not None else None
    prep = prepare(src, labels=labels, label_column=label_column, target_column=target_column, id_column=id_column,
                   view2=v2, drop_nonfinite=drop_nonfinite, max_bytes=max_bytes, name=name)
    del src, v2  # a memory-mapped file counts as this process's memory while it is mapped
    return write_run(prep, store=store, group=group)


# -- from a notebook -----------------------------------------------------------------------------
def _array(a: Any, what: str) -> np.ndarray:
    """A numpy array from an array, a torch tensor (any device) or nested lists."""
    if hasattr(a, "detach") and hasattr(a, "cpu"):
        a = a.detach().cpu().numpy()
    try:
        return np.asarray(a)
    except (ValueError, TypeError) as e:
        raise ImportProblem(f"{what} cannot be read as an array ({e}): pass a 2-D numpy array or tensor") from None


def log_embeddings(emb: Any, *, labels: Any = None, targets: Any = None, view2: Any = None,
                   metadata: Mapping[str, Sequence[Any]] | None = None, name: str | None = None,
                   run: str | None = None, epoch: int | None = None,
                   store: st.Store | str | os.PathLike | None = None, drop_nonfinite: bool = False) -> str:
    """Log one epoch of embeddings (an (N, D) array or tensor) to the lab store; return the run id.

    Without ``run`` a new imported run is made with this matrix as its epoch ``epoch`` (default 0);
    ``labels`` (classes of any type: their names are kept) or ``targets`` (continuous), ``view2`` (a
    second view of the same rows: alignment) and ``metadata`` (text per row, for hover) describe
    the rows. With ``run`` the matrix becomes the next epoch of that imported run (or epoch
    ``epoch``, which must come after its last): the rows are the run's, so ``emb`` has as many
    rows as its first epoch had, and ``labels`` / ``targets`` may be left out (given, they must be
    the run's). Call it once per epoch while a model trains elsewhere::

        run_id = None
        for epoch in range(epochs):
            train_one_epoch(model)
            run_id = log_embeddings(model.embed(x_eval), labels=y_eval, run=run_id, name="my model")

    Raises :class:`ImportProblem` (nothing written) for a bad input."""
    x = _array(emb, "emb")
    v2 = _array(view2, "view2") if view2 is not None else None
    if labels is not None and targets is not None:
        raise ImportProblem("give either labels (classes) or targets (continuous), not both")
    if epoch is not None and (isinstance(epoch, bool) or not isinstance(epoch, (int, np.integer)) or epoch < 0):
        raise ImportProblem(f"epoch must be a whole number >= 0; got {epoch!r}")
    s = _open_store(store)
    if run is not None:
        return _log_next(s, run, x, labels=labels, targets=targets, view2=v2, epoch=epoch)
    label = name or "notebook"
    cols: dict[str, np.ndarray] = {}
    if labels is not None:
        cols["label"] = _array(labels, "labels")
    if targets is not None:
        cols["target"] = _array(targets, "targets")
    for k, v in (metadata or {}).items():
        if str(k) in ("label", "target"):
            raise ImportProblem(f"metadata column {k!r}: the names label and target are taken by labels and targets; "
                                "rename it")
        cols[str(k)] = _array(v, f"metadata {k!r}")
    n = _check_array(x, "emb").shape[0]
    for k, v in cols.items():
        if v.ndim != 1 or len(v) != n:
            what = {"label": "labels", "target": "targets"}.get(k, f"metadata {k!r}")
            raise ImportProblem(f"{what}: shape {v.shape}, but emb has {n} rows: give one value per row, in the same "
                                "order")
    src = Source(Path(label), "arrays", ["emb"], [x], columns=cols)
    second = Source(Path("view2"), "arrays", ["view2"], [_check_array(v2, "view2")]) if v2 is not None else None
    prep = prepare(src, label_column="label" if labels is not None else None,
                   target_column="target" if targets is not None else None, view2=second,
                   drop_nonfinite=drop_nonfinite, name=label)
    prep.config.update(source="notebook", dataset=f"imported:{label}", epoch_names=[str(epoch or 0)])
    return write_run(prep, store=s, first_epoch=int(epoch or 0)).run_id


def _label_text(vals: np.ndarray) -> list[str]:
    """Labels as :func:`encode_labels` names them (whole numbers without a decimal point)."""
    out = []
    for v in np.asarray(vals).tolist():
        if isinstance(v, str) and _is_number(v):
            v = float(v)
        if isinstance(v, float) and math.isfinite(v) and v == round(v):
            v = int(v)
        out.append(str(v))
    return out


def _log_next(s: st.Store, run: str, x: np.ndarray, *, labels: Any, targets: Any, view2: np.ndarray | None,
              epoch: int | None) -> str:
    """``x`` as the next epoch of the imported run ``run``: its rows, labels and split are the run's."""
    try:
        rec = s.get_run(run)
    except (KeyError, ValueError):
        raise ImportProblem(f"run {run!r} is not in the store at {s.root}: pass the id log_embeddings returned, or "
                            "run=None for a new run") from None
    if rec.kind != "imported":
        raise ImportProblem(f"run {run} ({rec.name}) was trained by the lab: log_embeddings adds epochs only to imported "
                            "runs (run=None makes one)")
    if rec.status != st.IMPORTED:
        raise ImportProblem(f"run {run} ({rec.name}) is {rec.status}: only a complete imported run takes more epochs")
    snaps = s.snapshots(run)
    if not snaps:
        raise ImportProblem(f"run {run} has no snapshot to continue from: make a new run (run=None)")
    last = snaps[-1].epoch
    epoch = last + 1 if epoch is None else int(epoch)
    if epoch <= last:
        raise ImportProblem(f"run {run} already has epochs up to {last}: give a later epoch, or leave epoch out (then it "
                            f"is {last + 1})")
    try:
        prev = s.load_snapshot(run, last, skip=("rep", "emb"))
    except st.StoreDamaged as e:
        raise ImportProblem(f"run {run}: its last snapshot cannot be read ({e})") from None
    cfg = rec.config
    keep = prev["index"]
    n_src = int(cfg.get("rows_in_source", len(keep)))
    x = _check_array(x, "emb")
    if x.shape[0] != n_src:
        raise ImportProblem(f"emb has {x.shape[0]} rows but run {run} has {n_src}: every epoch of a run embeds the same "
                            "rows, in the same order")
    mats = {"emb": _as_float32(x)[keep]}
    if view2 is not None:
        if view2.shape != x.shape:
            raise ImportProblem(f"view2 has shape {view2.shape} but emb has {x.shape}: the second view holds the same "
                                "rows, with the same dimensions")
        mats["view2"] = _as_float32(_check_array(view2, "view2"))[keep]
    for what, m in mats.items():
        nonfinite, zero = bad_rows(m)
        if len(nonfinite) or len(zero):
            kind = "hold NaN or infinite values" if len(nonfinite) else "are all zeros"
            raise ImportProblem(f"{what}: {_rows_text(keep[nonfinite if len(nonfinite) else zero])} {kind} (row numbers "
                                f"count from 0): run {run} keeps the rows of its first epoch, so every later epoch needs "
                                "them finite and non-zero")
    task = cfg.get("task", "none")
    given = labels if labels is not None else targets
    if given is not None:
        kind = "labels" if labels is not None else "targets"
        if (task, kind) not in (("classification", "labels"), ("regression", "targets")):
            raise ImportProblem(f"run {run} was made with{'out labels or targets' if task == 'none' else ' ' + ('labels' if task == 'classification' else 'targets')}"
                                f", not {kind}: later epochs keep the rows' first {kind if task != 'none' else 'description'}; "
                                f"leave {kind} out")
        vals = _array(given, kind)
        if vals.ndim != 1 or len(vals) != n_src:
            raise ImportProblem(f"{kind}: shape {vals.shape}, but run {run} has {n_src} rows")
        vals = vals[keep]
        if task == "classification":
            names = [str(v) for v in cfg.get("label_names", [])]
            same = [names[c] for c in prev["y"]] == _label_text(vals)
        else:
            same = vals.dtype.kind in "iuf" and np.allclose(vals.astype(np.float64), prev["y"].astype(np.float64),
                                                            rtol=1e-6, atol=0.0)
        if not same:
            raise ImportProblem(f"the {kind} differ from those of run {run}'s first epoch: later epochs keep the rows' "
                                f"{kind}; leave them out, or make a new run (run=None)")
    meta = {k: prev[k] for k in prev if k.startswith("meta_")}
    prep = Prepared([np.ascontiguousarray(mats["emb"])],
                    [np.ascontiguousarray(mats["view2"])] if "view2" in mats else None, keep, prev["y"], task,
                    [str(v) for v in cfg.get("label_names", [])], meta, prev["is_test"], cfg, [])
    arrays, metrics = _snapshot_arrays(prep, 0)
    s.add_snapshot_streamed(run, epoch, epoch, arrays, metrics)
    s.update_run(run, metrics=metrics, epoch=epoch, total_epochs=epoch, finished=time.time())
    return run


# -- the command line ----------------------------------------------------------------------------
def add_import_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Add ``import PATH [...]`` to the ``python -m trainers`` subcommands; return its parser."""
    p = subparsers.add_parser(
        "import", help="import embeddings made elsewhere as a run (.npy, .npz, .csv, .tsv, .parquet, TensorBoard, a folder)",
        description="Import embeddings made elsewhere as a run of the lab store, with the figures of a trained run's "
                    "snapshot. Formats, limits and what each figure uses: docs/import.md.")
    p.add_argument("path", help="a .npy, .npz, .csv, .tsv or .parquet file, TensorBoard's tensors.tsv (or its folder), "
                                "or a folder of .npy files (a series of epochs)")
    p.add_argument("--labels", metavar="FILE", help="a .csv, .tsv or .parquet file of labels / targets, in the same row "
                                                    "order or joined on --id-column")
    p.add_argument("--label-column", metavar="NAME", help="the column of class labels (of the table or of --labels)")
    p.add_argument("--target-column", metavar="NAME", help="the column of continuous targets (regression)")
    p.add_argument("--id-column", metavar="NAME", help="the id column that joins the table's rows to --labels")
    p.add_argument("--embedding-column", metavar="NAME", help="the column of lists holding the embedding, when a table "
                                                              "has several")
    p.add_argument("--view2", metavar="PATH", help="a second view of the same rows, same shape (alignment)")
    p.add_argument("--name", help="the run's name (default: the file's name)")
    p.add_argument("--group", default="", help="a group name for the run")
    p.add_argument("--drop-nonfinite", action="store_true", help="drop rows holding NaN, inf or only zeros (and rows "
                                                                 "without a finite target) instead of refusing the file")
    p.add_argument("--max-mb", type=float, default=MAX_BYTES / 1e6,
                   help=f"refuse inputs larger than this many MB (default {MAX_BYTES / 1e6:,.0f})")
    p.add_argument("--json", action="store_true", help="print one JSON summary object as the last line")
    return p


def run_import(args: argparse.Namespace, store: st.Store) -> int:
    """The ``import`` command: 0 when the run is written; 2 and one line on stderr for a bad input
    (nothing written); 1 for a store problem (full disk, read-only or damaged store)."""
    try:
        res = import_embeddings(args.path, labels=args.labels, label_column=args.label_column,
                                target_column=args.target_column, id_column=args.id_column,
                                embedding_column=getattr(args, "embedding_column", None), view2=args.view2,
                                name=args.name, drop_nonfinite=args.drop_nonfinite,
                                max_bytes=int(getattr(args, "max_mb", MAX_BYTES / 1e6) * 1e6), store=store,
                                group=getattr(args, "group", "") or "")
    except ImportProblem as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except st.StoreError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    out = res.summary()
    if args.json:
        print(json.dumps(out))
    else:
        print(f"run {res.run_id}: imported {res.n:,} rows x {res.dim} dimensions"
              + (f", {res.epochs} epochs" if res.epochs > 1 else "") + f" in {res.seconds:.1f} s")
        for k, v in out.items():
            if k not in ("run_id", "status", "seconds", "n", "dim", "notes") and v is not None:
                print(f"  {k}: {v}")
        for note in res.notes:
            print(f"  note: {note}")
    from jobs import runner

    runner.wake_scheduler(store)  # the maps of the new snapshots
    return 0


__all__ = [
    "ImportProblem",
    "ImportResult",
    "Prepared",
    "Source",
    "add_import_parser",
    "bad_rows",
    "encode_labels",
    "import_embeddings",
    "log_embeddings",
    "measure",
    "natural_key",
    "prepare",
    "read_embeddings",
    "run_import",
    "uniformity_rows",
    "write_run",
]
