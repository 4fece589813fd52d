"""The claims of METHODS.md measured on the shapes world, over 5 seeds (mean ± sd, per-seed verdicts).

Digits sits at the ceiling (kNN on the raw pixels scores 0.981), so several claims there could not
be seen. The shapes world (20x20 RGB images: 6 shapes, 6 hues, random position, scale, rotation,
background and pixel noise; trainers/data.py) is hard for raw pixels: the shape kNN on the raw
input is near chance while colour is easy, so what a representation keeps can be read off its
factor probes. Every run: the small RGB CNN (cnn_rgb), Adam lr 1e-3, 3,000 samples (20% held out),
temperature 0.2, one CPU thread; figures are the final snapshot's held-out metrics:
``knn_accuracy`` / ``knn_accuracy_emb`` (shape kNN on the representation / the projector output)
and ``factor_probes[_embedding]["colour"]`` (colour kNN accuracy).

Claims (verdict rules fixed before the 5-seed run; each is decided per seed, then: "held" on every
seed, "fragile" on some, "not held" on none):

colour      SimCLR's colour augmentation (Chen et al. 2020). The preset "Shapes · crop + colour vs
            crop only" (NT-Xent, batch 256), 100 epochs (the preset's 150 cut for compute).
            (i) crop only gives a worse shape representation than crop + colour, at or near the raw-
            pixel baseline, while colour stays decodable. Per seed: shape kNN (rep) crop + colour −
            crop only > 0, crop only's shape kNN <= raw-pixel shape kNN + 0.05, and crop only's
            colour kNN (rep) >= 0.9.
            (ii) with colour augmentation the representation keeps more colour than the head's
            output. Per seed: colour kNN (rep) − colour kNN (projector) > 0, crop + colour.
dcl_batch   DCL's gain over NT-Xent is largest at small batch (Yeh et al. 2022). Both losses at
            tau 0.2, batch 32 and 256, crop + colour, 20 epochs (so batch 32 takes 8x the steps).
            Per seed: gain = shape kNN (rep) DCL − NT-Xent; held if gain(32) > 0 and gain(32) >
            gain(256).
multiview   MV-DHEL with more views (Koromilas et al. 2025): MV-DHEL and MV-InfoNCE with 2 and 4
            views, batch 128, tau 0.2, crop + colour, 20 epochs. Per seed: (accuracy) MV-DHEL's shape
            kNN (rep) at 4 views − at 2 views > 0; (spectrum) effective rank of the embedding
            covariance, MV-DHEL − MV-InfoNCE at 4 views > 0. Each part gets its own verdict.
noise       Noise views (XSimGCL, Yu et al. 2023) with the noise RELATIVE to each embedding's norm
            (``noise_scale = "relative"``: the noise norm is eps ||z||), eps 0 / 0.1 / 0.3 / 1,
            NT-Xent batch 256, crop + colour, 20 epochs. Per seed: (smooth) |Spearman(eps,
            uniformity)| = 1 over the 4 eps (monotone); (peak) the best shape kNN (rep) is at a
            moderate eps (0.1 or 0.3) and above eps 0.

    python bench/claims_shapes.py --seeds 0,1,2,3,4            # every claim (about 75 min of CPU)
    python bench/claims_shapes.py --claim colour --seeds 0,1    # one claim
    python bench/claims_shapes.py --quick                       # smoke: 1 seed, 1 epoch (not a result)

Every run's figures are cached in bench/out/claims_shapes/ (keyed by config, seed and run length):
a second call reuses them (``--fresh`` retrains). The markdown rows for docs/claims.md are printed
at the end and written to bench/out/claims_shapes.md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing as mp
import os
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from trainers.presets import get_preset  # noqa: E402

OUT_DIR = ROOT / "bench" / "out"
CACHE_DIR = OUT_DIR / "claims_shapes"
CMD = "python bench/claims_shapes.py --seeds 0,1,2,3,4"
SEEDS = (0, 1, 2, 3, 4)
PRESET = "Shapes · crop + colour vs crop only"
NEAR_RAW = 0.05  # "at or near the raw-pixel baseline": at most this much above it (shape kNN)
DECODABLE = 0.9  # "colour stays decodable": colour kNN accuracy at least this (6 hues: chance 0.17)

_BASE = {k: v for k, v in get_preset(PRESET).configs[0].items() if k != "name"}  # crop + colour, NT-Xent, tau 0.2
# run length per claim (epochs): the colour claim near the preset's 150, the others as compute allowed
EPOCHS = {"colour": 100, "dcl_batch": 20, "multiview": 20, "noise": 20, "isogclr": 100}


def _cfg(name: str, epochs: int, **over: Any) -> dict[str, Any]:
    return {**_BASE, "epochs": epochs, **over, "name": name}


CONFIGS: dict[str, list[dict[str, Any]]] = {
    "colour": [
        _cfg("crop + colour", EPOCHS["colour"]),
        _cfg("crop only", EPOCHS["colour"], aug_colour=0.0, aug_grayscale=0.0),
    ],
    "dcl_batch": [_cfg(f"{loss} B={b}", EPOCHS["dcl_batch"], loss=loss, batch_size=b)
                  for b in (32, 256) for loss in ("nt_xent", "dcl")],
    "multiview": [_cfg(f"{loss} {v} views", EPOCHS["multiview"], loss=loss, views=v, batch_size=128)
                  for v in (2, 4) for loss in ("mv_infonce", "mv_dhel")],
    "noise": [_cfg(f"relative eps={e:g}", EPOCHS["noise"], noise_eps=e, noise_scale="relative")
              for e in (0.0, 0.1, 0.3, 1.0)],
    "isogclr": [_cfg(f"{loss} · imbalance 10", EPOCHS["isogclr"], loss=loss, imbalance_ratio=10.0, batch_size=64,
                     temperature=0.5) for loss in ("isogclr", "sogclr")],
}
PAPERS = {
    "colour": "Chen et al. 2020 (SimCLR)",
    "dcl_batch": "Yeh et al. 2022 (DCL)",
    "multiview": "Koromilas et al. 2025 (MV-DHEL / MV-InfoNCE)",
    "noise": "Yu et al. 2023 (XSimGCL)",
    "isogclr": "Qiu et al. 2023 (iSogCLR)",
}


# --------------------------------------------------------------------------- one run
def run_one(config: dict[str, Any], seed: int, epochs: int) -> dict[str, Any]:
    """Train ``config`` with ``seed`` for ``epochs`` into a throwaway store (claims_methods.run_one)."""
    from claims_methods import run_one as train_one

    return train_one(config, seed, epochs)


def _key(config: dict[str, Any], seed: int, epochs: int) -> str:
    blob = json.dumps({"config": config, "seed": seed, "epochs": epochs}, sort_keys=True, default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def run_all(tasks: list[tuple[dict[str, Any], int, int]], *, jobs: int, fresh: bool, cache: Path | None,
            print_fn: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """The result of every (config, seed, epochs) task, from the cache when there, else trained."""
    out: dict[int, dict[str, Any]] = {}
    todo = []
    for i, (c, s, e) in enumerate(tasks):
        path = cache / f"{_key(c, s, e)}.json" if cache else None
        if path and path.exists() and not fresh:
            out[i] = json.loads(path.read_text())
        else:
            todo.append(i)

    def keep(i: int, r: dict[str, Any]) -> None:
        r["epochs"] = tasks[i][2]
        out[i] = r
        if cache and r["status"] == "finished":
            cache.mkdir(parents=True, exist_ok=True)
            (cache / f"{_key(*tasks[i])}.json").write_text(json.dumps(r, default=float))
        print_fn(f"  trained {r['config']['name']} seed {r['seed']}: {r['seconds']:.0f} s, {r['status']}")

    if jobs > 1 and len(todo) > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
            futs = {ex.submit(run_one, *tasks[i]): i for i in todo}
            for f in as_completed(futs):  # cached as each run ends, so an interrupted call loses little
                keep(futs[f], f.result())
    else:
        for i in todo:
            keep(i, run_one(*tasks[i]))
    return [out[i] for i in range(len(tasks))]


def raw_baseline() -> dict[str, Any]:
    """The probes on the shapes world's raw pixels (``python -m trainers baseline --dataset shapes``)."""
    from trainers import data, evaluate
    from trainers.config import RunConfig

    return evaluate.raw_probes(data.load(RunConfig.from_dict(dict(_BASE))))


# --------------------------------------------------------------------------- statistics
class Runs:
    """The runs of one claim; values are per-seed lists in seed order."""

    def __init__(self, runs: list[dict[str, Any]], seeds: tuple[int, ...]) -> None:
        self.runs, self.seeds = runs, seeds

    def values(self, key: str, name: str) -> list[float]:
        by_seed = {r["seed"]: r for r in self.runs if r["config"]["name"] == name}
        out = []
        for s in self.seeds:
            r = by_seed.get(s)
            if r is None or r["status"] != "finished":
                out.append(float("nan"))
                continue
            m = r["metrics"]
            if key.startswith("colour"):  # colour / colour_emb: the colour factor's kNN accuracy
                v = m.get("factor_probes_embedding" if key.endswith("_emb") else "factor_probes", {}).get("colour")
            else:
                v = m.get(key, r["extra"].get(key))
            out.append(float("nan") if v is None else float(v))
        return out


def mean_sd(xs: list[float]) -> tuple[float, float]:
    a = np.asarray(xs, dtype=np.float64)
    a = a[np.isfinite(a)]
    if not len(a):
        return float("nan"), float("nan")
    return float(a.mean()), (float(a.std(ddof=1)) if len(a) > 1 else 0.0)


def fmt(xs: list[float], d: int = 3) -> str:
    m, s = mean_sd(xs)
    return f"{m:.{d}f} ± {s:.{d}f}"


def per_seed(xs: list[float], d: int = 3) -> str:
    return " / ".join(f"{x:.{d}f}" for x in xs)


def sub(a: list[float], b: list[float]) -> list[float]:
    return [x - y for x, y in zip(a, b, strict=True)]


def verdict(ok: list[bool]) -> str:
    """"held" on every seed, "fragile" on some, "not held" on none."""
    return "held" if all(ok) else ("fragile" if any(ok) else "not held")


def marks(ok: list[bool]) -> str:
    return "".join("✓" if x else "✗" for x in ok)


def table(header: list[str], rows: list[list[Any]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


@dataclass
class Row:
    """One row of docs/claims.md."""

    claim: str
    config: str
    per_seed: str
    mean_sd: str
    baseline: str
    held: str
    claim_key: str = ""

    def markdown(self) -> str:
        cmd = f"`{CMD} --claim {self.claim_key}`" if self.claim_key else f"`{CMD}`"
        return (f"| {self.claim} | {PAPERS.get(self.claim_key, '')} | {self.config} | {cmd} | {self.per_seed} | "
                f"{self.mean_sd} | {self.baseline} | {self.held} |")


# --------------------------------------------------------------------------- analyses
def analyse_colour(R: Runs, raw: dict[str, Any]) -> tuple[str, list[Row]]:
    cc, co = "crop + colour", "crop only"
    rows = [[name] + [per_seed(R.values(k, name)) + f"  ({fmt(R.values(k, name))})"
                      for k in ("knn_accuracy", "knn_accuracy_emb", "colour", "colour_emb")] for name in (cc, co)]
    raw_shape, raw_colour = raw["knn_accuracy"], raw["factor_probes"]["colour"]
    rows.append(["raw pixels", f"{raw_shape:.3f}", "", f"{raw_colour:.3f}", ""])
    tab = table(["config", "shape kNN (rep)", "shape kNN (proj)", "colour kNN (rep)", "colour kNN (proj)"], rows)
    gain = sub(R.values("knn_accuracy", cc), R.values("knn_accuracy", co))
    near = [x <= raw_shape + NEAR_RAW for x in R.values("knn_accuracy", co)]
    dec = [x >= DECODABLE for x in R.values("colour", co)]
    ok1 = [g > 0 and n and d for g, n, d in zip(gain, near, dec, strict=True)]
    keep = sub(R.values("colour", cc), R.values("colour_emb", cc))
    ok2 = [k > 0 for k in keep]
    ev = (f"(i) shape kNN gain crop + colour − crop only {per_seed(gain)} (> 0: {marks([g > 0 for g in gain])}); crop only "
          f"within {NEAR_RAW} of raw {raw_shape:.3f}: {marks(near)}; crop-only colour >= {DECODABLE}: {marks(dec)} -> "
          f"{verdict(ok1).upper()}\n(ii) colour kNN rep − proj, crop + colour: {per_seed(keep)} ({fmt(keep)}) -> "
          f"{verdict(ok2).upper()}")
    base = f"raw pixels: shape kNN {raw_shape:.3f}, colour kNN {raw_colour:.3f}"
    conf = (f"shapes, cnn_rgb, NT-Xent tau 0.2, batch 256, {EPOCHS['colour']} epochs; crop + colour (colour jitter 0.8, "
            "grayscale 0.2) vs crop only")
    r1 = Row("crop alone gives a worse shape representation than crop + colour, at or near the raw-pixel baseline, "
             "while colour stays decodable", conf,
             f"shape kNN (rep) crop + colour {per_seed(R.values('knn_accuracy', cc))}; crop only "
             f"{per_seed(R.values('knn_accuracy', co))}; colour kNN (rep) crop only {per_seed(R.values('colour', co))}",
             f"shape kNN crop + colour {fmt(R.values('knn_accuracy', cc))} (proj {fmt(R.values('knn_accuracy_emb', cc))}), "
             f"crop only {fmt(R.values('knn_accuracy', co))} (proj {fmt(R.values('knn_accuracy_emb', co))}); gain "
             f"{fmt(gain)}; colour kNN crop only {fmt(R.values('colour', co))} (proj {fmt(R.values('colour_emb', co))})",
             base, f"{verdict(ok1)} ({sum(ok1)}/{len(ok1)} seeds: {marks(ok1)})", "colour")
    r2 = Row("with colour augmentation, the representation before the head keeps more colour than the head's output",
             conf + "; the crop + colour runs",
             f"colour kNN rep {per_seed(R.values('colour', cc))}; proj {per_seed(R.values('colour_emb', cc))}",
             f"rep {fmt(R.values('colour', cc))}, proj {fmt(R.values('colour_emb', cc))}, rep − proj {fmt(keep)} "
             f"(crop only: rep {fmt(R.values('colour', co))}, proj {fmt(R.values('colour_emb', co))})",
             base, f"{verdict(ok2)} ({sum(ok2)}/{len(ok2)} seeds: {marks(ok2)})", "colour")
    return tab + "\n\n" + ev, [r1, r2]


def analyse_dcl_batch(R: Runs, raw: dict[str, Any]) -> tuple[str, list[Row]]:
    rows, gains = [], {}
    for b in (32, 256):
        n, d = R.values("knn_accuracy", f"nt_xent B={b}"), R.values("knn_accuracy", f"dcl B={b}")
        gains[b] = sub(d, n)
        rows.append([b, per_seed(n) + f" ({fmt(n)})", per_seed(d) + f" ({fmt(d)})", per_seed(gains[b]) + f" ({fmt(gains[b])})"])
    tab = table(["batch", "shape kNN NT-Xent", "shape kNN DCL", "gain DCL − NT-Xent"], rows)
    ok = [g32 > 0 and g32 > g256 for g32, g256 in zip(gains[32], gains[256], strict=True)]
    ev = f"gain(32) > 0 and > gain(256): {marks(ok)} -> {verdict(ok).upper()}"
    row = Row("DCL's gain over NT-Xent is largest at small batch",
              f"shapes, cnn_rgb, crop + colour, tau 0.2 for both, batch 32 and 256, {EPOCHS['dcl_batch']} epochs",
              f"shape kNN gain DCL − NT-Xent: B=32 {per_seed(gains[32])}; B=256 {per_seed(gains[256])}",
              f"gain B=32 {fmt(gains[32])}, B=256 {fmt(gains[256])}; shape kNN NT-Xent "
              f"{fmt(R.values('knn_accuracy', 'nt_xent B=32'))} / {fmt(R.values('knn_accuracy', 'nt_xent B=256'))}, DCL "
              f"{fmt(R.values('knn_accuracy', 'dcl B=32'))} / {fmt(R.values('knn_accuracy', 'dcl B=256'))} (B=32 / 256)",
              f"raw pixels: shape kNN {raw['knn_accuracy']:.3f}", f"{verdict(ok)} ({sum(ok)}/{len(ok)} seeds: {marks(ok)})",
              "dcl_batch")
    return tab + "\n\n" + ev, [row]


def analyse_multiview(R: Runs, raw: dict[str, Any]) -> tuple[str, list[Row]]:
    rows = []
    for v in (2, 4):
        for loss in ("mv_infonce", "mv_dhel"):
            n = f"{loss} {v} views"
            rows.append([v, loss, per_seed(R.values("knn_accuracy", n)) + f" ({fmt(R.values('knn_accuracy', n))})",
                         fmt(R.values("knn_accuracy_emb", n)), fmt(R.values("erank_cov_emb", n), 1), fmt(R.values("rankme", n), 1)])
    tab = table(["views", "loss", "shape kNN (rep)", "shape kNN (proj)", "erank cov (proj)", "RankMe (rep)"], rows)
    gain = sub(R.values("knn_accuracy", "mv_dhel 4 views"), R.values("knn_accuracy", "mv_dhel 2 views"))
    gain_inf = sub(R.values("knn_accuracy", "mv_infonce 4 views"), R.values("knn_accuracy", "mv_infonce 2 views"))
    rank = sub(R.values("erank_cov_emb", "mv_dhel 4 views"), R.values("erank_cov_emb", "mv_infonce 4 views"))
    vs = sub(R.values("knn_accuracy", "mv_dhel 4 views"), R.values("knn_accuracy", "mv_infonce 4 views"))
    ok_acc, ok_rank = [g > 0 for g in gain], [r > 0 for r in rank]
    ev = (f"accuracy: MV-DHEL 4 − 2 views {per_seed(gain)} ({fmt(gain)}) -> {verdict(ok_acc).upper()}; (MV-InfoNCE 4 − 2: "
          f"{fmt(gain_inf)}; MV-DHEL − MV-InfoNCE at 4 views: {fmt(vs)})\nspectrum: erank MV-DHEL − MV-InfoNCE at 4 views "
          f"{per_seed(rank, 1)} ({fmt(rank, 1)}) -> {verdict(ok_rank).upper()}")
    conf = f"shapes, cnn_rgb, crop + colour, batch 128, tau 0.2, 2 and 4 views, {EPOCHS['multiview']} epochs"
    base = f"raw pixels: shape kNN {raw['knn_accuracy']:.3f}"
    dh = lambda v: R.values("knn_accuracy", f"mv_dhel {v} views")  # noqa: E731
    inf = lambda v: R.values("knn_accuracy", f"mv_infonce {v} views")  # noqa: E731
    er = lambda loss: R.values("erank_cov_emb", f"{loss} 4 views")  # noqa: E731
    r1 = Row("MV-DHEL gains accuracy with more views (2 -> 4)", conf,
             f"MV-DHEL shape kNN 4 − 2 views: {per_seed(gain)}",
             f"MV-DHEL {fmt(dh(2))} -> {fmt(dh(4))} (gain {fmt(gain)}); MV-InfoNCE {fmt(inf(2))} -> {fmt(inf(4))} "
             f"(gain {fmt(gain_inf)})", base, f"{verdict(ok_acc)} ({sum(ok_acc)}/{len(ok_acc)} seeds: {marks(ok_acc)})",
             "multiview")
    r2 = Row("MV-DHEL keeps a fuller embedding spectrum than MV-InfoNCE with more views", conf,
             f"effective rank (covariance, projector output) MV-DHEL − MV-InfoNCE at 4 views: {per_seed(rank, 1)}",
             f"erank at 4 views: MV-DHEL {fmt(er('mv_dhel'), 1)}, MV-InfoNCE {fmt(er('mv_infonce'), 1)}",
             "—", f"{verdict(ok_rank)} ({sum(ok_rank)}/{len(ok_rank)} seeds: {marks(ok_rank)})", "multiview")
    return tab + "\n\n" + ev, [r1, r2]


def analyse_noise(R: Runs, raw: dict[str, Any]) -> tuple[str, list[Row]]:
    from scipy.stats import spearmanr

    eps = (0.0, 0.1, 0.3, 1.0)
    names = [f"relative eps={e:g}" for e in eps]
    rows = [[e, per_seed(R.values("uniformity", n)) + f" ({fmt(R.values('uniformity', n))})",
             per_seed(R.values("knn_accuracy", n)) + f" ({fmt(R.values('knn_accuracy', n))})",
             fmt(R.values("colour", n)), fmt(R.values("emb_norm_mean", n), 2)] for e, n in zip(eps, names, strict=True)]
    tab = table(["eps (x ||z||)", "uniformity", "shape kNN (rep)", "colour kNN (rep)", "mean ||z||"], rows)
    U = np.array([R.values("uniformity", n) for n in names])  # (eps, seeds)
    A = np.array([R.values("knn_accuracy", n) for n in names])
    rho = [float(spearmanr(eps, U[:, i])[0]) for i in range(U.shape[1])]
    ok_s = [abs(r) >= 1.0 - 1e-9 for r in rho]
    best = [int(np.argmax(A[:, i])) for i in range(A.shape[1])]
    ok_p = [b in (1, 2) and A[b, i] > A[0, i] for i, b in enumerate(best)]
    peak_gain = [float(A[1:3, i].max() - A[0, i]) for i in range(A.shape[1])]
    ev = (f"smooth: Spearman(eps, uniformity) per seed {' / '.join(f'{r:+.2f}' for r in rho)} -> {verdict(ok_s).upper()}\n"
          f"peak: best eps per seed {' / '.join(f'{eps[b]:g}' for b in best)}; best moderate − eps 0: {per_seed(peak_gain)} "
          f"-> {verdict(ok_p).upper()}")
    conf = f"shapes, cnn_rgb, NT-Xent tau 0.2, batch 256, crop + colour, {EPOCHS['noise']} epochs, noise eps x ||z|| (relative)"
    r1 = Row("noise views: eps tunes uniformity smoothly (relative noise)", conf,
             f"Spearman(eps, uniformity): {' / '.join(f'{r:+.2f}' for r in rho)}",
             "uniformity eps 0 / 0.1 / 0.3 / 1: " + " / ".join(fmt(list(U[i]), 3) for i in range(len(eps))),
             "—", f"{verdict(ok_s)} ({sum(ok_s)}/{len(ok_s)} seeds: {marks(ok_s)})", "noise")
    r2 = Row("noise views: downstream quality peaks at a moderate eps (relative noise)", conf,
             f"best eps: {' / '.join(f'{eps[b]:g}' for b in best)}; best of 0.1, 0.3 − eps 0: {per_seed(peak_gain)}",
             "shape kNN eps 0 / 0.1 / 0.3 / 1: " + " / ".join(fmt(list(A[i])) for i in range(len(eps))),
             f"raw pixels: shape kNN {raw['knn_accuracy']:.3f}", f"{verdict(ok_p)} ({sum(ok_p)}/{len(ok_p)} seeds: {marks(ok_p)})",
             "noise")
    return tab + "\n\n" + ev, [r1, r2]


def analyse_isogclr(R: Runs, raw: dict[str, Any]) -> tuple[str, list[Row]]:
    i, g = "isogclr · imbalance 10", "sogclr · imbalance 10"
    rho = R.values("tau_freq_spearman", i)
    head_tail = sub(R.values("tau_head", i), R.values("tau_tail", i))
    gain = sub(R.values("knn_accuracy", i), R.values("knn_accuracy", g))
    rows = [[name] + [per_seed(R.values(k, name)) + f" ({fmt(R.values(k, name))})" for k in ("knn_accuracy", "colour")]
            for name in (i, g)]
    tab = table(["config", "shape kNN (rep)", "colour kNN (rep)"], rows)
    ok1 = [r > 0 and d > 0 for r, d in zip(rho, head_tail, strict=True)]
    ok2 = [x > 0 for x in gain]
    ev = (f"Spearman(class frequency, tau_i) {per_seed(rho, 2)}; tau_i head − tail {per_seed(head_tail)} -> "
          f"{verdict(ok1).upper()}\nshape kNN iSogCLR − SogCLR {per_seed(gain)} -> {verdict(ok2).upper()}")
    conf = (f"shapes (3,000 images, training split long-tailed 10x, test split balanced), cnn_rgb, crop + colour, "
            f"batch 64, tau 0.5 (iSogCLR: its start), {EPOCHS['isogclr']} epochs")
    r1 = Row("iSogCLR on a long tail: samples of frequent classes end with larger tau_i than those of rare classes", conf,
             f"Spearman(frequency, tau_i) {per_seed(rho, 2)}; head − tail {per_seed(head_tail)}",
             f"Spearman {fmt(rho, 2)}; tau_i head {fmt(R.values('tau_head', i))}, tail {fmt(R.values('tau_tail', i))}",
             "—", f"{verdict(ok1)} ({sum(ok1)}/{len(ok1)} seeds: {marks(ok1)})", "isogclr")
    r2 = Row("iSogCLR on a long tail: a learned tau per sample beats one global tau (SogCLR, 0.5)", conf,
             f"shape kNN gain iSogCLR − SogCLR {per_seed(gain)}",
             f"gain {fmt(gain)}; shape kNN iSogCLR {fmt(R.values('knn_accuracy', i))}, SogCLR "
             f"{fmt(R.values('knn_accuracy', g))}",
             f"raw pixels: shape kNN {raw['knn_accuracy']:.3f}", f"{verdict(ok2)} ({sum(ok2)}/{len(ok2)} seeds: {marks(ok2)})",
             "isogclr")
    return tab + "\n\n" + ev, [r1, r2]


ANALYSES: dict[str, Callable[[Runs, dict[str, Any]], tuple[str, list[Row]]]] = {
    "colour": analyse_colour, "dcl_batch": analyse_dcl_batch, "multiview": analyse_multiview, "noise": analyse_noise,
    "isogclr": analyse_isogclr,
}


def markdown(rows: list[Row], seeds: tuple[int, ...]) -> str:
    head = ("| claim | paper | config | command | per seed (" + ", ".join(map(str, seeds)) + ") | mean ± sd | "
            "raw-pixel baseline | held? |\n|---|---|---|---|---|---|---|---|")
    return head + "\n" + "\n".join(r.markdown() for r in rows)


# --------------------------------------------------------------------------- driver
def parse_seeds(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(s) for s in text.split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"seeds {text!r}: give integers separated by commas, e.g. 0,1,2,3,4") from None
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"seeds {text!r}: give at least one seed, each once")
    return seeds


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=parse_seeds, default=SEEDS, help="comma-separated seeds (default 0,1,2,3,4)")
    p.add_argument("--claim", action="append", choices=list(CONFIGS), help="run only this claim (repeatable)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs in parallel (1 thread each)")
    p.add_argument("--quick", action="store_true", help="smoke run: seed 0, 1 epoch, no cache (not a result)")
    p.add_argument("--fresh", action="store_true", help="retrain runs found in the cache")
    a = p.parse_args(argv)
    names = a.claim or list(CONFIGS)
    seeds = (0,) if a.quick else a.seeds
    t0 = time.perf_counter()
    tasks = [(c, s, 1 if a.quick else c["epochs"]) for n in names for s in seeds for c in CONFIGS[n]]
    print(f"{len(tasks)} runs ({', '.join(names)}; seeds {', '.join(map(str, seeds))})")
    runs = run_all(tasks, jobs=a.jobs, fresh=a.fresh, cache=None if a.quick else CACHE_DIR)
    raw = raw_baseline()
    print(f"\nraw pixels (python -m trainers baseline --dataset shapes): shape kNN {raw['knn_accuracy']:.3f}, linear "
          f"{raw['linear_accuracy']:.3f}; factor probes {json.dumps({k: round(v, 3) for k, v in raw['factor_probes'].items()})}")
    all_rows: list[Row] = []
    for n in names:
        mine = [r for r in runs if any(r["config"] == c for c in CONFIGS[n])]
        text, rows = ANALYSES[n](Runs(mine, seeds), raw)
        secs = sum(r["seconds"] for r in mine)
        print(f"\n## {n}{'  (QUICK: 1 epoch, not a result)' if a.quick else ''}: {len(mine)} runs, {secs:.0f} s of training\n")
        print(text)
        all_rows += rows
    md = markdown(all_rows, seeds)
    print(f"\n# rows for docs/claims.md ({time.perf_counter() - t0:.0f} s wall)\n\n{md}")
    if not a.quick:
        OUT_DIR.mkdir(parents=True, exist_ok=True)
        (OUT_DIR / "claims_shapes.md").write_text(md + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
