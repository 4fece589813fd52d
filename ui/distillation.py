"""What the distillation pages draw from the store: a distilled student next to its teacher
(maps, spectra, alignment-uniformity paths, similarity to the teacher, the accuracy table)
and momentum self-distillation runs (teacher entropies, effective rank).

Figures and tables are built here; the pages only place them. Run names are escaped
(``plot_escape`` in figures, ``md_escape`` in Markdown).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from jobs import store as stmod
from trainers.config import RunConfig
from ui.colours import class_colour
from ui.data import metrics_over_epochs, snapshot_arrays, snapshot_at_or_before, snapshots
from ui.points import plot_rows
from ui.text import md_escape, plot_escape
from ui.widgets import runs_with_snapshots

# what makes two students "the same student": a run trained alone with these settings is the baseline
STUDENT_KEYS = ("dataset", "encoder", "hidden_dim", "rep_dim", "proj_dim", "loss", "label_fraction")
DEFAULTS = RunConfig().to_dict()
TEACHER, DISTILLED, ALONE = "teacher", "distilled", "trained alone"  # the roles of the accuracy table
MAX_MSD_RUNS = 6
NUMBERS = ("linear (labelled only)", "kNN (labelled only)", "own classifier", "linear acc", "kNN acc",
           "CKA to teacher")  # the accuracy table's metric columns


# --------------------------------------------------------------------------- which runs


def is_student(rec: stmod.RunRecord) -> bool:
    """A run distilled from a teacher run."""
    return bool(rec.config.get("teacher"))


def is_msd(rec: stmod.RunRecord) -> bool:
    """A momentum self-distillation run."""
    return rec.config.get("loss") == "msd"


def student_key(config: dict) -> tuple:
    return tuple(config.get(k, DEFAULTS[k]) for k in STUDENT_KEYS)


def _in_comparison(rec: stmod.RunRecord, student: stmod.RunRecord) -> str | None:
    """The role of ``rec`` in the accuracy table of ``student``: distilled from the same
    teacher, or the same student configuration trained without a teacher; else None."""
    if is_student(rec):
        return DISTILLED if rec.config.get("teacher") == student.config.get("teacher") else None
    return ALONE if student_key(rec.config) == student_key(student.config) else None


def teacher_of(store: stmod.Store, student: stmod.RunRecord) -> stmod.RunRecord | None:
    """The student's teacher run, or None when it is no longer in the store."""
    try:
        return store.get_run(student.config["teacher"])
    except KeyError:
        return None


def watched_runs(store: stmod.Store, student: stmod.RunRecord,
                 teacher: stmod.RunRecord | None) -> list[stmod.RunRecord]:
    """The runs whose new snapshots change the page: the student, its teacher, and queued or
    running runs that belong in its accuracy table (other students of the teacher, the same
    student trained alone)."""
    others = [r for r in store.list_runs(status=stmod.ACTIVE) if _in_comparison(r, student)]
    return [r for r in (student, teacher, *others) if r is not None]


def comparison_group(store: stmod.Store, student: stmod.RunRecord,
                     teacher: stmod.RunRecord | None) -> list[tuple[str, stmod.RunRecord]]:
    """(role, run) rows of the accuracy table: the teacher, every run distilled from it (the
    student among them), and the runs of the same student configuration trained alone; only
    runs with a snapshot, read fresh from the store."""
    roles = [(_in_comparison(r, student), r) for r in runs_with_snapshots(store)]
    return (([(TEACHER, teacher)] if teacher else []) + [(role, r) for role, r in roles if role == DISTILLED]
            + [(role, r) for role, r in roles if role == ALONE])


def newest_group(runs: list[stmod.RunRecord]) -> list[str]:
    """Ids of the runs launched together with the newest of ``runs`` (newest first), at most
    :data:`MAX_MSD_RUNS`; the newest run alone when it has no group."""
    newest = runs[0].group
    return [r.id for r in runs if newest and r.group == newest][:MAX_MSD_RUNS] or [runs[0].id]


# --------------------------------------------------------------------------- teacher and student


def student_caption(student: stmod.RunRecord, teacher: stmod.RunRecord | None) -> str:
    """One Markdown line: the distillation loss, its weights, the labels used, the teacher."""
    c = student.config
    text = (f"Distillation **{md_escape(c.get('distill'))}** · weights: task {c.get('task_weight', 1.0)}, "
            f"distillation {c.get('distill_weight', 1.0)} · labels used by the task loss: "
            f"{100 * c.get('label_fraction', 1.0):.0f}%")
    if teacher is not None:
        text += f" · teacher: **{md_escape(teacher.name)}** ({md_escape(teacher.id)})"
    return text


def student_epochs(store: stmod.Store, student: stmod.RunRecord) -> list[int]:
    return [s["epoch"] for s in snapshots(store, student.id)]


@dataclass(frozen=True)
class Shown:
    """A run as the page shows it: its role and the snapshot drawn."""

    role: str  # "teacher" or "student"
    run: stmod.RunRecord
    snap: dict  # a record of ui.data.snapshots

    @property
    def epoch(self) -> int:
        return int(self.snap["epoch"])


def shown_pair(store: stmod.Store, teacher: stmod.RunRecord | None, student: stmod.RunRecord,
               epoch: int) -> list[Shown]:
    """The teacher at its last snapshot and the student at ``epoch`` (its latest snapshot at or
    before), teacher first; a run without snapshots is left out."""
    out = []
    if teacher is not None:
        snaps = snapshots(store, teacher.id)
        if snaps:
            out.append(Shown("teacher", teacher, snaps[-1]))
    if snapshots(store, student.id):
        out.append(Shown("student", student, snapshot_at_or_before(store, student.id, epoch)))
    return out


@dataclass(frozen=True)
class MapFigure:
    figure: go.Figure
    method: str  # the map drawn: "UMAP", or "PCA" (asked for, or while the UMAP map is computed)
    note: str  # which points are left out, in words ("" when all are drawn)


def map_figure(store: stmod.Store, shown: Shown, method: str) -> MapFigure:
    """The 2-D map (``method`` "UMAP" when the worker has computed it, else PCA) of the
    representation at ``shown``'s snapshot, one trace per class (or coloured by a continuous
    target)."""
    rec, epoch = shown.run, shown.epoch
    arr = snapshot_arrays(store, rec.id, epoch, shown.snap["created"])
    coords = store.projection(rec.id, epoch, "rep", "umap") if method == "UMAP" else None
    drawn = "UMAP" if coords is not None else "PCA"
    if coords is None:
        coords = arr["pca_rep"]
    pts = plot_rows(arr["y"], coords, method=f"{drawn} map")
    y, coords, Scatter = arr["y"][pts.rows], coords[pts.rows], pts.scatter
    fig = go.Figure()
    if np.issubdtype(y.dtype, np.integer):
        classes = np.unique(y)
        for k, c in enumerate(classes):
            sel = y == c
            fig.add_trace(Scatter(x=coords[sel, 0], y=coords[sel, 1], mode="markers", name=str(c), legendgroup=str(c),
                                  marker={"size": 4, "color": class_colour(k, len(classes)), "opacity": 0.75},
                                  hovertemplate=f"label {c}<extra></extra>"))
    else:  # a continuous target
        fig.add_trace(Scatter(x=coords[:, 0], y=coords[:, 1], mode="markers", name="samples",
                              marker={"size": 4, "color": y, "colorscale": "Viridis", "showscale": True},
                              hovertemplate="target %{marker.color:.3g}<extra></extra>"))
    fig.update_layout(title=f"{shown.role.capitalize()}: {drawn} · {plot_escape(rec.name)} · epoch {epoch}", height=420,
                      margin={"t": 40, "b": 10}, xaxis_title=f"{drawn} 1", yaxis_title=f"{drawn} 2",
                      legend={"title": "label"})
    fig.update_yaxes(scaleanchor="x", scaleratio=1)
    return MapFigure(fig, drawn, pts.note)


def rerun_when_mapped(store: stmod.Store, pair: list[Shown], *, every: float = 2.0) -> None:
    """While the worker has not written the UMAP map of a shown snapshot, rerun the page when it
    has (PCA stands in meanwhile)."""
    missing = [(s.run.id, s.epoch) for s in pair if store.projection(s.run.id, s.epoch, "rep", "umap") is None]
    if not missing:
        return

    @st.fragment(run_every=every)
    def _wait() -> None:
        if any(store.projection(rid, epoch, "rep", "umap") is not None for rid, epoch in missing):
            st.rerun()

    _wait()


def spectra_figure(store: stmod.Store, pair: list[Shown], colours: dict[str, str]) -> go.Figure:
    """The covariance spectrum of each model's representation at its shown snapshot (log scale)."""
    fig = go.Figure()
    for s in pair:
        lam = snapshot_arrays(store, s.run.id, s.epoch, s.snap["created"])["spectrum_rep"]
        fig.add_trace(go.Scatter(x=np.arange(1, len(lam) + 1), y=lam, mode="lines+markers", marker={"size": 4},
                                 name=plot_escape(f"{s.role} · {s.run.name}"), line={"color": colours.get(s.run.id)}))
    fig.update_layout(yaxis_type="log", yaxis_dtick=1, yaxis_exponentformat="power", xaxis_title="rank k",
                      yaxis_title="eigenvalue λ_k (log scale)", height=380, title="Covariance spectrum · representation",
                      legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
    return fig


def paths_figure(store: stmod.Store, pair: list[Shown], colours: dict[str, str]) -> go.Figure:
    """Each model's path in the (uniformity, alignment) plane over its epochs (the student's
    up to its shown epoch), epochs written on the points."""
    fig = go.Figure()
    for s in pair:
        df = metrics_over_epochs(store, s.run.id)
        if df.empty or "uniformity" not in df:
            continue
        if s.role == "student":
            df = df[df["epoch"] <= s.epoch]
        colour = colours.get(s.run.id)
        fig.add_trace(go.Scatter(x=df["uniformity"], y=df["alignment"], mode="lines+markers+text",
                                 name=plot_escape(f"{s.role} · {s.run.name}"), text=[str(int(e)) for e in df["epoch"]],
                                 textposition="top center", textfont={"size": 9}, line={"color": colour}))
    fig.update_layout(xaxis_title="uniformity (lower = more uniform)", yaxis_title="alignment (lower = better aligned)",
                      height=380, title="Alignment and uniformity over epochs", legend={"orientation": "h", "y": -0.3},
                      margin={"t": 40})
    return fig


def similarity_figure(store: stmod.Store, student: stmod.RunRecord, colour: str | None) -> go.Figure | None:
    """Linear CKA and the shared 10-NN fraction to the teacher per student epoch, in the
    student's colour (the two measures differ by line style); None before the student has them."""
    df = metrics_over_epochs(store, student.id)
    if "cka_teacher" not in df:
        return None
    fig = go.Figure()
    fig.add_trace(go.Scatter(x=df["epoch"], y=df["cka_teacher"], mode="lines+markers", name="linear CKA",
                             line={"color": colour}, marker={"symbol": "circle"}))
    fig.add_trace(go.Scatter(x=df["epoch"], y=df["knn_overlap_teacher"], mode="lines+markers",
                             name="shared 10-NN fraction", line={"color": colour, "dash": "dash"},
                             marker={"symbol": "diamond-open"}))
    fig.update_layout(xaxis_title="student epoch", yaxis_title="similarity to the teacher", yaxis_range=[0, 1.02],
                      height=340, margin={"t": 30}, legend={"orientation": "h", "y": -0.3})
    return fig


def accuracy_table(group: list[tuple[str, stmod.RunRecord]]) -> pd.DataFrame:
    """One row per run of :func:`comparison_group`: its role, labels used, the accuracies from
    its last snapshot (the labelled-only probes first) and its CKA to the teacher."""
    rows = []
    for role, r in group:
        m, c = r.metrics, r.config
        rows.append({"run": r.name, "role": role, "labels": f"{100 * c.get('label_fraction', 1.0):.0f}%",
                     "linear (labelled only)": m.get("linear_accuracy_labelled"),
                     "kNN (labelled only)": m.get("knn_accuracy_labelled"),
                     "own classifier": m.get("head_accuracy"), "linear acc": m.get("linear_accuracy"),
                     "kNN acc": m.get("knn_accuracy"), "CKA to teacher": m.get("cka_teacher"),
                     "distillation": c.get("distill") or "–", "seed": c.get("seed"), "status": r.status, "id": r.id})
    df = pd.DataFrame(rows)
    for col in NUMBERS:  # a metric a run has not (a teacher's own head, its CKA): a missing number (NaN), not an object
        if col in df:
            df[col] = pd.to_numeric(df[col], errors="coerce")
    return df


def _acc(label: str, help: str) -> st.column_config.NumberColumn:
    return st.column_config.NumberColumn(label, format="%.3f", width="small", help=help)


ACCURACY_COLUMNS = {  # column_config of accuracy_table: short headers, three decimals, the run pinned
    "run": st.column_config.TextColumn(pinned=True, width="medium"),
    "role": st.column_config.TextColumn(width="small"),
    "labels": st.column_config.TextColumn(width="small"),
    "linear (labelled only)": _acc("linear, labelled", "linear probe fitted on the labelled samples only"),
    "kNN (labelled only)": _acc("kNN, labelled", "kNN on the labelled samples only"),
    "own classifier": _acc("own head", "the student's own cross-entropy head"),
    "linear acc": _acc("linear", "linear probe fitted on all training labels"),
    "kNN acc": _acc("kNN", "kNN over all training samples"),
    "CKA to teacher": _acc("CKA", "linear CKA to the teacher's representation"),
}


# --------------------------------------------------------------------------- momentum self-distillation


@dataclass(frozen=True)
class MsdView:
    entropy: go.Figure  # the teacher's per-sample entropy and entropy of its mean output, with log K
    rank: go.Figure  # RankMe of embedding and representation
    table: pd.DataFrame  # the switches and last values, one row per run with entropy metrics


def msd_view(store: stmod.Store, runs: list[stmod.RunRecord], colours: dict[str, str]) -> MsdView:
    """Momentum self-distillation runs over their epochs: solid lines per sample / embedding,
    dotted for the mean output / representation, one colour per run."""
    ent, rank = go.Figure(), go.Figure()
    rows = []
    log_k = None
    for r in runs:
        df = metrics_over_epochs(store, r.id)
        if df.empty or "teacher_entropy" not in df:
            continue
        colour = colours.get(r.id)
        log_k = float(df["entropy_max"].iloc[-1])
        ent.add_trace(go.Scatter(x=df["epoch"], y=df["teacher_entropy"], mode="lines+markers",
                                 name=plot_escape(f"{r.name} · H(p)"), line={"color": colour}, legendgroup=r.id))
        ent.add_trace(go.Scatter(x=df["epoch"], y=df["teacher_mean_entropy"], mode="lines",
                                 name=plot_escape(f"{r.name} · H(mean p)"), line={"color": colour, "dash": "dot"},
                                 legendgroup=r.id))
        rank.add_trace(go.Scatter(x=df["epoch"], y=df["rankme_emb"], mode="lines+markers",
                                  name=plot_escape(f"{r.name} · embedding"), line={"color": colour}, legendgroup=r.id))
        rank.add_trace(go.Scatter(x=df["epoch"], y=df["rankme"], mode="lines",
                                  name=plot_escape(f"{r.name} · representation"), line={"color": colour, "dash": "dot"},
                                  legendgroup=r.id))
        o = r.config.get("loss_options", {})
        last = df.iloc[-1]
        rows.append({"run": r.name, "centring": bool(o.get("centering", True)), "sharpening": bool(o.get("sharpening", True)),
                     "epoch": int(last["epoch"]), "teacher entropy": last["teacher_entropy"],
                     "entropy of mean output": last["teacher_mean_entropy"], "log K": log_k,
                     "RankMe (embedding)": last["rankme_emb"], "RankMe (representation)": last["rankme"],
                     "kNN acc": last.get("knn_accuracy")})
    if log_k is not None:
        ent.add_hline(y=log_k, line_dash="dash", line_color="gray", annotation_text="log K (uniform)")
    ent.update_layout(xaxis_title="epoch", yaxis_title="entropy (nats)", height=400, title="Teacher output entropy",
                      legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
    rank.update_layout(xaxis_title="epoch", yaxis_title="RankMe", height=400, title="Effective rank",
                       legend={"orientation": "h", "y": -0.3}, margin={"t": 40})
    return MsdView(ent, rank, pd.DataFrame(rows))
