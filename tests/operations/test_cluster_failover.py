import pytest
from django.core.exceptions import PermissionDenied

from operations import engine
from operations.models import Operation, State
from operations.services import OperationConflict, OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import (
    create_cluster,
    mirror,
    mutating_calls,
    wait_available,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cluster(account, rds):
    create_cluster(rds, "orders", instances=3)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    from estate.models import DbCluster

    return DbCluster.objects.get(identifier="orders")


def test_failover_moves_the_writer_and_waits_for_every_member(cluster, operator, rds):
    from sandbox.extensions import lifecycle_core

    # Given a three-instance cluster whose writer is orders-1, and failovers of 2 s (long
    # enough that the engine's first describe sees failing-over even on a loaded machine)
    lifecycle_core.set_durations(failover=2.0)
    assert cluster.writer_identifier == "orders-1"
    # When an operator fails it over to orders-3
    op = start_operation(
        "cluster_failover", cluster, {"target_instance": "orders-3"}, requested_by=operator
    )
    op = drive(op.pk)
    # Then the operation succeeded, AWS has the new writer, and the timeline tells it
    assert op.state == State.SUCCEEDED, op.error
    assert op.result == {"old_writer": "orders-1", "new_writer": "orders-3"}
    live = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    assert [
        m["DBInstanceIdentifier"] for m in live["DBClusterMembers"] if m["IsClusterWriter"]
    ] == ["orders-3"]
    messages = [e.message for e in op.events.all()]
    assert any("Cluster is failing-over" in m for m in messages)
    assert messages[-1] == "Operation succeeded."
    # And AWS was asked exactly once
    assert len(mutating_calls("FailoverDBCluster")) == 1


def test_failover_passes_through_failing_over_and_emits_aws_events(cluster, operator, rds):
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(failover=2.0)  # long enough to be seen under load
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    engine.advance(op.pk, force=True)  # runs the request step, then waits
    assert rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["Status"] == (
        "failing-over"
    )
    drive(op.pk)
    events = rds.describe_events(SourceIdentifier="orders", SourceType="db-cluster")["Events"]
    messages = [e["Message"] for e in events]
    assert "Started cross AZ failover to DB instance: orders-2" in messages
    assert "Completed failover to DB instance: orders-2" in messages


def test_single_instance_cluster_is_refused_without_operation_or_aws_call(account, rds, operator):
    # Given a cluster with only a writer
    create_cluster(rds, "lonely", instances=1)
    wait_available(rds, clusters=["lonely"])
    mirror(account, rds)
    from estate.models import DbCluster

    lonely = DbCluster.objects.get(identifier="lonely")
    # When a failover is requested, then it is refused with a clear reason
    with pytest.raises(OperationRefused, match="single instance"):
        start_operation("cluster_failover", lonely, {}, requested_by=operator)
    # And nothing was created or asked of AWS
    assert Operation.objects.count() == 0
    assert mutating_calls("FailoverDBCluster") == []


def test_unknown_target_reader_is_an_inline_field_error(cluster, operator):
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "cluster_failover", cluster, {"target_instance": "nope"}, requested_by=operator
        )
    assert "target_instance" in refused.value.errors
    assert Operation.objects.count() == 0


def test_a_viewer_may_not_fail_over(cluster, viewer):
    with pytest.raises(PermissionDenied):
        start_operation("cluster_failover", cluster, {}, requested_by=viewer)
    assert Operation.objects.count() == 0


def test_second_request_on_the_same_target_is_refused_naming_the_running_one(
    cluster, operator, admin_user
):
    first = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    with pytest.raises(OperationConflict) as refused:
        start_operation("cluster_failover", cluster, {}, requested_by=admin_user)
    assert f"Operation #{first.pk}" in refused.value.message
    assert "olivia" in refused.value.message
    assert Operation.objects.count() == 1


def test_database_constraint_refuses_a_second_active_mutating_operation(cluster, operator):
    from django.db import IntegrityError, transaction

    first = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    duplicate = Operation(
        kind="cluster_failover", target_arn=first.target_arn, mutating=True, state=State.QUEUED
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        duplicate.save()


def test_someone_elses_failover_in_progress_is_not_repeated(cluster, operator, rds):
    # Given a failover requested while the cluster was available
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    # When, before the worker runs, someone fails it over in the console
    rds.failover_db_cluster(DBClusterIdentifier="orders")
    op = drive(op.pk)
    # Then the step's describe saw the writer moving and did not fail over again
    assert op.state == State.SUCCEEDED, op.error
    assert len(mutating_calls("FailoverDBCluster")) == 1


def test_aws_refusal_fails_the_operation_with_awss_message_verbatim(cluster, operator, rds):
    # Given a failover to orders-3 was requested
    op = start_operation(
        "cluster_failover", cluster, {"target_instance": "orders-3"}, requested_by=operator
    )
    # When orders-3 is deleted before the worker runs
    rds.delete_db_instance(DBInstanceIdentifier="orders-3", SkipFinalSnapshot=True)
    op = drive(op.pk)
    # Then AWS refuses and the operation fails with AWS's words and what to do
    assert op.state == State.FAILED
    assert "InvalidParameterValue: Cannot find target instance: orders-3" in op.error
    assert "start a new operation" in op.error
    assert mutating_calls("FailoverDBCluster") == []


def test_retry_after_a_crash_skips_a_failover_aws_already_accepted(cluster, operator, rds):
    # Given an operation whose worker marked the call as started (then died)
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    rds.failover_db_cluster(DBClusterIdentifier="orders")  # the call that got through
    Operation.objects.filter(pk=op.pk).update(mutation_started=True)
    # When a worker runs the step again
    op = drive(op.pk)
    # Then it re-described, saw the failover in progress, and did not call again
    assert op.state == State.SUCCEEDED, op.error
    assert len(mutating_calls("FailoverDBCluster")) == 1
    assert any("not asking again" in e.message for e in op.events.all())


def test_access_denied_fails_with_awss_message_and_what_to_do(cluster, operator, fast_sandbox):
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    fast_sandbox.faults.deny(service="rds", action_prefix="FailoverDBCluster")
    op = drive(op.pk)
    assert op.state == State.FAILED
    assert "AccessDenied" in op.error
    assert "is not authorized to perform: rds:FailoverDBCluster" in op.error
    assert "IAM permission" in op.error  # what to do


def test_throttling_is_retried_with_backoff_inside_the_step(cluster, operator, fast_sandbox, rds):
    from operations import engine as engine_module

    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    # Every call is throttled: botocore's own retries give up, the engine schedules
    # a retry instead of failing (and instead of sleeping).
    fast_sandbox.faults.throttle(burst=1, rate=0.001, service="rds")
    rds.describe_db_clusters()  # spends the only token
    ran = engine_module.advance(op.pk, force=True)
    op.refresh_from_db()
    assert ran.state == State.WAITING
    assert op.next_run_at is not None
    assert any("Retrying in" in e.message for e in op.events.all())
    # When AWS stops throttling, the same step goes on and the operation succeeds
    fast_sandbox.faults.clear()
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error


# --- the impact note and the production confirmation -----------------------------------


def _tiers(cluster, tiers: dict[str, int], classes: dict[str, str]) -> None:
    """Set promotion tiers and instance classes in the mirror (what the note reads)."""
    from estate.models import DbInstance

    cluster.members = [{**m, "promotion_tier": tiers[m["identifier"]]} for m in cluster.members]
    cluster.save()
    for name, instance_class in classes.items():
        DbInstance.objects.filter(identifier=name).update(instance_class=instance_class)


def test_the_failover_form_says_what_will_happen(cluster, operator, account, client):
    from datetime import timedelta

    from django.urls import reverse
    from django.utils import timezone

    from estate.models import DbProxy, DbProxyTarget

    writer = next(m["identifier"] for m in cluster.members if m["is_writer"])
    readers = sorted(m["identifier"] for m in cluster.members if not m["is_writer"])
    # Both readers on tier 1: the larger one is AWS's pick.
    _tiers(
        cluster,
        {writer: 0, readers[0]: 1, readers[1]: 1},
        {readers[0]: "db.r6g.large", readers[1]: "db.r6g.2xlarge"},
    )
    now = timezone.now()
    common = {"target_arn": cluster.arn, "account": account, "state": State.SUCCEEDED}
    Operation.objects.create(
        kind="cluster_failover_drill",
        finished_at=now - timedelta(days=2),
        result={"api_failover_seconds": 21.4, "client_downtime_seconds": 6.2},
        **common,
    )
    Operation.objects.create(
        kind="cluster_failover",
        started_at=now - timedelta(days=1, seconds=48),
        finished_at=now - timedelta(days=1),
        **common,
    )
    proxy = DbProxy.objects.create(
        account=account,
        region=cluster.region,
        arn="arn:aws:rds:x:1:db-proxy:p",
        identifier="orders-proxy",
    )
    DbProxyTarget.objects.create(
        proxy=proxy, target_type="TRACKED_CLUSTER", rds_resource_id="orders", cluster=cluster
    )

    client.force_login(operator)
    page = client.get(reverse("operations:new", args=["cluster_failover"]), {"target": cluster.arn})

    assert page.status_code == 200
    text = page.content.decode()
    assert "What will happen" in text
    assert f"Writer now: {writer}; {readers[1]} will likely be promoted (promotion tier 1" in text
    assert "typically about 30 s" in text
    assert "failover 21.4 s, client downtime 6.2 s" in text
    assert ": 48 s" in text
    assert "orders-proxy" in text
    # Not production: no typed confirmation
    assert 'name="confirm"' not in text


def test_the_note_names_the_chosen_reader_and_a_tie(cluster):
    from operations.kinds.cluster_failover import impact_note

    writer = next(m["identifier"] for m in cluster.members if m["is_writer"])
    readers = sorted(m["identifier"] for m in cluster.members if not m["is_writer"])
    _tiers(cluster, {writer: 0, readers[0]: 2, readers[1]: 2}, {})
    note = impact_note(cluster)
    assert f"one of {readers[0]}, {readers[1]} will be promoted" in note[0]
    assert "No past failover or drill" in " ".join(note)
    assert "No RDS Proxy" in note[-1]
    assert f"{readers[1]} (chosen" in impact_note(cluster, readers[1])[0]


def test_a_production_failover_needs_the_typed_cluster_identifier(cluster, operator, account, rds):
    from estate.models import Environment

    account.environment = Environment.PRODUCTION
    account.save()
    with pytest.raises(OperationRefused) as refused:
        start_operation("cluster_failover", cluster, {}, requested_by=operator)
    assert "confirm" in refused.value.errors
    with pytest.raises(OperationRefused):
        start_operation("cluster_failover", cluster, {"confirm": "order"}, requested_by=operator)
    assert mutating_calls("FailoverDBCluster") == []
    op = start_operation("cluster_failover", cluster, {"confirm": "orders"}, requested_by=operator)
    # Not destructive: typed, but no second Admin needed.
    assert op.state == State.QUEUED
    assert "confirm" not in op.params
    assert drive(op.pk).state == State.SUCCEEDED
