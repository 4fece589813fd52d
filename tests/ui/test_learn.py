"""The Learn section's figure builders (ui/learn.py) and the sentences that explain a run with
its own numbers (ui/lessons.py), on real trajectories of the sphere playground."""

from __future__ import annotations

import json

import numpy as np
import plotly.io as pio
import pytest

from jobs.toy_cli import decode, trajectory_dict
from trainers.toy import CONTRASTIVE, RULES, TOY_LOSSES, ToyConfig, simulate
from ui import learn
from ui import lessons as L
from ui.learn import (
    PLAIN,
    PRESENTATION,
    ToyRun,
    compare_figure,
    pair_segments,
    playground_figure,
    spectra_figure,
)


def toy(**kw) -> ToyRun:
    """A real simulation, through the JSON the simulation process sends."""
    cfg = ToyConfig(**{"points": 100, "steps": 40, "classes": 3, **kw})
    return ToyRun.from_reply(decode(json.loads(json.dumps(trajectory_dict(simulate(cfg, record_views=True))))))


@pytest.fixture(scope="module")
def enc3():
    return toy(loss="nt_xent", temperature=0.5, dim=3, mode="encoder")


@pytest.fixture(scope="module")
def free2():
    return toy(loss="uniform", dim=2, mode="free", steps=250, lr=0.05)


def arr(v) -> np.ndarray:
    """A trace's array as the browser gets it (Plotly sends numpy arrays as typed arrays)."""
    if isinstance(v, dict) and "bdata" in v:
        import base64

        return np.frombuffer(base64.b64decode(v["bdata"]), dtype=v["dtype"]).astype(float)
    return np.asarray(v, dtype=float)


def spec(fig) -> dict:
    return json.loads(pio.to_json(fig))


def trace(fig: dict, name: str, *, nth: int = 0) -> tuple[int, dict]:
    hits = [(i, t) for i, t in enumerate(fig["data"]) if t.get("name") == name]
    return hits[nth]


def frame_update(fig: dict, frame: int, trace_index: int) -> dict:
    f = fig["frames"][frame]
    return f["data"][f["traces"].index(trace_index)]


# --------------------------------------------------------------------------- the playground's choices


def test_every_choice_of_the_playground_is_a_valid_config():
    for t in learn.TEMPERATURES:
        assert RULES["temperature"].lo <= t <= RULES["temperature"].hi
    for lr in learn.LEARNING_RATES:
        assert RULES["lr"].lo <= lr <= RULES["lr"].hi
    assert all(b == 0 or 2 <= b <= learn.POINTS[0] for b in learn.BATCH_SIZES)  # fits the fewest points
    for key, (lo, hi, *_) in {"noise": learn.NOISE, "lam": learn.LAMBDA, "points": learn.POINTS,
                               "classes": learn.CLASSES, "steps": learn.STEPS}.items():
        assert RULES[key].lo <= lo < hi <= RULES[key].hi, key
    assert set(learn.LOSS_LABELS) == set(TOY_LOSSES)
    assert set(learn.CONTRASTIVE) == set(CONTRASTIVE)


# --------------------------------------------------------------------------- the playground's figure


def test_playground_frames_move_the_points_and_the_markers_with_the_trajectory(enc3):
    run = enc3
    fig = spec(playground_figure(run))
    assert len(fig["frames"]) == len(run.steps) == 41  # 40 steps: every step recorded
    assert [f["name"] for f in fig["frames"]] == [f"step {s}" for s in run.steps]
    classes = run.classes
    idx = {c: trace(fig, f"class {c}", nth=1)[0] for c in classes}  # nth=0: the inputs panel
    assert all(fig["data"][i]["type"] == "scatter3d" for i in idx.values())
    markers = {name: trace(fig, f"{name} now")[0] for name in ("loss", "alignment", "uniformity")}
    for f in (0, 7, len(run.steps) - 1):
        s = run.steps[f]
        for c in classes:
            up = frame_update(fig, f, idx[c])
            got = np.stack([arr(up["x"]), arr(up["y"]), arr(up["z"])], 1)
            np.testing.assert_allclose(got, run.positions[f][run.labels == c], rtol=0, atol=1e-6)
        for name, i in markers.items():
            up = frame_update(fig, f, i)
            assert arr(up["x"]).tolist() == [s]
            assert arr(up["y"])[0] == pytest.approx(getattr(run, name)[s])
    # the first frame's points are the figure's own (what shows before Play)
    first = fig["data"][idx[classes[0]]]
    np.testing.assert_allclose(arr(first["x"]), run.positions[0][run.labels == classes[0]][:, 0], atol=1e-6)
    # the points did move: the last frame differs from the first
    assert not np.allclose(run.positions[-1], run.positions[0], atol=1e-3)


def test_playground_curves_inputs_optimum_and_controls(enc3):
    run = enc3
    fig = spec(playground_figure(run))
    for name in ("loss", "alignment", "uniformity"):
        _, t = trace(fig, name)
        np.testing.assert_allclose(arr(t["y"]), getattr(run, name))
        assert arr(t["x"]).tolist() == list(range(len(run.loss)))
    _, opt = trace(fig, f"uniformity optimum for {run.n_points} points")
    assert arr(opt["y"]).tolist() == [run.uniformity_optimum] * 2
    # encoder mode: the 2-D inputs of each class, static
    for c in run.classes:
        _, t = trace(fig, f"class {c}")
        np.testing.assert_allclose(np.stack([arr(t["x"]), arr(t["y"])], 1), run.inputs[run.labels == c], atol=1e-6)
    # a play button, a pause button, and a slider step per frame that jumps to it
    (menu,) = fig["layout"]["updatemenus"]
    assert [b["label"] for b in menu["buttons"]] == ["▶ Play", "❚❚ Pause"]
    assert menu["buttons"][0]["args"][1]["frame"]["redraw"] is True  # 3-D traces redraw each frame
    (slider,) = fig["layout"]["sliders"]
    assert [s["args"][0] for s in slider["steps"]] == [[f["name"]] for f in fig["frames"]]
    assert fig["layout"]["title"]["text"] == "NT-Xent · τ = 0.5 · 100 points · encoder mode"


def test_positive_pairs_are_segments_whose_mean_squared_length_is_the_alignment(free2):
    run = free2
    plain = spec(playground_figure(run))
    assert all(t["type"] == "scatter" for t in plain["data"])  # the circle: 2-D traces, no inputs panel
    assert not any("inputs" in (a.get("text") or "") for a in plain["layout"]["annotations"])
    assert not any((t.get("name") or "").startswith("positive pairs") for t in plain["data"])
    fig = spec(playground_figure(run, pairs=True))
    i, _ = trace(fig, "positive pairs (the two views of a point)")
    assert fig["layout"]["updatemenus"][0]["buttons"][0]["args"][1]["frame"]["redraw"] is False
    for f in (0, len(run.steps) // 2, len(run.steps) - 1):
        up = frame_update(fig, f, i)
        seg = np.stack([arr(up["x"]), arr(up["y"])], 1).reshape(run.n_points, 3, 2)
        assert np.isnan(seg[:, 2]).all()  # a gap after each pair
        length2 = ((seg[:, 0] - seg[:, 1]) ** 2).sum(1)
        assert length2.mean() == pytest.approx(run.alignment[run.steps[f]], rel=1e-4)


def _subplot(t: dict) -> str:
    return (t.get("scene") or "scene") if t["type"] in ("scatter3d", "surface") else f"{t.get('xaxis', 'x')}{t.get('yaxis', 'y')}"


@pytest.mark.parametrize("dim", [2, 3])
def test_every_frame_names_a_trace_of_every_subplot(dim):
    """Plotly's animation without a redraw empties a cartesian subplot that a frame leaves out."""
    run = toy(loss="align", dim=dim, mode="encoder", steps=10)
    for fig in (spec(playground_figure(run, pairs=True)), spec(compare_figure([run, run], ["a", "b"], pairs=True))):
        subplots = {_subplot(t) for t in fig["data"]}
        for f in fig["frames"]:
            assert {_subplot(fig["data"][i]) for i in f["traces"]} == subplots


def test_recording_the_views_leaves_the_trajectory_as_it_is():
    cfg = ToyConfig(points=100, steps=15, loss="nt_xent", batch_size=32)
    plain, with_views = simulate(cfg), simulate(cfg, record_views=True)
    assert plain.views is None and with_views.views.shape == (16, 2, 100, 3)
    np.testing.assert_array_equal(plain.positions, with_views.positions)
    assert plain.loss == with_views.loss and plain.alignment == with_views.alignment


def test_pair_segments_interleave_the_views():
    views = np.arange(2 * 2 * 3, dtype=np.float32).reshape(2, 2, 3)
    seg = pair_segments(views)
    np.testing.assert_array_equal(seg[0], views[0, 0])
    np.testing.assert_array_equal(seg[1], views[1, 0])
    assert np.isnan(seg[2]).all()
    np.testing.assert_array_equal(seg[3], views[0, 1])


def test_presentation_mode_enlarges_fonts_markers_and_the_figure(enc3):
    plain, big = spec(playground_figure(enc3, style=PLAIN)), spec(playground_figure(enc3, style=PRESENTATION))
    assert plain["layout"]["font"]["size"] == PLAIN.font < big["layout"]["font"]["size"] == PRESENTATION.font
    assert plain["layout"]["height"] < big["layout"]["height"]
    size = {name: trace(s, "class 0", nth=1)[1]["marker"]["size"] for name, s in (("plain", plain), ("big", big))}
    assert size["big"] > 1.5 * size["plain"]
    assert learn.style(True) is PRESENTATION and learn.style(False) is PLAIN


# --------------------------------------------------------------------------- small multiples


def test_compare_figure_plays_every_run_in_step_with_their_paths(free2):
    runs = [toy(loss="nt_xent", temperature=t, dim=2, mode="free", steps=60) for t in (2.0, 0.05)]
    labels = ["τ = 2", "τ = 0.05"]
    fig = spec(compare_figure(runs, labels, pairs=True))
    assert len(fig["frames"]) == len(runs[0].steps)
    titles = [a["text"] for a in fig["layout"]["annotations"]]
    assert titles[:3] == [*labels, "alignment–uniformity paths"]
    # the same start: both runs begin at the same positions
    np.testing.assert_array_equal(runs[0].positions[0], runs[1].positions[0])
    points = [i for i, t in enumerate(fig["data"]) if t.get("name") == "class 0"]
    assert len(points) == 2  # one panel per run
    f = len(runs[0].steps) - 1
    for run, i in zip(runs, points, strict=True):
        up = frame_update(fig, f, i)
        np.testing.assert_allclose(np.stack([arr(up["x"]), arr(up["y"])], 1), run.positions[f][run.labels == 0], atol=1e-6)
    for run, label in zip(runs, labels, strict=True):
        _, path = trace(fig, label)
        np.testing.assert_allclose(arr(path["x"]), run.uniformity)
        np.testing.assert_allclose(arr(path["y"]), run.alignment)
        i, _ = trace(fig, f"{label} now")
        for f in (0, 30, len(run.steps) - 1):
            s = run.steps[f]
            up = frame_update(fig, f, i)
            assert (arr(up["x"])[0], arr(up["y"])[0]) == pytest.approx((run.uniformity[s], run.alignment[s]))
    _, opt = trace(fig, f"uniformity optimum for {runs[0].n_points} points")
    assert arr(opt["x"]).tolist() == [runs[0].uniformity_optimum] * 2
    with pytest.raises(ValueError, match="same steps"):
        compare_figure([runs[0], free2], ["a", "b"])


def test_spectra_figure_draws_one_line_per_epoch_and_the_floor():
    spectra = {0: np.linspace(1, 0.5, 4), 40: np.array([0.2, 0.1, 1e-7, 1e-9])}
    fig = spec(spectra_figure(spectra, title="t", floor=2e-4))
    assert [t["name"] for t in fig["data"]] == ["epoch 0", "epoch 40"]
    np.testing.assert_allclose(arr(fig["data"][1]["y"]), spectra[40])
    assert fig["layout"]["yaxis"]["type"] == "log"
    assert fig["layout"]["shapes"][0]["y0"] == 2e-4


# --------------------------------------------------------------------------- numbers and sentences


def test_numbers_keep_two_significant_digits():
    assert [L.num(x) for x in (-2.1016, 0.30, -0.302, 0.0435, 0.0011, 1.1e-8, 0.0, 12.345)] == \
        ["-2.10", "0.30", "-0.30", "0.043", "0.0011", "1.1e-08", "0", "12.35"]


def test_direction_words_follow_the_sign_of_the_change():
    assert L.change("uniformity", -0.3, -2.1, tol=0.05) == "uniformity fell from -0.30 to -2.10"
    assert L.change("uniformity", -2.1, -0.3, tol=0.05) == "uniformity rose from -2.10 to -0.30"
    assert L.change("uniformity", -2.1, -2.12, tol=0.05) == "uniformity stayed at about -2.12 (from -2.10)"
    assert L.compared(0.04, 0.055, tol=0.005) == "lower than" and L.compared(0.06, 0.04, tol=0.005) == "higher than"


def test_class_spread_has_known_answers():
    y = np.array([0, 0, 1, 1])
    two_spots = np.array([[1.0, 0], [1.0, 0], [-1.0, 0], [-1.0, 0]])
    assert L.class_spread(two_spots, y) == 0.0
    assert np.isnan(L.class_spread(np.ones((4, 2)), y))
    mixed = np.array([[1.0, 0], [-1.0, 0], [1.0, 0], [-1.0, 0]])  # each class spans both spots
    # within a class: distance^2 4 for its one pair; overall: 4 of 6 pairs at 4 -> 16/6
    assert L.class_spread(mixed, y) == pytest.approx(4 / (16 / 6))


def _fake(uniformity, alignment, positions, labels, *, uniform=-2.08, optimum=-2.12, temperature=None) -> ToyRun:
    return ToyRun(config={"loss": "nt_xent", "temperature": temperature, "mode": "free"}, steps=[0, len(uniformity) - 1],
                  positions=np.asarray(positions, dtype=float), views=None, labels=np.asarray(labels),
                  inputs=None, loss=[0.0] * len(uniformity), alignment=list(alignment), uniformity=list(uniformity),
                  seconds=0.1, uniformity_optimum=optimum, uniformity_uniform=uniform)


def test_shape_of_reads_collapse_clusters_and_spread_from_the_numbers():
    rng = np.random.default_rng(0)
    y = np.arange(40) % 4
    start = np.tile([1.0, 0, 0], (40, 1))
    spread_end = rng.standard_normal((40, 3))
    spread_end /= np.linalg.norm(spread_end, axis=1, keepdims=True)
    corners = np.array([[1, 1, 1], [1, -1, -1], [-1, 1, -1], [-1, -1, 1]]) / np.sqrt(3)
    clusters_end = corners[y]
    assert L.shape_of(_fake([-0.3, -0.01], [0.01, 0.0], [start, start], y)) == "collapse"
    assert L.shape_of(_fake([-0.3, -1.4], [0.01, 0.0], [start, clusters_end], y)) == "clusters"
    assert L.shape_of(_fake([-0.3, -2.0], [0.01, 0.03], [start, spread_end], y)) == "spread"
    assert L.shape_of(_fake([-0.3, -0.7], [0.01, 0.03], [start, spread_end], y)) == "partial"
    assert L.shape_of(_fake([-0.3, -0.32], [0.01, 0.01], [start, spread_end], y)) == "little change"


def test_run_sentences_use_the_trajectorys_numbers(free2):
    run = free2
    first, second = L.run_sentences(run, "uniformity only")
    assert first.startswith("**uniformity only**: uniformity fell from ")
    assert f"from {L.num(run.uniformity[0])} to {L.num(run.uniformity[-1])}" in first
    assert L.shape_of(run) == "spread" and "spread over the whole circle" in first
    assert f"the best {run.n_points} points can do is {L.num(run.uniformity_optimum)}" in first
    assert f"In {len(run.loss) - 1} steps alignment" in second
    assert L.num(run.alignment[-1]) in second


def test_lesson_1_sentences_and_verdict_on_a_real_collapse():
    align = toy(loss="align", steps=120)
    uniform = toy(loss="uniform", steps=120)
    both = toy(loss="align_uniform", lam=1.0, steps=120)
    text = L.au_lesson_sentences({"align": align, "uniform": uniform, "align_uniform": both})
    assert len(text) == 7
    assert f"uniformity rose from {L.num(align.uniformity[0])} to {L.num(align.uniformity[-1])}" in text[0]
    assert "a collapse" in text[0]
    word = L.compared(both.alignment[-1], uniform.alignment[-1],
                      tol=L.alignment_tol(uniform.alignment[-1], both.alignment[-1]))
    assert f"alignment ended at {L.num(both.alignment[-1])}, {word} uniformity alone ({L.num(uniform.alignment[-1])})" \
        in text[-1]
    key, evidence = L.au_observed(align)
    assert key == "collapse" and L.num(align.uniformity[-1]) in evidence
    q = L.ALIGNMENT_UNIFORMITY.question
    ok, said = L.verdict(q, "spread", key, evidence)
    assert not ok
    assert said.startswith(f"You predicted “{q.options['spread']}”; the run shows ")
    assert said.endswith(f"That matches “{q.options['collapse']}” instead.")
    ok, said = L.verdict(q, "collapse", key, evidence)
    assert ok and said.endswith("Your prediction holds.")


def test_temperature_sentences_order_runs_and_read_the_direction():
    y = np.arange(8) % 2
    pos = np.tile([1.0, 0.0], (8, 1))
    hot = _fake([-0.3, -1.46], [0.001, 0.0017], [pos, pos], y, temperature=2.0)
    mid = _fake([-0.3, -2.04], [0.001, 0.026], [pos, pos], y, temperature=0.5)
    cold = _fake([-0.3, -2.09], [0.001, 0.03], [pos, pos], y, temperature=0.05)
    text = L.temperature_sentences([cold, hot, mid])
    assert [t.split("**")[1] for t in text[:3]] == ["τ = 2", "τ = 0.5", "τ = 0.05"]
    assert text[0].startswith("**τ = 2**: uniformity fell from -0.30 to -1.46 and alignment ended at 0.0017")
    assert text[-1] == ("Lowering the temperature changed the final uniformity from τ = 2 to 0.5 by -0.58; "
                        "from τ = 0.5 to 0.05 by -0.050.")
    assert L.temperature_observed([hot, mid, cold]) == (
        "falls", "the final uniformity fell from -1.46 at τ = 2 to -2.09 at τ = 0.05")
    warm = _fake([-0.3, -1.2], [0.001, 0.03], [pos, pos], y, temperature=0.05)
    assert L.temperature_observed([hot, warm])[0] == "rises"
    same = _fake([-0.3, -1.48], [0.001, 0.03], [pos, pos], y, temperature=0.05)
    assert L.temperature_observed([hot, same])[0] == "same"


def test_collapse_sentences_count_directions_and_measure_the_cliff():
    first = np.array([0.24, 0.19, 0.15, 0.12, 0.10, 0.07, 0.05, 0.02, 0.019, 0.011, 0.007, 0.005, 9e-4, 5e-4, 3.9e-4,
                      4e-7])
    last = np.array([0.147, 0.14, 0.138, 0.128, 0.123, 0.118, 0.105, 0.102, 9.6e-6, 8.7e-6, 9e-7, 8e-8, 7e-8, 3e-8,
                     1.9e-8, 8e-10])
    rep = np.r_[np.full(14, 0.1), 1e-5, 1e-7]
    text = L.collapse_sentences((0, first), (40, last), representation=rep, rankme=(12.77, 8.4))
    assert text[0] == "At epoch 0 the embedding used 15 of its 16 directions (eigenvalues above 1/1000 of the largest, 0.24)."
    ratio = 0.102 / 9.6e-6
    assert text[1] == (f"At epoch 40 it uses 8: eigenvalues 1 to 8 lie between 0.10 and 0.15, then the spectrum drops "
                       f"by a factor of {ratio:,.0f} to 9.6e-06 at eigenvalue 9: the other 8 directions collapsed.")
    assert text[2] == ("The representation (the encoder's output, before the projector) keeps 14 of its 16 directions: "
                       "the collapse shows in the embedding first.")
    same = L.collapse_sentences((0, first), (40, last), representation=last)
    assert same[2].endswith("keeps 8 of its 16 directions: as many as the embedding.")
    assert text[3] == "RankMe of the embedding (its effective number of directions) fell from 12.77 to 8.40."
    assert L.collapse_observed((40, last)) == ("half", "8 of 16 directions still carrying variance at epoch 40 (8 collapsed)")
    assert L.collapse_observed((0, first))[0] == "none"
    assert L.collapse_observed((5, np.r_[1.0, 1e-9 * np.ones(15)]))[0] == "most"
    flat = L.collapse_sentences((0, first), (1, np.linspace(1, 0.5, 16)))
    assert flat[1] == "At epoch 1 it uses 16: the spectrum has no cliff (no drop larger than a factor of 10)."
