"""Where the browser tests find Chromium (every ``browser``-marked test drives it).

``ESTATE_CHROMIUM`` names the executable; without it, ``chromium`` (Debian's package)
or ``chromium-browser`` on PATH. A value that is not an executable file, e.g.
``ESTATE_CHROMIUM=none``, runs the suite as on a machine without a browser: the
browser tests are skipped (tests/conftest.py), which is how CI checks that path.
"""

from __future__ import annotations

import os
import shutil


def find_chromium() -> str | None:
    """The Chromium executable to drive, or None when there is none to run."""
    configured = os.environ.get("ESTATE_CHROMIUM")
    if configured is not None:
        return configured if os.path.isfile(configured) and os.access(configured, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


# The browser modules launch this; tests/conftest.py skips them when it is None.
CHROMIUM = find_chromium()
INSTALL_HINT = "apt-get install chromium, or set ESTATE_CHROMIUM to its path"
