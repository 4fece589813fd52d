"""Server start-up benchmark: how long the app's server process takes to start, and its memory.

For each checkout given (this one, and with ``--before PATH`` an earlier one, e.g. a
``git worktree`` of the previous commit), with this interpreter:

1. Imports: a fresh interpreter runs the module-level imports of app.py, every page and
   ui/ (what the server process loads to show every page), ``--runs`` times; the median
   wall time is reported, and which heavy libraries (torch, scikit-learn, UMAP, SciPy)
   those imports loaded.
2. Server (``--server-runs`` times, unless ``--no-browser``): ``streamlit run app.py`` on an
   empty temporary store (so no scheduler is started), bound to 127.0.0.1; reported are the
   seconds from process start to ``/_stcore/health`` answering ok, and to the first page
   (Train) rendered in Debian chromium (Playwright; rendered = the app's status widget quiet
   for 0.5 s); then every page of the navigation is opened once and the server's resident
   memory (VmRSS) and peak (VmHWM) are read from /proc, and whether torch got loaded.

Medians over the runs; with ``--before`` the ratio before / after as well.

    .venv/bin/python bench/bench_server_start.py [--before /tmp/lab_before] [--runs 5]
        [--server-runs 3] [--no-browser]

This script prints figures; it never passes or fails on time.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.bench_pages import CHROMIUM, CHROMIUM_ARGS, _free_port, _status, stop_app, wait_healthy  # noqa: E402

HEAVY = ("torch", "sklearn", "umap", "scipy")


def server_imports(root: Path) -> str:
    """The module-level imports of app.py, pages/ and ui/ of ``root``, as one script."""
    files = [root / "app.py", *sorted((root / "pages").glob("*.py")), *sorted((root / "ui").glob("*.py"))]
    lines = []
    for f in files:
        for node in ast.parse(f.read_text()).body:
            if isinstance(node, ast.Import | ast.ImportFrom) and getattr(node, "module", None) != "__future__":
                lines.append(ast.unparse(node))
    return "\n".join(lines)


def import_times(root: Path, runs: int) -> dict:
    code = server_imports(root) + f"\nimport sys, json; print(json.dumps([m for m in {HEAVY!r} if m in sys.modules]))"
    times, loaded = [], []
    for _ in range(runs):
        t = time.perf_counter()
        proc = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - t)
        loaded = json.loads(proc.stdout.strip().splitlines()[-1])
    return {"import_s": statistics.median(times), "import_runs_s": times, "heavy_loaded": loaded}


def _wait_rendered(page, t0: float, quiet: float = 0.5, limit: float = 180.0) -> float:
    """Seconds from ``t0`` until the page's title is shown and no script has run for ``quiet`` s."""
    page.get_by_test_id("stMain").locator("h1").first.wait_for(timeout=limit * 1000)
    quiet_since = None
    while True:
        now = time.perf_counter()
        if page.get_by_test_id("stStatusWidget").count() > 0:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = now
        elif now - quiet_since > quiet:
            return quiet_since - t0
        if now - t0 > limit:
            return now - t0
        time.sleep(0.05)


def server_run(root: Path) -> dict:
    from playwright.sync_api import sync_playwright

    pages = [Path(p).stem for p in _page_paths(root)]
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    with tempfile.TemporaryDirectory(prefix="lab_start_") as store:
        env = {**os.environ, "LAB_STORE": store, "LAB_UMAP": "0"}
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(root / "app.py"), "--server.headless", "true",
             "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        try:
            wait_healthy(url, every=0.05)
            out = {"health_s": time.perf_counter() - t0}
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_page(viewport={"width": 1280, "height": 900})
                page.goto(url, wait_until="domcontentloaded")
                out["first_page_s"] = _wait_rendered(page, t0)
                for stem in pages:
                    slug = "" if stem == "train" else stem
                    t = time.perf_counter()
                    page.goto(f"{url}/{slug}", wait_until="domcontentloaded")
                    _wait_rendered(page, t)
                browser.close()
            mem = _status(proc.pid)
            maps = Path(f"/proc/{proc.pid}/maps").read_text()
            out.update(rss_mb=mem["VmRSS"], hwm_mb=mem["VmHWM"], torch_loaded="/torch/lib/" in maps)
            return out
        finally:
            stop_app(proc)


def _page_paths(root: Path) -> list[str]:
    """The pages of ``root``'s app.py navigation, in order."""
    return re.findall(r'st\.Page\(\s*"(pages/[^"]+\.py)"', (root / "app.py").read_text())


def measure(label: str, root: Path, runs: int, server_runs: int) -> dict:
    res = {"label": label, "root": str(root), **import_times(root, runs)}
    print(f"{label:>7}: imports of app.py + pages + ui  median {res['import_s']:.2f} s over {runs} runs "
          f"(heavy modules loaded: {', '.join(res['heavy_loaded']) or 'none'})", flush=True)
    if server_runs:
        rows = [server_run(root) for _ in range(server_runs)]
        for k in ("health_s", "first_page_s", "rss_mb", "hwm_mb"):
            res[k] = statistics.median(r[k] for r in rows)
        res["torch_loaded"] = any(r["torch_loaded"] for r in rows)
        res["server_runs"] = rows
        print(f"{label:>7}: server health ok {res['health_s']:.2f} s, first page rendered {res['first_page_s']:.2f} s; "
              f"after every page VmRSS {res['rss_mb']:.0f} MB (peak {res['hwm_mb']:.0f} MB), torch loaded: "
              f"{res['torch_loaded']}  (median of {server_runs})", flush=True)
    return res


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--before", type=Path, help="an earlier checkout to compare with (e.g. a git worktree)")
    ap.add_argument("--runs", type=int, default=5, help="import measurements per checkout")
    ap.add_argument("--server-runs", type=int, default=3, help="server starts per checkout")
    ap.add_argument("--no-browser", action="store_true", help="imports only: no server, no chromium")
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    server_runs = 0 if args.no_browser else args.server_runs
    results = []
    if args.before:
        results.append(measure("before", args.before.resolve(), args.runs, server_runs))
    results.append(measure("after" if args.before else "this", ROOT, args.runs, server_runs))
    if args.before:
        b, a = results
        for k, name in (("import_s", "imports"), ("health_s", "health ok"), ("first_page_s", "first page"),
                        ("rss_mb", "VmRSS after every page")):
            if k in a:
                print(f"  {name:<24} before / after = {b[k]:.2f} / {a[k]:.2f} = {b[k] / a[k]:.2f}x")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
