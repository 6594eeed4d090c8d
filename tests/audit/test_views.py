"""The audit page: access, filters, search, links, pagination, CSV, HTMX partial."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEvent
from audit.services import record
from estate.models import Account, DbCluster

pytestmark = pytest.mark.django_db


def _cluster(name: str = "orders") -> DbCluster:
    account = Account.objects.create(account_id="111111111111", name="prod")
    return DbCluster.objects.create(
        account=account,
        region="us-east-1",
        arn=f"arn:aws:rds:us-east-1:111111111111:cluster:{name}",
        identifier=name,
        engine="aurora-postgresql",
    )


def test_anonymous_is_sent_to_login(client):
    response = client.get(reverse("audit"))
    assert response.status_code == 302
    assert response.url.startswith(reverse("login"))
    assert client.get(reverse("audit_csv")).status_code == 302


def test_user_without_a_role_gets_403(client, nobody):
    client.force_login(nobody)
    assert client.get(reverse("audit")).status_code == 403
    assert client.get(reverse("audit_csv")).status_code == 403


def test_viewer_sees_the_full_page_with_events(client, viewer, admin):
    # given a few events
    record("auth.login", actor=admin, target="user adam")
    record("operation.requested", actor=admin, target="arn:aws:rds:us-east-1:1:cluster:x")
    client.force_login(viewer)
    # when the viewer opens the page
    response = client.get(reverse("audit"))
    # then it is the whole page, with both events
    assert response.status_code == 200
    body = response.content.decode()
    assert "<html" in body
    assert "Audit trail" in body
    assert "operation.requested" in body
    assert "auth.login" in body


def test_htmx_request_gets_only_the_table_partial(client, viewer):
    record("auth.login", actor=viewer)
    client.force_login(viewer)
    response = client.get(reverse("audit"), {"action": "auth.login"}, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in body
    assert body.strip().startswith('<section id="audit-table">')
    assert "auth.login" in body
    assert "HX-Request" in response.headers["Vary"]


def test_filters_narrow_the_events(client, viewer, admin):
    old = record("account.changed", actor=admin, target="account 111111111111")
    # Events are append-only; backdate through the insert, as a fixture would.
    AuditEvent.objects.create(
        username="adam", action="auth.login", at=timezone.now() - timedelta(days=10)
    )
    record("auth.login_failed", target="user mallory", outcome="failure", details={"username": "m"})
    client.force_login(viewer)

    def actions(**params) -> list[str]:
        response = client.get(reverse("audit"), params)
        assert response.status_code == 200
        # force_login itself is audited: leave vera's own login out
        return [e.action for e in response.context["events"] if e.username != "vera"]

    assert actions(outcome="failure") == ["auth.login_failed"]
    assert actions(actor="ADAM") == ["account.changed", "auth.login"]
    assert actions(action="auth.") == ["auth.login_failed", "auth.login"]
    assert actions(action="auth.login") == ["auth.login"]
    assert actions(target="1111") == ["account.changed"]
    today = timezone.localdate().isoformat()
    assert actions(since=today) == ["auth.login_failed", "account.changed"]
    earlier = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert actions(until=earlier) == ["auth.login"]
    assert old.pk


def test_free_text_search_looks_in_user_action_target_and_details(client, viewer):
    record(
        "operation.requested",
        target="arn:aws:rds:us-east-1:1:cluster:a",
        details={"kind": "backtrack"},
    )
    record(
        "operation.requested", target="arn:aws:rds:us-east-1:1:cluster:b", details={"kind": "clone"}
    )
    client.force_login(viewer)
    response = client.get(reverse("audit"), {"q": "backtrack"})
    assert [e.target for e in response.context["events"]] == ["arn:aws:rds:us-east-1:1:cluster:a"]


@pytest.mark.parametrize(
    "params",
    [{"since": "not-a-date"}, {"since": "2026-02-01", "until": "2026-01-01"}, {"outcome": "x"}],
)
def test_bad_filters_give_400_with_the_reason_not_a_500(client, viewer, params):
    client.force_login(viewer)
    response = client.get(reverse("audit"), params)
    assert response.status_code == 400
    assert 'role="alert"' in response.content.decode()
    assert client.get(reverse("audit_csv"), params).status_code == 400


def test_hostile_input_is_escaped(client, viewer):
    record("auth.login_failed", target="user <script>alert(1)</script>", outcome="failure")
    client.force_login(viewer)
    response = client.get(reverse("audit"), {"q": "<script>"})
    body = response.content.decode()
    assert "<script>alert(1)</script>" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


def test_targets_link_to_their_resource_page_when_it_exists(client, viewer):
    cluster = _cluster()
    record("operation.requested", target=cluster.arn, details={"operation_id": 7})
    record("auth.login", target="user vera")
    client.force_login(viewer)
    response = client.get(reverse("audit"))
    events = {e.action: e for e in response.context["events"]}
    expected = _reverse_or_empty("cluster", cluster.pk)
    assert events["operation.requested"].resource_url == expected
    if expected:
        assert f'href="{expected}"' in response.content.decode()
    assert events["operation.requested"].operation_url == _reverse_or_empty("operations:detail", 7)
    assert events["auth.login"].resource_url == ""
    assert events["auth.login"].operation_url == ""


def test_the_operation_engines_events_link_to_resource_and_operation(client, viewer):
    # operations.engine records {"operation": pk} and the operation's page as target_url
    cluster = _cluster()
    op_url = _reverse_or_empty("operations:detail", 3)
    record(
        "operation.finished",
        target=cluster.arn,
        details={"operation": 3},
        target_url=op_url,
    )
    client.force_login(viewer)
    (event,) = [
        e
        for e in client.get(reverse("audit")).context["events"]
        if e.action == "operation.finished"
    ]
    assert event.operation_url == op_url
    assert event.resource_url == _reverse_or_empty("cluster", cluster.pk)


def _reverse_or_empty(name, pk):
    from django.urls import NoReverseMatch

    try:
        return reverse(name, args=[pk])
    except NoReverseMatch:
        return ""


def test_page_query_count_does_not_grow_with_the_trail(client, viewer):
    # given linked resources and 1 event, then 200 events
    _cluster()
    client.force_login(viewer)

    def add_events(n: int) -> None:
        AuditEvent.objects.bulk_create(
            AuditEvent(
                username="adam",
                action="operation.requested",
                target=f"arn:aws:rds:us-east-1:111111111111:cluster:{'orders' if i % 2 else i}",
                details={"operation_id": i},
            )
            for i in range(n)
        )

    def queries_for_page() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(reverse("audit")).status_code == 200
        return len(captured.captured_queries)

    add_events(1)
    with_one = queries_for_page()
    add_events(199)
    # then a full page of 50 costs exactly as many queries as a page of 1
    assert queries_for_page() == with_one
    assert with_one <= 8


def test_pagination_keeps_the_filters(client, viewer):
    AuditEvent.objects.bulk_create(
        AuditEvent(username="adam", action="auth.login") for _ in range(60)
    )
    client.force_login(viewer)
    # (force_login is audited as vera's auth.login: filter on the actor too)
    response = client.get(reverse("audit"), {"action": "auth.login", "actor": "adam"})
    assert response.context["page"].paginator.num_pages == 2
    assert "action=auth.login&amp;actor=adam&amp;page=2" in response.content.decode()
    page2 = client.get(reverse("audit"), {"action": "auth.login", "actor": "adam", "page": "2"})
    assert len(page2.context["events"]) == 10
    # a nonsense page number shows the nearest page instead of failing
    assert client.get(reverse("audit"), {"page": "999"}).status_code == 200


def test_csv_export_has_the_whole_filtered_trail(client, viewer):
    AuditEvent.objects.bulk_create(
        AuditEvent(username="adam", action="auth.login", target=f"user {i}") for i in range(120)
    )
    record("auth.logout", target='=HYPERLINK("http://evil")')
    client.force_login(viewer)
    response = client.get(reverse("audit_csv"), {"action": "auth.login", "actor": "adam"})
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0] == ["at", "username", "action", "target", "outcome", "source_ip", "details"]
    assert len(rows) == 121
    everything = client.get(reverse("audit_csv"), {"action": "auth.logout"})
    rows = list(csv.reader(io.StringIO(b"".join(everything.streaming_content).decode())))
    # a formula-looking value is defused for spreadsheets
    assert rows[1][3].startswith("'=")
