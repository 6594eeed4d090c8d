"""Hostile and malformed values in every parameter of the audit and guard pages: no
500, nothing echoed unescaped, nothing written."""

from __future__ import annotations

import pytest
from django.urls import reverse

from audit.models import AuditEvent
from guard.models import FindingSuppression

pytestmark = pytest.mark.django_db

HOSTILE = [
    "<script>alert(1)</script>",
    "\"'><img src=x onerror=alert(1)>",
    "' OR 1=1 --",
    "%00\x00nul",
    "ünïcødé ☃ \u202e",
    "9" * 400,
    "-1",
    "1e309",
    "2026-13-45",
    "0000-00-00",
    "9999-12-31",
    "../../etc/passwd",
    "x" * 5000,
]
GET_PAGES = {
    "audit": ["q", "actor", "action", "target", "outcome", "since", "until", "page"],
    "audit_csv": ["q", "actor", "action", "target", "outcome", "since", "until"],
    "findings": ["severity", "rule", "account", "environment", "kind", "status", "page"],
    "drift": ["baseline"],
    "users": ["page"],
}


def _assert_safe(response) -> None:
    assert response.status_code < 500
    body = b"".join(response.streaming_content) if response.streaming else response.content
    text = body.decode(errors="replace")
    assert "<script>alert(1)</script>" not in text
    assert "<img src=x onerror" not in text


@pytest.mark.parametrize("name", GET_PAGES)
def test_get_parameters(client, admin, name):
    client.force_login(admin)
    for param in GET_PAGES[name]:
        for value in HOSTILE:
            response = client.get(reverse(name), {param: value}, HTTP_HX_REQUEST="true")
            _assert_safe(response)
            _assert_safe(client.get(reverse(name), {param: value}))


def test_post_forms(client, admin, viewer):
    client.force_login(admin)
    before = AuditEvent.objects.count()
    for value in HOSTILE:
        _assert_safe(
            client.post(
                reverse("finding_suppress"),
                {
                    "rule_id": value,
                    "resource_arn": value,
                    "reason": value,
                    "expires_on": value,
                    "next_query": value,
                },
            )
        )
        _assert_safe(
            client.post(reverse("user_invite"), {"username": value, "email": value, "role": value})
        )
        _assert_safe(client.post(reverse("user_role", args=[viewer.pk]), {"role": value}))
        _assert_safe(client.post(reverse("user_active", args=[viewer.pk]), {"active": value}))
    assert not FindingSuppression.objects.exists()
    # only the 'active' toggles (any value other than "1" means deactivate) were valid
    actions = set(
        AuditEvent.objects.all()[: AuditEvent.objects.count() - before].values_list(
            "action", flat=True
        )
    )
    assert actions <= {"user.deactivated", "user.activated"}
