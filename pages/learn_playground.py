"""Sphere Playground: a few hundred points on the circle or the sphere, moved by a loss,
played as an animation in the browser; several losses or temperatures side by side."""

from __future__ import annotations

import time

import streamlit as st

from ui import learn
from ui.data import get_store
from ui.learn import compare_figure, loss_label, playground_figure, style
from ui.learn_widgets import presentation_mode, remember, run_toys, warm_toy_server
from ui.lessons import run_sentences

get_store()  # no run is read here; this keeps the router and the Train form as on every page
SETTINGS = {"learn_pg_mode": "encoder", "learn_pg_data": "blobs", "learn_pg_loss": "nt_xent", "learn_pg_dim": 3,
            "learn_pg_tau": 0.5, "learn_pg_lam": 1.0, "learn_pg_batch": 0, "learn_pg_lr": 0.02, "learn_pg_noise": 0.05,
            "learn_pg_points": 200, "learn_pg_classes": 4, "learn_pg_steps": 300, "learn_pg_seed": 0,
            "learn_pg_pairs": False, "learn_pg_cmp_what": "losses", "learn_pg_cmp_losses": ["align", "uniform", "nt_xent"],
            "learn_pg_cmp_taus": [0.05, 0.5, 2.0]}
remember(SETTINGS)  # the settings (and so the figure they made) are as a person left them on coming back
warm_toy_server()  # torch loads while the settings are chosen
present = presentation_mode()
look = style(present)
st.title("Sphere Playground")
if not present:
    st.caption("Pick a loss and press **Play**: the points start in a small cap of the circle or sphere and the loss "
               "moves them. In **encoder** mode a small network maps 2-D inputs (left) onto the sphere; in **free** "
               "mode the points themselves are trained. The animation plays in your browser: ▶ Play, ❚❚ Pause, or "
               "drag the step slider.")

with st.expander("Settings", expanded=not present, icon=":material/tune:"):
    c1, c2, c3, c4 = st.columns(4)
    mode = c1.radio("Mode", ["encoder", "free"], horizontal=True, key="learn_pg_mode",
                    help="encoder: an MLP of 2-D inputs moves the points; free: the points are the parameters")
    data = c2.selectbox("Data", ["blobs", "moons", "rings"], key="learn_pg_data", disabled=mode != "encoder",
                        help="The 2-D inputs of encoder mode")
    loss = c3.selectbox("Loss", list(learn.LOSS_LABELS), format_func=learn.LOSS_LABELS.__getitem__, key="learn_pg_loss")
    dim = c4.radio("Dimension", [2, 3], horizontal=True, key="learn_pg_dim",
                   format_func=lambda d: "2 (circle)" if d == 2 else "3 (sphere)")
    c1, c2, c3, c4 = st.columns(4)
    temperature = c1.select_slider("Temperature τ", learn.TEMPERATURES, key="learn_pg_tau",
                                   disabled=loss not in learn.CONTRASTIVE, help="NT-Xent, DCL and SupCon")
    lam = c2.slider("λ (uniformity weight)", *learn.LAMBDA[:2], step=learn.LAMBDA[2], key="learn_pg_lam",
                    disabled=loss != "align_uniform", help="alignment + λ·uniformity")
    batch = c3.select_slider("Batch size", learn.BATCH_SIZES, key="learn_pg_batch",
                             format_func=lambda b: "all" if b == 0 else str(b))
    lr = c4.select_slider("Learning rate (Adam)", learn.LEARNING_RATES, key="learn_pg_lr")
    c1, c2, c3, c4 = st.columns(4)
    noise = c1.slider("Augmentation noise", *learn.NOISE[:2], step=learn.NOISE[2], key="learn_pg_noise",
                      help="Standard deviation of the Gaussian noise that makes the two views of a point")
    points = c2.slider("Points", *learn.POINTS[:2], step=learn.POINTS[2], key="learn_pg_points")
    classes = c3.slider("Classes", *learn.CLASSES, key="learn_pg_classes")
    steps = c4.slider("Steps", *learn.STEPS[:2], step=learn.STEPS[2], key="learn_pg_steps")
    c1, c2, _ = st.columns([1, 1, 2])
    seed = c1.number_input("Seed", 0, 2**32 - 1, key="learn_pg_seed")

config = {"mode": mode, "data": data, "loss": loss, "dim": int(dim), "temperature": float(temperature),
          "lam": float(lam), "batch_size": int(batch), "lr": float(lr), "noise": float(noise), "points": int(points),
          "classes": int(classes), "steps": int(steps), "seed": int(seed)}

c1, c2 = st.columns([1, 3])
play = c1.button("Play", type="primary", icon=":material/play_arrow:", key="learn_pg_play", width="stretch")
pairs = c2.toggle("Draw positive pairs as segments (the two views of each point)", key="learn_pg_pairs")

if play:
    t0 = time.perf_counter()
    runs = run_toys([config])
    if runs:
        st.session_state["learn_pg_shown"] = {"run": runs[0], "t0": t0, "seconds": None}
shown = st.session_state.get("learn_pg_shown")
if shown:
    run = shown["run"]
    if run.config != {**run.config, **config}:
        st.info("The settings above changed since this run: press **Play** to run them.", icon=":material/info:")
    t_fig = time.perf_counter()
    st.plotly_chart(playground_figure(run, pairs=pairs, style=look), width="stretch", key="learn_pg_fig")
    if play:
        shown["seconds"] = time.perf_counter() - shown["t0"]
        shown["figure"] = time.perf_counter() - t_fig
    st.caption(f"computed in {shown['seconds']:.2f} s from pressing Play to sending the figure: the simulation took "
               f"{run.seconds:.2f} s in the simulation process, building and sending the figure "
               f"{shown['figure']:.2f} s · {len(run.steps)} frames")
    for s in run_sentences(run):
        st.markdown(s)

st.divider()
st.subheader("Side by side", anchor=False)
if not present:
    st.caption("The same settings and the same start (same seed) with 2 to 4 losses or temperatures: the panels play "
               "in step, and below them each run's path in the alignment–uniformity plane.")
c1, c2 = st.columns([1, 3])
what = c1.radio("Compare", ["losses", "temperatures"], key="learn_pg_cmp_what")
if what == "losses":
    choices = c2.multiselect("Losses (2 to 4)", list(learn.LOSS_LABELS),
                             format_func=learn.LOSS_LABELS.__getitem__, max_selections=4, key="learn_pg_cmp_losses")
    variants = [{**config, "loss": v} for v in choices]
else:
    base_loss = loss if loss in learn.CONTRASTIVE else "nt_xent"
    choices = c2.multiselect(f"Temperatures of {learn.LOSS_LABELS[base_loss]} (2 to 4)", learn.TEMPERATURES,
                             max_selections=4, key="learn_pg_cmp_taus")
    variants = [{**config, "loss": base_loss, "temperature": float(v)} for v in sorted(choices, reverse=True)]
compare = st.button("Play side by side", icon=":material/view_column:", key="learn_pg_cmp_play",
                    disabled=len(variants) < 2)
if compare:
    t0 = time.perf_counter()
    runs = run_toys(variants)
    if runs:
        st.session_state["learn_pg_cmp"] = {"runs": runs, "t0": t0, "seconds": None}
cmp = st.session_state.get("learn_pg_cmp")
if cmp:
    runs = cmp["runs"]
    labels = [loss_label(r.config["loss"], r.temperature, r.config.get("lam")) for r in runs]
    st.plotly_chart(compare_figure(runs, labels, pairs=pairs, style=look), width="stretch", key="learn_pg_cmp_fig")
    if compare:
        cmp["seconds"] = time.perf_counter() - cmp["t0"]
    st.caption(f"computed in {cmp['seconds']:.2f} s for {len(runs)} runs (simulations: "
               f"{sum(r.seconds for r in runs):.2f} s) · {len(runs[0].steps)} frames")
    for run, label in zip(runs, labels, strict=True):
        st.markdown(" ".join(run_sentences(run, label)))
