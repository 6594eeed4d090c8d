"""What `pip install .` ships: every app of the project, and (bundled by setup.py) the
templates and static files. .ci/check-install installs it for real, from another folder."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

from django.apps import apps

ROOT = Path(__file__).resolve().parents[1]
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _project_apps() -> list[str]:
    """The installed apps whose code lives in this repository (top-level packages)."""
    return sorted(
        config.name for config in apps.get_app_configs() if Path(config.path).parent == ROOT
    )


def test_every_app_of_the_project_is_packaged():
    include = PYPROJECT["tool"]["setuptools"]["packages"]["find"]["include"]
    unpackaged = [
        app for app in _project_apps() if not any(fnmatch.fnmatch(app, p) for p in include)
    ]
    assert _project_apps()  # the check looks at something
    assert unpackaged == []


def test_the_sandbox_and_moto_are_an_extra_that_dev_installs():
    dependencies = " ".join(PYPROJECT["project"]["dependencies"])
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert "moto" not in dependencies
    assert any(dep.startswith("moto[server]") for dep in extras["sandbox"])
    assert "estate[sandbox]" in extras["dev"]


def test_the_source_distribution_carries_what_the_build_bundles():
    manifest = (ROOT / "MANIFEST.in").read_text().splitlines()
    assert "graft templates" in manifest
    assert "graft static" in manifest
