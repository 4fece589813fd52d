"""Runs: status, configuration and final metrics; pick runs for the views."""

from __future__ import annotations

import json

import streamlit as st

from jobs import store as stmod
from ui.data import get_store, runs_frame
from ui.run_actions import run_actions
from ui.runs_views import (
    SEED_COLUMNS,
    log_tail,
    merge_selection,
    metrics_table,
    repeated_over_seeds,
    seed_table,
)
from ui.text import md_escape
from ui.widgets import rerun_on_new_snapshots, selected_runs, set_selected_runs, sync_url

store = get_store()
st.title("Runs")
st.caption("Tick runs to open them together on the views (Alignment & Uniformity, Dimensional Collapse, "
           "Embedding Map). Metrics are on the held-out split at the latest snapshot.")

rerun_on_new_snapshots(store, store.list_runs(status=stmod.ACTIVE))  # the table follows training runs
df = runs_frame(store)
if df.empty:
    st.info("No runs yet. Start one on the **Train** page.")
    st.stop()

groups = sorted(g for g in df["group"].unique() if g)
if groups:
    g = st.selectbox("Show a group", ["(all runs)", *groups], key="runs_group")
    if g != "(all runs)":
        df = df[df["group"] == g]

selected = set(selected_runs())
df.insert(0, "select", df["id"].isin(selected))
cols = ["select", "", "name", "loss", "dataset", "epoch", "kNN acc", "linear acc", "alignment", "uniformity", "RankMe",
        "status", "encoder", "seconds", "ran on", "reason", "id"]
edited = st.data_editor(
    df[cols],
    key="runs_table",
    hide_index=True,
    width="stretch",
    disabled=[c for c in cols if c != "select"],
    column_config={
        "select": st.column_config.CheckboxColumn("view", help="open this run on the views", pinned=True, width="small"),
        "": st.column_config.TextColumn("", pinned=True, width="small"),
        "name": st.column_config.TextColumn("name", pinned=True, width="medium"),
        "epoch": st.column_config.TextColumn("epoch", width="small"),
        "kNN acc": st.column_config.NumberColumn(
            format="%.3f", help="20-NN (cosine) on the representation, held-out split (at most 5,000 of its samples, "
                                "a fixed stratified sample, for sets above 25,000 samples)"),
        "linear acc": st.column_config.NumberColumn(format="%.3f", help="logistic regression on the representation, "
                                                                       "whole held-out split"),
        "alignment": st.column_config.NumberColumn(format="%.3f"),
        "uniformity": st.column_config.NumberColumn(format="%.3f"),
        "RankMe": st.column_config.NumberColumn(format="%.1f"),
        "ran on": st.column_config.TextColumn("ran on", help="the backend (local worker processes, or Ray) and the "
                                                             "machine (node) that trained the run"),
    },
)
chosen = edited.loc[edited["select"], "id"].tolist()
if set(chosen) != selected:
    set_selected_runs(merge_selection(selected_runs(), chosen, edited["id"].tolist()))
else:
    sync_url()
st.caption(f"{len(selected_runs())} run(s) selected for the views (kept in the page address: bookmark it or send it).")

records = store.list_runs()
shown = set(df["id"])
repeated = repeated_over_seeds([r for r in records if r.id in shown], teachers=records)
if repeated:
    st.subheader("Over seeds")
    st.dataframe(seed_table(repeated, {r.id: r.metrics for r in records}, SEED_COLUMNS),
                 hide_index=True, width="stretch", key="runs_seed_table",
                 column_config={"configuration": st.column_config.TextColumn(pinned=True, width="medium")})
    st.caption("Finished runs that differ only by seed, one row per configuration: the mean ± standard deviation "
               "(n − 1) of each final metric over its seeds. Runs still training, failed or cancelled are left out. "
               "Compare draws them with error bars.")

st.divider()
ids = edited["id"].tolist()
ticked = [i for i in selected_runs() if i in ids]
if ticked and st.session_state.get("runs_detail") not in ids:  # open the first ticked run's details
    st.session_state["runs_detail"] = ticked[0]
detail = st.selectbox("Details of", ids, format_func=lambda i: f"{df.set_index('id').loc[i, 'name']} · {i}", key="runs_detail")
try:
    rec = store.get_run(detail)
except KeyError:  # deleted meanwhile
    st.rerun()
c1, c2 = st.columns(2)
with c1:
    st.markdown(f"**Status:** {rec.status}" + (f" — {md_escape(rec.reason)}" if rec.reason else ""))
    run_actions(store, rec, prefix="runs_action")
    st.markdown(f"**Progress:** epoch {rec.epoch}/{rec.total_epochs}, step {rec.step}, {rec.seconds:.1f} s")
    st.markdown("**Configuration**")
    st.code(json.dumps(rec.config, indent=2, ensure_ascii=False), language="json")
with c2:
    st.markdown("**Latest metrics (held-out split)**")
    if rec.metrics:
        st.dataframe(metrics_table(rec.metrics), hide_index=True, width="stretch")
    else:
        st.caption("no snapshot yet")
    log = store.log_path(rec.id)
    if log.exists():
        with st.expander("Worker log (last lines)"):
            st.code(log_tail(log))
