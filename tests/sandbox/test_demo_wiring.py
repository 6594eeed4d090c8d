"""The demo's wiring: demo logins (``manage.py demo_users``) and the Procfile."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command

from estate.roles import role_of

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def demo_settings(settings, tmp_path):
    settings.DEBUG = True
    settings.CELERY_BROKER_URL = "filesystem://"
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(tmp_path / "broker" / "queue"),
        "data_folder_out": str(tmp_path / "broker" / "queue"),
        "processed_folder": str(tmp_path / "broker" / "processed"),
    }
    return tmp_path


@pytest.mark.django_db
def test_demo_users_get_one_role_each_and_the_logins_are_printed(demo_settings):
    # When demo_users runs twice (make demo runs it every time)
    call_command("demo_users", stdout=io.StringIO())
    output = io.StringIO()
    call_command("demo_users", stdout=output)
    # Then there is one user per role, with the printed password
    users = {u.username: u for u in get_user_model().objects.all()}
    assert sorted(users) == ["admin", "operator", "viewer"]
    assert {name: role_of(u) for name, u in users.items()} == {
        "viewer": "Viewer",
        "operator": "Operator",
        "admin": "Admin",
    }
    assert users["viewer"].check_password("estate-viewer")
    assert users["admin"].is_staff
    assert not users["viewer"].is_staff
    text = output.getvalue()
    assert "http://127.0.0.1:8000" in text
    assert "operator / estate-operator" in text
    # And the filesystem broker's folders exist
    assert (demo_settings / "broker" / "queue").is_dir()
    assert (demo_settings / "broker" / "processed").is_dir()


@pytest.mark.django_db
def test_demo_users_refuse_to_run_outside_demo_mode(settings):
    settings.DEBUG = False
    with pytest.raises(CommandError, match="DEBUG=1"):
        call_command("demo_users")
    assert not get_user_model().objects.exists()


def test_procfile_runs_the_demo_processes_against_the_sandbox():
    lines = dict(
        line.split(":", 1)
        for line in (ROOT / "Procfile.demo").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert sorted(lines) == ["beat", "probes", "sandbox", "web", "worker"]
    for command in lines.values():
        assert "AWS_ENDPOINT_URL=http://127.0.0.1:5055" in command
        assert "DEBUG=1" in command
    assert "manage.py sandbox --port 5055 --seed demo --sync" in lines["sandbox"]
    assert "runserver 127.0.0.1:8000" in lines["web"]
    assert "--concurrency 2" in lines["worker"]
    assert "django_celery_beat.schedulers:DatabaseScheduler" in lines["beat"]
    # Drill probes have a worker of their own, on the queue settings route them to.
    assert "-Q probes" in lines["probes"]
    assert "-Q" not in lines["worker"]
