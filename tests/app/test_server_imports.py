"""The app's server process never loads torch, scikit-learn or UMAP just to show its pages.

Every page is opened through app.py (AppTest) on an empty store in a fresh interpreter, so
that whatever the test session imported before cannot hide an import of the pages.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "sklearn", "umap")

SCRIPT = """
import json, sys
from pathlib import Path
from unittest import mock
from streamlit.testing.v1 import AppTest

with mock.patch("jobs.runner.ensure_scheduler", lambda store: False):
    at = AppTest.from_file("app.py", default_timeout=60)
    at.run()
    opened = []
    for page in sorted(p.as_posix() for p in Path("pages").glob("*.py")):
        at.switch_page(page).run()
        errors = [e.value for e in at.exception]
        opened.append({"page": page, "errors": errors, "elements": len(list(at.main))})
print(json.dumps({"opened": opened, "loaded": sorted(m for m in %r if m in sys.modules)}))
"""


def test_opening_every_page_loads_no_torch_sklearn_or_umap(tmp_path):
    env = {**os.environ, "LAB_STORE": str(tmp_path / "store")}
    proc = subprocess.run([sys.executable, "-c", SCRIPT % (HEAVY,)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    pages = sorted(p.relative_to(ROOT).as_posix() for p in (ROOT / "pages").glob("*.py"))
    assert [o["page"] for o in out["opened"]] == pages
    assert [o for o in out["opened"] if o["errors"] or o["elements"] == 0] == []
    assert out["loaded"] == []


def test_one_thread_limits_blas_without_loading_torch():
    code = ("import sys\nfrom threadpoolctl import threadpool_info\nfrom ui.data import one_thread\n"
            "with one_thread():\n    inside = {p['num_threads'] for p in threadpool_info()}\n"
            "print(sorted(inside), 'torch' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split("\n")[-2] == "[1] False"
