"""Page benchmark: every page with 50 runs in the store, warm, and the server's memory.

1. A temporary store with 50 runs is built in a child process: a few short real runs
   (digits: NT-Xent, SupCon, DCL, iSogCLR, a student distilled from the NT-Xent run;
   rotated digits: RnC and L1; 8 epochs, snapshots at 0, 1, 2, 4, 8, UMAP maps of every
   snapshot by the lab's ProjectionWorker), then copied through the Store API (run,
   history, snapshots, maps) until there are 50, some of them in groups.
2. AppTest (``streamlit.testing.v1``): for every page of app.py's navigation, the page
   is rendered once (first: the session is new; caches that earlier pages filled stay
   filled, as in a server), then --repeats more times in the same session (warm); the
   median warm seconds per page is reported (target < 1 s). Page exceptions are reported.
3. A real server (``streamlit run app.py``) on that store, visited page by page with
   Playwright driving Debian chromium (``/usr/bin/chromium --headless --no-sandbox
   --disable-gpu``), --rounds times over all pages; after every page has rendered, the
   server's resident memory (VmRSS) and at the end its peak (VmHWM) are read from /proc
   (target < 600 MB); the seconds until each page has rendered (the app's status widget
   quiet for 1 s) are reported too. Skipped when chromium or
   Playwright is missing. Also reported: whether ``umap`` got imported by the server
   (it must not be: maps are computed by the scheduler).

    .venv/bin/python bench/bench_pages.py [--repeats 5] [--runs 50] [--no-browser]

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

APP = ROOT / "app.py"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


# -- the store ------------------------------------------------------------------------
def make_store(root: str, n_runs: int) -> None:
    """Real short runs, their maps, then copies through the Store API up to ``n_runs``."""
    import torch

    from jobs import store as st
    from jobs.projector import ProjectionWorker
    from trainers.config import RunConfig
    from trainers.train import train_run

    s = st.Store(root)
    th = torch.get_num_threads()
    base: list[str] = []

    def train(cfg: RunConfig) -> str:
        rid = s.create_run(cfg.replace(threads=th), status=st.RUNNING)
        out = train_run(s, rid, log=lambda m: None)
        if out["status"] != st.FINISHED:
            raise RuntimeError(f"{cfg.display_name}: {out}")
        return rid

    common = dict(epochs=8)
    teacher = train(RunConfig(loss="nt_xent", name="nt_xent digits", **common))
    base.append(teacher)
    for loss in ("supcon", "dcl", "isogclr"):
        base.append(train(RunConfig(loss=loss, name=f"{loss} digits", **common)))
    for loss in ("rnc", "l1"):
        base.append(train(RunConfig(dataset="rotated_digits", loss=loss, name=f"{loss} rotated digits", **common)))
    base.append(train(RunConfig(loss="nt_xent", name="student (similarity) digits", teacher=teacher,
                                distill="similarity", **common)))
    pw = ProjectionWorker(s)
    pw.warm_up()
    while pw.step():
        pass
    k = 0
    while len(s.list_runs()) < n_runs:
        src = s.get_run(base[k % len(base)])
        cfg = RunConfig.from_dict(src.config)
        group = f"bench group {k % 5}" if k % len(base) < 4 else ""
        cfg = cfg.replace(name=f"{src.name} #{k // len(base) + 1}", group=group)
        rid = s.create_run(cfg, status=st.FINISHED)
        s.update_run(rid, epoch=src.epoch, step=src.step, seconds=src.seconds, total_epochs=src.total_epochs,
                     started=src.started, finished=time.time(), metrics=src.metrics)
        h = s.history(src.id)
        s.append_history(rid, [{"step": int(a), "epoch": float(b), "seconds": float(c), "loss": float(d)}
                               for a, b, c, d in zip(h["step"], h["epoch"], h["seconds"], h["loss"], strict=True)])
        for snap in s.snapshots(src.id):
            s.add_snapshot(rid, snap.epoch, snap.step, s.load_snapshot(src.id, snap.epoch), snap.metrics)
        for p in s.projection_info(src.id):
            s.add_projection(rid, p["epoch"], p["space"], p["method"],
                             s.projection(src.id, p["epoch"], p["space"], p["method"]), p["seconds"])
        ck = s.checkpoint_path(src.id)
        if ck.exists():
            st.atomic_write_bytes(s.checkpoint_path(rid), ck.read_bytes())
        k += 1
    print(json.dumps({"runs": len(s.list_runs()), "snapshots": sum(s.snapshot_counts().values()),
                      "pending_maps": len(s.pending_projections("umap"))}))


def page_paths() -> list[str]:
    """The pages of app.py's navigation, in order."""
    return re.findall(r'st\.Page\(\s*"(pages/[^"]+\.py)"', APP.read_text())


# -- AppTest ----------------------------------------------------------------------------
def apptest_pages(repeats: int) -> list[dict]:
    import logging

    from streamlit.testing.v1 import AppTest

    def quiet() -> None:  # AppTest's "missing ScriptRunContext" chatter
        for name in list(logging.root.manager.loggerDict):
            if name.startswith("streamlit"):
                logging.getLogger(name).setLevel(logging.ERROR)

    rows = []
    for page in page_paths():
        quiet()
        at = AppTest.from_file(str(APP), default_timeout=300)
        at.run()
        quiet()
        t = time.perf_counter()
        at.switch_page(page).run()
        cold = time.perf_counter() - t
        warm = []
        for _ in range(repeats):
            t = time.perf_counter()
            at.run()
            warm.append(time.perf_counter() - t)
        errors = [str(e.value)[:200] for e in at.exception]
        rows.append({"page": page, "first_s": cold, "warm_s": statistics.median(warm), "warm_max_s": max(warm),
                     "charts": len(at.get("plotly_chart")), "errors": errors})
        print(f"  {page:<34} first {cold:6.2f} s   warm {statistics.median(warm):6.2f} s"
              + (f"   ERROR {errors[0]}" if errors else ""), flush=True)
    return rows


# -- the real server + chromium ---------------------------------------------------------
def stop_app(proc: subprocess.Popen) -> None:
    """Stop an app started in its own session: SIGTERM to its process group, SIGKILL after 15 s."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(15)
    except (OSError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_healthy(url: str, *, timeout: float = 120.0, every: float = 0.3) -> None:
    """Wait until the app at ``url`` answers ``/_stcore/health`` with ok."""
    t = time.monotonic()
    while True:
        try:
            if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                return
        except OSError:
            if time.monotonic() - t > timeout:
                raise RuntimeError(f"the app did not answer /_stcore/health in {timeout:.0f} s") from None
            time.sleep(every)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _status(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            k, v = line.split(":")
            out[k] = int(v.split()[0]) // 1024  # MiB
    return out


def browser_memory(root: str, rounds: int) -> dict:
    from playwright.sync_api import sync_playwright

    port = _free_port()
    env = {**os.environ, "LAB_STORE": root, "LAB_UMAP": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.address",
         "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    out: dict = {"pages": []}
    try:
        wait_healthy(url)
        out["rss_start_mb"] = _status(proc.pid)["VmRSS"]
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            for rnd, path in [(r, p) for r in range(rounds) for p in page_paths()]:
                slug = "" if "train.py" in path else Path(path).stem
                t = time.perf_counter()
                page.goto(f"{url}/{slug}", wait_until="domcontentloaded")
                page.get_by_test_id("stMain").locator("h1").first.wait_for(timeout=120_000)
                # rendered when the app reports no script running for a moment
                quiet_since = None
                while True:
                    running = page.get_by_test_id("stStatusWidget").count() > 0
                    now = time.perf_counter()
                    if running:
                        quiet_since = None
                    elif quiet_since is None:
                        quiet_since = now
                    elif now - quiet_since > 1.0:
                        break
                    if now - t > 180:
                        break
                    time.sleep(0.1)
                secs = (quiet_since or time.perf_counter()) - t
                mem = _status(proc.pid)
                out["pages"].append({"page": path, "round": rnd, "browser_s": secs, "rss_mb": mem["VmRSS"],
                                     "hwm_mb": mem["VmHWM"]})
                print(f"  browser round {rnd + 1} {path:<34} {secs:6.2f} s   server RSS {mem['VmRSS']} MB "
                      f"(peak so far {mem['VmHWM']} MB)", flush=True)
            browser.close()
        st_ = _status(proc.pid)
        out["rss_end_mb"], out["hwm_mb"] = st_["VmRSS"], st_["VmHWM"]
        maps = Path(f"/proc/{proc.pid}/maps").read_text()
        out["umap_loaded"] = "/umap/" in maps or "numba" in maps
    finally:
        stop_app(proc)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5, help="warm renders per page")
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--rounds", type=int, default=2, help="browser passes over all pages")
    ap.add_argument("--store", help="use (or build, if empty) this store folder instead of a temporary one")
    ap.add_argument("--make-store", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.make_store:
        make_store(a.make_store[0], int(a.make_store[1]))
        return

    import streamlit
    import torch

    load0 = os.getloadavg()
    print(f"# {os.cpu_count()} CPUs, torch {torch.__version__}, streamlit {streamlit.__version__}; "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    tmp = tempfile.TemporaryDirectory()
    root = a.store or tmp.name
    try:
        if not (Path(root) / "lab.sqlite").exists():
            t = time.perf_counter()
            out = subprocess.run([sys.executable, __file__, "--make-store", root, str(a.runs)], capture_output=True,
                                 text=True, check=False)
            if out.returncode != 0:
                raise RuntimeError(f"building the store failed:\n{out.stderr[-3000:]}")
            info = json.loads(out.stdout.strip().splitlines()[-1])
            print(f"store: {info['runs']} runs, {info['snapshots']} snapshots, {info['pending_maps']} maps pending "
                  f"(built in {time.perf_counter() - t:.0f} s)")
        os.environ["LAB_STORE"] = root
        os.environ["LAB_UMAP"] = "0"  # no scheduler from the pages (nothing is pending or active anyway)
        rows = apptest_pages(a.repeats)
        print(f"# load average after AppTest {os.getloadavg()[0]:.2f}")
        br = None
        if not a.no_browser:
            if not Path(CHROMIUM).exists():
                print("browser: skipped (no /usr/bin/chromium)")
            else:
                try:
                    br = browser_memory(root, a.rounds)
                except ImportError:
                    print("browser: skipped (playwright is not installed)")
    finally:
        pid_file = Path(root) / "scheduler.pid"
        if pid_file.exists():  # in case a page started one
            try:
                os.kill(int(pid_file.read_text().strip()), signal.SIGTERM)
            except (OSError, ValueError):
                pass
        tmp.cleanup()

    print()
    print(f"{'page':<34}{'first s':>8}{'warm s':>8}{'warm max':>10}{'charts':>8}  target < 1 s warm")
    for r in rows:
        flag = "" if r["warm_s"] < 1.0 else "  MISSED"
        err = f"  error: {r['errors'][0]}" if r["errors"] else ""
        print(f"{r['page']:<34}{r['first_s']:>8.2f}{r['warm_s']:>8.2f}{r['warm_max_s']:>10.2f}{r['charts']:>8}{flag}{err}")
    print(f"median over pages (warm): {statistics.median(r['warm_s'] for r in rows):.2f} s; "
          f"slowest: {max(rows, key=lambda r: r['warm_s'])['page']} {max(r['warm_s'] for r in rows):.2f} s")
    if br:
        first = [x for x in br["pages"] if x["round"] == 0]
        print(f"streamlit server: RSS {br['rss_start_mb']} MB at start, {first[-1]['rss_mb']} MB after one visit of "
              f"every page, {br['rss_end_mb']} MB after {a.rounds} rounds, peak (VmHWM) {br['hwm_mb']} MB; "
              f"target < 600 MB; umap/numba loaded in the server: {br['umap_loaded']}")
        for rnd in range(a.rounds):
            secs = [x["browser_s"] for x in br["pages"] if x["round"] == rnd]
            print(f"browser round {rnd + 1}: median {statistics.median(secs):.2f} s per page, max {max(secs):.2f} s "
                  "(navigation to rendered, includes the browser's own drawing)")
    load1 = os.getloadavg()
    print(f"# load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}")


if __name__ == "__main__":
    main()
