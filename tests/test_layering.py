"""The house's import rules (docs/architecture.md), checked on the source.

* Within an app, ``models``, ``services``, ``engine`` and ``tasks`` import each other
  without circles, except the ordinary ``services`` <-> ``tasks`` pair; a model module
  never imports its app's services; the engine imports no task.
* No app imports another app's private names (``from guard.x import _y``).
* Product code never imports the sandbox (it reaches it through boto3 only).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
APPS = ("estate", "operations", "drills", "guard", "audit", "metrics")
LAYERED = ("models", "services", "engine", "tasks")


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) for every import in the file, at any depth."""
    found: list[tuple[str, list[str]]] = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def _layered_edges(app: str) -> set[tuple[str, str]]:
    edges: set[tuple[str, str]] = set()
    for name in LAYERED:
        path = ROOT / app / f"{name}.py"
        if not path.exists():
            continue
        for module, names in _imports(path):
            targets = {module.split(".")[1]} if module.startswith(f"{app}.") else set()
            if module == app:
                targets = set(names)
            for target in targets & set(LAYERED):
                if target != name:
                    edges.add((name, target))
    return edges


@pytest.mark.parametrize("app", APPS)
def test_no_import_circles_between_an_apps_layers(app):
    edges = _layered_edges(app) - {("services", "tasks"), ("tasks", "services")}
    for a, b in edges:
        assert (b, a) not in edges, f"{app}: {a}.py and {b}.py import each other"
    assert ("models", "services") not in edges, f"{app}/models.py imports its services"
    assert ("engine", "tasks") not in edges, f"{app}/engine.py imports its tasks"


def _product_files() -> list[Path]:
    files = []
    for app in APPS:
        files.extend(p for p in (ROOT / app).rglob("*.py") if "migrations" not in p.parts)
    return files


def test_no_app_imports_another_apps_private_names():
    offenders = []
    for path in _product_files():
        app = path.relative_to(ROOT).parts[0]
        for module, names in _imports(path):
            other = module.split(".")[0]
            if other in APPS and other != app:
                offenders += [
                    f"{path.relative_to(ROOT)}: {module}.{n}" for n in names if n.startswith("_")
                ]
    assert offenders == []


def test_product_code_never_imports_the_sandbox():
    offenders = [
        str(path.relative_to(ROOT))
        for path in _product_files()
        for module, _ in _imports(path)
        if module == "sandbox" or module.startswith(("sandbox.", "moto"))
    ]
    assert offenders == []
