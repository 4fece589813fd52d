"""Import: upload embeddings made elsewhere, preview and check them, import them as a run."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import streamlit as st

from jobs import store as stmod
from jobs.importer import MAX_BYTES, ImportProblem
from ui import importing as imp
from ui.data import get_store
from ui.text import md_escape
from ui.widgets import selected_runs, set_selected_runs

JOB, RESULT, GEN, FOR = "import_job", "import_result", "import_gen", "import_for"  # FOR: the files previewed
OPTION_KEYS = {"label_column": "import_label", "target_column": "import_target", "id_column": "import_id"}
VIEWS = [("pages/alignment_uniformity.py", "Alignment & Uniformity", ":material/scatter_plot:"),
         ("pages/collapse.py", "Dimensional Collapse", ":material/stacked_line_chart:"),
         ("pages/embedding_map.py", "Embedding Map", ":material/map:"),
         ("pages/runs.py", "Runs", ":material/table_rows:")]

store = get_store()
st.title("Import")
st.caption("Embeddings made elsewhere (any model, any framework) become a run of the lab: every view reads an "
           "imported run as it reads a trained one. The figures are computed in a process of its own; this page "
           "follows it.")

# an import that ended since the page last ran: keep its outcome, let go of its files
job = st.session_state.get(JOB)
if job is not None:
    ended = imp.job_state(store, job)
    if ended.state != "running":
        imp.finish(job)
        del st.session_state[JOB]
        st.session_state[RESULT] = (job, ended, st.session_state.get(FOR))
        if ended.state == "imported" and ended.run is not None:
            set_selected_runs([ended.run.id, *selected_runs()])
            st.session_state[GEN] = st.session_state.get(GEN, 0) + 1  # empty uploaders for the next file
            st.session_state.pop(imp.SAVED, None)
            st.session_state.pop(imp.FOLDER, None)
        job = None
running = job is not None
imp.sweep_uploads(store, keep=[f for f in (st.session_state.get(imp.FOLDER),) if f])


def show_result(done: imp.ImportJob, state: imp.JobState) -> None:
    """The outcome of the last import: its figures and links to the views, or the child's message."""
    if state.state != "imported" or state.run is None or state.summary is None:
        st.error(f"The import of **{md_escape(done.name)}** failed: {md_escape(state.error)}", icon=":material/error:")
        return
    s, run = state.summary, state.run
    size = f"{s['n']:,} rows × {s['dim']:,} dimensions"
    if s.get("epochs", 1) > 1:
        size += f", {s['epochs']} epochs"
    if s.get("n_labels"):
        size += f", {s['n_labels']} classes"
    st.success(f"Imported **{md_escape(done.name)}** as the run **{md_escape(run.name)}** ({md_escape(run.id)}): "
               f"{size} in {s['seconds']:.1f} s.", icon=":material/check_circle:")
    rows = imp.figure_rows(s)
    for start in range(0, len(rows), 6):
        for col, (label, value, help_) in zip(st.columns(6), rows[start : start + 6], strict=False):
            col.metric(label, value, help=help_)
    for note in s.get("notes") or []:
        st.caption(md_escape(note))
    st.markdown("Open it on a view (it is picked there):")
    for col, (page, label, icon) in zip(st.columns(len(VIEWS)), VIEWS, strict=True):
        col.page_link(page, label=label, icon=icon)


def reset_options(pv: imp.Preview, name: str) -> None:
    """The preview's default columns and the file's name, for a file just uploaded."""
    for field, key in OPTION_KEYS.items():
        st.session_state[key] = pv.defaults()[field]
    st.session_state["import_name"] = imp.default_run_name(name)
    st.session_state["import_drop"] = False


def options_from_state() -> imp.ImportOptions:
    return imp.ImportOptions.from_choices(**{f: st.session_state.get(k, imp.NONE) for f, k in OPTION_KEYS.items()},
                                          name=st.session_state.get("import_name", ""),
                                          drop_nonfinite=st.session_state.get("import_drop", False))


def preview_and_import(saved: dict[str, dict[str, str]]) -> None:
    """The preview of the uploaded files, the options, their check and the Import button."""
    emb, lab, v2 = (saved.get(r) for r in imp.ROLES)
    paths = [s["path"] if s else None for s in (emb, lab, v2)]
    names = {Path(s["path"]).name: s["name"] for s in saved.values()}
    try:
        pv = imp.cached_preview(*paths, imp.stamp(*paths))
    except ImportProblem as e:
        st.error(md_escape(imp.as_uploaded(str(e), names)), icon=":material/error:")
        return
    ids = (emb["id"], lab["id"] if lab else None, v2["id"] if v2 else None)
    if st.session_state.get(FOR) != ids:
        reset_options(pv, emb["name"])
        st.session_state[FOR] = ids
    st.subheader(f"Preview of {md_escape(emb['name'])}")
    shape = f"{pv.format} · {pv.n:,} rows × {pv.dim:,} numeric columns" if pv.numeric_columns else \
        f"{pv.format} · {pv.n:,} rows × {pv.dim:,} dimensions"
    if pv.epochs > 1:
        shape += f" · {pv.epochs} epochs ({', '.join(md_escape(n) for n in pv.epoch_names[:6])}"
        shape += ", …)" if pv.epochs > 6 else ")"
    if lab:
        shape += f" · labels file {md_escape(lab['name'])}: {pv.labels_rows:,} rows"
    if v2:
        shape += f" · second view {md_escape(v2['name'])}: {pv.view2_shape[0]:,} × {pv.view2_shape[1]:,}"
    st.markdown(shape)
    st.dataframe(pv.head, hide_index=True, width="stretch")
    shown = min(pv.dim, imp.HEAD_DIMS)
    st.caption(f"The first {min(pv.n, imp.HEAD_ROWS)} rows" + (f"; {shown} of {pv.dim:,} dimensions" if pv.dim > shown
                                                              else "") + ".")
    for note in pv.notes:
        st.caption(md_escape(imp.as_uploaded(note, names)))

    for field, key in OPTION_KEYS.items():  # a choice the files no longer offer falls back to the default
        choices = {"label_column": pv.label_choices, "target_column": pv.target_choices, "id_column": pv.id_choices}
        if st.session_state.get(key) not in choices[field]():
            st.session_state[key] = pv.defaults()[field]
    source = "the labels file" if lab else "the file"
    c1, c2, c3 = st.columns(3)
    c1.selectbox("Label column", pv.label_choices(), key="import_label", disabled=running,
                 help=f"Class labels (any type), from {source}: the probes (kNN, linear) and the colours of the maps.")
    c2.selectbox("Target column", pv.target_choices(), key="import_target", disabled=running,
                 help=f"Continuous targets (regression), from {source}, instead of labels.")
    c3.selectbox("Id column", pv.id_choices(), key="import_id", disabled=running,
                 help="Joins the rows to the labels file's rows when their order differs (a column present in both); "
                      "without a labels file it is kept for hover and is not a dimension.")
    c1, c2 = st.columns([2, 1], vertical_alignment="bottom")
    c1.text_input("Run name", key="import_name", disabled=running, max_chars=200)
    c2.checkbox(imp.DROP_LABEL, key="import_drop", disabled=running,
                help="Drop rows holding NaN or infinite values, or only zeros (no direction), instead of refusing "
                     "the file; the number dropped is reported.")
    options = options_from_state()
    if options.name is None:
        options = replace(options, name=imp.default_run_name(emb["name"]))
    try:
        ck = imp.cached_check(*paths, imp.stamp(*paths), options.label_column, options.target_column,
                              options.id_column, options.drop_nonfinite)
    except ImportProblem as e:
        st.error(md_escape(imp.as_uploaded(str(e), names)), icon=":material/error:")
        ck = None
    else:
        ready = f"Ready to import {ck.n:,} rows × {ck.dim:,} dimensions"
        if ck.epochs > 1:
            ready += f" ({ck.epochs} epochs)"
        if ck.n_classes:
            listed = ", ".join(md_escape(c) for c in ck.classes[:8])
            ready += f" with {ck.n_classes} classes ({listed}{', …' if ck.n_classes > 8 else ''})"
        elif ck.task == "regression":
            ready += f" with the targets of {md_escape(options.target_column)}"
        else:
            ready += " without labels (no probes)"
        if ck.dropped:
            ready += f"; {ck.dropped:,} rows dropped"
        st.info(ready + ".", icon=":material/fact_check:")
        for note in ck.notes:
            st.caption(md_escape(note))
    if st.button("Import", type="primary", icon=":material/upload:", disabled=ck is None or running,
                 key="import_start"):
        folder = st.session_state[imp.FOLDER]
        st.session_state[JOB] = imp.launch(store, folder, emb["path"], options, labels=paths[1], view2=paths[2],
                                           name=emb["name"], epochs=ck.epochs, names=names)
        st.session_state.pop(RESULT, None)
        st.rerun()


gen = st.session_state.get(GEN, 0)  # the uploaders' generation: a new one starts empty
uploaded = tuple(getattr(st.session_state.get(f"import_{r}_{gen}"), "file_id", None) for r in imp.ROLES)
if RESULT in st.session_state and any(uploaded) and uploaded != st.session_state[RESULT][2]:
    del st.session_state[RESULT]  # other files since: the outcome of the last import is old news
busy = running or RESULT in st.session_state or any(uploaded)
with st.expander("What can I import?", expanded=not busy):  # open until a file is uploaded
    text, code = st.columns(2, gap="large")
    text.markdown(imp.EXPLANATION)
    with code:
        st.markdown("**From a notebook or a script**: one call per epoch while a model trains.")
        st.code(imp.NOTEBOOK_SNIPPET, language="python")
        st.markdown("**From a shell**, in the repository folder (`docs/import.md` lists every option):")
        st.code(imp.CLI_EXAMPLE, language="bash")
        st.caption(f"This app's store is {md_escape(store.root)}: a notebook writes to it with `store=` or "
                   "`$LAB_STORE`, the command with `--store`.")

c1, c2, c3 = st.columns([2, 1, 1])
files = {
    "embeddings": c1.file_uploader("Embeddings", type=imp.EMBEDDING_TYPES, key=f"import_embeddings_{gen}",
                                   disabled=running, help="A .npy, .npz, .csv, .tsv or .parquet file, or "
                                                          "TensorBoard's tensors.tsv: one row per sample."),
    "labels": c2.file_uploader("Labels file (optional)", type=imp.LABEL_TYPES, key=f"import_labels_{gen}",
                               disabled=running, help="Labels, targets or ids of the rows: .csv, .tsv "
                                                      "(TensorBoard's metadata.tsv) or .parquet."),
    "view2": c3.file_uploader("Second view (optional)", type=imp.EMBEDDING_TYPES, key=f"import_view2_{gen}",
                              disabled=running, help="The same rows embedded a second time (same shape): alignment."),
}
limit = int(st.get_option("server.maxUploadSize"))  # MiB: .streamlit/config.toml
with st.expander(f"A file above {limit * 2**20 / 1e6:,.0f} MB? Import it from a shell"):
    st.markdown(f"The uploader takes files up to {limit * 2**20 / 1e6:,.0f} MB (it writes {limit:,} MB, in units of "
                f"2²⁰ bytes), the importer's limit of {MAX_BYTES / 1e6:,.0f} MB. For a larger file run this in a "
                "shell, with the file's path and `--max-mb` above its size in megabytes; the run appears on every "
                "view once it is written:")
    where = {r: f"/path/to/{s['name']}" for r, s in st.session_state.get(imp.SAVED, {}).items()}
    st.code(imp.cli_command(store, options_from_state(), path=where.get("embeddings", "/path/to/embeddings.npy"),
                            labels=where.get("labels"), view2=where.get("view2"), max_mb=20_000),
            language="bash", wrap_lines=True)

if RESULT in st.session_state and not running:
    show_result(*st.session_state[RESULT][:2])
if running:
    imp.watch(store, job)
try:
    saved = imp.keep_uploads(store, files, frozen=running)
except (OSError, stmod.StoreError) as e:
    st.error(f"The upload cannot be saved in the store ({md_escape(e)}): free some space, or check that "
             f"{md_escape(store.root)} can be written.", icon=":material/error:")
    saved = {}
if "embeddings" in saved:
    preview_and_import(saved)
elif saved:
    st.info("Upload the embeddings too: the labels file and the second view describe their rows.")
