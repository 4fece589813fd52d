"""Compare: 2 to 12 runs (or a sweep's group) as small multiples on shared axes, a table of
final metrics with the best value per column marked, and the runs grouped by configuration over
seeds: mean ± sd with error bars and bands, and the paired difference of two configurations."""

from __future__ import annotations

import streamlit as st

from trainers.states import RESUMABLE
from ui.compare_views import (
    METRICS,
    config_colours,
    dataset_tasks,
    epoch_metrics,
    maps_figure,
    paired_table,
    seed_bands,
    setting_columns,
)
from ui.data import (
    get_store,
    metrics_over_epochs,
    run_colours,
    snapshot_arrays,
    snapshot_at_or_before,
    snapshots,
)
from ui.download import chart
from ui.figures import au_paths_figure, seed_band_figure, seed_bars_figure, spectrum_figure
from ui.fingerprint_views import raw_reference, rerun_when_reference_ready
from ui.points import map_coords, panel_notes
from ui.runs_views import config_groups, seed_list, seed_summaries, seed_table
from ui.tables import best_marked_table
from ui.text import md_escape
from ui.widgets import epoch_slider, explain, pick_runs, rerun_on_new_snapshots, runs_with_snapshots

MAX_RUNS = 12
NO_GROUP = "(choose runs)"
QUERY_GROUP = "group"  # the chosen group in the URL (?group=...): survives a reload, can be sent
HANDOFF = "lab_compare_group"  # set by the Train page when it launches a sweep preset

store = get_store()
st.title("Compare")
explain(
    "several runs on the same axes",
    [],
    "Each run is shown at its latest snapshot at or before the chosen epoch. **Maps**: one panel per run, "
    "coloured by label or target on one colour scale. **Spectra**: the covariance eigenvalues of the held-out "
    "embeddings on one log scale (see *Dimensional Collapse*). **Alignment–uniformity**: each run's path over "
    "epochs (see *Alignment & Uniformity*). **Table**: the metrics of the held-out split; the best value of each "
    "column is marked (higher is better for accuracies, R², rank correlation and RankMe; lower for alignment, "
    "uniformity and errors). Choose a group to open all runs of a sweep preset at once. **Over seeds**: runs "
    "that differ only by seed are one configuration; its metrics are shown as mean ± standard deviation (n − 1) "
    "with error bars, over epochs as a band, and two configurations run with the same seeds are compared seed by "
    "seed (the mean paired difference with a 95% Student-t interval). One seed gives no error bar.",
    expanded=False,
)

groups = store.groups()
handed = st.session_state.pop(HANDOFF, None)
if handed in groups:
    st.session_state["cmp_group"] = handed
elif "cmp_group" not in st.session_state and st.query_params.get(QUERY_GROUP) in groups:  # a reload, a link
    st.session_state["cmp_group"] = st.query_params[QUERY_GROUP]
if st.session_state.get("cmp_group") not in [NO_GROUP, *groups]:
    st.session_state["cmp_group"] = NO_GROUP
group = st.selectbox("Group", [NO_GROUP, *groups], key="cmp_group",
                     help="A sweep preset launches its runs as one group; choose it to compare all of them.")
if group == NO_GROUP:
    st.query_params.pop(QUERY_GROUP, None)
elif st.query_params.get(QUERY_GROUP) != group:
    st.query_params[QUERY_GROUP] = group
if group == NO_GROUP:
    runs = pick_runs(store, "cmp_runs", max_runs=MAX_RUNS, label=f"Runs (2 to {MAX_RUNS})",
                     default=lambda rs: [r.id for r in rs if rs[0].group and r.group == rs[0].group] or [r.id for r in rs[:2]])
    if len(runs) == 1:
        st.caption("Add at least one more run to compare.")
else:
    members = store.list_runs(group=group)
    with_snaps = {r.id for r in runs_with_snapshots(store)}
    ready = [r for r in reversed(members) if r.id in with_snaps]  # launch order
    waiting = len(members) - len(ready)
    note = f"Group **{md_escape(group)}**: {len(members)} runs"
    if waiting:
        note += f", {waiting} without a snapshot yet (they appear as soon as they have one)"
    st.markdown(note + ".")
    runs = ready
    if len(ready) > MAX_RUNS:
        by_id = {r.id: r for r in ready}
        if any(i not in by_id for i in st.session_state.get("cmp_group_runs", [])):
            st.session_state.pop("cmp_group_runs")
        picked = st.multiselect(
            f"This group has {len(ready)} runs with snapshots; the page shows {MAX_RUNS} at a time: choose which",
            list(by_id), default=list(by_id)[:MAX_RUNS], max_selections=MAX_RUNS, key="cmp_group_runs",
            format_func=lambda i: by_id[i].name)
        runs = [by_id[i] for i in picked]
    if not runs:
        st.info("No run of this group has a snapshot yet: the page updates itself as they arrive.")
    rerun_on_new_snapshots(store, members)

if runs:
    if group == NO_GROUP:
        rerun_on_new_snapshots(store, runs)
    colours = run_colours(store, runs)
    all_epochs = sorted({s["epoch"] for r in runs for s in snapshots(store, r.id)})
    c1, c2, c3 = st.columns([3, 2, 2])
    epoch = epoch_slider("Epoch", all_epochs, key="cmp_epoch", container=c1)
    space = c2.radio("Space", ["emb", "rep"], format_func={"emb": "embedding", "rep": "representation"}.get,
                     horizontal=True, key="cmp_space")
    method = c3.radio("Method", ["UMAP", "PCA"], horizontal=True, key="cmp_method")
    space_name = "embedding" if space == "emb" else "representation"

    snaps = {r.id: snapshot_at_or_before(store, r.id, epoch) for r in runs}
    epochs = {r.id: snaps[r.id]["epoch"] for r in runs}
    arrays = {r.id: snapshot_arrays(store, r.id, epochs[r.id], snaps[r.id]["created"]) for r in runs}
    tasks = dataset_tasks(runs)
    classification = tasks == {"classification"}

    # --- maps -------------------------------------------------------------------------------
    st.subheader("Maps")
    same_axes = st.toggle("Same axis ranges for every map", value=True, key="cmp_same_axes",
                          help="Off: each map zooms to its own points (maps of runs whose embeddings are not "
                               "normalised can differ in scale by orders of magnitude).")
    coords = {r.id: map_coords(store, r.id, epochs[r.id], space, method, arrays[r.id]) for r in runs}
    maps = maps_figure(runs, arrays, coords, epochs, method=method, classification=classification, same_axes=same_axes)
    st.caption(f"{method} of the {space_name}, coloured by " + (
        "label (one colour per class)" if classification else "target on one colour scale" if "classification" not in tasks
        else "label in the classification panels (one colour per class) and by target in the regression panels")
        + ". Circles: training split; ×: held-out split.")
    chart(maps.figure, width="stretch", key="cmp_maps")
    for note in panel_notes(maps.notes, len(runs)):
        st.caption(note)
    if maps.fell_back:
        st.caption("Panels marked PCA: their UMAP is not computed yet (the scheduler does it in the background).")

    # --- spectra and alignment-uniformity -----------------------------------------------------
    left, right = st.columns(2)
    spectra = {r.id: arrays[r.id][f"spectrum_{space}"] for r in runs}
    left.plotly_chart(spectrum_figure(runs, spectra, epochs, colours, title=f"Covariance spectra · {space_name}",
                                      height=440, margin_top=40, legend_groups=True), width="stretch", key="cmp_spectra")
    frames = {r.id: metrics_over_epochs(store, r.id) for r in runs}
    right.plotly_chart(au_paths_figure(runs, frames, colours, labelled=False, up_to=epoch), width="stretch", key="cmp_au")
    st.caption("Spectra: held-out split, floor 10⁻¹². Alignment–uniformity: one point per snapshot up to the chosen "
               "epoch; the dashed line is the optimum of uniformity.")

    # --- table -----------------------------------------------------------------------------
    st.subheader("Metrics")
    settings = setting_columns(runs)
    best_marked_table([r.name for r in runs], [snaps[r.id]["metrics"] for r in runs], METRICS, key="cmp_table",
                      leading={"epoch": [epochs[r.id] for r in runs], **settings})
    if settings:
        st.caption("Columns after the run name: the settings in which these runs differ ("
                   + ", ".join(settings) + ").")
    if len(tasks) > 1:
        st.caption("These runs mix classification and regression datasets: accuracies and errors are not comparable "
                   "across them.")

    # --- over seeds ------------------------------------------------------------------------
    st.subheader("Over seeds")
    stopped = [r for r in runs if r.status in RESUMABLE]  # ended early: their last snapshot is of another epoch
    seeded = [r for r in runs if r.status not in RESUMABLE]
    if stopped:
        st.caption(f"Left out here: {len(stopped)} run(s) that stopped before their last epoch ("
                   + ", ".join(sorted({r.status for r in stopped})) + "): averaged with the others they would mix "
                   "epochs. The sections above show them.")
    if not seeded:
        st.info("Every run picked here stopped early: nothing to average over seeds.", icon=":material/info:")
    else:
        configs = config_groups(seeded, teachers=store.list_runs())
        at_epoch = {r.id: snaps[r.id]["metrics"] for r in runs}
        cfg_colours = config_colours(configs, colours)
        if all(g.n == 1 for g in configs):
            st.caption("Each configuration here ran one seed: no error bars. Repeat a configuration over seeds (the Train "
                       "page's **Seeds**, or `python -m trainers train --seeds 0,1,2`) to see how much a reseeding moves "
                       "its metrics.")
        st.markdown(f"**{len(configs)} configuration(s)**, metrics as **mean ± sd** over their seeds, each run at its "
                    "latest snapshot at or before the chosen epoch:")
        st.dataframe(seed_table(configs, at_epoch, METRICS), hide_index=True, width="stretch", key="cmp_seed_table",
                     column_config={"configuration": st.column_config.TextColumn(pinned=True, width="medium")})
        reference = raw_reference(seeded)
        chart(seed_bars_figure([g.label for g in configs], seed_summaries(configs, at_epoch), METRICS, cfg_colours,
                               reference=reference), width="stretch", key="cmp_seed_bars", name="metrics over seeds")
        rerun_when_reference_ready(seeded)
        if reference:
            st.caption("Dashed: the same probes on the raw input (`python -m trainers baseline`), the no-learning "
                       "reference of these runs' data.")
        over = epoch_metrics(frames, METRICS)
        if over:
            band_metric = st.selectbox("Metric over epochs", over, format_func=METRICS.get, key="cmp_seed_metric")
            chart(seed_band_figure([g.label for g in configs], seed_bands(configs, frames, band_metric, up_to=epoch),
                                   cfg_colours, metric=METRICS[band_metric], reference=reference.get(band_metric)),
                  width="stretch", key="cmp_seed_band",
                  name="metric over seeds")
            st.caption("Line: the mean over a configuration's seeds at each snapshot epoch; band: ± one standard deviation "
                       "(where two seeds or more have that epoch).")
        if len(configs) >= 2:
            st.markdown("**Paired difference** of two configurations over the seeds both ran")
            choices = list(range(len(configs)))
            for k, default in (("cmp_pair_a", 0), ("cmp_pair_b", 1)):
                if st.session_state.get(k) not in choices:
                    st.session_state[k] = default
            pa, pb = st.columns(2)
            ia = pa.selectbox("A", choices, format_func=lambda i: configs[i].label, key="cmp_pair_a")
            ib = pb.selectbox("B", choices, format_func=lambda i: configs[i].label, key="cmp_pair_b")
            a_cfg, b_cfg = configs[ia], configs[ib]
            diff = paired_table(a_cfg, b_cfg, at_epoch, METRICS) if ia != ib else None
            if ia == ib:
                st.caption("Choose two different configurations.")
            elif diff is None:
                st.info(f"**{md_escape(a_cfg.label)}** ran seeds {seed_list(a_cfg.seeds)} and **{md_escape(b_cfg.label)}** "
                        f"seeds {seed_list(b_cfg.seeds)}: no seed in common, so no paired difference. Run them with the "
                        "same seeds.", icon=":material/info:")
            else:
                st.dataframe(diff, hide_index=True, width="stretch", key="cmp_seed_pairs")
                st.caption("A − B, seed by seed: the mean of the differences, and a 95% Student-t interval (a paired t-test's). "
                           "**better**: the configuration the difference favours when the interval excludes 0. "
                           "With one shared seed the difference has no error bar.")
