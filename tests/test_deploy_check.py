"""Production settings pass Django's deployment checklist, and no AWS secret is kept."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.apps import apps

ROOT = Path(__file__).resolve().parent.parent


def _production_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(64),
        "ALLOWED_HOSTS": "estate.example.com",
        "ESTATE_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "estate.settings",
        **extra,
    }


def test_check_deploy_prints_no_warnings_with_production_settings(tmp_path):
    # given production settings (DEBUG off, a long secret key, real host names)
    # when Django's deployment checklist runs, failing on any warning
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=_production_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    # then it passes and reports nothing
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
    assert "WARNINGS" not in result.stderr


def _settings(tmp_path: Path, *names: str, **extra: str) -> dict:
    """The named settings as production (or ``extra``) environment makes them: one
    subprocess for all of them."""
    code = (
        "import json, django; django.setup(); from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=_production_env(tmp_path, **extra),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_production_settings_redirect_to_https_and_send_hsts(tmp_path):
    values = _settings(
        tmp_path,
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SESSION_COOKIE_SECURE",
        "CSRF_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "CSRF_COOKIE_HTTPONLY",
    )
    assert values.pop("SECURE_HSTS_SECONDS") >= 31_536_000
    assert all(values.values()), values


@pytest.mark.parametrize(
    ("extra", "engine"),
    [
        ({"REDIS_URL": "redis://127.0.0.1:6379/6"}, "django.contrib.sessions.backends.cache"),
        ({}, "django.contrib.sessions.backends.db"),
    ],
)
def test_sessions_live_in_redis_when_there_is_one_else_in_the_database(tmp_path, extra, engine):
    assert _settings(tmp_path, "SESSION_ENGINE", **extra)["SESSION_ENGINE"] == engine


# An AWS access key id, or a 40-character secret assigned to something named like one.
_AWS_KEY_ID = re.compile(r"\b(AKIA|ASIA)[A-Z0-9]{16}\b")
_AWS_SECRET = re.compile(
    r"(aws_secret_access_key|SecretAccessKey|secret_key)\W{1,4}[A-Za-z0-9/+]{40}\b", re.I
)


_SKIP_DIRS = {
    ".git",
    ".venv",
    "var",
    "node_modules",
    "staticfiles",
    "test-artifacts",
    "__pycache__",
}


def _project_files() -> list[str]:
    """Tracked files; without a git checkout (an exported tree), every file outside
    the usual build and data folders."""
    try:
        listed = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
        if listed.returncode == 0:
            return listed.stdout.split()
    except FileNotFoundError:  # no git binary
        pass
    return [
        str(path.relative_to(ROOT))
        for path in ROOT.rglob("*")
        if path.is_file() and not _SKIP_DIRS.intersection(path.relative_to(ROOT).parts)
    ]


def test_no_aws_keys_in_tracked_files():
    files = _project_files()
    offenders = []
    for name in files:
        path = ROOT / name
        if path.suffix not in {
            ".py",
            ".toml",
            ".cfg",
            ".ini",
            ".yml",
            ".yaml",
            ".json",
            ".env",
            ".md",
            ".txt",
            ".html",
            ".js",
            "",
        }:
            continue
        try:
            text = path.read_text(errors="ignore")
        except (OSError, IsADirectoryError):
            continue
        offenders.extend(f"{name}: {m.group(0)[:8]}…" for m in _AWS_KEY_ID.finditer(text))
        if _AWS_SECRET.search(text):
            offenders.append(f"{name}: secret access key")
    assert offenders == []


def test_no_model_has_a_column_for_aws_secret_keys():
    # Accounts hold a role ARN and an external id; credentials are never stored.
    suspicious = re.compile(r"(secret_access|access_key|secret_key|session_token)", re.I)
    columns = [
        f"{model._meta.label}.{field.name}"
        for model in apps.get_models()
        for field in model._meta.get_fields()
        if suspicious.search(field.name)
    ]
    assert columns == []
