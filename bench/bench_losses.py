"""Loss benchmark: forward + backward of every loss of the lab at batch 256 and 1,024, D = 128.

Each loss runs on random embeddings (float32, requires_grad) and is timed as one forward
plus one backward (median of up to --repeats calls after one warm-up call; fewer when a
call is slow; one torch thread by default, so that figures taken on a shared machine are
stable), next to:

- the fused NT-Xent of the lab (``trainers.losses.nt_xent``) at the same batch size, timed
  in alternation with the case (call, baseline call, call, ...), so both see the same
  load: every row's ratio is "this loss / fused NT-Xent";
- pytorch-metric-learning's ``NTXentLoss`` and ``SupConLoss`` (same values as ours, see
  METHODS.md) where it has the loss;
- LibAUC's ``GCLoss_v1(enable_isogclr=True)`` for iSogCLR.

Shapes: B samples, two views of (B, 128) unless said otherwise; the multi-view losses take
(V = 4, B, 128); SupCon and SupReMix / RnC take the 2B rows of both views with the labels /
targets repeated; the distillation losses take a student (B, 128) with gradient and a
teacher (B, 128) without (KD: logits of 128 classes). SupReMix is O(B^3): batch 64 and
256 only. The iSogCLR state covers N = 8 B samples; each call uses B of them.

Every loss family runs in a child process under an address-space limit (--mem-gb, default
8 GB), so an out-of-memory case is reported, not fatal. Memory: each case once more in a
fresh process (two calls; large blocks returned to the system when freed), peak extra
resident memory over the process's memory before the calls (``/proc/self/clear_refs``
reset, as in bench_metrics.py).

    .venv/bin/python bench/bench_losses.py               # both batch sizes (~5-10 min on 2 cores)
    .venv/bin/python bench/bench_losses.py --batches 256 --repeats 5

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.memtools import reset_peak, rss_kib  # noqa: E402

D = 128
BASELINE = "nt_xent"
# (case, group run in one child process, batch sizes it runs at, reference of which case)
CASES: list[tuple[str, str, tuple[int, ...], str]] = [
    ("nt_xent", "ours", (256, 1024), ""),
    ("dcl", "ours", (256, 1024), ""),
    ("dclw", "ours", (256, 1024), ""),
    ("supcon", "ours", (256, 1024), ""),
    ("pairwise_nt_xent V=4", "ours", (256, 1024), ""),
    ("mv_infonce V=4", "ours", (256, 1024), ""),
    ("mv_dhel V=4", "ours", (256, 1024), ""),
    ("isogclr", "ours", (256, 1024), ""),
    ("rnc", "ours", (256, 1024), ""),
    ("kd", "ours", (256, 1024), ""),
    ("similarity_distillation", "ours", (256, 1024), ""),
    ("crd", "ours", (256, 1024), ""),
    ("supremix", "supremix", (64, 256, 1024), ""),
    ("rkd", "rkd", (256, 1024), ""),
    ("rkd, one (B, B, B) block", "rkd", (256, 1024), ""),  # the angle term unblocked: the pre-blocking code path
    ("PML NTXentLoss", "pml_ntxent", (256, 1024), "nt_xent"),
    ("PML SupConLoss", "pml_supcon", (256, 1024), "supcon"),
    ("LibAUC GCLoss_v1 (iSogCLR)", "libauc", (256, 1024), "isogclr"),
]


_LAB_SETTINGS: dict[str, int] = {}  # module settings a case changes, as the lab has them


def wanted(name: str, sizes: tuple[int, ...], batches: list[int]) -> list[int]:
    """Batch sizes a case runs at: the requested ones it supports (SupReMix also at 64)."""
    if name == "supremix":
        return [64] + [b for b in (256, 1024) if b in batches]
    return [b for b in sizes if b in batches]


def make_case(name: str, b: int) -> Callable[[], None]:
    """A closure running one forward + backward of ``name`` at batch ``b``."""
    import torch

    from trainers import losses as L

    g = torch.Generator().manual_seed(0)

    def leaf(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g).requires_grad_(True)

    z1, z2 = leaf(b, D), leaf(b, D)
    labels = torch.randint(0, 10, (b,), generator=g)
    targets = torch.randn(b, generator=g)
    views = leaf(4, b, D)
    teacher = torch.randn(b, D, generator=g)
    leaves = [z1, z2, views]

    if name == "nt_xent":
        fn = lambda: L.nt_xent(z1, z2, temperature=0.5)  # noqa: E731
    elif name == "dcl":
        fn = lambda: L.dcl(z1, z2, temperature=0.1)  # noqa: E731
    elif name == "dclw":
        fn = lambda: L.dcl(z1, z2, temperature=0.1, weighted=True)  # noqa: E731
    elif name == "supcon":
        fn = lambda: L.supcon(torch.cat([z1, z2]), torch.cat([labels, labels]), temperature=0.1)  # noqa: E731
    elif name == "pairwise_nt_xent V=4":
        fn = lambda: L.pairwise_nt_xent(views, temperature=0.5)  # noqa: E731
    elif name == "mv_infonce V=4":
        fn = lambda: L.mv_infonce(views, temperature=0.5)  # noqa: E731
    elif name == "mv_dhel V=4":
        fn = lambda: L.mv_dhel(views, temperature=0.5)  # noqa: E731
    elif name == "isogclr":
        loss = L.ISogCLRLoss(8 * b, tau_init=0.5)
        index = torch.randperm(8 * b, generator=g)[:b]
        fn = lambda: loss(z1, z2, index)  # noqa: E731
    elif name == "supremix":
        fn = lambda: L.supremix(torch.cat([z1, z2]), torch.cat([targets, targets]), temperature=0.3, generator=g)  # noqa: E731
    elif name == "rnc":
        fn = lambda: L.rnc(torch.cat([z1, z2]), torch.cat([targets, targets]), temperature=2.0)  # noqa: E731
    elif name == "kd":
        fn = lambda: L.kd(z1, teacher, T=4.0)  # noqa: E731
    elif name == "similarity_distillation":
        fn = lambda: L.similarity_distillation(z1, teacher, temperature=0.1)  # noqa: E731
    elif name == "crd":
        fn = lambda: L.crd(z1, teacher, temperature=0.07)  # noqa: E731
    elif name.startswith("rkd"):
        rkd_module = importlib.import_module("trainers.losses.rkd")  # the module, not L.rkd
        # the lab's blocks of vertices (checkpointed), or every vertex in one block, no checkpointing
        lab = _LAB_SETTINGS.setdefault("rkd_block", rkd_module._RKD_BLOCK_ELEMENTS)
        rkd_module._RKD_BLOCK_ELEMENTS = 1 << 62 if "one" in name else lab
        fn = lambda: L.rkd(z1, teacher)  # noqa: E731
    elif name == "PML NTXentLoss":
        from pytorch_metric_learning.losses import NTXentLoss

        pml = NTXentLoss(temperature=0.5)
        idx = torch.arange(b)
        fn = lambda: pml(torch.cat([z1, z2]), torch.cat([idx, idx]))  # noqa: E731
    elif name == "PML SupConLoss":
        from pytorch_metric_learning.losses import SupConLoss

        pml = SupConLoss(temperature=0.1)
        fn = lambda: pml(torch.cat([z1, z2]), torch.cat([labels, labels]))  # noqa: E731
    elif name == "LibAUC GCLoss_v1 (iSogCLR)":
        import contextlib
        import io

        from libauc.losses.contrastive import GCLoss_v1

        with contextlib.redirect_stdout(io.StringIO()):  # it prints a line when built
            gcl = GCLoss_v1(N=8 * b, tau=0.5, enable_isogclr=True, gamma_schedule="constant", device="cpu",
                            rho=0.4, gamma=0.9, beta=0.5, eta=0.03, tau_min=0.05, tau_max=1.0)
        index = torch.randperm(8 * b, generator=g)[:b]
        fn = lambda: gcl(z1, z2, index)  # noqa: E731
    else:
        raise ValueError(f"unknown case {name!r}")

    def step() -> None:
        for t in leaves:
            t.grad = None
        fn().backward()

    return step


def _child(group: str, batches: list[int], repeats: int, budget_s: float) -> None:
    """Run the cases of ``group``; each timed call of a case alternates with a call of the
    fused NT-Xent at the same batch, so the ratio compares calls made under the same load."""
    import torch

    for name, grp, sizes, _ in CASES:
        if grp != group:
            continue
        for b in wanted(name, sizes, batches):
            out = {"case": name, "batch": b, "threads": torch.get_num_threads()}
            try:
                base = make_case(BASELINE, b)
                base()
                step = make_case(name, b)
                t = time.perf_counter()
                step()  # warm-up (lazy imports, allocator)
                first = time.perf_counter() - t
                times, base_times = [], []
                while len(times) < repeats and (len(times) < 3 or sum(times) + first < budget_s):
                    t = time.perf_counter()
                    step()
                    times.append(time.perf_counter() - t)
                    t = time.perf_counter()
                    base()
                    base_times.append(time.perf_counter() - t)
                out.update(median_s=statistics.median(times), runs=len(times), first_s=first,
                           base_s=statistics.median(base_times))
            except (MemoryError, RuntimeError) as e:  # RLIMIT_AS turns an OOM into an exception
                msg = str(e).splitlines()[0][:160]
                oom = isinstance(e, MemoryError) or "memory" in msg.lower() or "alloc" in msg.lower()
                out.update(error=("out of memory: " if oom else "") + msg)
            print(json.dumps(out), flush=True)


def _mem_child(name: str, b: int) -> None:
    """Peak extra resident memory of two calls of one case, in a fresh process whose large
    allocations are returned to the system when freed (MALLOC_MMAP_THRESHOLD_, set by the
    parent), so the figure is what the call needs, not what an earlier call left behind."""
    step = make_case(name, b)
    rss0 = rss_kib()
    exact = reset_peak()
    try:
        step()
        step()
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(json.dumps({"peak_extra_mb": (peak - rss0) / 1024 if exact else None}))
    except (MemoryError, RuntimeError):
        print(json.dumps({"peak_extra_mb": None}))


def _memory(name: str, b: int, mem_gb: float) -> float | None:
    def limit() -> None:
        lim = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072"}
    out = subprocess.run([sys.executable, __file__, "--mem-child", name, str(b)], capture_output=True, text=True,
                         timeout=600, preexec_fn=limit, env=env, check=False)
    lines = [x for x in out.stdout.splitlines() if x.startswith("{")]
    return json.loads(lines[-1])["peak_extra_mb"] if lines else None


def _run_group(group: str, batches: list[int], repeats: int, budget_s: float, mem_gb: float, timeout_s: float) -> list[dict]:
    def limit() -> None:
        lim = int(mem_gb * 2**30)
        resource.setrlimit(resource.RLIMIT_AS, (lim, lim))

    cmd = [sys.executable, __file__, "--child", group, ",".join(map(str, batches)), str(repeats), str(budget_s)]
    try:
        out = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout_s, preexec_fn=limit, check=False)
        stdout, rc, err = out.stdout, out.returncode, out.stderr
    except subprocess.TimeoutExpired as e:
        stdout = e.stdout.decode() if isinstance(e.stdout, bytes) else (e.stdout or "")
        rc, err = None, f"timed out after {timeout_s:.0f} s"
    rows = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    done = {(r["case"], r["batch"]) for r in rows}
    for name, grp, sizes, _ in CASES:  # cases the child never reported (killed, timed out)
        if grp == group:
            for b in wanted(name, sizes, batches):
                if (name, b) not in done:
                    why = err if rc is None else f"child exited with code {rc}: {err.strip().splitlines()[-1][:160] if err.strip() else ''}"
                    rows.append({"case": name, "batch": b, "error": why})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--batches", default="256,1024")
    ap.add_argument("--repeats", type=int, default=25, help="timed calls per case (at most; at least 3)")
    ap.add_argument("--budget", type=float, default=15.0, help="seconds per case after which no more calls start")
    ap.add_argument("--mem-gb", type=float, default=8.0, help="address-space limit of each child process")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per child process")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads (default 1: stable figures on a shared machine; 0 = torch's default)")
    ap.add_argument("--no-memory", action="store_true", help="skip the memory pass (a fresh process per case)")
    ap.add_argument("--groups", default="", help="only these case groups, comma-separated (e.g. rkd,supremix)")
    ap.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    ap.add_argument("--mem-child", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.threads > 0:
        os.environ["OMP_NUM_THREADS"] = str(a.threads)  # inherited by the children
    if a.mem_child:
        _mem_child(a.mem_child[0], int(a.mem_child[1]))
        return
    if a.child:
        _child(a.child[0], [int(x) for x in a.child[1].split(",")], int(a.child[2]), float(a.child[3]))
        return

    import torch

    batches = [int(x) for x in a.batches.split(",")]
    load0 = os.getloadavg()
    print(f"# {os.cpu_count()} CPUs, torch {torch.__version__}, {torch.get_num_threads()} threads; D = {D}; "
          f"forward + backward, median of up to {a.repeats} calls; memory limit {a.mem_gb:g} GB per child; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    rows: list[dict] = []
    only = {g for g in a.groups.split(",") if g}
    for group in dict.fromkeys(grp for _, grp, _, _ in CASES if not only or grp in only):
        got = _run_group(group, batches, a.repeats, a.budget, a.mem_gb, a.timeout)
        for r in got:
            if "median_s" in r and not a.no_memory:
                r["peak_extra_mb"] = _memory(r["case"], r["batch"], a.mem_gb)
            tag = f"{r['median_s'] * 1e3:.1f} ms" if "median_s" in r else r["error"]
            print(f"  {r['case']:<28} B={r['batch']:<5} {tag}", flush=True)
        rows += got
    by = {(r["case"], r["batch"]): r for r in rows}
    print()
    head = (f"{'loss':<28}{'B':>6}{'median ms':>11}{'NT-Xent ms':>11}{'runs':>5}{'peak extra MB':>15}"
            f"{'/ fused NT-Xent':>17}{'/ ours':>9}")
    print(head)
    print("-" * len(head))
    for name, _, sizes, ref in CASES:
        for b in sizes:
            r = by.get((name, b))
            if r is None:
                continue
            base = r.get("base_s")
            if "median_s" not in r:
                print(f"{name:<28}{b:>6}  {r['error']}")
                continue
            ratio = f"{r['median_s'] / base:.2f}x" if base else "-"
            vs_ours = "-"
            if ref and "median_s" in by.get((ref, b), {}):
                o = by[(ref, b)]  # both normalised by the NT-Xent timed alongside each
                vs_ours = f"{(r['median_s'] / r['base_s']) / (o['median_s'] / o['base_s']):.1f}x"
            mem = f"{r['peak_extra_mb']:.0f}" if r.get("peak_extra_mb") is not None else "?"
            print(f"{name:<28}{b:>6}{r['median_s'] * 1e3:>11.1f}{base * 1e3:>11.1f}{r['runs']:>5}{mem:>15}{ratio:>17}{vs_ours:>9}")
    print("'NT-Xent ms': our fused nt_xent at the same batch, timed in alternation with the case (same load); "
          "'/ fused NT-Xent': the ratio of the two; '/ ours': a reference implementation's time over ours for "
          "the same loss, each first divided by its own NT-Xent (above 1 = ours faster)")
    load1 = os.getloadavg()
    print(f"# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
