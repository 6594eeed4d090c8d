"""The findings page and suppressions: access, filters, HTMX, audit, expiry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from estate import models as m
from guard.models import FindingSuppression
from tests.factories.guard import SECURE_SG, account, instance, security_group, snapshot

pytestmark = pytest.mark.django_db


@pytest.fixture
def estate():
    prod = account(m.Environment.PRODUCTION)
    dev = account(m.Environment.DEVELOPMENT)
    for acct in (prod, dev):
        security_group(acct, SECURE_SG, None)
    return {
        "prod": prod,
        "dev": dev,
        "public_snapshot": snapshot(prod, is_public=True),
        "plain_db": instance(dev, storage_encrypted=False),
        "open_db": instance(prod, publicly_accessible=True, identifier="orders-db"),
    }


def test_anonymous_is_sent_to_login(client):
    for url in (reverse("findings"),):
        response = client.get(url)
        assert response.status_code == 302
        assert response.url.startswith(reverse("login"))
    assert client.post(reverse("finding_suppress")).status_code == 302


def test_user_without_a_role_gets_403(client, nobody):
    client.force_login(nobody)
    assert client.get(reverse("findings")).status_code == 403


def test_viewer_sees_findings_worst_first_with_rationale(client, viewer, estate):
    client.force_login(viewer)
    response = client.get(reverse("findings"))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    found = [(f.rule.id, f.resource_label) for f in response.context["findings"]]
    assert found[0] == ("SNAPSHOT-PUBLIC", estate["public_snapshot"].identifier)
    assert ("RDS-PUBLIC", "orders-db") in found
    assert "Any AWS account can restore a public snapshot" in body
    # the resource links to its page
    assert f'href="{reverse("instance", args=[estate["open_db"].pk])}"' in body
    # a viewer sees no suppress buttons
    assert reverse("finding_suppress") not in body
    assert 'name="reason"' not in body


def test_htmx_filter_returns_the_table_partial(client, viewer, estate):
    client.force_login(viewer)
    response = client.get(
        reverse("findings"), {"environment": "development"}, HTTP_HX_REQUEST="true"
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.strip().startswith('<section id="findings-table">')
    assert estate["plain_db"].identifier in body
    assert "orders-db" not in body


@pytest.mark.parametrize(
    ("params", "expected_rules"),
    [
        ({"severity": "critical"}, {"SNAPSHOT-PUBLIC"}),
        ({"rule": "RDS-ENCRYPTION"}, {"RDS-ENCRYPTION"}),
        ({"kind": "snapshot"}, {"SNAPSHOT-PUBLIC"}),
        ({"environment": "development"}, {"RDS-ENCRYPTION"}),
    ],
)
def test_filters(client, viewer, estate, params, expected_rules):
    client.force_login(viewer)
    response = client.get(reverse("findings"), params)
    assert {f.rule.id for f in response.context["findings"]} == expected_rules


def test_account_filter(client, viewer, estate):
    client.force_login(viewer)
    response = client.get(reverse("findings"), {"account": estate["dev"].pk})
    assert {f.account_pk for f in response.context["findings"]} == {estate["dev"].pk}


@pytest.mark.parametrize(
    "params", [{"severity": "apocalyptic"}, {"account": "abc"}, {"rule": "<script>"}]
)
def test_bad_filters_give_400_not_500(client, viewer, params):
    client.force_login(viewer)
    response = client.get(reverse("findings"), params)
    assert response.status_code == 400
    assert "<script>" not in response.content.decode()


def test_query_count_is_the_same_for_a_small_and_a_large_estate(client, viewer):
    client.force_login(viewer)
    acct = account()
    security_group(acct, SECURE_SG, None)
    instance(acct, storage_encrypted=False)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("findings")).status_code == 200
        return len(captured.captured_queries)

    small = count()
    for _ in range(60):
        instance(acct, storage_encrypted=False)
    assert count() == small


def _suppress(client, estate, **overrides):
    data = {
        "rule_id": "SNAPSHOT-PUBLIC",
        "resource_arn": estate["public_snapshot"].arn,
        "reason": "Public sample dataset, approved by security",
        "expires_on": (timezone.localdate() + timedelta(days=30)).isoformat(),
        **overrides,
    }
    return client.post(reverse("finding_suppress"), data)


def test_only_admins_may_suppress(client, operator, viewer, estate):
    for user in (viewer, operator):
        client.force_login(user)
        assert _suppress(client, estate).status_code == 403
    assert not FindingSuppression.objects.exists()


def test_admin_suppresses_a_finding_with_reason_and_expiry_and_it_is_audited(client, admin, estate):
    client.force_login(admin)
    response = _suppress(client, estate)
    assert response.status_code == 302
    suppression = FindingSuppression.objects.get()
    assert suppression.created_by == admin
    # the finding leaves the open list and shows under "suppressed"
    open_rules = {f.rule.id for f in client.get(reverse("findings")).context["findings"]}
    assert "SNAPSHOT-PUBLIC" not in open_rules
    hidden = client.get(reverse("findings"), {"status": "suppressed"}).context["findings"]
    assert [f.rule.id for f in hidden] == ["SNAPSHOT-PUBLIC"]
    event = AuditEvent.objects.get(action="finding.suppressed")
    assert event.username == "adam"
    assert event.target == estate["public_snapshot"].arn
    assert event.details["reason"] == "Public sample dataset, approved by security"


@pytest.mark.parametrize(
    "overrides",
    [
        {"reason": ""},
        {"expires_on": "2001-01-01"},
        {"expires_on": "not-a-date"},
        {"rule_id": "NO-SUCH-RULE"},
        {"expires_on": (timezone.localdate() + timedelta(days=400)).isoformat()},
    ],
)
def test_bad_suppressions_are_refused_with_a_message(client, admin, estate, overrides):
    client.force_login(admin)
    response = _suppress(client, estate, **overrides)
    assert response.status_code == 302
    assert not FindingSuppression.objects.exists()
    assert not AuditEvent.objects.filter(action="finding.suppressed").exists()
    page = client.get(response.url)
    assert "Not suppressed" in page.content.decode()


def test_an_expired_suppression_lets_the_finding_come_back(client, admin, estate):
    client.force_login(admin)
    _suppress(client, estate)
    FindingSuppression.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    open_rules = {f.rule.id for f in client.get(reverse("findings")).context["findings"]}
    assert "SNAPSHOT-PUBLIC" in open_rules


def test_revoking_a_suppression_brings_the_finding_back_and_is_audited(client, admin, estate):
    client.force_login(admin)
    _suppress(client, estate)
    suppression = FindingSuppression.objects.get()
    response = client.post(reverse("finding_suppression_revoke", args=[suppression.pk]))
    assert response.status_code == 302
    suppression.refresh_from_db()
    assert suppression.revoked_by == admin
    open_rules = {f.rule.id for f in client.get(reverse("findings")).context["findings"]}
    assert "SNAPSHOT-PUBLIC" in open_rules
    assert AuditEvent.objects.filter(action="finding.unsuppressed").count() == 1
    # revoking twice is refused, not repeated
    client.post(reverse("finding_suppression_revoke", args=[suppression.pk]))
    assert AuditEvent.objects.filter(action="finding.unsuppressed").count() == 1


def test_the_suppression_service_refuses_non_admins(operator, estate):
    from django.core.exceptions import PermissionDenied

    from guard.services import suppress_finding

    with pytest.raises(PermissionDenied):
        suppress_finding(
            rule_id="SNAPSHOT-PUBLIC",
            resource_arn=estate["public_snapshot"].arn,
            reason="because I say so",
            expires_at=timezone.now() + timedelta(days=1),
            user=operator,
        )
    assert not FindingSuppression.objects.exists()
