"""What It Keeps: how decodable each factor of variation is from each run's representation and
projector output, next to the raw input, at one epoch and over the epochs of one run."""

from __future__ import annotations

import streamlit as st

from analysis.fingerprint import (
    baseline_scores,
    factor_order,
    fingerprint,
    has_factor_probes,
    over_epochs,
    projector_losses,
)
from ui.data import data_options, get_store, run_colours, snapshot_at_or_before, snapshots
from ui.download import chart
from ui.fingerprint_views import (
    RunProbes,
    epochs_figure,
    factor_title,
    fingerprint_figure,
    fingerprint_table,
    raw_baseline,
    retry_baselines,
)
from ui.text import md_escape
from ui.widgets import epoch_slider, explain, pick_runs, rerun_on_new_snapshots

store = get_store()
st.title("What It Keeps")
explain(
    "what a representation keeps of each factor of variation, and what it ignores",
    [r"\text{class factor: } \frac{1}{|Q|}\sum_{q \in Q} \mathbb{1}\big[\operatorname{vote}_{20}(z_q) = f_q\big]",
     r"\text{numeric factor: } R^2 = 1 - \frac{\sum_q (f_q - \hat f_q)^2}{\sum_q (f_q - \bar f)^2},\qquad "
     r"\hat f_q = \tfrac{1}{20}\sum_{j \in N_{20}(z_q)} f_j"],
    "Each held-out sample is described by its **20 nearest training samples** (cosine) in the representation "
    "(encoder output) and, separately, in the projector output (the space the loss sees). A class factor (the "
    "label, which on the shapes world is the **shape**, and the shape's **colour**) scores the accuracy of their "
    "vote; a numeric factor (**x**, **y**, **scale**, **angle**, **background** brightness, pixel **noise**) the "
    "R² of their mean (0: no better than guessing the average; it can be negative). The black tick on each bar "
    "is the same probe on the **raw input** pixels (`python -m trainers baseline`): the factors the data itself "
    "shows. Computed by the worker at every snapshot; the raw-input baseline is computed once per dataset "
    "setting. **What to look for:** the label rising above the raw input; factors that the augmentations "
    "randomise (colour with colour distortion, position and scale with crops) falling below it, more in the "
    "projector output than in the representation: the projector discards what the loss teaches it to ignore, "
    "the representation keeps more (Chen et al., 2020). A run trained without colour distortion keeps colour "
    "everywhere and reads the shape worse.",
)

runs = pick_runs(store, "fp_runs", max_runs=6, label="Runs (up to 6)")
if runs:
    rerun_on_new_snapshots(store, runs)
    latest = {r.id: snapshots(store, r.id)[-1]["metrics"] for r in runs}
    with_probes = [r for r in runs if has_factor_probes(latest[r.id])]
    for r in runs:
        if r not in with_probes:
            st.info(f"**{md_escape(r.name)}** ({md_escape(r.config.get('dataset', 'imported'))}) has no factor "
                    "probes: only datasets generated with known factors of variation (the shapes world) record them. "
                    "Train a run on **shapes** (for instance the preset *Shapes · crop + colour vs crop only*) to "
                    "see what it keeps.", icon=":material/info:")
    if with_probes:
        colours = run_colours(store, with_probes)
        all_epochs = sorted({s["epoch"] for r in with_probes for s in snapshots(store, r.id)})
        epoch = epoch_slider("Epoch", all_epochs, key="fp_epoch")

        # the raw-input baseline of each run's data: computed in the background, drawn once ready
        baselines = {r.id: raw_baseline(r.config["dataset"], data_options(r.config)) for r in with_probes}
        shown = []
        for r in with_probes:
            snap = snapshot_at_or_before(store, r.id, epoch)
            b = baselines[r.id]
            shown.append(RunProbes(r, snap["epoch"], fingerprint(snap["metrics"]),
                                   baseline_scores(b.result) if b.state == "ready" else {}, colours.get(r.id)))
        factors = factor_order(p.fingerprint[s] for p in shown for s in p.fingerprint)
        datasets = {r.config["dataset"] for r in with_probes}
        dataset = next(iter(datasets)) if len(datasets) == 1 else ""

        waiting = [b for b in baselines.values() if b.state == "running"]
        if waiting:
            @st.fragment(run_every=1.0)
            def baseline_status() -> None:
                now = [raw_baseline(r.config["dataset"], data_options(r.config)) for r in with_probes]
                if all(b.state != "running" for b in now):
                    st.rerun()
                with st.status("Computing the raw-input baseline in the background (a few seconds); the black "
                               "ticks appear when it is ready.", state="running"):
                    for b in now:
                        st.code(b.command, language="bash")

            baseline_status()
        for b in {b.command: b for b in baselines.values() if b.state == "failed"}.values():
            st.warning(f"The raw-input baseline could not be computed (`{b.command}`): the figures show the runs "
                       "without it.", icon=":material/warning:")
            st.code(b.error)
            if st.button("Compute the baseline again", key="fp_retry"):
                retry_baselines()
                st.rerun()

        st.subheader("At one epoch")
        chart(fingerprint_figure(shown, factors, dataset=dataset), width="stretch", key="fp_bars")
        st.caption("Bars: each run at its latest snapshot at or before the chosen epoch. Accuracy for the label and "
                   "colour (chance is one over the number of classes), R² for the numeric factors. Black tick: the "
                   "same probe on the raw input of that run's data.")
        for p in shown:
            drops = projector_losses(p.fingerprint)
            if drops:
                st.markdown(f"**{md_escape(p.run.name)}** (epoch {p.epoch}): the projector output reads "
                            + ", ".join(f"{md_escape(factor_title(f, dataset))} worse ({rep:.2f} → {emb:.2f})"
                                        for f, rep, emb in drops)
                            + " than the representation.")
        st.dataframe(fingerprint_table(shown, factors, dataset=dataset), hide_index=True, width="stretch",
                     key="fp_table", column_config={"run": st.column_config.TextColumn("run", pinned=True)})

        st.subheader("Over epochs")
        by_id = {r.id: r for r in with_probes}
        if st.session_state.get("fp_run") not in by_id:
            st.session_state["fp_run"] = with_probes[0].id
        one = by_id[st.selectbox("Run", list(by_id), format_func=lambda i: by_id[i].name, key="fp_run")]
        epochs, series = over_epochs([(s["epoch"], s["metrics"]) for s in snapshots(store, one.id)])
        one_factors = list(series["rep"])
        one_baseline = next(p.baseline for p in shown if p.run.id == one.id)
        chart(epochs_figure(one, epochs, series, one_factors, colour=colours.get(one.id), baseline=one_baseline,
                            epoch=epoch, dataset=one.config["dataset"]), width="stretch", key="fp_epochs")
        st.caption("Solid: representation; dotted: projector output; dashed grey: raw input. The vertical line is "
                   "the epoch chosen above.")
