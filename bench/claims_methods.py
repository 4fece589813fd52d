"""Reproduce the method claims of METHODS.md over 3 seeds and print one table per claim.

Each claim is a preset of trainers/presets.py (the Train page launches the same configs as
one group); this script trains every config of that preset for each seed, in-process with
``train_run`` into a temporary store, reads the final snapshot and prints mean ± sd over
seeds of the metrics the claim is about, then a verdict with the rule that produced it.
The rules compare the metrics the lab always computes (held-out split); nothing is tuned
per claim. Results also go to bench/out/claims_methods_<claim>.json.

    .venv/bin/python bench/claims_methods.py                  # every claim, 3 seeds (~20 min CPU)
    .venv/bin/python bench/claims_methods.py --claim noise    # one claim
    .venv/bin/python bench/claims_methods.py --quick --claim noise   # smoke: 1 seed, 2 epochs

Claims: dcl_batch, dcl_temperature, multiview, isogclr, supremix, noise, noise_only.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from trainers.presets import get_preset  # noqa: E402

OUT_DIR = ROOT / "bench" / "out"
SEEDS = (0, 1, 2)
QUICK_EPOCHS = 1
# "clear" = the mean of a (paired, per-seed) difference is more than one sd away from 0
ONE_SD = "mean - sd > 0"


# --------------------------------------------------------------------------- one run
def run_one(overrides: dict[str, Any], seed: int, epochs: int | None = None) -> dict[str, Any]:
    """Train one config (preset overrides + seed) into a throwaway store; return its final figures."""
    from scipy.stats import spearmanr

    from jobs import store as st
    from trainers.config import RunConfig
    from trainers.train import train_run

    over = dict(overrides)
    if epochs is not None:
        over["epochs"] = epochs
    over.update(seed=seed, threads=1, snapshot_every=str(over.get("epochs", RunConfig().epochs)))  # epochs 0 and last
    cfg = RunConfig.from_dict(over)
    root = tempfile.mkdtemp(prefix="claims_")
    try:
        store = st.Store(root)
        rid = store.create_run(cfg, status=st.RUNNING)
        t0 = time.perf_counter()
        out = train_run(store, rid, log=lambda m: None)
        seconds = time.perf_counter() - t0
        snaps = store.snapshots(rid)
        metrics = dict(snaps[-1].metrics)
        arrays = store.load_snapshot(rid, snaps[-1].epoch)
        store.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    test = arrays["is_test"]
    extra: dict[str, Any] = {"emb_norm_mean": float(np.linalg.norm(arrays["emb"][test], axis=1).mean())}
    if "ps_tau" in arrays:  # learned temperatures of the training rows, against class frequency
        y = arrays["y"][~test].astype(np.int64)
        tau = arrays["ps_tau"][~test].astype(np.float64)
        counts = np.bincount(y)
        classes = [int(c) for c in np.argsort(-counts, kind="stable") if counts[c] > 0]  # most frequent first
        k = max(1, len(classes) * 3 // 10)  # head / tail = the 30% most / least frequent classes
        head, tail = classes[:k], classes[-k:]
        freq = counts[y]
        extra.update(
            tau_by_class={str(c): float(tau[y == c].mean()) for c in classes},
            class_counts={str(c): int(counts[c]) for c in classes},
            tau_head=float(tau[np.isin(y, head)].mean()),
            tau_tail=float(tau[np.isin(y, tail)].mean()),
            tau_freq_spearman=(float(spearmanr(freq, tau)[0]) if np.ptp(freq) > 0 and np.ptp(tau) > 0 else float("nan")),
        )
    return {"config": overrides, "seed": seed, "status": out["status"], "reason": out["reason"], "seconds": seconds,
            "metrics": metrics, "extra": extra}


def input_reference(overrides: dict[str, Any]) -> str:
    """The probes on the raw inputs (no training) of the config's data split: the bar a learned
    representation has to clear on these small, easy sets."""
    from analysis import ordinality, probes
    from trainers import data
    from trainers.config import RunConfig

    d = data.load(RunConfig.from_dict(dict(overrides)))
    if d.task == "classification":
        return (f"kNN acc {probes.knn_accuracy(d.x_train, d.y_train, d.x_test, d.y_test):.3f}, "
                f"linear acc {probes.linear_probe_accuracy(d.x_train, d.y_train, d.x_test, d.y_test):.3f}")
    lin = probes.linear_probe_regression(d.x_train, d.y_train, d.x_test, d.y_test)
    return (f"rank corr {ordinality.distance_rank_correlation(d.x_test, d.y_test):.3f}, "
            f"kNN MAE {probes.knn_regression_mae(d.x_train, d.y_train, d.x_test, d.y_test):.2f}, "
            f"linear MAE {lin['mae']:.2f}")


def input_references(configs: list[dict[str, Any]]) -> list[str]:
    """One line per distinct data split among ``configs``."""
    keys = ("dataset", "imbalance_ratio", "few_samples", "n_samples", "n_classes", "data_dim")
    seen: dict[tuple, str] = {}
    for c in configs:
        k = tuple(c.get(f) for f in keys)
        if k not in seen:
            label = ", ".join(f"{f}={v}" for f, v in zip(keys, k, strict=True) if v is not None)
            seen[k] = f"raw inputs ({label}): {input_reference(c)}"
    return list(seen.values())


# --------------------------------------------------------------------------- statistics
def mean_sd(values: list[float]) -> tuple[float, float]:
    a = np.asarray(values, dtype=np.float64)
    a = a[np.isfinite(a)]
    if len(a) == 0:
        return float("nan"), float("nan")
    return float(a.mean()), float(a.std(ddof=1)) if len(a) > 1 else 0.0


def fmt(values: list[float], digits: int = 3) -> str:
    m, s = mean_sd(values)
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def clear_positive(values: list[float]) -> bool:
    m, s = mean_sd(values)
    return bool(np.isfinite(m) and m - s > 0)


class Results:
    """The runs of one claim, looked up by config fields; values are per-seed lists (seed order)."""

    def __init__(self, runs: list[dict[str, Any]]) -> None:
        self.runs = runs

    def select(self, **where: Any) -> list[dict[str, Any]]:
        rows = [r for r in self.runs if all(r["config"].get(k) == v for k, v in where.items())]
        return sorted(rows, key=lambda r: r["seed"])

    def values(self, key: str, **where: Any) -> list[float]:
        out = []
        for r in self.select(**where):
            v = r["metrics"].get(key, r["extra"].get(key))
            out.append(float("nan") if v is None or r["status"] != "finished" else float(v))
        return out

    def diff(self, key: str, a: dict[str, Any], b: dict[str, Any]) -> list[float]:
        """Per-seed paired difference value(a) - value(b)."""
        return [x - y for x, y in zip(self.values(key, **a), self.values(key, **b), strict=True)]


@dataclass
class Verdict:
    held: str  # "held" | "partly" | "did not hold"
    evidence: str  # the numbers and the rule behind the verdict
    measured: str  # the short figure for docs/claims.md


def combine(parts: list[bool]) -> str:
    return "held" if all(parts) else ("partly" if any(parts) else "did not hold")


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=True)]
    line = lambda r: "  ".join(str(x).ljust(w) for x, w in zip(r, widths, strict=True))  # noqa: E731
    return "\n".join([line(header), line(["-" * w for w in widths])] + [line(r) for r in rows])


# --------------------------------------------------------------------------- analyses
def analyse_dcl_batch(R: Results) -> tuple[str, Verdict]:
    rows, gains = [], {}
    for b in (32, 64, 128, 256):
        n, d = {"loss": "nt_xent", "batch_size": b}, {"loss": "dcl", "batch_size": b}
        gains[b] = R.diff("knn_accuracy", d, n)
        rows.append([b, fmt(R.values("knn_accuracy", **n)), fmt(R.values("knn_accuracy", **d)), fmt(gains[b]),
                     fmt(R.values("linear_accuracy", **n)), fmt(R.values("linear_accuracy", **d)),
                     fmt(R.diff("linear_accuracy", d, n))])
    t = table(["batch", "kNN NT-Xent", "kNN DCL", "kNN gain (DCL-NTX)", "lin NT-Xent", "lin DCL", "lin gain"], rows)
    small = [float(np.mean(g)) for g in zip(gains[32], gains[64], gains[128], strict=True)]  # per seed
    big = gains[256]
    largest_small = max(mean_sd(gains[b])[0] for b in (32, 64, 128)) > mean_sd(big)[0]
    positive_small = clear_positive(small)
    held = combine([positive_small, largest_small])
    ev = (f"kNN gain of DCL averaged over B=32/64/128: {fmt(small)} ({'clear of 0' if positive_small else 'not clear of 0'}, "
          f"rule {ONE_SD}); at B=256: {fmt(big)}; largest gain at a small batch: {largest_small}.")
    meas = (f"kNN gain DCL−NT-Xent: B=32 {fmt(gains[32])}, B=64 {fmt(gains[64])}, B=128 {fmt(gains[128])}, "
            f"B=256 {fmt(big)}")
    return t, Verdict(held, ev, meas)


def analyse_dcl_temperature(R: Results) -> tuple[str, Verdict]:
    temps = (0.05, 0.1, 0.2, 0.5)
    rows = []
    for t in temps:
        rows.append([t] + [fmt(R.values(k, loss=loss, temperature=t))
                           for loss in ("nt_xent", "dcl") for k in ("knn_accuracy", "linear_accuracy")])
    spread = {}
    for loss in ("nt_xent", "dcl"):
        per_t = np.array([R.values("knn_accuracy", loss=loss, temperature=t) for t in temps])  # (T, seeds)
        spread[loss] = list(per_t.max(0) - per_t.min(0))  # per seed: range over temperatures
    rows.append(["range over tau (kNN)", fmt(spread["nt_xent"]), "", fmt(spread["dcl"]), ""])
    tab = table(["tau", "kNN NT-Xent", "lin NT-Xent", "kNN DCL", "lin DCL"], rows)
    flatter = [a - b for a, b in zip(spread["nt_xent"], spread["dcl"], strict=True)]
    ok = clear_positive(flatter)
    held = "held" if ok else ("partly" if mean_sd(flatter)[0] > 0 else "did not hold")
    ev = (f"range of kNN accuracy over tau in {temps}: NT-Xent {fmt(spread['nt_xent'])}, DCL {fmt(spread['dcl'])}; "
          f"paired difference NT-Xent−DCL {fmt(flatter)} (held if {ONE_SD}; partly if only the mean is > 0).")
    meas = f"kNN range over tau: NT-Xent {fmt(spread['nt_xent'])}, DCL {fmt(spread['dcl'])}"
    return tab, Verdict(held, ev, meas)


def analyse_multiview(R: Results) -> tuple[str, Verdict]:
    rows = []
    for v in (2, 4, 6):
        for loss in ("pairwise_nt_xent", "mv_dhel"):
            w = {"loss": loss, "views": v}
            rows.append([v, loss, fmt(R.values("knn_accuracy", **w)), fmt(R.values("linear_accuracy", **w)),
                         fmt(R.values("erank_cov_emb", **w), 1), fmt(R.values("rankme", **w), 1)])
    tab = table(["views", "loss", "kNN acc", "linear acc", "erank cov (emb)", "RankMe (rep)"], rows)
    dh = lambda v: {"loss": "mv_dhel", "views": v}  # noqa: E731
    pw = lambda v: {"loss": "pairwise_nt_xent", "views": v}  # noqa: E731
    gain_views = R.diff("knn_accuracy", dh(6), dh(2))
    vs_pair = {v: R.diff("knn_accuracy", dh(v), pw(v)) for v in (4, 6)}
    rank_vs_pair = {v: R.diff("erank_cov_emb", dh(v), pw(v)) for v in (4, 6)}
    acc_ok = clear_positive(gain_views) and all(mean_sd(vs_pair[v])[0] >= 0 for v in (4, 6))
    rank_ok = all(clear_positive(rank_vs_pair[v]) for v in (4, 6))
    held = combine([acc_ok, rank_ok])
    ev = (f"MV-DHEL kNN 6 views − 2 views: {fmt(gain_views)}; MV-DHEL − pairwise kNN at 4 / 6 views: "
          f"{fmt(vs_pair[4])} / {fmt(vs_pair[6])}; MV-DHEL − pairwise effective rank (covariance, embedding) at 4 / 6 views: "
          f"{fmt(rank_vs_pair[4], 1)} / {fmt(rank_vs_pair[6], 1)}. Accuracy part held if the 6−2 gain is clear "
          f"({ONE_SD}) and MV-DHEL is not below pairwise at 4 and 6 views; spectrum part if the rank difference is clear at both.")
    meas = (f"MV-DHEL kNN 2→6 views {fmt(R.values('knn_accuracy', **dh(2)))} → {fmt(R.values('knn_accuracy', **dh(6)))} "
            f"(pairwise {fmt(R.values('knn_accuracy', **pw(2)))} → {fmt(R.values('knn_accuracy', **pw(6)))}); "
            f"erank cov (emb) at 6 views: MV-DHEL {fmt(R.values('erank_cov_emb', **dh(6)), 1)}, "
            f"pairwise {fmt(R.values('erank_cov_emb', **pw(6)), 1)}")
    return tab, Verdict(held, ev, meas)


def analyse_isogclr(R: Results) -> tuple[str, Verdict]:
    ratios = (1.0, 10.0, 100.0)
    rows, gains, lin_gains = [], {}, {}
    for r in ratios:
        i, s = {"loss": "isogclr", "imbalance_ratio": r}, {"loss": "sogclr", "imbalance_ratio": r}
        gains[r] = R.diff("knn_accuracy", i, s)
        lin_gains[r] = R.diff("linear_accuracy", i, s)
        rows.append([f"{r:g}", fmt(R.values("knn_accuracy", **s)), fmt(R.values("knn_accuracy", **i)), fmt(gains[r]),
                     fmt(R.values("linear_accuracy", **s)), fmt(R.values("linear_accuracy", **i)), fmt(lin_gains[r]),
                     fmt(R.values("tau_head", **i)), fmt(R.values("tau_tail", **i)),
                     fmt(R.values("tau_freq_spearman", **i)) if r > 1 else "n/a (balanced)"])
    tab = table(["imbalance", "kNN SogCLR", "kNN iSogCLR", "kNN gain", "lin SogCLR", "lin iSogCLR", "lin gain",
                 "tau head 30%", "tau tail 30%", "Spearman(freq, tau_i)"], rows)
    rho = {r: R.values("tau_freq_spearman", loss="isogclr", imbalance_ratio=r) for r in ratios[1:]}
    head_minus_tail = {r: [h - t for h, t in zip(R.values("tau_head", loss="isogclr", imbalance_ratio=r),
                                                  R.values("tau_tail", loss="isogclr", imbalance_ratio=r), strict=True)]
                       for r in ratios[1:]}
    tau_ok = all(clear_positive(rho[r]) and clear_positive(head_minus_tail[r]) for r in ratios[1:])
    g = [mean_sd(gains[r])[0] for r in ratios]
    grow = R.diff("knn_accuracy", {"loss": "isogclr", "imbalance_ratio": 100.0}, {"loss": "sogclr", "imbalance_ratio": 100.0})
    grow = [a - b for a, b in zip(grow, gains[1.0], strict=True)]  # gain(100) - gain(1), per seed
    gain_ok = g[0] <= g[1] <= g[2] and clear_positive(grow)
    held = combine([tau_ok, gain_ok])
    ev = (f"Spearman(class frequency, tau_i) at imbalance 10 / 100: {fmt(rho[10.0])} / {fmt(rho[100.0])}; "
          f"tau head − tail: {fmt(head_minus_tail[10.0])} / {fmt(head_minus_tail[100.0])} (tau part held if both are "
          f"clear of 0 at both ratios, {ONE_SD}). kNN gain iSogCLR − SogCLR at imbalance 1 / 10 / 100: "
          f"{fmt(gains[1.0])} / {fmt(gains[10.0])} / {fmt(gains[100.0])}; linear-probe gain "
          f"{fmt(lin_gains[1.0])} / {fmt(lin_gains[10.0])} / {fmt(lin_gains[100.0])} (gain part held if the mean kNN gain "
          f"grows monotonically and gain(100) − gain(1) is clear of 0).")
    meas = (f"Spearman(freq, tau_i): {fmt(rho[10.0])} (10×), {fmt(rho[100.0])} (100×); tau head/tail at 100×: "
            f"{fmt(R.values('tau_head', loss='isogclr', imbalance_ratio=100.0))} / "
            f"{fmt(R.values('tau_tail', loss='isogclr', imbalance_ratio=100.0))}; kNN gain over SogCLR 1× / 10× / 100×: "
            f"{fmt(gains[1.0])} / {fmt(gains[10.0])} / {fmt(gains[100.0])}")
    return tab, Verdict(held, ev, meas)


def analyse_supremix(R: Results) -> tuple[str, Verdict]:
    losses = ("supremix", "rnc", "supcon_binned", "l1")
    keys = (("rank_correlation", +1), ("knn_mae", -1), ("linear_mae", -1))  # +1: higher is better
    rows = []
    for k in (200, 0):
        for loss in losses:
            w = {"loss": loss, "few_samples": k}
            rows.append([k or "all", loss, fmt(R.values("rank_correlation", **w)), fmt(R.values("rank_correlation_emb", **w)),
                         fmt(R.values("knn_mae", **w), 2), fmt(R.values("linear_mae", **w), 2), fmt(R.values("linear_r2", **w))])
    tab = table(["samples", "loss", "rank corr (rep)", "rank corr (emb)", "kNN MAE", "linear MAE", "linear R2"], rows)
    wins: dict[tuple[str, int], int] = {}
    margin: dict[tuple[str, int], float] = {}
    for k in (200, 0):
        for m in ("supremix", "rnc"):
            n = 0
            for key, sign in keys:
                mine = mean_sd(R.values(key, loss=m, few_samples=k))[0]
                for peer in ("supcon_binned", "l1"):
                    n += int(sign * (mine - mean_sd(R.values(key, loss=peer, few_samples=k))[0]) > 0)
            wins[(m, k)] = n
            best_peer = max(mean_sd(R.values("rank_correlation", loss=p, few_samples=k))[0] for p in ("supcon_binned", "l1"))
            margin[(m, k)] = mean_sd(R.values("rank_correlation", loss=m, few_samples=k))[0] - best_peer
    ok = {m: wins[(m, 200)] >= 5 and margin[(m, 200)] > margin[(m, 0)] for m in ("supremix", "rnc")}
    held = combine(list(ok.values()))
    ev = ("comparisons won (of 6: vs SupCon-binned and L1 on rank correlation, kNN MAE, linear MAE; by the mean over seeds) "
          f"with 200 / all samples: SupReMix {wins[('supremix', 200)]} / {wins[('supremix', 0)]}, "
          f"RnC {wins[('rnc', 200)]} / {wins[('rnc', 0)]}; rank-correlation margin over the best peer with 200 / all: "
          f"SupReMix {margin[('supremix', 200)]:+.3f} / {margin[('supremix', 0)]:+.3f}, "
          f"RnC {margin[('rnc', 200)]:+.3f} / {margin[('rnc', 0)]:+.3f}. Held for a method if it wins >= 5 of 6 with "
          "200 samples and its margin is larger there than with all samples.")
    rc = lambda m: fmt(R.values("rank_correlation", loss=m, few_samples=200))  # noqa: E731
    km = lambda m: fmt(R.values("knn_mae", loss=m, few_samples=200), 1)  # noqa: E731
    meas = (f"200 samples, rank corr / kNN MAE (deg): SupReMix {rc('supremix')} / {km('supremix')}, RnC {rc('rnc')} / "
            f"{km('rnc')}, SupCon-binned {rc('supcon_binned')} / {km('supcon_binned')}, L1 {rc('l1')} / {km('l1')}; "
            f"wins of 6 (200 / all): SupReMix {wins[('supremix', 200)]}/{wins[('supremix', 0)]}, "
            f"RnC {wins[('rnc', 200)]}/{wins[('rnc', 0)]}")
    return tab, Verdict(held, ev, meas)


def analyse_noise(R: Results) -> tuple[str, Verdict]:
    from scipy.stats import spearmanr

    eps = tuple(sorted({float(r["config"]["noise_eps"]) for r in R.runs}))
    rows = []
    for e in eps:
        rows.append([e, fmt(R.values("uniformity", noise_eps=e)), fmt(R.values("uniformity_clean", noise_eps=e)),
                     fmt(R.values("alignment", noise_eps=e)), fmt(R.values("knn_accuracy", noise_eps=e)),
                     fmt(R.values("linear_accuracy", noise_eps=e)), fmt(R.values("emb_norm_mean", noise_eps=e), 2)])
    tab = table(["eps", "uniformity", "uniformity (clean)", "alignment", "kNN acc", "linear acc", "mean ||z||"], rows)
    u = [mean_sd(R.values("uniformity", noise_eps=e))[0] for e in eps]
    rho = float(spearmanr(eps, u)[0])
    smooth = abs(rho) >= 0.9
    acc = [mean_sd(R.values("knn_accuracy", noise_eps=e))[0] for e in eps]
    best = int(np.nanargmax(acc))
    peak_gain = R.diff("knn_accuracy", {"noise_eps": eps[best]}, {"noise_eps": 0.0})
    moderate = 0 < best < len(eps) - 1 and clear_positive(peak_gain)
    held = combine([smooth, moderate])
    ev = (f"Spearman(eps, mean uniformity) = {rho:+.2f} (smooth if |rho| >= 0.9; uniformity {u[0]:.3f} at eps 0 -> "
          f"{u[-1]:.3f} at eps {eps[-1]}); best mean kNN accuracy at eps = {eps[best]} "
          f"(gain over eps 0: {fmt(peak_gain)}; a moderate peak needs 0 < eps < {eps[-1]} and the gain {ONE_SD}).")
    meas = (f"uniformity eps 0 → {eps[-1]:g}: {fmt(R.values('uniformity', noise_eps=0.0))} → "
            f"{fmt(R.values('uniformity', noise_eps=eps[-1]))} "
            f"(Spearman {rho:+.2f}); kNN best at eps {eps[best]}: {fmt(R.values('knn_accuracy', noise_eps=eps[best]))} "
            f"vs eps 0 {fmt(R.values('knn_accuracy', noise_eps=0.0))}")
    return tab, Verdict(held, ev, meas)


@dataclass(frozen=True)
class Claim:
    preset: str
    analyse: Callable[[Results], tuple[str, Verdict]]


CLAIMS: dict[str, Claim] = {
    "dcl_batch": Claim("Claim · DCL vs NT-Xent across batch sizes", analyse_dcl_batch),
    "dcl_temperature": Claim("Claim · DCL vs NT-Xent across temperatures", analyse_dcl_temperature),
    "multiview": Claim("Claim · MV-DHEL vs pairwise across 2/4/6 views", analyse_multiview),
    "isogclr": Claim("Claim · iSogCLR on long-tailed data", analyse_isogclr),
    "supremix": Claim("Claim · SupReMix vs peers with few samples", analyse_supremix),
    "noise": Claim("Claim · noise views eps sweep", analyse_noise),
    "noise_only": Claim("Claim · noise-only views eps sweep", analyse_noise),
}


# --------------------------------------------------------------------------- driver
def run_claim(name: str, *, seeds: tuple[int, ...] = SEEDS, quick: bool = False, jobs: int = 1,
              out_dir: Path | None = OUT_DIR, print_fn: Callable[[str], None] = print) -> dict[str, Any]:
    """Train the claim's preset for every seed, print its table and verdict, return (and save) the results."""
    claim = CLAIMS[name]
    preset = get_preset(claim.preset)
    epochs = QUICK_EPOCHS if quick else None
    tasks = [(c, s) for s in seeds for c in preset.configs]
    t0 = time.perf_counter()
    if jobs > 1:
        with ProcessPoolExecutor(max_workers=jobs, mp_context=mp.get_context("spawn")) as ex:
            runs = list(ex.map(run_one, [c for c, _ in tasks], [s for _, s in tasks], [epochs] * len(tasks)))
    else:
        runs = [run_one(c, s, epochs) for c, s in tasks]
    wall = time.perf_counter() - t0
    bad = [r for r in runs if r["status"] != "finished"]
    tab, verdict = claim.analyse(Results(runs))
    print_fn(f"\n## {preset.name}{'  (QUICK: smoke settings, not a result)' if quick else ''}")
    print_fn(f"claim: {preset.claim}")
    print_fn(f"{len(runs)} runs ({len(preset.configs)} configs x {len(seeds)} seeds), "
             f"{wall:.0f} s wall, {sum(r['seconds'] for r in runs):.0f} s of training\n")
    print_fn(tab)
    refs = input_references(preset.configs)
    for line in refs:
        print_fn(f"reference, {line}")
    for r in bad:
        print_fn(f"!! run {r['config'].get('name')} seed {r['seed']}: {r['status']}: {r['reason']}")
    print_fn(f"\nverdict: {verdict.held.upper()}: {verdict.evidence}")
    result = {"claim": name, "preset": preset.name, "claim_text": preset.claim, "quick": quick, "seeds": list(seeds),
              "wall_seconds": wall, "table": tab, "input_references": refs, "verdict": verdict.held, "evidence": verdict.evidence,
              "measured": verdict.measured, "runs": runs}
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        suffix = "_quick" if quick else ""
        (out_dir / f"claims_methods_{name}{suffix}.json").write_text(json.dumps(result, indent=1, default=float))
    return result


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--claim", action="append", choices=list(CLAIMS), help="run only this claim (repeatable)")
    p.add_argument("--quick", action="store_true", help=f"smoke run: 1 seed, {QUICK_EPOCHS} epochs")
    p.add_argument("--seeds", type=int, default=len(SEEDS), help="number of seeds (default 3)")
    p.add_argument("--jobs", type=int, default=min(2, os.cpu_count() or 1), help="runs in parallel (1 thread each)")
    p.add_argument("--no-save", action="store_true", help="do not write bench/out/*.json")
    a = p.parse_args(argv)
    names = a.claim or list(CLAIMS)
    seeds = (0,) if a.quick else tuple(range(a.seeds))
    t0 = time.perf_counter()
    results = [run_claim(n, seeds=seeds, quick=a.quick, jobs=a.jobs, out_dir=None if a.no_save else OUT_DIR) for n in names]
    print(f"\n# summary ({time.perf_counter() - t0:.0f} s wall)")
    print(table(["claim", "verdict", "measured"], [[r["claim"], r["verdict"], r["measured"]] for r in results]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
