"""Build hook: an installed estate (``pip install .``, the Docker image) carries the
project's ``templates/`` and ``static/`` inside its package, as ``estate/bundled/``.

In the repository they stay at the top, one folder per app (DESIGN.md); a checkout and
an editable install read them there (estate/settings.py decides which). Everything else
about the package is declared in pyproject.toml.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

BUNDLED = ("templates", "static")


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # an editable install reads them from the checkout
        root = Path(__file__).resolve().parent
        bundled = Path(self.build_lib) / "estate" / "bundled"
        shutil.rmtree(bundled, ignore_errors=True)  # no file deleted since the last build
        for name in BUNDLED:
            source = root / name
            if not source.is_dir():
                raise FileNotFoundError(f"{source} is missing: estate cannot serve pages")
            self.copy_tree(str(source), str(bundled / name))


setup(cmdclass={"build_py": BuildPyWithAssets})
