"""Benchmark of the geometry metrics: time (median of 5 runs) and peak extra memory.

    .venv/bin/python bench/bench_metrics.py            # full table (a few minutes on 2 cores)
    .venv/bin/python bench/bench_metrics.py --quick    # smaller sizes, for a smoke test

Cases: ``analysis.geometry.uniformity`` (chunked log-sum-exp over Gram tiles) at
N = 10,000 / 20,000 / 50,000, D = 128, against the ``torch.pdist`` one-liner of Wang &
Isola (2020) measured in the same run (skipped at 50,000: its N (N-1) / 2 distances
alone take 5 GB); ``covariance_spectrum`` and ``rankme`` at N = 50,000, D = 512; and
the linear probe at 1,400 x 128.

Memory: each case runs in its own subprocess. The process's peak resident set size
(``resource.getrusage(RUSAGE_SELF).ru_maxrss``) is reset to the current RSS just
before the timed runs by writing 5 to ``/proc/self/clear_refs`` (Linux >= 4.0), and
"peak extra" is that peak minus the RSS measured at the reset, i.e. the memory the
function needed on top of its input (torch's CPU allocations are included: they are
process memory, which ``tracemalloc`` would not see). Where the reset is not allowed,
the delta of ``ru_maxrss`` is reported and marked ``*`` (a lower bound). The inputs
are float32 and created with ``torch.randn`` (no temporary arrays before the reset).

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.memtools import reset_peak, rss_kib  # noqa: E402

REPEATS = 5


def _pdist_uniformity(z: torch.Tensor, t: float = 2.0) -> float:
    """Baseline: the torch.pdist form of Wang & Isola (2020), exp then log, N(N-1)/2 floats."""
    x = torch.nn.functional.normalize(z, dim=1)
    return float(torch.pdist(x, p=2).pow(2).mul(-t).exp().mean().log())


def _make_case(name: str, n: int, d: int) -> Callable[[], float]:
    import numpy as np

    from analysis.geometry import uniformity
    from analysis.probes import linear_probe_accuracy
    from analysis.spectrum import covariance_spectrum, rankme

    gen = torch.Generator().manual_seed(0)
    if name == "linear_probe":
        labels = torch.randint(0, 10, (n + 600,), generator=gen)
        x = torch.randn(n + 600, d, generator=gen)
        x[torch.arange(n + 600), labels] += 2.0
        xn, yn = x.numpy(), labels.numpy()
        return lambda: linear_probe_accuracy(xn[:n], yn[:n], xn[n:], yn[n:])
    z = torch.randn(n, d, generator=gen)
    if name == "uniformity":
        return lambda: uniformity(z)
    if name == "uniformity_pdist":
        return lambda: _pdist_uniformity(z)
    if name == "covariance_spectrum":
        return lambda: float(np.sum(covariance_spectrum(z)))
    if name == "rankme":
        return lambda: rankme(z)
    if name == "spectrum+rankme":
        return lambda: float(np.sum(covariance_spectrum(z))) + rankme(z)
    raise ValueError(f"unknown case {name!r}")


def _child(name: str, n: int, d: int) -> None:
    """Run one case in this process and print one JSON line."""
    _make_case(name, 64, min(d, 16))()  # warm-up on a tiny input: lazy imports, thread pools
    fn = _make_case(name, n, d)
    rss_before = rss_kib()
    maxrss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    reset = reset_peak()
    times, value = [], math.nan
    for _ in range(REPEATS):
        start = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - start)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    extra_kib = peak - rss_before if reset else peak - maxrss_before
    print(
        json.dumps(
            {
                "case": name,
                "n": n,
                "d": d,
                "median_s": statistics.median(times),
                "min_s": min(times),
                "peak_extra_mb": extra_kib / 1024,
                "exact_peak": reset,
                "value": value,
                "threads": torch.get_num_threads(),
            }
        )
    )


def _run(name: str, n: int, d: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, str(n), str(d)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise RuntimeError(f"case {name} N={n} D={d} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--child", nargs=3, metavar=("CASE", "N", "D"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        _child(args.child[0], int(args.child[1]), int(args.child[2]))
        return

    sizes = [1_000, 2_000, 5_000] if args.quick else [10_000, 20_000, 50_000]
    big_n = 5_000 if args.quick else 50_000
    cases: list[tuple[str, int, int]] = []
    for n in sizes:
        cases.append(("uniformity", n, 128))
        if n != sizes[-1]:
            cases.append(("uniformity_pdist", n, 128))
    cases += [
        ("covariance_spectrum", big_n, 512),
        ("rankme", big_n, 512),
        ("spectrum+rankme", big_n, 512),
        ("linear_probe", 1_400, 128),
    ]

    print(
        f"# {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"median of {REPEATS} runs, float32 inputs"
    )
    header = f"{'case':<22}{'N':>8}{'D':>6}{'median s':>11}{'min s':>9}{'peak extra MB':>15}  value"
    print(header)
    print("-" * len(header))
    results: dict[tuple[str, int], dict] = {}
    for name, n, d in cases:
        r = _run(name, n, d)
        results[(name, n)] = r
        mark = "" if r["exact_peak"] else "*"
        print(
            f"{name:<22}{n:>8}{d:>6}{r['median_s']:>11.3f}{r['min_s']:>9.3f}"
            f"{r['peak_extra_mb']:>14.0f}{mark:1}  {r['value']:.6f}",
            flush=True,
        )
    print()
    for n in sizes[:-1]:
        ours, base = results[("uniformity", n)], results[("uniformity_pdist", n)]
        print(
            f"uniformity N={n}: pdist / chunked time = {base['median_s'] / ours['median_s']:.1f}x, "
            f"memory = {base['peak_extra_mb'] / max(ours['peak_extra_mb'], 1e-9):.1f}x, "
            f"|difference| = {abs(base['value'] - ours['value']):.2e}"
        )
    print(f"uniformity N={sizes[-1]}: pdist baseline skipped (N(N-1)/2 distances do not fit)")
    if any(not r["exact_peak"] for r in results.values()):
        print(
            "* peak could not be reset (/proc/self/clear_refs); delta of ru_maxrss, a lower bound"
        )


if __name__ == "__main__":
    main()
