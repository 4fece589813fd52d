"""analysis/ and trainers/ never import streamlit; pages contain no math imports."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            out.add(node.module.split(".")[0])
    return out


def test_backend_never_imports_streamlit():
    files = list((ROOT / "analysis").rglob("*.py")) + list((ROOT / "trainers").rglob("*.py"))
    assert len(files) > 10
    bad = [str(f.relative_to(ROOT)) for f in files if "streamlit" in _imports(f)]
    assert bad == []


def test_pages_do_not_import_umap_or_torch_or_scipy():
    files = list((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    bad = [(str(f.relative_to(ROOT)), sorted(_imports(f) & {"umap", "torch", "scipy", "sklearn"})) for f in files]
    assert [b for b in bad if b[1]] == []
