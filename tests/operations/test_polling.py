"""Waiting operations share one describe per account, region, resource type and tick."""

from __future__ import annotations

import threading
import time

import pytest

from estate import aws
from estate.models import DbCluster
from operations import engine, polling
from operations.kinds.base import StepContext
from operations.models import Operation, State
from operations.services import start_operation
from tests.factories.operations import create_cluster, mirror, wait_available

pytestmark = pytest.mark.django_db

COUNT = 20


@pytest.fixture
def clusters(account, rds):
    for i in range(COUNT):
        create_cluster(rds, f"c{i:02d}", instances=2)
    wait_available(rds, clusters=[f"c{i:02d}" for i in range(COUNT)])
    mirror(account, rds)
    return list(DbCluster.objects.order_by("identifier"))


def test_twenty_waiting_failovers_cost_one_describe_per_tick(
    clusters, operator, settings, fast_sandbox
):
    from sandbox.extensions import lifecycle_core

    # Given 20 failovers that AWS takes 1.5 s to finish, polled every 0.5 s
    lifecycle_core.set_durations(default=0.05, failover=1.5)
    settings.OPERATIONS_POLL_SECONDS = 0.5
    ops = [start_operation("cluster_failover", c, {}, requested_by=operator) for c in clusters]
    for op in ops:
        engine.advance(op.pk, force=True)  # the failover is requested
    polling.counts.reset()
    # When workers keep advancing every waiting one (as fast as they can)
    started = time.monotonic()
    pause = threading.Event()
    while Operation.objects.filter(state__in=[State.WAITING, State.RUNNING]).exists():
        for op in ops:
            engine.advance(op.pk, force=True)
        pause.wait(0.02)
        assert time.monotonic() - started < 30
    elapsed = time.monotonic() - started
    # Then all succeeded, and AWS was described about once per tick for all of them
    # (plus, in the first tick, each target not yet in the shared describe), not once
    # per operation and round
    assert set(Operation.objects.values_list("state", flat=True)) == {State.SUCCEEDED}
    ticks = elapsed / 0.5
    assert polling.counts.shared <= ticks + 2, (polling.counts.shared, ticks)
    assert polling.counts.alone == 0
    assert polling.counts.served > 3 * COUNT
    # and each ended within about a tick of AWS finishing
    assert elapsed < 1.5 + 2 * 0.5 + 2


def _ctx(op: Operation) -> StepContext:
    return StepContext(op, checkpoint=lambda: True)


def test_a_target_missing_from_the_shared_describe_is_described_alone(
    clusters, operator, rds, settings
):
    settings.OPERATIONS_POLL_SECONDS = 60  # one tick for the whole test
    op = start_operation("cluster_failover", clusters[0], {}, requested_by=operator)
    ctx = _ctx(op)
    polling.counts.reset()
    # The first ask describes for everyone interested so far (c00)
    assert polling.shared(ctx, "cluster", "c00")["DBClusterIdentifier"] == "c00"
    assert (polling.counts.shared, polling.counts.alone) == (1, 0)
    # A target first asked about after this tick's describe waits for the next one
    assert isinstance(polling.shared(ctx, "cluster", "c01"), float)  # ask next tick
    # c00 again comes from the shared answer
    assert polling.shared(ctx, "cluster", "c00")["DBClusterIdentifier"] == "c00"
    assert polling.counts.served == 2
    # Next tick (here: every ask is a new tick), c01 is in the shared describe
    settings.OPERATIONS_POLL_SECONDS = 0.01
    threading.Event().wait(0.05)  # this tick's answer is now old
    assert polling.shared(ctx, "cluster", "c01")["DBClusterIdentifier"] == "c01"
    assert polling.counts.alone == 0
    # A target missing from a describe made after it was asked about is described
    # alone, and one that is gone says so, as a describe of one would
    rds.delete_db_instance(DBInstanceIdentifier="c02-1", SkipFinalSnapshot=True)
    rds.delete_db_instance(DBInstanceIdentifier="c02-2", SkipFinalSnapshot=True)
    rds.delete_db_cluster(DBClusterIdentifier="c02", SkipFinalSnapshot=True)
    threading.Event().wait(0.05)
    with pytest.raises(aws.AwsNotFound):
        polling.shared(ctx, "cluster", "c02")
    assert polling.counts.alone == 1


def test_an_unreachable_cache_means_describing_alone_not_failing(clusters, operator, monkeypatch):
    # Redis restarting: the cache raises. The step must still get its answer.
    import redis

    def down(*args, **kwargs):
        raise redis.exceptions.ConnectionError("Connection refused")

    monkeypatch.setattr(polling.cache, "get_many", down)
    op = start_operation("cluster_failover", clusters[0], {}, requested_by=operator)
    polling.counts.reset()
    assert polling.shared(_ctx(op), "cluster", "c00")["DBClusterIdentifier"] == "c00"
    assert polling.counts.alone == 1
