import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from estate.models import DbCluster
from operations.models import Operation, State
from tests.driving import drive
from tests.factories import estate as factories
from tests.factories.operations import create_cluster, mirror, mutating_calls, wait_available

pytestmark = pytest.mark.django_db


def _new_url(kind: str, target: DbCluster) -> str:
    return reverse("operations:new", args=[kind]) + f"?target={target.arn}"


def test_anonymous_users_are_sent_to_login(client):
    for url in (reverse("operations:list"), reverse("operations:detail", args=[1])):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login/" in response["Location"]


def test_a_viewer_cannot_open_an_operation_form(client, viewer, cluster):
    client.force_login(viewer)
    assert client.get(_new_url("cluster_failover", cluster)).status_code == 403
    assert client.post(_new_url("cluster_failover", cluster), {}).status_code == 403
    assert Operation.objects.count() == 0


def test_an_operator_cannot_run_a_destructive_kind(client, operator, account, rds):
    create_cluster(rds, "legacy", engine="aurora-mysql", instances=1, backtrack_window=3600)
    wait_available(rds, clusters=["legacy"])
    mirror(account, rds)
    client.force_login(operator)
    legacy = DbCluster.objects.get(identifier="legacy")
    assert client.get(_new_url("backtrack", legacy)).status_code == 403


def test_form_errors_are_shown_inline_and_create_nothing(client, operator, cluster):
    client.force_login(operator)
    response = client.post(
        _new_url("cluster_failover", cluster),
        {"target": cluster.arn, "target_instance": "not-a-member"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 422
    body = response.content.decode()
    assert "Select a valid choice" in body
    assert 'id="op-form"' in body
    assert "<html" not in body
    assert Operation.objects.count() == 0
    assert mutating_calls("FailoverDBCluster") == []


def test_posting_a_valid_form_queues_the_operation_and_redirects(client, operator, cluster):
    client.force_login(operator)
    response = client.post(_new_url("cluster_failover", cluster), {"target": cluster.arn})
    op = Operation.objects.get()
    assert response.status_code == 302
    assert response["Location"] == op.get_absolute_url()
    assert op.requested_by == operator
    assert op.state == State.QUEUED


def test_detail_polls_while_active_and_stops_when_terminal(client, operator, cluster):
    client.force_login(operator)
    client.post(_new_url("cluster_failover", cluster), {"target": cluster.arn})
    op = Operation.objects.get()
    url = reverse("operations:detail", args=[op.pk])
    # While it runs, the status partial carries the polling trigger
    page = client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in page
    partial = client.get(url + "?part=status", HTTP_HX_REQUEST="true").content.decode()
    assert partial.startswith('\n<section id="op-status"') or partial.lstrip().startswith(
        '<section id="op-status"'
    )
    assert 'hx-trigger="every 2s"' in partial
    # When it has ended, the server renders it without the trigger: polling stops
    drive(op.pk)
    partial = client.get(url + "?part=status", HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in partial
    assert 'data-state="succeeded"' in partial
    assert "Operation succeeded." in partial


def test_a_status_poll_after_the_session_expired_is_sent_to_login_not_swapped(client, viewer):
    # Given a viewer watching a running operation, whose status box polls
    op = _op(viewer, factories.make_cluster(), State.RUNNING)
    page = reverse("operations:detail", args=[op.pk])
    client.force_login(viewer)
    assert 'hx-trigger="every 2s"' in client.get(page).content.decode()
    # When the session expires and the box polls again
    client.logout()
    response = client.get(
        page + "?part=status",
        HTTP_HX_REQUEST="true",
        HTTP_HX_CURRENT_URL=f"http://testserver{page}",
    )
    # Then htmx is told to load the login page, which brings the viewer back to the
    # operation, and there is nothing to swap into the status box
    assert response.status_code == 401
    assert response["HX-Redirect"] == f"{reverse('login')}?next={page}"
    assert response.content == b""


def test_cancel_from_the_page_before_a_worker_starts(client, operator, cluster):
    client.force_login(operator)
    client.post(_new_url("cluster_failover", cluster), {"target": cluster.arn})
    op = Operation.objects.get()
    response = client.post(reverse("operations:cancel", args=[op.pk]))
    assert response.status_code == 302
    op.refresh_from_db()
    assert op.state == State.CANCELLED
    assert mutating_calls("FailoverDBCluster") == []


def test_resource_page_include_offers_only_valid_kinds_and_lists_recent_operations(
    operator, cluster, rf
):
    from django.template.loader import render_to_string

    request = rf.get("/")
    request.user = operator
    html = render_to_string(
        "operations/_resource_actions.html", {"resource": cluster, "user": operator}, request
    )
    assert "Fail over cluster" in html
    assert "Clone cluster" in html
    assert "Backtrack cluster" not in html  # aurora-postgresql has no backtrack
    assert "Promote read replica" not in html


def _make_ops(cluster: DbCluster, operator, n: int) -> None:
    Operation.objects.bulk_create(
        [
            Operation(
                kind="cluster_failover",
                target_arn=f"{cluster.arn}-{i}",
                target_label=f"c{i}",
                state=State.SUCCEEDED if i % 2 else State.WAITING,
                requested_by=operator,
                mutating=True,
            )
            for i in range(n)
        ]
    )


def test_list_query_count_does_not_grow_with_rows(client, operator, cluster):
    client.force_login(operator)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(reverse("operations:list"))
        assert response.status_code == 200
        return len(queries)

    _make_ops(cluster, operator, 1)
    client.get(reverse("operations:list"))  # warm the session and permission caches
    with_one = count_queries()
    Operation.objects.all().delete()
    _make_ops(cluster, operator, 200)
    assert count_queries() == with_one


def test_list_shows_running_first_and_filters(client, operator, cluster):
    _make_ops(cluster, operator, 4)
    client.force_login(operator)
    body = client.get(reverse("operations:list")).content.decode()
    assert body.index("Waiting for AWS") < body.index("Succeeded")
    filtered = client.get(
        reverse("operations:list"), {"state": "succeeded"}, HTTP_HX_REQUEST="true"
    )
    text = filtered.content.decode()
    assert "Waiting for AWS" not in text
    assert "Succeeded" in text
    assert "<html" not in text


def test_form_page_renders_the_kinds_fields_and_typed_confirmation(
    client, admin_user, account, rds
):
    create_cluster(rds, "ledger", engine="aurora-mysql", instances=2, backtrack_window=3600)
    wait_available(rds, clusters=["ledger"])
    mirror(account, rds)
    ledger = DbCluster.objects.get(identifier="ledger")
    client.force_login(admin_user)
    page = client.get(_new_url("backtrack", ledger)).content.decode()
    assert 'name="backtrack_to"' in page
    assert "Type ledger to confirm" in page
    assert "<script>" not in page  # CSP: no inline script


def test_admin_lists_operations_read_only(client, operator, cluster):
    from django.contrib.auth.models import User

    start_operation_url = _new_url("cluster_failover", cluster)
    client.force_login(operator)
    client.post(start_operation_url, {"target": cluster.arn})
    root = User.objects.create_superuser("root", password="pw")
    client.force_login(root)
    response = client.get(reverse("admin:operations_operation_changelist"))
    assert response.status_code == 200
    assert "orders" in response.content.decode()
    assert client.get(reverse("admin:operations_operation_add")).status_code == 403


def test_detail_shows_per_table_statistics_of_a_dms_result(client, operator, cluster):
    op = Operation.objects.create(
        kind="dms_start_task",
        target_arn="arn:aws:dms:us-east-1:111111111111:task:t",
        target_label="t",
        state=State.SUCCEEDED,
        requested_by=operator,
        result={
            "full_load_percent": 100,
            "tables": [
                {
                    "table": "shop.orders",
                    "state": "Table completed",
                    "full_load_rows": 1000,
                    "inserts": 5,
                    "updates": 0,
                    "deletes": 0,
                    "errors": 0,
                }
            ],
        },
    )
    client.force_login(operator)
    body = client.get(reverse("operations:detail", args=[op.pk])).content.decode()
    assert '<td class="mono">shop.orders</td>' in body
    assert "Table completed" in body


def _op(requester, target, state, kind: str = "cluster_failover", **kw) -> Operation:
    """An operation row on a mirrored cluster, as the engine leaves it. (Not mutating:
    the database allows one active mutating operation per target.)"""
    return Operation.objects.create(
        mutating=False,
        kind=kind,
        target_arn=target.arn,
        target_label=target.identifier,
        target_model="estate.DbCluster",
        target_pk=target.pk,
        state=state,
        requested_by=requester,
        **kw,
    )


def test_detail_labels_parameters_and_results_as_the_form_does(client, operator, cluster):
    # Given a finished failover drill with its parameters and result as stored
    op = _op(
        operator,
        cluster,
        State.SUCCEEDED,
        kind="cluster_failover_drill",
        params={
            "slo_seconds": 35.0,
            "probe_endpoints": [],
            "schedule_id": None,
            "target_instance": "orders-2",
        },
        result={
            "drill_run": 7,
            "client_downtime_seconds": 20.000028,
            "slo_met": True,
            "new_primary_az": "us-east-1b",
            "cluster_arn": cluster.arn,
            "instance_arn": "arn:aws:rds:us-east-1:111111111111:db:not-synced-yet",
        },
    )
    client.force_login(operator)
    body = client.get(reverse("operations:detail", args=[op.pk])).content.decode()
    # Then parameters carry the form's labels (the key stays as a tooltip), an unset
    # hidden field is left out, and an unset one reads as a dash
    assert '<span title="slo_seconds">Downtime SLO (s)</span>: 35<br>' in body
    assert '<span title="target_instance">Promote this reader</span>: orders-2' in body
    assert '<span title="probe_endpoints">Probe endpoints</span>: —' in body
    assert "schedule_id" not in body
    # and results read as sentences: rounded seconds, yes/no, the drill run's report linked
    assert '<dt title="client_downtime_seconds">Client downtime seconds</dt><dd>20</dd>' in body
    assert '<dt title="slo_met">SLO met</dt><dd>yes</dd>' in body
    assert f'<a href="{reverse("drills:run", args=[7])}">7</a>' in body
    assert '<dt title="new_primary_az">New primary AZ</dt><dd>us-east-1b</dd>' in body
    # and the target, and a mirrored resource the result names, link to their pages (one
    # not mirrored yet is plain text)
    cluster_page = reverse("cluster", args=[cluster.pk])
    assert f'<dt>Target</dt><dd><a href="{cluster_page}">orders</a></dd>' in body
    assert f'<dd><a href="{cluster_page}">{cluster.arn}</a></dd>' in body
    assert "<dd>arn:aws:rds:us-east-1:111111111111:db:not-synced-yet</dd>" in body
    listing = client.get(reverse("operations:list")).content.decode()
    assert f'<a href="{cluster_page}">orders</a>' in listing
    # and the live status part renders the same result
    part = client.get(
        reverse("operations:detail", args=[op.pk]) + "?part=status", HTTP_HX_REQUEST="true"
    ).content.decode()
    assert '<dt title="slo_met">SLO met</dt><dd>yes</dd>' in part


def test_the_form_says_when_a_targets_window_is_running(client, operator, cluster):
    from datetime import timedelta

    from django.utils import timezone

    now = timezone.now()
    client.force_login(operator)
    # Outside every window: no notice
    body = client.get(_new_url("cluster_failover", cluster)).content.decode()
    assert "window (" not in body
    # Inside the backup window (as last synced): the form says so, and still works
    window = f"{now - timedelta(minutes=5):%H:%M}-{now + timedelta(minutes=25):%H:%M}"
    DbCluster.objects.filter(pk=cluster.pk).update(preferred_backup_window=window)
    body = client.get(_new_url("cluster_failover", cluster)).content.decode()
    assert f"orders: its backup window ({window} UTC) is running now." in body
    assert 'class="primary"' in body


def test_an_empty_list_says_how_to_start_one_or_to_clear_the_filters(client, viewer):
    client.force_login(viewer)
    url = reverse("operations:list")
    body = client.get(url).content.decode()
    assert "<strong>No operations</strong> yet. Start one from the <em>Actions</em> menu" in body
    # (an empty filter form submitted is no filter)
    body = client.get(url, {"kind": "", "state": "", "target": ""}).content.decode()
    assert "<strong>No operations</strong> yet." in body
    body = client.get(url, {"state": "failed"}).content.decode()
    assert "<strong>No operations</strong> match these filters." in body
    assert f'<a href="{url}">Clear the filters</a>' in body


def test_the_overview_shows_what_runs_now_and_what_failed(client, operator, cluster):
    from datetime import timedelta

    from django.utils import timezone

    client.force_login(operator)
    # Nothing ran: the overview says so
    body = client.get(reverse("home")).content.decode()
    assert "No operation is running, and none failed in the last 7 days." in body
    # Given one running, one awaiting approval, one failed lately, one failed long ago
    running = _op(operator, cluster, State.WAITING, progress=50.0)
    _op(operator, cluster, State.AWAITING_APPROVAL)
    _op(operator, cluster, State.FAILED, finished_at=timezone.now())
    _op(operator, cluster, State.FAILED, finished_at=timezone.now() - timedelta(days=30))
    body = client.get(reverse("home")).content.decode()
    ops = reverse("operations:list")
    assert f'<a href="{ops}?state=active">2 active</a>' in body
    assert f'<a href="{ops}?state=awaiting_approval">1 awaiting approval</a>' in body
    assert '<span class="badge tone-bad">1 failed</span></a> in the last 7 days' in body
    assert f'<a href="{running.get_absolute_url()}">{running.pk}</a>' in body
    assert "Waiting for AWS" in body


def test_the_overview_query_count_does_not_grow_with_operations(client, operator, cluster):
    client.force_login(operator)
    _op(operator, cluster, State.RUNNING)

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("home")).status_code == 200
        return len(ctx.captured_queries)

    one = count()
    for _ in range(30):
        _op(operator, cluster, State.RUNNING)
        _op(operator, cluster, State.FAILED)
    assert count() == one


def test_run_again_fills_the_form_with_the_earlier_parameters_but_no_confirmation(
    client, operator, viewer, admin_user, account, rds
):
    # Given a failed backtrack (destructive: the identifier must be typed) on a cluster
    create_cluster(rds, "legacy", engine="aurora-mysql", instances=1, backtrack_window=3600)
    wait_available(rds, clusters=["legacy"])
    mirror(account, rds)
    legacy = DbCluster.objects.get(identifier="legacy")
    failed = _op(
        admin_user,
        legacy,
        State.FAILED,
        kind="backtrack",
        params={"backtrack_to": "2026-12-02T10:00:00+00:00", "confirm": "legacy"},
    )
    detail = reverse("operations:detail", args=[failed.pk])
    again = _new_url("backtrack", legacy) + f"&from={failed.pk}"
    # Then its page offers "Run again" to whoever may run the kind (an Admin), not others
    client.force_login(admin_user)
    body = client.get(detail).content.decode()
    assert ">Run again</a>" in body
    assert f"from={failed.pk}" in body
    client.force_login(viewer)
    assert ">Run again</a>" not in client.get(detail).content.decode()
    # And the form it opens is filled in, says where from, and leaves the typed
    # confirmation empty
    client.force_login(admin_user)
    form = client.get(again).content.decode()
    assert f'Parameters copied from operation <a href="{detail}">#{failed.pk}</a> (failed)' in form
    assert 'value="2026-12-02T10:00:00+00:00"' in form
    assert re.search(r'<input type="text" name="confirm"(?![^>]*value=)[^>]*>', form)
    # An operation of another kind or target is not copied
    for bad in ("999999", "x", "9" * 40, "-1"):
        other = client.get(_new_url("backtrack", legacy) + f"&from={bad}")
        assert other.status_code == 200
        assert "Parameters copied" not in other.content.decode()
    assert Operation.objects.count() == 1


def test_an_active_operation_offers_no_run_again(client, operator, cluster):
    op = _op(operator, cluster, State.RUNNING)
    client.force_login(operator)
    assert (
        ">Run again</a>"
        not in client.get(reverse("operations:detail", args=[op.pk])).content.decode()
    )
