"""The layers, read from the import graph of every module (imports inside functions included).

    trainers/losses   pure losses                 imports: trainers.losses only
    analysis          pure metrics                imports: analysis only
    trainers          catalogue + training        imports: trainers, analysis
    jobs              store, runner, worker, CLI  imports: jobs, trainers, analysis
    ui                helpers of the pages        imports: ui, jobs, trainers catalogue, analysis
    pages, app.py     layout                      imports: ui, jobs, trainers catalogue, analysis

A lower layer never imports a higher one; only ui, pages and app.py import streamlit; the
catalogue (what the app's server reads about runs) imports only the standard library at
module level; no module imports a private name from another module, except from a private
module made for sharing (its name starts with an underscore, such as trainers/losses/_checks.py).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = ("analysis", "trainers", "jobs", "ui", "pages", "app")
CATALOGUE = ("trainers.options", "trainers.registry", "trainers.config", "trainers.presets", "trainers.states")
STDLIB_OK = {"__future__", "dataclasses", "json", "math", "typing", "importlib", "collections", "itertools",
             "functools", "re"}


def _module(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = [p for p in rel.parts if p != "__init__"]
    return ".".join(parts)


def _files() -> list[Path]:
    out = [ROOT / "app.py"]
    for pkg in ("analysis", "trainers", "jobs", "ui", "pages"):
        out += sorted((ROOT / pkg).rglob("*.py"))
    return out


def _imports(path: Path, *, top_level_only: bool = False) -> list[tuple[str, list[str]]]:
    """(module imported, names imported from it) for each import statement of ``path``."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out = []
    for node in nodes:
        if isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.append((node.module, [a.name for a in node.names]))
    return out


def _layer(module: str) -> str:
    if module.startswith("trainers.losses"):
        return "losses"
    if module in CATALOGUE:
        return "catalogue"
    top = module.split(".")[0]
    return {"app": "pages"}.get(top, top)


ALLOWED = {
    "losses": {"losses"},
    "analysis": {"analysis"},
    "catalogue": {"catalogue"},
    "trainers": {"losses", "analysis", "catalogue", "trainers"},
    "jobs": {"losses", "analysis", "catalogue", "trainers", "jobs"},
    "ui": {"analysis", "catalogue", "jobs", "ui"},
    "pages": {"analysis", "catalogue", "jobs", "ui"},
}


def _target(mod: str, names: list[str]) -> list[str]:
    """The project modules an import statement reaches (``from trainers import registry`` -> trainers.registry)."""
    if mod.split(".")[0] not in PROJECT:
        return []
    if names and mod in ("trainers", "jobs", "analysis", "ui"):
        return [f"{mod}.{n}" for n in names]
    return [mod]


# The two imports that cross the layers, and why.
EXCEPTIONS = {
    ("trainers.__main__", "jobs.cli"): "`python -m trainers` keeps its name; the command line lives in the job system",
    ("ui.data", "trainers.data"): "the map's picture of a clicked sample: the dataset loaded once, inside a cached function",
}


def test_every_layer_imports_only_the_layers_below_it():
    bad = []
    for f in _files():
        me = _module(f)
        for mod, names in _imports(f):
            for target in _target(mod, names):
                if _layer(target) not in ALLOWED[_layer(me)] and (me, target) not in EXCEPTIONS:
                    bad.append(f"{me} ({_layer(me)}) imports {target} ({_layer(target)})")
    assert bad == []


def test_only_the_ui_layers_import_streamlit():
    bad = [_module(f) for f in _files()
           if _layer(_module(f)) not in ("ui", "pages") and any(m.split(".")[0] == "streamlit" for m, _ in _imports(f))]
    assert bad == []


def test_the_catalogue_imports_only_the_standard_library_at_module_level():
    bad = []
    for f in _files():
        if _layer(_module(f)) != "catalogue":
            continue
        for mod, names in _imports(f, top_level_only=True):
            top = mod.split(".")[0]
            if top not in STDLIB_OK and not any(t in CATALOGUE for t in _target(mod, names)):
                bad.append(f"{_module(f)} imports {mod}")
    assert bad == []


def test_no_module_imports_a_private_name_of_another():
    bad = []
    for f in _files():
        for mod, names in _imports(f):
            if mod.split(".")[0] not in PROJECT or mod.rsplit(".", 1)[-1].startswith("_"):
                continue
            bad += [f"{_module(f)} imports {mod}.{n}" for n in names if n.startswith("_")]
    assert bad == []


def test_pages_do_not_import_numeric_libraries():
    files = list((ROOT / "pages").glob("*.py")) + [ROOT / "app.py"]
    heavy = {"umap", "torch", "scipy", "sklearn"}
    bad = [(_module(f), m) for f in files for m, _ in _imports(f) if m.split(".")[0] in heavy]
    assert bad == []


def test_the_graph_is_read():
    """The checks above see the project: its modules and the imports between its layers."""
    mods = {_module(f) for f in _files()}
    assert {"trainers.train", "jobs.store", "ui.data", "analysis.geometry", "trainers.losses.nt_xent"} <= mods
    edges = {(_layer(_module(f)), _layer(t)) for f in _files() for m, n in _imports(f) for t in _target(m, n)}
    assert {("jobs", "trainers"), ("trainers", "losses"), ("pages", "ui"), ("ui", "jobs")} <= edges
