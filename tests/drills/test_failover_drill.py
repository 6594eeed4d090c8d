"""Failover drills against the sandbox: phases, real probe outages through loopback
listeners, preflight failures that touch nothing, SLO breaches that call the webhook."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from django.utils import timezone

from drills.models import DrillRun, ProbeSample, RunStatus
from estate.models import DbCluster, DbInstance
from operations.models import State
from operations.services import start_operation
from sandbox.listeners import LoopbackListener
from tests.driving import drive
from tests.factories.operations import (
    create_cluster,
    create_instance,
    mirror,
    mutating_calls,
    quiet_windows,
    wait_available,
)

# Probe threads never touch the database (see tests/drills/probe_threads.py), so these tests
# need no transactional database.
pytestmark = pytest.mark.django_db


def _endpoint(label: str, listener: LoopbackListener) -> dict:
    return {"label": label, "host": "127.0.0.1", "port": listener.port, "kind": "tcp"}


# Tests drive the engine with a 50 ms pause between steps: the sandbox answers in this
# process, and a tight loop of describes would starve the probe thread of the GIL.


def _dark_seconds(listener: LoopbackListener) -> float:
    """How long the listener really was dark (the known interval the probe must see)."""
    start, end = listener.dark_periods[-1]
    return end - start


def _params(*endpoints: dict, **kw) -> dict:
    return {
        "probe_endpoints": list(endpoints),
        "baseline_seconds": 0.3,
        "consecutive_successes": 3,
        "probe_interval_ms": 50,
        "slo_seconds": 30,
        **kw,
    }


@pytest.fixture
def cluster(account, rds):
    create_cluster(rds, "orders", instances=3)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    return DbCluster.objects.get(identifier="orders")


def test_cluster_drill_runs_every_phase_and_measures_direct_and_proxy(
    cluster, operator, rds, listeners, failover_seconds
):
    # Given the cluster's endpoint backed by a listener that goes dark while the sandbox
    # fails over, and a proxy endpoint that stays up
    direct = listeners.back_endpoint("orders")
    with LoopbackListener() as proxy:
        # When an operator runs a failover drill probing both
        op = start_operation(
            "cluster_failover_drill",
            cluster,
            _params(_endpoint("direct", direct), _endpoint("proxy", proxy)),
            requested_by=operator,
        )
        op = drive(op.pk, timeout=30, interval=0.05)
    # Then every phase ran and the drill passed its SLO
    assert op.state == State.SUCCEEDED, op.error
    steps = [e.step for e in op.events.all()]
    for phase in ("preflight", "baseline", "trigger", "observe", "verify", "report"):
        assert phase in steps
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert all(c["ok"] for c in run.preflight)
    assert len(run.preflight) >= 7
    # And the writer moved
    assert run.writer_before == "orders-1"
    assert run.writer_after != "orders-1"
    # And the direct endpoint was down for about the simulated failover, the proxy not
    assert _dark_seconds(direct) == pytest.approx(failover_seconds, abs=0.3)
    assert run.client_downtime_seconds == pytest.approx(_dark_seconds(direct), abs=0.5)
    assert run.failed_samples > 0
    assert run.endpoints_report["proxy"]["downtime_seconds"] is None
    assert run.endpoints_report["proxy"]["failed"] == 0
    assert run.api_failover_seconds is not None
    # And the probes stopped and every sample is stored
    assert sorted(run.probes_finished) == ["direct", "proxy"]
    assert ProbeSample.objects.filter(run=run, endpoint="proxy").count() > 10
    assert len(mutating_calls("FailoverDBCluster")) == 1


def test_a_second_drill_on_a_target_times_only_its_own_failover(
    cluster, operator, rds, listeners, failover_seconds
):
    # Given a drill of the cluster that has just run (its failover's events are in AWS)
    direct = listeners.back_endpoint("orders")
    runs = []
    for _ in range(2):
        # When a second drill runs right after it
        op = start_operation(
            "cluster_failover_drill",
            cluster,
            _params(_endpoint("direct", direct)),
            requested_by=operator,
        )
        op = drive(op.pk, timeout=30, interval=0.05)
        assert op.state == State.SUCCEEDED, op.error
        runs.append(DrillRun.objects.get(operation=op))
    # (AWS reports both failovers for the cluster)
    events = rds.describe_events(SourceIdentifier="orders", SourceType="db-cluster")["Events"]
    started = sorted(e["Date"] for e in events if e["Message"].startswith("Started"))
    completed = sorted(e["Date"] for e in events if e["Message"].startswith("Completed"))
    assert len(started) == len(completed) == 2
    # Then each run's API failover time is its own failover, from AWS's events: the
    # second does not reach back to the first one's start
    first, second = runs
    assert first.api_failover_seconds == pytest.approx(
        (completed[0] - started[0]).total_seconds(), abs=0.01
    )
    assert second.api_failover_seconds == pytest.approx(
        (completed[1] - started[1]).total_seconds(), abs=0.01
    )
    assert second.api_failover_seconds == pytest.approx(failover_seconds, abs=0.5)
    # And the events kept with the second run are its own
    second_op = second.operation
    assert len(second_op.memory["aws_events"]) == 2
    assert all(e["at"] >= started[1].isoformat() for e in second_op.memory["aws_events"])


def test_instance_drill_fails_over_a_multi_az_instance(
    account, rds, operator, listeners, failover_seconds
):
    create_instance(rds, "billing", multi_az=True)
    wait_available(rds, instances=["billing"])
    mirror(account, rds)
    instance = DbInstance.objects.get(identifier="billing")
    direct = listeners.back_endpoint("billing")
    op = start_operation(
        "instance_failover_drill",
        instance,
        _params(_endpoint("direct", direct)),
        requested_by=operator,
    )
    op = drive(op.pk, timeout=30, interval=0.05)
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.PASSED
    assert run.client_downtime_seconds == pytest.approx(_dark_seconds(direct), abs=0.5)
    assert run.writer_before != run.writer_after
    assert len(mutating_calls("RebootDBInstance")) == 1


def _instance_drill(account, rds, operator, name: str, **create: object):
    """A drill of a new instance ``name`` whose endpoint is a loopback listener, driven
    until it ends."""
    create_instance(rds, name, **create)
    wait_available(rds, instances=[name])
    mirror(account, rds)
    instance = DbInstance.objects.get(identifier=name)
    with LoopbackListener() as endpoint:
        op = start_operation(
            "instance_failover_drill",
            instance,
            _params(_endpoint("direct", endpoint)),
            requested_by=operator,
        )
        return drive(op.pk, timeout=10)


def test_preflight_failure_stops_the_drill_before_anything_is_touched(account, rds, operator):
    # Given a Single-AZ instance (no standby)
    op = _instance_drill(account, rds, operator, "solo", multi_az=False)
    # Then the drill failed in preflight with the failed check shown, nothing was asked
    # of AWS, and no probe ever started
    assert op.state == State.FAILED
    assert "Preflight failed (a standby exists (Multi-AZ))" in op.error
    run = DrillRun.objects.get(operation=op)
    failed = [c for c in run.preflight if not c["ok"]]
    assert [c["check"] for c in failed] == ["a standby exists (Multi-AZ)"]
    assert any("Preflight FAIL" in e.message for e in op.events.all())
    assert mutating_calls("RebootDBInstance") == []
    assert not ProbeSample.objects.filter(run=run).exists()
    assert run.status == RunStatus.FAILED


def test_slo_breach_posts_to_the_webhook_with_retries(
    cluster, operator, rds, listeners, failover_seconds, webhook, django_capture_on_commit_callbacks
):
    # Given a webhook that fails once, then accepts
    webhook.statuses = [500]
    direct = listeners.back_endpoint("orders")
    # When a drill with an SLO tighter than the outage runs
    op = start_operation(
        "cluster_failover_drill",
        cluster,
        _params(_endpoint("direct", direct), slo_seconds=0.2),
        requested_by=operator,
    )
    from drills.models import DrillSchedule

    # (the webhook comes from the drill's schedule)
    schedule = DrillSchedule.objects.create(
        name="orders weekly",
        target_arn=cluster.arn,
        target_label="orders",
        cron="0 3 * * 2",
        webhook_url=webhook.url,
    )
    DrillRun.objects.create(
        drill_type="failover",
        operation=op,
        schedule=schedule,
        target_arn=cluster.arn,
        target_label="orders",
    )
    with django_capture_on_commit_callbacks(execute=True):
        op = drive(op.pk, timeout=30, interval=0.05)
    # Then the run is an SLO breach and the webhook got a Slack-compatible payload
    run = DrillRun.objects.get(operation=op)
    assert run.status == RunStatus.SLO_BREACHED
    assert webhook.got.wait(5)
    assert len(webhook.received) == 2
    assert "SLO breached" in webhook.received[-1]["text"]
    assert webhook.received[-1]["slo_met"] is False
    # And both attempts are on the timeline
    run.refresh_from_db()
    assert [d["ok"] for d in run.notified] == [False, True]
    messages = [e.message for e in op.events.all()]
    assert any("Webhook failed (attempt 1)" in m for m in messages)
    assert any("Webhook delivered (attempt 2)" in m for m in messages)


def test_a_schedule_starts_a_drill_that_runs_to_its_report(
    cluster, rds, listeners, failover_seconds
):
    from drills import services
    from drills.models import DrillSchedule

    # Given an enabled schedule for the cluster, with its probe endpoint
    direct = listeners.back_endpoint("orders")
    schedule = DrillSchedule.objects.create(
        name="orders nightly",
        target_arn=cluster.arn,
        target_label="orders",
        cron="0 3 * * *",
        slo_seconds=30,
        probe_endpoints=[_endpoint("direct", direct)],
        probe_interval_ms=50,
        options={"baseline_seconds": 0.3, "consecutive_successes": 3},
    )
    # When beat fires it
    run = services.run_schedule(schedule)
    op = drive(run.operation_id, timeout=30, interval=0.05)
    # Then the system started the drill on the schedule's behalf and it passed
    assert op.state == State.SUCCEEDED, op.error
    assert op.requested_by is None
    assert op.requested_by_label == "schedule: orders nightly"
    run.refresh_from_db()
    assert run.schedule == schedule
    assert run.status == RunStatus.PASSED
    window = next(c for c in run.preflight if c["check"] == "inside the schedule's allowed window")
    assert window["ok"]


def test_default_endpoints_come_from_the_mirror_or_the_sandbox_address_file(
    cluster, operator, rds, listeners, failover_seconds, settings, tmp_path
):
    # Given the sandbox backed "orders" with a listener and wrote the address file
    address_file = tmp_path / "probe-addresses.json"
    found = listeners.serve_demo_endpoints(["orders"], address_file=str(address_file))
    settings.DRILL_PROBE_ADDRESS_FILE = str(address_file)
    DbCluster.objects.filter(pk=cluster.pk).update(
        endpoint="orders.cluster-x.us-east-1.rds.amazonaws.com", port=5432
    )
    # When a drill runs without explicit probe endpoints
    params = _params()
    del params["probe_endpoints"]
    op = start_operation("cluster_failover_drill", cluster, params, requested_by=operator)
    op = drive(op.pk, timeout=30, interval=0.05)
    # Then it probed the listener in place of the sandbox hostname, and saw the outage
    assert op.state == State.SUCCEEDED, op.error
    run = DrillRun.objects.get(operation=op)
    assert f"{run.probe_endpoints[0]['host']}:{run.probe_endpoints[0]['port']}" == found["orders"]
    dark = _dark_seconds(listeners.back_endpoint("orders"))
    assert run.client_downtime_seconds == pytest.approx(dark, abs=0.5)


def test_replica_lag_over_the_threshold_fails_preflight(cluster, operator, rds):
    from metrics.models import Series

    # Given a reader lagging 120 s behind (per the metrics mirror)
    reader = DbInstance.objects.get(identifier="orders-2")
    Series.objects.create(
        account=cluster.account,
        region=cluster.region,
        resource_arn=reader.arn,
        metric="AuroraReplicaLag",
        namespace="AWS/RDS",
        last_point_at=timezone.now(),
        last_value=120.0,
    )
    with LoopbackListener() as endpoint:
        op = start_operation(
            "cluster_failover_drill",
            cluster,
            _params(_endpoint("direct", endpoint), max_replica_lag_seconds=30),
            requested_by=operator,
        )
        op = drive(op.pk, timeout=10)
    # Then preflight failed on the lag, and AWS was not asked to fail over
    assert op.state == State.FAILED
    run = DrillRun.objects.get(operation=op)
    lag = next(c for c in run.preflight if c["check"] == "replica lag under threshold")
    assert not lag["ok"]
    assert "120.0 s (limit 30 s)" in lag["detail"]
    assert mutating_calls("FailoverDBCluster") == []


def test_an_active_operation_on_a_member_fails_preflight(cluster, operator, rds):
    from operations.models import Operation

    member = DbInstance.objects.get(identifier="orders-2")
    busy = Operation.objects.create(
        kind="snapshot_instance",
        target_arn=member.arn,
        target_label=member.identifier,
        account=cluster.account,
        region=cluster.region,
        state=State.RUNNING,
    )
    with LoopbackListener() as endpoint:
        op = start_operation(
            "cluster_failover_drill",
            cluster,
            _params(_endpoint("direct", endpoint)),
            requested_by=operator,
        )
        op = drive(op.pk, timeout=10)
    assert op.state == State.FAILED
    check = next(
        c
        for c in DrillRun.objects.get(operation=op).preflight
        if c["check"] == "no other active operation"
    )
    assert not check["ok"]
    assert f"#{busy.pk} snapshot_instance" in check["detail"]
    assert mutating_calls("FailoverDBCluster") == []


def test_a_drill_inside_the_backup_window_stops_in_preflight(account, rds, operator):
    # Given a Multi-AZ instance whose daily backup window is running right now
    from datetime import timedelta

    now = timezone.now()
    window = f"{now - timedelta(minutes=10):%H:%M}-{now + timedelta(minutes=20):%H:%M}"
    op = _instance_drill(account, rds, operator, "busy", PreferredBackupWindow=window)
    # Then the drill failed in preflight naming the window, and nothing was asked of AWS
    assert op.state == State.FAILED
    assert "Preflight failed (outside the backup window)" in op.error
    run = DrillRun.objects.get(operation=op)
    check = next(c for c in run.preflight if c["check"] == "outside the backup window")
    assert check["detail"] == f"backup window {window} (UTC)"
    assert mutating_calls("RebootDBInstance") == []


@pytest.mark.parametrize("hour", range(0, 24, 3))
def test_the_test_helpers_windows_never_contain_the_time_they_were_made_for(hour):
    from datetime import UTC, datetime, timedelta

    from estate.windows import contains as _window_contains

    for day in range(7):
        now = datetime(2026, 11, 23, hour, 50, tzinfo=UTC) + timedelta(days=day)
        windows = quiet_windows(now)
        for later in (now, now + timedelta(hours=2)):
            assert not _window_contains(windows["PreferredBackupWindow"], later, weekly=False)
            assert not _window_contains(windows["PreferredMaintenanceWindow"], later, weekly=True)


@pytest.mark.parametrize(
    ("window", "weekly", "inside"),
    [
        ("03:00-04:00", False, True),
        ("23:30-00:30", False, False),
        ("thu:03:00-thu:04:00", True, False),
        ("fri:03:00-fri:04:00", True, True),  # 2026-11-27 is a Friday
        ("sun:23:00-mon:01:00", True, False),
        ("garbage", False, False),
    ],
)
def test_backup_and_maintenance_windows(window, weekly, inside):
    from datetime import UTC, datetime

    from estate.windows import contains as _window_contains

    now = datetime(2026, 11, 27, 3, 30, tzinfo=UTC)
    assert _window_contains(window, now, weekly=weekly) is inside


def test_back_demo_estate_backs_every_failover_target_and_writes_the_file(
    cluster, rds, listeners, settings, tmp_path
):
    # Given a sandbox with a three-member cluster, a Multi-AZ and a Single-AZ instance
    create_instance(rds, "billing", multi_az=True)
    create_instance(rds, "solo", multi_az=False)
    settings.DRILL_PROBE_ADDRESS_FILE = str(tmp_path / "addresses.json")
    # When the sandbox command backs the demo estate
    found = listeners.back_demo_estate()
    # Then the failover targets have listeners, and drills find them through the file
    assert {"orders", "billing"} <= set(found)
    assert "solo" not in found
    from drills.kinds.base import probe_address_overrides

    assert probe_address_overrides()["orders"] == found["orders"]
    listeners.stop_all()
    assert not (tmp_path / "addresses.json").exists()


def test_without_the_sandbox_the_probe_address_file_is_never_read(settings, tmp_path, monkeypatch):
    import builtins
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from drills.kinds.base import probe_address_overrides
    from drills.kinds.failover import ClusterFailoverDrill
    from tests.factories import estate as factories

    # Given production settings (no sandbox endpoint) and a stray address file that
    # would send the probe of "orders" to a loopback port
    settings.AWS_ENDPOINT_URL = ""
    address_file = tmp_path / "probe-addresses.json"
    address_file.write_text(json.dumps({"orders": "127.0.0.1:1"}))
    settings.DRILL_PROBE_ADDRESS_FILE = str(address_file)
    touched: list[str] = []
    real_open, real_is_file = builtins.open, Path.is_file

    def spy_open(file, *args, **kwargs):
        touched.append(str(file))
        return real_open(file, *args, **kwargs)

    def spy_is_file(path):
        touched.append(str(path))
        return real_is_file(path)

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(Path, "is_file", spy_is_file)
    cluster = factories.make_cluster(identifier="orders")
    # When a drill works out its probe endpoints
    ctx = SimpleNamespace(op=SimpleNamespace(target_arn=cluster.arn))
    endpoints = ClusterFailoverDrill().default_endpoints(ctx)
    # Then it probes the mirrored endpoint, and the file was not even looked at
    assert endpoints == [{"label": "direct", "host": cluster.endpoint, "port": 5432, "kind": "tcp"}]
    assert probe_address_overrides() == {}
    assert str(address_file) not in touched


def test_an_endpoint_unreachable_during_the_baseline_stops_the_drill_untouched(
    cluster, operator, rds
):
    # Given a probe endpoint nothing listens on
    with LoopbackListener() as closed:
        port = closed.port
    op = start_operation(
        "cluster_failover_drill",
        cluster,
        _params({"label": "proxy", "host": "127.0.0.1", "port": port, "kind": "tcp"}),
        requested_by=operator,
    )
    op = drive(op.pk, timeout=10)
    # Then the drill failed in the baseline with the probe's error, and AWS was not asked
    assert op.state == State.FAILED
    assert "Unreachable before the failover (proxy: " in op.error
    assert "refused" in op.error.lower()
    assert mutating_calls("FailoverDBCluster") == []
    assert DrillRun.objects.get(operation=op).status == RunStatus.FAILED


def test_the_operations_page_starts_a_drill_with_its_form(cluster, operator, rds, client):
    # Given an operator on the generic "new operation" page for the drill kind
    client.force_login(operator)
    url = reverse("operations:new", args=["cluster_failover_drill"]) + f"?target={cluster.arn}"
    page = client.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="probe_endpoints"' in body
    # (an empty endpoints box, not "null"; the hidden schedule id has no label)
    assert re.search(r'<textarea name="probe_endpoints"[^>]*>\s*</textarea>', body)
    assert 'label for="id_schedule_id"' not in body
    assert '<input type="hidden" name="schedule_id"' in body
    assert ">Downtime SLO (s)</label>" in body
    # A malformed endpoints list is refused on the page, and nothing is queued
    bad = client.post(url, {"target": cluster.arn, "probe_endpoints": "[{"})
    assert bad.status_code == 422
    assert "Enter a valid JSON." in bad.content.decode()
    assert re.search(
        r'<textarea name="probe_endpoints"[^>]*>\s*\[\{</textarea>', bad.content.decode()
    )
    # When the form is posted with a probe endpoint as JSON text
    response = client.post(
        url,
        {
            "target": cluster.arn,
            "probe_endpoints": '[{"label": "direct", "host": "127.0.0.1", "port": 5432}]',
            "slo_seconds": "20",
            "target_instance": "orders-3",
        },
    )
    # Then a drill operation is queued with typed parameters
    assert response.status_code == 302
    from operations.models import Operation

    op = Operation.objects.get(kind="cluster_failover_drill")
    assert op.params["probe_endpoints"] == [{"label": "direct", "host": "127.0.0.1", "port": 5432}]
    assert op.params["slo_seconds"] == 20.0
    assert op.params["consecutive_successes"] == 5
    assert op.params["target_instance"] == "orders-3"
