"""The shapes world: generation is deterministic and its stated factors are the drawn ones; RGB
augmentations keep the shape and change the pixels; the RGB CNN reads it; snapshots and the CLI
report the factor probes."""

from __future__ import annotations

import colorsys
import json

import numpy as np
import pytest
import torch
from scipy import ndimage

from analysis import probes
from jobs import store as st
from jobs.cli import main as cli_main
from trainers import data, evaluate, registry
from trainers.augment import RGBAugment, augment_rgb, make_augment
from trainers.config import ConfigError, RunConfig
from trainers.encoders import build_encoder

N = 400  # samples of the small worlds below
SIDE = data.SHAPES_SIZE


def _cfg(**kw) -> RunConfig:
    return RunConfig(**{"dataset": "shapes", "encoder": "cnn_rgb", "n_samples": N, **kw})


def _draw(shape, x, y, scale, angle, size=SIDE):
    """White shapes on black: (images (B, 3*size*size) float32, coverage (B, size, size))."""
    shape, x, y, scale, angle = (np.atleast_1d(np.asarray(a, float)) for a in (shape, x, y, scale, angle))
    b = len(shape)
    img, alpha = data.render_shapes(shape.astype(int), x, y, scale, angle, np.ones((b, 3)), np.zeros((b, size, size, 3)),
                                    size=size)
    return img.transpose(0, 3, 1, 2).reshape(b, -1).astype(np.float32), alpha


# --------------------------------------------------------------------------- generation


def test_generation_is_deterministic_and_shaped():
    a = data.shapes_world.__wrapped__(N, 6)  # drawn again, not read from the cache
    b = data.shapes_world.__wrapped__(N, 6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    for (name, u), (_, v) in zip(a[2], b[2], strict=True):
        np.testing.assert_array_equal(u, v, err_msg=name)
    raw = data.shapes(_cfg())
    np.testing.assert_array_equal(raw.x, a[0])  # the source reads the same world
    assert raw.x.shape == (N, 3 * SIDE * SIDE) and raw.x.dtype == np.float32
    assert raw.x.min() >= 0.0 and raw.x.max() <= 1.0
    assert np.array_equal(np.bincount(raw.y), [N // 6 + (i < N % 6) for i in range(6)])  # balanced
    assert set(raw.factors) == {"colour", "x", "y", "scale", "angle", "background", "noise"}
    assert raw.factors["colour"].dtype == np.int64 and raw.factors["x"].dtype == np.float32
    # the number of shapes and of samples change the world
    assert data.shapes(_cfg(n_shapes=3)).y.max() == 2
    assert len(data.shapes(_cfg(n_samples=500)).x) == 500


def test_load_splits_the_world_with_factors_images_and_options():
    d = data.load(_cfg(aug_colour=0.0))
    assert (d.kind, d.task, d.n_classes, d.image_shape) == ("rgb", "classification", 6, (SIDE, SIDE))
    i = 7
    img = d.x_train[i].reshape(3, SIDE, SIDE).transpose(1, 2, 0)
    np.testing.assert_array_equal(d.images[d.index_train[i]], img)  # images by stable index, (H, W, 3)
    assert all(len(v) == N for v in d.factors.values())
    assert d.augment_options["aug_colour"] == 0.0 and set(d.augment_options) == set(registry.RGB_AUGMENT)
    assert not data.load(RunConfig()).factors and not data.load(RunConfig()).augment_options  # digits: none


@pytest.mark.parametrize("shape", range(len(data.SHAPES)), ids=list(data.SHAPES))
def test_a_drawn_shape_is_centred_at_its_position_with_the_area_of_its_scale(shape):
    rng = np.random.default_rng(shape)
    scale = rng.uniform(2.5, 4.5, 6)
    reach = scale * data.SHAPE_REACH[shape]
    x, y = reach + rng.uniform(0, 1, 6) * (SIDE - 2 * reach), reach + rng.uniform(0, 1, 6) * (SIDE - 2 * reach)
    _, alpha = _draw(np.full(6, shape), x, y, scale, rng.uniform(-45, 45, 6))
    c = np.arange(SIDE) + 0.5  # pixel centres
    mass = alpha.sum((1, 2))
    np.testing.assert_allclose((alpha * c[None, None, :]).sum((1, 2)) / mass, x, atol=0.15)  # centroid column: well within a pixel
    np.testing.assert_allclose((alpha * c[None, :, None]).sum((1, 2)) / mass, y, atol=0.15)  # centroid row
    np.testing.assert_allclose(mass, np.pi * scale**2, rtol=0.03)  # area pi scale^2 whatever the shape


def test_a_circle_covers_the_pixels_within_its_radius():
    _, alpha = _draw(0, 9.3, 11.6, 4.0, 0.0)
    c = np.arange(SIDE) + 0.5
    r = np.hypot(c[None, :] - 9.3, c[:, None] - 11.6)  # (row, column) distance of each pixel centre
    assert np.all(alpha[0][r < 3.5] == 1.0) and np.all(alpha[0][r > 4.5] == 0.0)


def test_the_stated_factors_are_the_drawn_ones():
    """Drawn again from its stated factors, each sample's shape covers pixels of one colour, of
    its stated hue, which differ from the pixels just around it; a stated position off by 2
    pixels, or another sample's colour, breaks this."""
    x, y, factors = data.shapes_world(N, len(data.SHAPES))
    f = dict(factors)
    img = x.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1)

    def check(dx: float, colour: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per sample: hue error (degrees), spread of the colours inside, gap to the colours around."""
        _, alpha = _draw(y, f["x"] + dx, f["y"], f["scale"], f["angle"])
        err, spread, gap = [], [], []
        for i in range(N):
            inside = alpha[i] >= 0.999
            near = ndimage.binary_dilation(alpha[i] > 0, iterations=2) & (alpha[i] == 0)
            c_in = img[i][inside].mean(0)
            h = colorsys.rgb_to_hsv(*c_in)[0] * 360
            err.append(abs((h - 360 / data.SHAPES_HUES * colour[i] + 180) % 360 - 180))
            spread.append(np.linalg.norm(img[i][inside] - c_in, axis=1).mean())
            gap.append(np.linalg.norm(c_in - img[i][near].mean(0)))
        return np.array(err), np.array(spread), np.array(gap)

    err, spread, gap = check(0.0, f["colour"])
    assert err.max() < 15 and spread.max() < 0.15 and gap.min() > 0.25
    _, spread, _ = check(2.0, f["colour"])
    assert np.mean(spread > 0.15) > 0.9  # a wrong position mixes in the background
    err, _, _ = check(0.0, np.roll(f["colour"], 1))
    assert np.mean(err > 15) > 0.7  # a wrong colour is seen


def test_class_sizes_of_the_config_check_match_the_split():
    cfg = _cfg()
    assert data.shapes_class_sizes(cfg) == np.bincount(data.load(cfg).y_train).tolist()
    with pytest.raises(ConfigError, match="imbalance_ratio 1000 asks for a smallest class"):
        _cfg(imbalance_ratio=1000.0)
    d = data.load(_cfg(imbalance_ratio=4.0))
    counts = np.bincount(d.y_train)
    assert counts[0] / counts[-1] == pytest.approx(4, rel=0.2)


def test_raw_pixels_read_colour_better_than_shape():
    d = data.load(_cfg(n_samples=1000))
    m = evaluate.raw_probes(d)
    assert m["factor_probes"]["colour"] > 0.8 > 0.4 > m["knn_accuracy"]
    assert m["knn_accuracy"] == pytest.approx(probes.knn_accuracy(d.x_train, d.y_train, d.x_test, d.y_test))


# --------------------------------------------------------------------------- augmentations

def _batch(n: int = 16, seed: int = 0) -> torch.Tensor:
    x, _, _ = data.shapes_world(N, 6)
    return torch.as_tensor(x[seed : seed + n].copy())


OFF = RGBAugment(crop=0.0, flip=0.0, rotate=0.0, colour=0.0, grayscale=0.0, channels=0.0, blur=0.0)


def test_every_switch_off_or_strength_zero_is_the_identity():
    x = _batch()
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment_rgb(x, 1.0, OFF, g), x)
    assert torch.equal(augment_rgb(x, 0.0, RGBAugment(), g), x)


ALWAYS = {"crop": 0.9, "flip": 1.0, "rotate": 30.0, "colour": 1.0, "grayscale": 1.0, "channels": 1.0, "blur": 1.0}


@pytest.mark.parametrize("switch", list(ALWAYS))
def test_each_switch_changes_the_pixels_as_its_generator_says(switch):
    x = _batch()
    a = augment_rgb(x, 1.0, RGBAugment(**{**OFF.__dict__, switch: ALWAYS[switch]}), torch.Generator().manual_seed(3))
    assert a.shape == x.shape and a.min() >= 0.0 and a.max() <= 1.0
    changed = (a - x).abs().reshape(len(x), -1).amax(1) > 1e-3
    # a channel permutation is the identity one time in six
    assert changed.float().mean() > (0.6 if switch == "channels" else 0.99), f"{switch}: {int((~changed).sum())} unchanged"
    half = RGBAugment(**{**OFF.__dict__, switch: ALWAYS[switch] if switch in ("crop", "rotate") else 0.5})
    b, c, d = (augment_rgb(x, 1.0, half, torch.Generator().manual_seed(s)) for s in (5, 5, 6))
    assert torch.equal(b, c) and not torch.equal(b, d)  # the generator alone decides


def test_flip_grayscale_and_channel_permutation_do_what_they_say():
    x = _batch()
    img = x.view(-1, 3, SIDE, SIDE)
    g = torch.Generator().manual_seed(0)
    flipped = augment_rgb(x, 1.0, RGBAugment(**{**OFF.__dict__, "flip": 1.0}), g).view(-1, 3, SIDE, SIDE)
    torch.testing.assert_close(flipped, img.flip(-1), atol=1e-5, rtol=0)
    gray = augment_rgb(x, 1.0, RGBAugment(**{**OFF.__dict__, "grayscale": 1.0}), g).view(-1, 3, SIDE, SIDE)
    assert torch.equal(gray[:, 0], gray[:, 1]) and torch.equal(gray[:, 1], gray[:, 2])
    torch.testing.assert_close(gray[:, 0], 0.299 * img[:, 0] + 0.587 * img[:, 1] + 0.114 * img[:, 2])
    perm = augment_rgb(x, 1.0, RGBAugment(**{**OFF.__dict__, "channels": 1.0}), g).view(-1, 3, SIDE, SIDE)
    for p, i in zip(perm, img, strict=True):
        assert sorted(p.flatten(1).tolist()) == sorted(i.flatten(1).tolist())


def test_colour_augmentations_keep_the_silhouette():
    """Colour jitter, permutation and grayscale are one function of a pixel's colour for the
    whole image: the pixels of the shape and of a plain background stay apart."""
    shape = np.arange(8) % len(data.SHAPES)
    x, alpha = _draw(shape, np.full(8, 10.0), np.full(8, 10.0), np.full(8, 4.0), np.zeros(8))
    img = torch.as_tensor(x).view(-1, 3, SIDE, SIDE)
    img = img * torch.tensor([0.9, 0.3, 0.1])[:, None, None] + 0.2 * (1 - img)  # orange on grey
    recipe = RGBAugment(**{**OFF.__dict__, "colour": 1.0, "channels": 1.0, "grayscale": 0.5})
    out = augment_rgb(img.reshape(8, -1), 1.0, recipe, torch.Generator().manual_seed(1)).view(-1, 3, SIDE, SIDE)
    for o, a in zip(out, alpha, strict=True):
        inside, outside = o[:, torch.as_tensor(a == 1)], o[:, torch.as_tensor(a == 0)]
        assert inside.std(1).max() < 1e-5 and outside.std(1).max() < 1e-5  # one colour each
        assert (inside[:, 0] - outside[:, 0]).abs().max() > 0.02  # still told apart


def _best_shape(views: np.ndarray, scale: float) -> np.ndarray:
    """The class whose centred drawing, at the best of 120 turns, is closest to each view's
    coverage (views (B, S, S) in [0, 1])."""
    angles = np.arange(0.0, 360.0, 3.0)
    k = len(data.SHAPES)
    shape = np.repeat(np.arange(k), len(angles))
    _, templates = _draw(shape, np.full(len(shape), SIDE / 2), np.full(len(shape), SIDE / 2), np.full(len(shape), scale),
                         np.tile(angles, k))
    d = ((views[:, None] - templates[None]) ** 2).sum((2, 3))  # (B, K * turns)
    return shape[d.argmin(1)]


def test_flip_and_rotation_keep_the_shape():
    shape = np.repeat(np.arange(len(data.SHAPES)), 3)
    b = len(shape)
    x, _ = _draw(shape, np.full(b, SIDE / 2), np.full(b, SIDE / 2), np.full(b, 4.0), np.zeros(b))
    recipe = RGBAugment(**{**OFF.__dict__, "flip": 0.5, "rotate": 180.0})
    views = augment_rgb(torch.as_tensor(x), 1.0, recipe, torch.Generator().manual_seed(2)).view(b, 3, SIDE, SIDE)
    assert not torch.allclose(views.reshape(b, -1), torch.as_tensor(x), atol=0.1)
    np.testing.assert_array_equal(_best_shape(views[:, 0].numpy(), 4.0), shape)


def test_crop_zooms_in():
    x, alpha = _draw(np.zeros(8, int), np.full(8, 10.0), np.full(8, 10.0), np.full(8, 3.0), np.zeros(8))
    recipe = RGBAugment(**{**OFF.__dict__, "crop": 0.5})
    views = augment_rgb(torch.as_tensor(x), 1.0, recipe, torch.Generator().manual_seed(0)).view(8, 3, SIDE, SIDE)
    # a view shows at most the whole image, so a circle inside the image covers at least as much of it
    assert (views[:, 0].sum((1, 2)) >= torch.as_tensor(alpha).sum((1, 2)) - 0.5).all()
    assert (views[:, 0].sum((1, 2)) > torch.as_tensor(alpha).sum((1, 2)) * 1.1).any()


def test_make_augment_reads_the_config_fields_of_rgb_data():
    x = _batch()
    d = data.load(_cfg(aug_crop=0.0, aug_flip=0.0, aug_colour=0.0, aug_grayscale=1.0))
    f = make_augment(d.kind, 1.0, options=d.augment_options)
    out = f(x, torch.Generator().manual_seed(0)).view(-1, 3, SIDE, SIDE)
    assert torch.equal(out[:, 0], out[:, 2])  # grayscale only
    assert RGBAugment.from_options({"aug_blur": 0.5, "n_samples": 3}) == RGBAugment(blur=0.5)


# --------------------------------------------------------------------------- encoder, snapshot, CLI


def test_the_rgb_cnn_reads_square_rgb_images():
    for side in (16, 20, 24):
        m = build_encoder("cnn_rgb", 3 * side * side, hidden_dim=32, rep_dim=16, proj_dim=8)
        h, z = m(torch.rand(5, 3 * side * side))
        assert h.shape == (5, 16) and z.shape == (5, 8)
    with pytest.raises(ValueError, match="square RGB images"):
        build_encoder("cnn_rgb", 64, hidden_dim=32, rep_dim=16, proj_dim=8)
    with pytest.raises(ConfigError, match="cannot read dataset 'digits'"):
        RunConfig(encoder="cnn_rgb")


def test_a_snapshot_holds_the_factors_and_their_probes():
    d = data.load(_cfg())
    torch.manual_seed(0)
    model = build_encoder("cnn_rgb", d.n_features, hidden_dim=32, rep_dim=16, proj_dim=8)
    arrays, m = evaluate.snapshot(model, d, device=torch.device("cpu"), aug_strength=1.0)
    for name, v in d.factors.items():
        np.testing.assert_array_equal(arrays[f"factor_{name}"], v[arrays["index"]])
    assert list(m["factor_probes"]) == list(d.factors) == list(m["factor_probes_embedding"])
    test = arrays["is_test"]
    for space, key in (("rep", "factor_probes"), ("emb", "factor_probes_embedding")):
        x = arrays[space]
        c = arrays["factor_colour"]
        assert m[key]["colour"] == pytest.approx(probes.knn_accuracy(x[~test], c[~test], x[test], c[test]))
        s = arrays["factor_scale"]
        assert m[key]["scale"] == pytest.approx(probes.knn_regression_r2(x[~test], s[~test], x[test], s[test]))
    json.dumps(m, allow_nan=False)  # the store writes the metrics as JSON


def test_train_json_reports_the_label_and_factor_probes(tmp_path, capsys):
    code = cli_main(["--store", str(tmp_path / "store"), "train", "--dataset", "shapes", "--encoder", "cnn_rgb",
                     "--n-samples", str(N), "--epochs", "1", "--batch-size", "64", "--hidden-dim", "32", "--rep-dim", "16",
                     "--proj-dim", "8", "--threads", "1", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert 0.0 <= out["knn_accuracy"] <= 1.0
    assert set(out["factor_probes"]) == set(out["factor_probes_embedding"]) == {"colour", "x", "y", "scale", "angle",
                                                                                 "background", "noise"}
    store = st.Store(tmp_path / "store")
    (run,) = store.list_runs()
    assert run.metrics["factor_probes"] == out["factor_probes"]
