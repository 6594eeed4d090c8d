"""Drill and backup pages: anonymous -> login, no permission -> 403, full page, HTMX
partial; schedule editing needs manage_drills; the backup page's query count is pinned."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from drills.models import DrillRun, DrillSchedule, DrillType, ProbeSample, RunStatus
from estate import roles
from tests.factories import estate as factories

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def run():
    cluster = factories.make_cluster(identifier="orders")
    r = DrillRun.objects.create(
        drill_type=DrillType.FAILOVER,
        target_arn=cluster.arn,
        target_label="orders",
        status=RunStatus.PASSED,
        client_downtime_seconds=4.2,
        api_failover_seconds=28.0,
        slo_seconds=35,
        slo_met=True,
        probe_endpoints=[{"label": "direct", "host": "h", "port": 5432}],
        endpoints_report={"direct": {"samples": 3, "failed": 1, "downtime_seconds": 4.2}},
        preflight=[{"check": "target available", "ok": True, "detail": "available"}],
    )
    now = timezone.now()
    ProbeSample.objects.bulk_create(
        [
            ProbeSample(run=r, endpoint="direct", at=now, ok=True, latency_ms=2.0),
            ProbeSample(run=r, endpoint="direct", at=now + timezone.timedelta(seconds=1), ok=False),
        ]
    )
    return r


def _urls(run) -> list[tuple[str, str]]:
    arn = run.target_arn
    return [
        (reverse("drills:home"), "drill-targets"),
        (reverse("drills:run", args=[run.pk]), "drill-status"),
        (reverse("drills:history") + f"?arn={arn}", "drill-history"),
        (reverse("drills:schedules"), "drill-schedules"),
        (reverse("drills:backups"), "backup-table"),
    ]


def test_anonymous_users_are_sent_to_login(client, run):
    for url, _ in _urls(run) + [(reverse("drills:schedule_new"), "")]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert reverse("login") in response["Location"]


def test_users_without_a_role_get_403(client, run):
    client.force_login(factories.make_user("norole"))
    for url, _ in _urls(run):
        assert client.get(url).status_code == 403, url
    assert client.get(reverse("drills:run_chart", args=[run.pk])).status_code == 403


def test_viewers_get_full_pages_and_htmx_partials(client, run):
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    for url, region in _urls(run):
        full = client.get(url)
        assert full.status_code == 200, url
        body = full.content.decode()
        assert "<html" in body
        assert f'id="{region}"' in body
        partial = client.get(url, **HTMX)
        assert partial.status_code == 200, url
        text = partial.content.decode()
        assert "<html" not in text
        assert f'id="{region}"' in text


def test_run_page_shows_the_report_and_stops_polling_when_final(client, run):
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    body = client.get(reverse("drills:run", args=[run.pk])).content.decode()
    assert "4.20 s" in body
    assert "28.0 s" in body
    assert "every 2s" not in body
    assert "data-drill-chart" in body
    assert "<script>" not in body  # strict CSP: no inline script
    DrillRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING)
    assert "every 2s" in client.get(reverse("drills:run", args=[run.pk]), **HTMX).content.decode()


def test_run_chart_returns_samples_per_endpoint(client, run):
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    data = client.get(reverse("drills:run_chart", args=[run.pk])).json()
    assert len(data["x"]) == 2
    latency, failed = data["series"]
    assert latency["values"] == [2.0, None]
    assert failed["values"] == [None, 0]


def test_history_shows_compliance_and_trend(client, run):
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    body = client.get(reverse("drills:history") + f"?arn={run.target_arn}").content.decode()
    assert "SLO compliance 100 %" in body
    chart = client.get(reverse("drills:history_chart") + f"?arn={run.target_arn}").json()
    assert chart["series"][0]["values"] == [4.2]
    assert chart["series"][1]["values"] == [28.0]


def test_history_without_a_target_is_a_clear_400(client):
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    response = client.get(reverse("drills:history"))
    assert response.status_code == 400
    assert "Choose a target" in response.content.decode()


def test_drills_home_lists_never_drilled_and_filters(client, run):
    payments = factories.make_cluster(identifier="payments")
    for n in (1, 2):  # a writer and a reader: drillable, never drilled
        factories.make_instance(cluster=payments, identifier=f"payments-{n}")
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    body = client.get(reverse("drills:home")).content.decode()
    assert "never drilled" in body
    never = client.get(reverse("drills:home") + "?show=never", **HTMX).content.decode()
    assert "payments" in never
    assert ">orders<" not in never


def test_schedule_editing_needs_manage_drills(client, run):
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    assert client.get(reverse("drills:schedule_new")).status_code == 403
    assert client.post(reverse("drills:schedule_new"), {}).status_code == 403


def test_operator_creates_a_schedule_and_bad_input_is_shown_inline(client, run):
    client.force_login(factories.make_user("o", role=roles.OPERATOR))
    assert client.get(reverse("drills:schedule_new"), **HTMX).status_code == 200
    data = {
        "name": "orders weekly",
        "drill_type": "failover",
        "target_arn": run.target_arn,
        "cron": "0 3 * * 2",
        "timezone": "UTC",
        "blackout_dates": "[]",
        "slo_seconds": "35",
        "probe_endpoints": "[]",
        "probe_interval_ms": "200",
        "options": "{}",
        "enabled": "on",
    }
    bad = client.post(reverse("drills:schedule_new"), {**data, "cron": "every tuesday"}, **HTMX)
    assert bad.status_code == 422
    assert "five fields" in bad.content.decode()
    assert not DrillSchedule.objects.exists()
    good = client.post(reverse("drills:schedule_new"), data)
    assert good.status_code == 302
    schedule = DrillSchedule.objects.get()
    assert schedule.target_label == "orders"
    assert schedule.periodic_task is not None
    delete = client.post(reverse("drills:schedule_delete", args=[schedule.pk]))
    assert delete.status_code == 302
    assert not DrillSchedule.objects.exists()


def test_backup_page_query_count_does_not_grow_with_the_estate(client):
    client.force_login(factories.make_user("v", role=roles.VIEWER))

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("drills:backups"), **HTMX).status_code == 200
        return len(ctx.captured_queries)

    inst = factories.make_instance()
    factories.make_snapshot(instance=inst)
    one = count()
    account = factories.make_account()
    for _ in range(199):
        i = factories.make_instance(account)
        factories.make_snapshot(instance=i)
    assert count() == one


def test_backup_csv_export_and_failure_filter(client):
    factories.make_instance(identifier="nobackup", backup_retention_period=0)
    factories.make_instance(identifier="fine", latest_restorable_time=timezone.now())
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    response = client.get(reverse("drills:backups_csv"))
    assert response["Content-Type"] == "text/csv"
    text = response.content.decode()
    assert text.splitlines()[0].startswith("kind,identifier")
    assert "nobackup" in text
    assert "retention: Automated backups are disabled" in text
    failing = client.get(reverse("drills:backups_csv") + "?failing=1").content.decode()
    assert "nobackup" in failing
    assert "fine" not in failing
    page = client.get(reverse("drills:backups") + "?failing=1", **HTMX).content.decode()
    assert "nobackup" in page
    assert "fine" not in page


def test_htmx_schedule_save_is_told_where_to_go(client, run):
    client.force_login(factories.make_user("o", role=roles.OPERATOR))
    data = {
        "name": "orders nightly",
        "drill_type": "failover",
        "target_arn": run.target_arn,
        "cron": "0 3 * * *",
        "timezone": "UTC",
        "blackout_dates": "[]",
        "slo_seconds": "35",
        "probe_endpoints": "[]",
        "probe_interval_ms": "200",
        "options": "{}",
    }
    response = client.post(reverse("drills:schedule_new"), data, **HTMX)
    assert response.status_code == 204
    assert response["HX-Redirect"] == reverse("drills:schedules")
    assert DrillSchedule.objects.get().name == "orders nightly"


def test_staff_operator_edits_schedules_in_the_admin(client, run):
    operator = factories.make_user("staffop", role=roles.OPERATOR, is_staff=True)
    client.force_login(operator)
    assert client.get(reverse("admin:drills_drillschedule_changelist")).status_code == 200
    viewer = factories.make_user("staffview", role=roles.VIEWER, is_staff=True)
    client.force_login(viewer)
    assert client.get(reverse("admin:drills_drillschedule_changelist")).status_code == 403


def test_schedule_options_are_checked_against_the_drill_kind(client):
    group = factories.make_replication_group(identifier="sessions", automatic_failover="enabled")
    client.force_login(factories.make_user("o", role=roles.OPERATOR))
    data = {
        "name": "sessions weekly",
        "drill_type": "failover",
        "target_arn": group.arn,
        "cron": "0 3 * * 2",
        "timezone": "UTC",
        "blackout_dates": "[]",
        "slo_seconds": "5",
        "probe_endpoints": "[]",
        "probe_interval_ms": "200",
        "options": "{}",
    }
    response = client.post(reverse("drills:schedule_new"), data)
    assert response.status_code == 422
    assert "node_group_id" in response.content.decode()
    assert not DrillSchedule.objects.exists()


def test_drills_home_query_count_does_not_grow_with_targets(client):
    client.force_login(factories.make_user("v", role=roles.VIEWER))

    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(reverse("drills:home"), **HTMX).status_code == 200
        return len(ctx.captured_queries)

    factories.make_instance(multi_az=True)
    one = count()
    account = factories.make_account()
    for _ in range(50):
        factories.make_instance(account, multi_az=True)
    assert count() == one


def test_drill_summary_tag_shows_last_drills_for_a_resource(rf, run):
    from django.template import Context, Template

    request = rf.get("/")
    request.user = factories.make_user("o", role=roles.OPERATOR)
    cluster = __import__("estate.models", fromlist=["DbCluster"]).DbCluster.objects.get(
        arn=run.target_arn
    )
    html = Template("{% load drills_tags %}{% drill_summary cluster %}").render(
        Context({"cluster": cluster, "request": request})
    )
    assert "4.2 s client downtime" in html
    assert "Last restore drill" in html
    assert "Schedule a drill" in html


def test_backup_page_loads_its_styles_and_lists_only_the_failing_rules(client):
    factories.make_instance(identifier="nobackup", backup_retention_period=0)
    client.force_login(factories.make_user("v", role=roles.VIEWER))
    page = client.get(reverse("drills:backups")).content.decode()
    # The drills stylesheet is there (the policy column was unstyled without it), once
    assert page.count("drills/drills.css") == 1
    # A failing resource lists its failed rules, and counts the ones that pass
    assert (
        '<li class="fail">✘ retention: <span class="small">Automated backups are disabled' in page
    )
    assert "more pass</li>" in page
    assert "✔ retention" not in page
