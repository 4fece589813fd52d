"""Datasets (all offline): scikit-learn's bundled sets and generated ones.

Every dataset is returned as a :class:`DataSplit` with a fixed held-out split (the
split seed does not depend on the run's seed, so runs on the same data share it) and
a stable index per sample (its row in the full dataset before the split).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from trainers import registry
from trainers.config import RunConfig

SPLIT_SEED = 12345
TEST_FRACTION = 0.2


@dataclass
class DataSplit:
    x_train: np.ndarray  # (N_train, F) float32 (images flattened row-major, 8x8 -> 64)
    y_train: np.ndarray  # (N_train,) int64 labels, or float32 targets for regression
    x_test: np.ndarray  # (N_test, F)
    y_test: np.ndarray  # (N_test,)
    index_train: np.ndarray  # (N_train,) stable index of each row in the full dataset
    index_test: np.ndarray  # (N_test,)
    task: str  # "classification" | "regression"
    kind: str  # "image8" | "vector"
    n_classes: int  # 0 for regression
    image_shape: tuple[int, int] | None  # (8, 8) for image datasets
    images: np.ndarray | None = None  # (N_full, 8, 8) raw images for display, by stable index
    noisy_dims: tuple[int, int] | None = None  # Jing toy: [start, stop) of the augmented dims

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


def load(cfg: RunConfig) -> DataSplit:
    """Load ``cfg.dataset`` (its registry spec's source) with its fixed held-out split; apply
    the long tail / few samples."""
    spec = registry.DATASETS[cfg.dataset]
    raw = registry.resolve(spec.source)(cfg)
    x, y, task, kind = raw.x, raw.y, spec.task, spec.kind
    y = y.astype(np.int64) if task == "classification" else y.astype(np.float32)
    images = x.reshape(-1, 8, 8) if kind == "image8" else None
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
        image_shape=(8, 8) if kind == "image8" else None,
        images=images,
        noisy_dims=raw.noisy_dims,
    )


def train_class_sizes(cfg: RunConfig) -> list[int]:
    """The number of training samples of each class of ``cfg``'s dataset (the config's check
    of a long-tail profile reads it for generated sets)."""
    y = load(cfg).y_train
    return np.bincount(y, minlength=int(y.max()) + 1).tolist()
