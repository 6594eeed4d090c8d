"""`make test` on a machine with nothing but Python: what needs PostgreSQL, Redis or
Chromium is skipped, saying what to set or install (tests/conftest.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from tests.browser import find_chromium
from tests.conftest import missing_services, pytest_runtest_setup, skip_for_missing_services


class _Item:
    """What the skip decision reads from a collected test: its markers."""

    def __init__(self, *marks: pytest.MarkDecorator, nodeid: str = "tests/x.py::test") -> None:
        self.nodeid = nodeid
        self.stash = pytest.Stash()
        self._marks = {mark.name: mark.mark for mark in marks}

    def get_closest_marker(self, name: str):
        return self._marks.get(name)

    def add_marker(self, mark: pytest.MarkDecorator) -> None:
        self._marks[mark.name] = mark.mark


@pytest.fixture
def on_sqlite_without_redis(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.sqlite3")
    settings.REDIS_URL = ""


@pytest.fixture
def on_postgres_with_redis(settings, monkeypatch):
    monkeypatch.setitem(settings.DATABASES["default"], "ENGINE", "django.db.backends.postgresql")
    settings.REDIS_URL = "redis://127.0.0.1:6379/9"


def test_an_unmarked_test_runs_anywhere(on_sqlite_without_redis):
    assert missing_services(_Item()) == []


def test_a_postgres_test_on_sqlite_names_the_variable_and_why(on_sqlite_without_redis):
    item = _Item(pytest.mark.postgres("SQLite does not enforce column lengths"))
    assert missing_services(item) == [
        "needs PostgreSQL: set DATABASE_URL=postgres://... (SQLite does not enforce column lengths)"
    ]


def test_a_test_needing_both_services_names_both(on_sqlite_without_redis):
    item = _Item(pytest.mark.postgres, pytest.mark.redis("the broker"))
    reasons = missing_services(item)
    assert [reason.split(":")[0] for reason in reasons] == ["needs PostgreSQL", "needs Redis"]
    assert "REDIS_URL" in reasons[1]
    assert reasons[1].endswith("(the broker)")


def test_service_tests_run_where_the_services_are_configured(on_postgres_with_redis):
    assert missing_services(_Item(pytest.mark.postgres, pytest.mark.redis)) == []


def test_a_test_without_its_service_is_skipped_with_the_reason(on_sqlite_without_redis):
    plain, needs_redis = _Item(), _Item(pytest.mark.redis("the broker"))
    assert skip_for_missing_services([plain, needs_redis]) == []
    assert plain.get_closest_marker("skip") is None
    skip = needs_redis.get_closest_marker("skip")
    assert skip.kwargs["reason"] == "needs Redis: set REDIS_URL=redis://... (the broker)"


def test_where_services_are_required_a_missing_one_is_refused_not_skipped(
    on_sqlite_without_redis,
):
    # Given CI's full run, where a lost DATABASE_URL must not pass as skips
    item = _Item(pytest.mark.postgres, nodeid="tests/audit/test_trail.py::test_trigger")
    refused = skip_for_missing_services([item, _Item()], required=True)
    # Then it is not skipped: it will fail at setup, saying what is missing
    assert refused == ["tests/audit/test_trail.py::test_trigger"]
    assert item.get_closest_marker("skip") is None
    with pytest.raises(pytest.fail.Exception, match="needs PostgreSQL: set DATABASE_URL"):
        pytest_runtest_setup(item)


def _executable(path: Path) -> Path:
    path.write_text("#!/bin/sh\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return path


def test_chromium_is_found_on_path(tmp_path, monkeypatch):
    browser = _executable(tmp_path / "chromium")
    monkeypatch.delenv("ESTATE_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(browser)


def test_without_chromium_browser_tests_are_skipped_saying_what_to_install(tmp_path, monkeypatch):
    monkeypatch.delenv("ESTATE_CHROMIUM", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))  # nothing there
    assert find_chromium() is None
    monkeypatch.setattr("tests.conftest.CHROMIUM", None)
    assert missing_services(_Item(pytest.mark.browser)) == [
        "needs Chromium: apt-get install chromium, or set ESTATE_CHROMIUM to its path"
    ]


def test_estate_chromium_overrides_path_and_none_hides_the_browser(tmp_path, monkeypatch):
    _executable(tmp_path / "chromium")
    monkeypatch.setenv("PATH", str(tmp_path))
    elsewhere = _executable(tmp_path / "chrome-for-testing")
    monkeypatch.setenv("ESTATE_CHROMIUM", str(elsewhere))
    assert find_chromium() == str(elsewhere)
    monkeypatch.setenv("ESTATE_CHROMIUM", "none")
    assert find_chromium() is None
    monkeypatch.setattr("tests.conftest.CHROMIUM", None)
    assert missing_services(_Item(pytest.mark.browser)) == [
        "needs Chromium: ESTATE_CHROMIUM='none' is not an executable"
    ]


# --- `make venv` with the Pythons a new user may have -----------------------------------

ROOT = Path(__file__).resolve().parents[1]
_BROKEN_PIP = "#!/bin/sh\nexit 1\n"  # a venv's python without pip: `-m pip` fails
_WORKING_PIP = '#!/bin/sh\n[ "$*" = "-m pip --version" ]\n'

# A stand-in for `python3`: answers make's version checks, and makes a venv the way the
# case says. Debian without python3-venv leaves a venv whose python has no pip, and fails.
_FAKE_PYTHON = """#!/bin/sh
case "$*" in
  *"version_info < (3, 11)"*) exit {too_old} ;;
  *"print("*) echo 3.11 ;;
  "-m venv "*) mkdir -p "$3/bin"; printf '{venv_python}' > "$3/bin/python"; chmod +x "$3/bin/python"
     [ -n "{venv_error}" ] && echo "{venv_error}" >&2 && exit 1; exit 0 ;;
  "-m virtualenv --version") exit {no_virtualenv} ;;
  "-m virtualenv --quiet "*) mkdir -p "$4/bin"; printf '{virtualenv}' > "$4/bin/python"
     chmod +x "$4/bin/python" ;;
  *) exit 2 ;;
esac
"""
_DEBIAN = (
    "The virtual environment was not created successfully because ensurepip is not "
    "available. On Debian/Ubuntu systems, you need to install the python3-venv package"
)


def _make_venv(tmp_path: Path, **case: object) -> tuple[int, str, Path]:
    """`make venv` with a fake python3 and a PATH holding no virtualenv."""
    import shutil
    import subprocess

    make = shutil.which("make")
    if make is None:
        pytest.skip("needs make")
    fake: dict = {"too_old": 0, "venv_python": _WORKING_PIP, "venv_error": "", "virtualenv": ""}
    fake.update(case)
    fake["no_virtualenv"] = 0 if fake["virtualenv"] else 1
    python = _executable(tmp_path / "python3")
    python.write_text(_FAKE_PYTHON.format(**fake))
    tools = tmp_path / "tools"
    tools.mkdir(exist_ok=True)
    for tool in ("rm", "mkdir", "chmod", "printf"):
        if not (tools / tool).exists() and shutil.which(tool):
            (tools / tool).symlink_to(shutil.which(tool))
    venv = tmp_path / "venv"
    result = subprocess.run(
        [make, "--no-print-directory", "-C", str(ROOT), "venv", f"PYTHON={python}", f"VENV={venv}"],
        env={"PATH": str(tools), "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=60,
    )
    return result.returncode, result.stdout + result.stderr, venv


def test_make_venv_uses_python_venv_where_it_works(tmp_path):
    code, output, venv = _make_venv(tmp_path)
    assert code == 0, output
    assert (venv / "bin" / "python").read_text() == _WORKING_PIP


def test_without_python3_venv_make_says_what_to_install_and_leaves_no_half_venv(tmp_path):
    # Given Debian's python3 without python3-venv, and no virtualenv
    code, output, venv = _make_venv(tmp_path, venv_python=_BROKEN_PIP, venv_error=_DEBIAN)
    # Then make stops, naming both packages, and removes what venv left behind
    assert code != 0
    assert "apt-get install python3-venv" in output
    assert "python3.11-venv" in output
    assert not venv.exists()


def test_a_venv_made_without_pip_is_not_taken_for_a_working_one(tmp_path):
    # Given a python3 whose venv "succeeds" but has no pip (ensurepip skipped)
    code, output, venv = _make_venv(tmp_path, venv_python=_BROKEN_PIP)
    assert code != 0
    assert "apt-get install python3-venv" in output
    assert not venv.exists()


def test_without_python3_venv_make_falls_back_to_virtualenv(tmp_path):
    code, output, venv = _make_venv(
        tmp_path, venv_python=_BROKEN_PIP, venv_error=_DEBIAN, virtualenv=_WORKING_PIP
    )
    assert code == 0, output
    assert "using virtualenv" in output
    assert (venv / "bin" / "python").read_text() == _WORKING_PIP


def test_a_broken_venv_left_from_before_is_made_again(tmp_path):
    (tmp_path / "venv" / "bin").mkdir(parents=True)
    _executable(tmp_path / "venv" / "bin" / "python").write_text(_BROKEN_PIP)
    code, output, venv = _make_venv(tmp_path)
    assert code == 0, output
    assert (venv / "bin" / "python").read_text() == _WORKING_PIP


def test_an_old_python_is_refused_with_what_to_use(tmp_path):
    code, output, venv = _make_venv(tmp_path, too_old=1)
    assert code != 0
    assert "needs Python 3.11 or newer" in output
    assert not venv.exists()
