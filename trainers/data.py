"""Datasets (all offline): scikit-learn's bundled sets and generated ones.

Every dataset is returned as a :class:`DataSplit` with a fixed held-out split (the
split seed does not depend on the run's seed, so runs on the same data share it) and
a stable index per sample (its row in the full dataset before the split).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import numpy as np

from trainers import registry
from trainers.config import RunConfig

SPLIT_SEED = 12345
TEST_FRACTION = 0.2


@dataclass
class DataSplit:
    x_train: np.ndarray  # (N_train, F) float32 (images flattened row-major, 8x8 -> 64; RGB as (3, H, W))
    y_train: np.ndarray  # (N_train,) int64 labels, or float32 targets for regression
    x_test: np.ndarray  # (N_test, F)
    y_test: np.ndarray  # (N_test,)
    index_train: np.ndarray  # (N_train,) stable index of each row in the full dataset
    index_test: np.ndarray  # (N_test,)
    task: str  # "classification" | "regression"
    kind: str  # "image8" | "rgb" | "vector"
    n_classes: int  # 0 for regression
    image_shape: tuple[int, int] | None  # (H, W): (8, 8) for image8 sets; RGB sets have 3 channels of (H, W)
    images: np.ndarray | None = None  # raw images for display, by stable index: (N_full, 8, 8) or (N_full, H, W, 3)
    noisy_dims: tuple[int, int] | None = None  # Jing toy: [start, stop) of the augmented dims
    # per-sample factors of generated sets (shapes), by stable index: name -> (N_full,) array;
    # integer dtype = a class factor (kNN accuracy), float = a numeric one (kNN R^2)
    factors: dict[str, np.ndarray] = field(default_factory=dict)
    # the config's aug_* fields this dataset lists (RGB sets): trainers.augment.make_augment(options=...)
    augment_options: dict[str, float] = field(default_factory=dict)

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def _stratified_split(y: np.ndarray, task: str, test_fraction: float = TEST_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SPLIT_SEED)
    n = len(y)
    if task == "classification":
        train, test = [], []
        for c in np.unique(y):
            idx = np.flatnonzero(y == c)
            rng.shuffle(idx)
            k = max(1, int(round(len(idx) * test_fraction)))
            test.append(idx[:k])
            train.append(idx[k:])
        return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))
    perm = rng.permutation(n)
    k = int(round(n * test_fraction))
    return np.sort(perm[k:]), np.sort(perm[:k])


def long_tail_counts(n_per_class: np.ndarray, ratio: float) -> np.ndarray:
    """Exponential profile: class c keeps n_max * ratio^(-c/(C-1)) samples (class 0 the most)."""
    c = len(n_per_class)
    if ratio <= 1 or c < 2:
        return n_per_class.copy()
    n_max = int(n_per_class.max())
    want = np.array([n_max * ratio ** (-i / (c - 1)) for i in range(c)])
    return np.maximum(1, np.minimum(n_per_class, np.floor(want).astype(int)))


def _apply_long_tail(train_idx: np.ndarray, y: np.ndarray, ratio: float) -> np.ndarray:
    if ratio <= 1:
        return train_idx
    rng = np.random.default_rng(SPLIT_SEED + 1)
    classes = np.unique(y[train_idx])
    counts = np.array([(y[train_idx] == c).sum() for c in classes])
    keep = long_tail_counts(counts, ratio)
    out = []
    for c, k in zip(classes, keep, strict=True):
        idx = train_idx[y[train_idx] == c]
        out.append(rng.choice(idx, size=k, replace=False))
    return np.sort(np.concatenate(out))


def _standardise(x: np.ndarray, train_idx: np.ndarray) -> np.ndarray:
    mu = x[train_idx].mean(0)
    sd = x[train_idx].std(0) + 1e-8
    return ((x - mu) / sd).astype(np.float32)


@dataclass
class Raw:
    """A dataset's rows before the split: what a source function of the registry returns."""

    x: np.ndarray  # (N, F) float32
    y: np.ndarray  # (N,) int64 labels or float32 targets
    noisy_dims: tuple[int, int] | None = None  # feature range the augmentation perturbs more (Jing et al. toy)
    factors: dict[str, np.ndarray] = field(default_factory=dict)  # per-sample factors (N,) by name (shapes)
    image_shape: tuple[int, int] | None = None  # RGB sets: (H, W) of each of the 3 channels


def _digit_images() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    d = load_digits()
    return (d.data / 16.0).astype(np.float32), d.target.astype(np.int64)


def digits(cfg: RunConfig) -> Raw:
    return Raw(*_digit_images())


def gmm_sphere(cfg: RunConfig) -> Raw:
    rng = np.random.default_rng(SPLIT_SEED + 7)
    c, dim = cfg.n_classes, cfg.data_dim
    centres = rng.standard_normal((c, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    y = np.arange(cfg.n_samples) % c
    x = centres[y] + 0.35 * rng.standard_normal((cfg.n_samples, dim)) / np.sqrt(dim) * np.sqrt(dim / 8)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return Raw(x.astype(np.float32), y.astype(np.int64))


def jing_toy(cfg: RunConfig) -> Raw:
    rng = np.random.default_rng(SPLIT_SEED + 8)
    x = rng.standard_normal((cfg.n_samples, 16)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) * 2 + (x[:, 1] > 0).astype(np.int64)
    return Raw(x, y, noisy_dims=(8, 16))


def _bundled(name: str) -> Raw:
    from sklearn import datasets

    d = getattr(datasets, f"load_{name}")()
    return Raw(d.data.astype(np.float32), d.target)


def wine(cfg: RunConfig) -> Raw:
    return _bundled("wine")


def breast_cancer(cfg: RunConfig) -> Raw:
    return _bundled("breast_cancer")


def iris(cfg: RunConfig) -> Raw:
    return _bundled("iris")


def diabetes(cfg: RunConfig) -> Raw:
    return _bundled("diabetes")


def swiss_roll(cfg: RunConfig) -> Raw:
    from sklearn.datasets import make_swiss_roll

    xs, t = make_swiss_roll(cfg.n_samples, noise=0.3, random_state=SPLIT_SEED)
    return Raw(xs.astype(np.float32), t.astype(np.float32))


def _transformed_digits(kind: str) -> Raw:
    from scipy import ndimage

    x, _ = _digit_images()
    rng = np.random.default_rng(SPLIT_SEED + 9)
    imgs = x.reshape(-1, 8, 8)
    if kind == "rotated":
        t = rng.uniform(-90.0, 90.0, size=len(imgs)).astype(np.float32)
        out = np.stack([ndimage.rotate(im, a, reshape=False, order=1, mode="constant") for im, a in zip(imgs, t, strict=True)])
    else:
        t = rng.uniform(0.1, 1.0, size=len(imgs)).astype(np.float32)
        out = imgs * t[:, None, None]
    return Raw(out.reshape(len(imgs), 64).astype(np.float32), t)


def rotated_digits(cfg: RunConfig) -> Raw:
    return _transformed_digits("rotated")


def intensity_digits(cfg: RunConfig) -> Raw:
    return _transformed_digits("intensity")


# --------------------------------------------------------------------------- shapes world
# Small RGB images of K shape classes drawn with nuisance factors. Every shape is centred on
# its centroid and reaches radius 1 in its own units (its circumradius). ``scale`` is the radius
# (pixels) of the circle of the same area: a shape of scale s covers pi s^2 pixels whatever its
# class, so the amount of colour in an image says nothing about the shape. Coordinates are in
# pixels with the centre of pixel (row i, column j) at (x, y) = (j + 0.5, i + 0.5). Rendering: a
# signed distance (in pixels) to the rotated, scaled shape on the pixel grid, coverage
# clip(0.5 - d, 0, 1) (a one-pixel anti-aliased edge).

SHAPES = ("circle", "square", "triangle", "cross", "ring", "diamond", "star", "hexagon")
SHAPES_SIZE = 20  # pixels per side (3 channels)
SHAPES_HUES = 6  # the colour factor: hue k * 60 degrees, k = 0..5
SHAPES_SCALE = (3.5, 5.0)  # scale (radius of the circle of equal area, pixels): uniform in this range
SHAPES_ANGLE = 45.0  # rotation (degrees): uniform in [-45, 45)
SHAPES_NOISE = (0.01, 0.05)  # pixel noise: a standard deviation per image, uniform in this range
SHAPES_TEXTURE = 0.08  # background grating: amplitude uniform in [0, this]


def _regular(n: int, radius: float, start: float = 90.0) -> np.ndarray:
    t = np.deg2rad(start + 360.0 * np.arange(n) / n)
    return np.c_[radius * np.cos(t), radius * np.sin(t)]


def _star(points: int, inner: float) -> np.ndarray:
    t = np.deg2rad(90.0 + 180.0 * np.arange(2 * points) / points)
    r = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    return np.c_[r * np.cos(t), r * np.sin(t)]


_W = 0.33  # half-width of the cross's arms
_POLYGONS: dict[str, np.ndarray] = {  # vertices (V, 2) in shape units, centroid at the origin
    "square": _regular(4, 1.0, 45.0),
    "triangle": _regular(3, 1.0),
    "cross": np.array([[_W, _W], [_W, 1], [-_W, 1], [-_W, _W], [-1, _W], [-1, -_W], [-_W, -_W], [-_W, -1], [_W, -1],
                       [_W, -_W], [1, -_W], [1, _W]]) / np.hypot(1, _W),
    "diamond": np.array([[0.0, 1.0], [-0.55, 0.0], [0.0, -1.0], [0.55, 0.0]]),
    "star": _star(5, 0.45),
    "hexagon": _regular(6, 1.0, 0.0),
}
_RING_INNER = 0.5  # the ring's inner radius (shape units)


def _polygon_area(p: np.ndarray) -> float:
    return 0.5 * abs(float(np.dot(p[:, 0], np.roll(p[:, 1], -1)) - np.dot(p[:, 1], np.roll(p[:, 0], -1))))


SHAPE_AREAS = {"circle": np.pi, "ring": np.pi * (1.0 - _RING_INNER**2),
               **{n: _polygon_area(p) for n, p in _POLYGONS.items()}}  # shape units (circumradius 1)
# circumradius (pixels) of a shape of scale 1: the area of pi pixels
SHAPE_REACH = np.array([np.sqrt(np.pi / SHAPE_AREAS[n]) for n in SHAPES])


def polygon_sdf(u: np.ndarray, v: np.ndarray, vertices: np.ndarray) -> np.ndarray:
    """Signed distance from points (u, v) (any shape) to a closed polygon (V, 2): negative inside.
    The distance to the nearest edge, its sign from an even-odd crossing test."""
    d2 = np.full(u.shape, np.inf)
    inside = np.zeros(u.shape, bool)
    for i in range(len(vertices)):
        (ax, ay), (bx, by) = vertices[i], vertices[i - 1]
        ex, ey = bx - ax, by - ay
        wx, wy = u - ax, v - ay
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d2 = np.minimum(d2, (wx - ex * t) ** 2 + (wy - ey * t) ** 2)
        above, below, left = v >= ay, v < by, ex * wy > ey * wx
        inside ^= (above & below & left) | (~above & ~below & ~left)
    return np.where(inside, -1.0, 1.0) * np.sqrt(d2)


def shape_sdf(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Signed distance (shape units) from points (u, v) to shape ``name`` (one of SHAPES)."""
    if name == "circle":
        return np.hypot(u, v) - 1.0
    if name == "ring":
        half = 0.5 * (1.0 - _RING_INNER)
        return np.abs(np.hypot(u, v) - (1.0 - half)) - half
    return polygon_sdf(u, v, _POLYGONS[name])


def _hsv_to_rgb(h: np.ndarray, s: np.ndarray, v: np.ndarray) -> np.ndarray:
    """(N,) hue in [0, 1), saturation, value -> (N, 3) RGB."""
    k = (np.array([5.0, 3.0, 1.0]) + 6.0 * h[:, None]) % 6.0  # (N, 3)
    return v[:, None] - v[:, None] * s[:, None] * np.clip(np.minimum(k, 4.0 - k), 0.0, 1.0)


def render_shapes(shape: np.ndarray, x: np.ndarray, y: np.ndarray, scale: np.ndarray, angle: np.ndarray,
                  fg: np.ndarray, bg: np.ndarray, *, size: int = SHAPES_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """Draw shapes ``shape`` (N,) (indices into SHAPES) centred at (x, y) (pixels), of area
    pi scale^2 (pixels), rotated by ``angle`` (degrees, counter-clockwise on the screen), in colour
    ``fg`` (N, 3) over backgrounds ``bg`` (N, size, size, 3). Returns (images (N, size, size, 3),
    coverage (N, size, size) in [0, 1])."""
    c = (np.arange(size) + 0.5)[None, :]  # pixel centres
    dx = np.broadcast_to(c[:, None, :] - x[:, None, None], (len(x), size, size))  # (N, H, W): column j
    dy = np.broadcast_to(c[:, :, None] - y[:, None, None], (len(x), size, size))  # (N, H, W): row i
    t = np.deg2rad(angle)[:, None, None]
    # shape units; the screen's y axis points down, so undo a counter-clockwise turn with these signs
    reach = (scale * SHAPE_REACH[shape])[:, None, None]  # circumradius, pixels
    u = (np.cos(t) * dx - np.sin(t) * dy) / reach
    v = (-np.sin(t) * dx - np.cos(t) * dy) / reach
    d = np.empty(dx.shape)
    for k, name in enumerate(SHAPES):
        rows = shape == k
        if rows.any():
            d[rows] = shape_sdf(name, u[rows], v[rows]) * reach[rows]  # pixels
    alpha = np.clip(0.5 - d, 0.0, 1.0)  # (N, H, W)
    img = bg * (1.0 - alpha[..., None]) + fg[:, None, None, :] * alpha[..., None]
    return img, alpha


@functools.lru_cache(maxsize=4)
def shapes_world(n: int, n_shapes: int) -> tuple[np.ndarray, np.ndarray, tuple[tuple[str, np.ndarray], ...]]:
    """The shapes world's images (n, 3 * S * S) float32, labels and factors (cached per settings)."""
    rng = np.random.default_rng(SPLIT_SEED + 10)
    s = SHAPES_SIZE
    y = np.arange(n) % n_shapes  # balanced classes
    colour = rng.integers(0, SHAPES_HUES, n)
    scale = rng.uniform(*SHAPES_SCALE, n)
    reach = scale * SHAPE_REACH[y]  # circumradius: the whole shape stays inside the image
    px = reach + rng.uniform(0.0, 1.0, n) * (s - 2 * reach)
    py = reach + rng.uniform(0.0, 1.0, n) * (s - 2 * reach)
    angle = rng.uniform(-SHAPES_ANGLE, SHAPES_ANGLE, n)
    fg = _hsv_to_rgb((colour / SHAPES_HUES + rng.uniform(-0.02, 0.02, n)) % 1.0, rng.uniform(0.7, 1.0, n),
                     rng.uniform(0.75, 1.0, n))
    background = rng.uniform(0.05, 0.6, n)  # the background's value (brightness)
    base = _hsv_to_rgb(rng.uniform(0.0, 1.0, n), rng.uniform(0.0, 0.3, n), background)  # (n, 3)
    # texture: a grating of random amplitude, frequency, orientation and phase
    amp, freq = rng.uniform(0.0, SHAPES_TEXTURE, n), rng.uniform(0.1, 0.4, n)
    theta, phase = rng.uniform(0.0, np.pi, n), rng.uniform(0.0, 2 * np.pi, n)
    noise = rng.uniform(*SHAPES_NOISE, n)
    pixel_noise = rng.standard_normal((n, s, s, 3), dtype=np.float32)
    c = np.arange(s) + 0.5
    out = np.empty((n, 3, s, s), np.float32)
    for lo in range(0, n, 4096):  # chunks bound the memory of the (chunk, S, S) grids
        sl = slice(lo, min(n, lo + 4096))
        proj = (np.cos(theta[sl])[:, None, None] * c[None, None, :] + np.sin(theta[sl])[:, None, None] * c[None, :, None])
        grating = amp[sl, None, None] * np.sin(2 * np.pi * freq[sl, None, None] * proj + phase[sl, None, None])
        bg = base[sl, None, None, :] + grating[..., None]  # (chunk, S, S, 3)
        img, _ = render_shapes(y[sl], px[sl], py[sl], scale[sl], angle[sl], fg[sl], bg, size=s)
        img = img + noise[sl, None, None, None] * pixel_noise[sl]
        out[sl] = np.clip(img, 0.0, 1.0).transpose(0, 3, 1, 2)
    factors = (("colour", colour.astype(np.int64)), ("x", px.astype(np.float32)), ("y", py.astype(np.float32)),
               ("scale", scale.astype(np.float32)), ("angle", angle.astype(np.float32)),
               ("background", background.astype(np.float32)), ("noise", noise.astype(np.float32)))
    for a in (out, y, *(v for _, v in factors)):
        a.flags.writeable = False  # shared by every caller of the cache
    return out.reshape(n, -1), y.astype(np.int64), factors


def shapes(cfg: RunConfig) -> Raw:
    """The shapes world: ``cfg.n_samples`` images of ``cfg.n_shapes`` shape classes (the label),
    with colour, position, scale, rotation, background and pixel noise as per-sample factors."""
    x, y, factors = shapes_world(cfg.n_samples, cfg.n_shapes)
    return Raw(x, y, factors=dict(factors), image_shape=(SHAPES_SIZE, SHAPES_SIZE))


def shapes_class_sizes(cfg: RunConfig) -> list[int]:
    """Training-split class sizes of the shapes world (the config's long-tail check), from its
    labels alone (nothing is drawn)."""
    y = np.arange(cfg.n_samples) % cfg.n_shapes
    train, _ = _stratified_split(y, "classification")
    return np.bincount(y[train], minlength=cfg.n_shapes).tolist()


def load(cfg: RunConfig) -> DataSplit:
    """Load ``cfg.dataset`` (its registry spec's source) with its fixed held-out split; apply
    the long tail / few samples."""
    spec = registry.DATASETS[cfg.dataset]
    raw = registry.resolve(spec.source)(cfg)
    x, y, task, kind = raw.x, raw.y, spec.task, spec.kind
    y = y.astype(np.int64) if task == "classification" else y.astype(np.float32)
    image_shape = (8, 8) if kind == "image8" else raw.image_shape
    images = None
    if kind == "image8":
        images = x.reshape(-1, 8, 8)
    elif kind == "rgb" and image_shape is not None:
        images = x.reshape(-1, 3, *image_shape).transpose(0, 2, 3, 1)  # (N, H, W, 3)
    train_idx, test_idx = _stratified_split(y, task)
    if task == "classification":
        train_idx = _apply_long_tail(train_idx, y, cfg.imbalance_ratio)
    if cfg.few_samples and cfg.few_samples < len(train_idx):
        rng = np.random.default_rng(SPLIT_SEED + 2)
        train_idx = np.sort(rng.choice(train_idx, size=cfg.few_samples, replace=False))
    if kind == "vector" and spec.standardise:
        x = _standardise(x, train_idx)
    n_classes = int(y.max()) + 1 if task == "classification" else 0
    return DataSplit(
        x_train=x[train_idx],
        y_train=y[train_idx],
        x_test=x[test_idx],
        y_test=y[test_idx],
        index_train=train_idx.astype(np.int64),
        index_test=test_idx.astype(np.int64),
        task=task,
        kind=kind,
        n_classes=n_classes,
        image_shape=image_shape,
        images=images,
        noisy_dims=raw.noisy_dims,
        factors=dict(raw.factors),
        augment_options={f: getattr(cfg, f) for f in spec.options if f.startswith("aug_")},
    )


def train_class_sizes(cfg: RunConfig) -> list[int]:
    """The number of training samples of each class of ``cfg``'s dataset (the config's check
    of a long-tail profile reads it for generated sets)."""
    y = load(cfg).y_train
    return np.bincount(y, minlength=int(y.max()) + 1).tolist()
