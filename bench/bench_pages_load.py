"""Page benchmark under load: Ordinality, Embedding Map and Temperature while two runs train.

1. A temporary store with --runs runs (default 20) is built in a child process: short real
   runs (digits: NT-Xent, SupCon, DCL, iSogCLR, SogCLR; swiss_roll regression: RnC,
   SupReMix, L1; --epochs epochs, snapshots at 0, 1, 2, 4, 8, ... and the last, UMAP maps
   of every snapshot by the lab's ProjectionWorker), then copies through the Store API
   (run, snapshots, maps) until there are --runs runs.
2. The load: two long digits runs (--load-epochs, default 300) are submitted through
   ``jobs.runner.submit``; the store's scheduler starts them in two workers (and computes
   the UMAP maps of their snapshots). Timing starts once both are running. With --no-load
   nothing trains.
3. For each page and each code tree (``--tree NAME=DIR``, default: this checkout as
   ``current``; give a copy of the tree from before a change as a second tree to measure a
   before/after ratio in the same run), --repeats fresh processes, trees alternating, each:
   AppTest runs app.py, then switches to the page (**cold**: a new process, empty caches),
   runs it again (**warm**), then applies the page's control changes one after another
   (the value is set in the session, then the script runs: what a click does) and times each.
   The median over the processes is reported, and the ratio of the first tree to the second.
4. With --browser ROUNDS: for each tree, a real ``streamlit run app.py`` on the store and
   Debian chromium (Playwright) open the Embedding Map; a click on its Method / Space radios,
   4 x ROUNDS times, is timed until the map's title names the new method and space (the
   script's run, the transfer and the browser's drawing together).

    .venv/bin/python bench/bench_pages_load.py [--repeats 5] [--tree before=/path/to/old/tree] [--browser 2]
    .venv/bin/python bench/bench_pages_load.py --profile pages/ordinality.py   # py-spy samples of one process

A tree is a copy of the repository's code (``app.py``, ``pages/``, ``ui/``, ``analysis/``,
``trainers/``), e.g. ``git worktree add /tmp/before <commit>``; its pages run with that tree
first on ``sys.path``.

Every process started here (workers, scheduler) is stopped at the end. This script prints
figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

PAGES = ["pages/ordinality.py", "pages/embedding_map.py", "pages/temperature.py"]
BACK_EPOCH = 4  # an earlier snapshot epoch (pow2 schedule) that the "epoch" changes move to

# page -> [(what, session key, value)]: applied in order, each timed
CHANGES: dict[str, list[tuple[str, str, object]]] = {
    "pages/ordinality.py": [
        ("colour: local gap", "ord_colour", "local gap"),
        ("epoch back", "ord_epoch", BACK_EPOCH),
        ("space: embedding", "ord_space", "emb"),
        ("method: PCA", "ord_method", "PCA"),
    ],
    "pages/embedding_map.py": [
        ("epoch back", "map_epoch", BACK_EPOCH),
        ("method: PCA", "map_method", "PCA"),
        ("space: representation", "map_space", "rep"),
        ("method: UMAP", "map_method", "UMAP"),
    ],
    "pages/temperature.py": [
        ("section: map", "temp_section", "map"),
        ("section: extremes", "temp_section", "extremes"),
        ("section: evolution", "temp_section", "evolution"),
        ("section: next to a global τ", "temp_section", "next to a global τ"),
        ("epoch back", "temp_epoch", BACK_EPOCH),
    ],
}


# -- the store ------------------------------------------------------------------------
def make_store(root: str, n_runs: int, epochs: int) -> None:
    import torch

    from jobs import store as st
    from jobs.projector import ProjectionWorker
    from trainers.config import RunConfig
    from trainers.train import train_run

    s = st.Store(root)
    th = torch.get_num_threads()

    def train(cfg: RunConfig) -> str:
        rid = s.create_run(cfg.replace(threads=th), status=st.RUNNING)
        out = train_run(s, rid, log=lambda m: None)
        if out["status"] != st.FINISHED:
            raise RuntimeError(f"{cfg.display_name}: {out}")
        return rid

    base = [train(RunConfig(loss=loss, name=f"{loss} digits", epochs=epochs))
            for loss in ("nt_xent", "supcon", "dcl", "isogclr", "sogclr")]
    base += [train(RunConfig(dataset="swiss_roll", loss=loss, name=f"{loss} swiss roll", epochs=epochs))
             for loss in ("l1", "supremix", "rnc")]
    pw = ProjectionWorker(s)
    pw.warm_up()
    while pw.step():
        pass
    k = 0
    while len(s.list_runs()) < n_runs:
        src = s.get_run(base[k % len(base)])
        cfg = RunConfig.from_dict(src.config).replace(name=f"{src.name} #{k // len(base) + 1}")
        rid = s.create_run(cfg, status=st.FINISHED)
        s.update_run(rid, epoch=src.epoch, step=src.step, seconds=src.seconds, total_epochs=src.total_epochs,
                     started=src.started, finished=time.time(), metrics=src.metrics)
        for snap in s.snapshots(src.id):
            s.add_snapshot(rid, snap.epoch, snap.step, s.load_snapshot(src.id, snap.epoch), snap.metrics)
        for p in s.projection_info(src.id):
            s.add_projection(rid, p["epoch"], p["space"], p["method"],
                             s.projection(src.id, p["epoch"], p["space"], p["method"]), p["seconds"])
        k += 1
    # the runs the pages open: the originals (the copies are older)
    newest = {"map": base[0], "temperature": base[3]}
    print(json.dumps({"runs": len(s.list_runs()), "snapshots": sum(s.snapshot_counts().values()), **newest}))


# -- one page in a fresh process --------------------------------------------------------
def _quiet() -> None:
    import logging

    for name in list(logging.root.manager.loggerDict):
        if name.startswith("streamlit"):
            logging.getLogger(name).setLevel(logging.ERROR)


def child_page(tree: str, page: str, selected: list[str]) -> None:
    sys.path.insert(0, tree)
    os.chdir(tree)
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(tree) / "app.py"), default_timeout=600)
    if selected:
        at.session_state["lab_selected_runs"] = selected
    _quiet()
    at.run()
    _quiet()
    out: dict = {}
    t = time.perf_counter()
    at.switch_page(page).run()
    out["cold"] = time.perf_counter() - t
    t = time.perf_counter()
    at.run()
    out["warm"] = time.perf_counter() - t
    for what, key, value in CHANGES[page]:
        at.session_state[key] = value
        t = time.perf_counter()
        at.run()
        out[what] = time.perf_counter() - t
    out["errors"] = [str(e.value)[:300] for e in at.exception]
    out["charts"] = len(at.get("plotly_chart"))
    print("RESULT " + json.dumps(out))


def profile(page: str, tree: str, selected: str, env: dict[str, str]) -> None:
    """py-spy samples of one fresh process (cold render, warm render, the control changes):
    the functions of the lab's own code with the most samples (inclusive), and where the
    script thread spends its time outside them."""
    raw = Path(tempfile.mkdtemp()) / "samples.txt"
    spy = Path(sys.executable).parent / "py-spy"
    subprocess.run([str(spy) if spy.exists() else "py-spy", "record", "--rate", "250", "--format", "raw", "--output", str(raw), "--",
                    sys.executable, __file__, "--child", tree, page, "0", "--selected", selected],
                   env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    incl: dict[str, int] = {}
    leaf: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        frames = stack.split(";")
        if not any("ScriptRunner" in f or "_run_script" in f for f in frames):
            continue  # only the script thread
        total += int(n)
        for f in dict.fromkeys(re.sub(r":\d+\)$", ")", f) for f in frames):
            incl[f] = incl.get(f, 0) + int(n)
        leaf[frames[-1]] = leaf.get(frames[-1], 0) + int(n)
    print(f"{total} samples of the script thread (250 per second)")
    for f, n in sorted(incl.items(), key=lambda kv: -kv[1])[:60]:
        print(f"  {n / total:6.1%}  {f}")
    print("the lab's own functions and the libraries they call into (inclusive):")
    own = [(f, n) for f, n in incl.items() if re.search(r"\((pages|ui|analysis|trainers)/|plotly|streamlit/elements", f)
           and "<module>" not in f]
    for f, n in sorted(own, key=lambda kv: -kv[1])[:40]:
        print(f"  {n / total:6.1%}  {f}")
    print("leaves:")
    for f, n in sorted(leaf.items(), key=lambda kv: -kv[1])[:20]:
        print(f"  {n / total:6.1%}  {f}")


# -- a real server and chromium: the Embedding Map's controls --------------------------------
MAP_CLICKS = [("map_method", "PCA", "PCA of the embedding"), ("map_space", "representation", "PCA of the representation"),
              ("map_method", "UMAP", "UMAP of the representation"), ("map_space", "embedding", "UMAP of the embedding")]


def browser_map_changes(tree: str, root: str, run_id: str, rounds: int) -> list[float]:
    """Seconds from a click on one of the Embedding Map's radios until the map's title says the
    new method and space (the chart redrawn in the browser), ``rounds`` times over MAP_CLICKS."""
    import socket

    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT))  # this checkout's helpers, whichever tree is timed
    from bench.bench_pages import stop_app, wait_healthy

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=tree, env={**os.environ, "LAB_STORE": root, "PYTHONPATH": tree}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    out = []
    try:
        wait_healthy(url)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=[
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                "--disable-component-update", "--disable-sync", "--no-first-run"])
            page = browser.new_page(viewport={"width": 1280, "height": 1200})
            page.goto(f"{url}/embedding_map?runs={run_id}", wait_until="domcontentloaded")
            chart = page.get_by_test_id("stPlotlyChart").first
            chart.locator(".gtitle", has_text="UMAP of the embedding").wait_for(state="attached", timeout=180_000)
            for _ in range(rounds):
                for key, option, title in MAP_CLICKS:
                    t = time.perf_counter()
                    page.locator(f".st-key-{key}").get_by_text(option, exact=True).click()
                    chart.locator(".gtitle", has_text=re.compile("^" + title)).wait_for(state="attached", timeout=120_000)
                    out.append(time.perf_counter() - t)
            browser.close()
    finally:
        stop_app(proc)
    return out


# -- the load ------------------------------------------------------------------------------
def start_load(root: str, epochs: int) -> list[str]:
    from jobs import runner
    from jobs import store as st
    from trainers.config import RunConfig

    s = st.Store(root)
    ids = [runner.submit(s, RunConfig(loss=loss, name=f"load {loss}", epochs=epochs)) for loss in ("nt_xent", "supcon")]
    t = time.monotonic()
    while any(s.get_run(i).status != st.RUNNING for i in ids):
        if time.monotonic() - t > 120:
            raise RuntimeError(f"the load runs did not start: {[s.get_run(i).status for i in ids]}")
        time.sleep(0.5)
    return ids


def stop_load(root: str, ids: list[str]) -> None:
    """Cancel the load runs, stop their workers and the scheduler (by pid), then delete the
    runs so that the store holds the same runs for the next invocation."""
    from jobs import runner
    from jobs import store as st

    s = st.Store(root)
    pids = []
    for i in ids:
        rec = s.get_run(i)
        try:
            runner.cancel(s, i)
        except (st.StoreError, OSError):
            pass
        if rec.pid:
            pids.append(rec.pid)
            try:
                os.kill(rec.pid, signal.SIGTERM)
            except OSError:
                pass
    pid_file = Path(root) / "scheduler.pid"
    if pid_file.exists():
        try:
            os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
    t = time.monotonic()
    while any(st.pid_alive(p) for p in pids) and time.monotonic() - t < 30:
        time.sleep(0.5)
    for i in ids:
        s.delete_run(i)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--epochs", type=int, default=12, help="epochs of the stored runs")
    ap.add_argument("--load-epochs", type=int, default=300, help="epochs of the two runs that train meanwhile")
    ap.add_argument("--no-load", action="store_true")
    ap.add_argument("--repeats", type=int, default=5, help="fresh processes per page and tree")
    ap.add_argument("--pages", nargs="*", default=PAGES)
    ap.add_argument("--tree", action="append", default=[], help="NAME=DIR: a code tree to time (repeatable)")
    ap.add_argument("--store", help="use (or build, if empty) this store folder instead of a temporary one")
    ap.add_argument("--browser", type=int, default=0, metavar="ROUNDS",
                    help="also time the Embedding Map's radios in chromium, ROUNDS x 4 clicks per tree")
    ap.add_argument("--browser-repeats", type=int, default=2, help="fresh servers per tree for --browser")
    ap.add_argument("--profile", help="print where one process of this page spends its time (py-spy) and stop")
    ap.add_argument("--make-store", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    ap.add_argument("--selected", default="", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.make_store:
        sys.path.insert(0, str(ROOT))
        make_store(a.make_store[0], int(a.make_store[1]), int(a.make_store[2]))
        return
    if a.child:
        child_page(a.child[0], a.child[1], [i for i in a.selected.split(",") if i])
        return

    sys.path.insert(0, str(ROOT))
    trees = [("current", str(ROOT))] + [tuple(t.split("=", 1)) for t in a.tree]
    tmp = tempfile.TemporaryDirectory()
    root = a.store or tmp.name
    info_path = Path(root) / "bench_pages_load.json"
    if not (Path(root) / "lab.sqlite").exists():
        t = time.perf_counter()
        out = subprocess.run([sys.executable, __file__, "--make-store", root, str(a.runs), str(a.epochs)],
                             capture_output=True, text=True, check=False)
        if out.returncode != 0:
            raise RuntimeError(f"building the store failed:\n{out.stderr[-3000:]}")
        info_path.write_text(out.stdout.strip().splitlines()[-1])
        print(f"store built in {time.perf_counter() - t:.0f} s")
    info = json.loads(info_path.read_text())
    print(f"# {os.cpu_count()} CPUs; store: {info['runs']} runs, {info['snapshots']} snapshots; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    selected = {"pages/embedding_map.py": info["map"], "pages/temperature.py": info["temperature"]}
    env = {**os.environ, "LAB_STORE": root}
    load: list[str] = []
    try:
        if not a.no_load:
            load = start_load(root, a.load_epochs)
            print(f"# two runs training (load average {os.getloadavg()[0]:.2f})", flush=True)
        if a.profile:
            profile(a.profile, trees[-1][1], selected.get(a.profile, ""), env)
            return
        results: dict[tuple[str, str], list[dict]] = {}
        for page in a.pages:
            for rep in range(a.repeats):
                for name, tree in (trees if rep % 2 == 0 else trees[::-1]):  # alternate who goes first
                    out = subprocess.run([sys.executable, __file__, "--child", tree, page, "0",
                                          "--selected", selected.get(page, "")],
                                         env=env, capture_output=True, text=True, check=False)
                    line = [x for x in out.stdout.splitlines() if x.startswith("RESULT ")]
                    if not line:
                        print(f"  {page} {name}: failed\n{out.stderr[-2000:]}", flush=True)
                        continue
                    r = json.loads(line[-1][7:])
                    results.setdefault((page, name), []).append(r)
                    print(f"  {page} [{name}] #{rep + 1}: cold {r['cold']:.2f} s, warm {r['warm']:.2f} s, "
                          + ", ".join(f"{w} {r[w]:.2f} s" for w, _, _ in CHANGES[page])
                          + (f"  ERROR {r['errors'][0]}" if r["errors"] else ""), flush=True)
        clicks: dict[str, list[float]] = {}
        for rep in range(a.browser and a.browser_repeats):
            for name, tree in (trees if rep % 2 == 0 else trees[::-1]):
                secs = browser_map_changes(tree, root, info["map"], a.browser)
                clicks.setdefault(name, []).extend(secs)
                print(f"  browser, Embedding Map radios [{name}]: " + ", ".join(f"{x:.2f}" for x in secs), flush=True)
        print(f"\n# load average at end {os.getloadavg()[0]:.2f}; medians over {a.repeats} fresh processes, seconds"
              + (f"; ratio = {trees[0][0]} / {trees[1][0]}" if len(trees) > 1 else ""))
        for page in a.pages:
            print(f"\n{page}")
            cols = ["cold", "warm"] + [w for w, _, _ in CHANGES[page]]
            for col in cols:
                med = {name: statistics.median(r[col] for r in results.get((page, name), [])) for name, _ in trees
                       if results.get((page, name))}
                cells = "  ".join(f"{name} {v:6.2f}" for name, v in med.items())
                ratio = ""
                if len(med) > 1 and trees[1][0] in med and med[trees[1][0]] > 0:
                    ratio = f"  ratio {med[trees[0][0]] / med[trees[1][0]]:.2f}"
                print(f"  {col:<30}{cells}{ratio}")
        if clicks:
            med = {name: statistics.median(v) for name, v in clicks.items()}
            print("\nbrowser: Embedding Map, click on a radio until the map's title changes (median, max)")
            for name, v in clicks.items():
                print(f"  {name:<10} {med[name]:6.2f}  {max(v):6.2f}  ({len(v)} clicks)"
                      + (f"  ratio {med[name] / med[trees[1][0]]:.2f}" if len(med) > 1 and name == trees[0][0] else ""))
    finally:
        if load:
            stop_load(root, load)
        time.sleep(1)
        tmp.cleanup()


if __name__ == "__main__":
    main()
