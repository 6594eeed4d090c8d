"""A real Celery worker is SIGKILLed after AWS accepted a failover but before the worker
could record it; a new worker finishes the operation without asking AWS again.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), skipped otherwise:
the workers are separate processes that must share the test database and a broker.
"""

from __future__ import annotations

import pytest

from estate.models import DbCluster
from operations.models import Operation, State
from operations.services import start_operation
from sandbox import calllog
from tests.factories.operations import create_cluster, mirror, wait_available
from tests.processes import Worker, redis_url, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres("the worker processes share the test database"),
    pytest.mark.redis("the worker processes' broker"),
    pytest.mark.django_db(transaction=True),
]

REDIS_DB = 7  # this suite's own Redis database


@pytest.fixture
def broker_url():
    url = redis_url(REDIS_DB)
    assert url is not None, f"Redis at REDIS_URL (database {REDIS_DB}) does not answer"
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def _wait_for(condition, timeout: float, what: str, worker: Worker | None = None):
    return wait_for(condition, timeout, what, *([worker.log] if worker else []))


def test_killed_worker_mid_failover_completes_with_exactly_one_aws_call(
    broker_url, account, rds, operator, tmp_path, fast_sandbox
):
    from sandbox.extensions import lifecycle_core

    # Given a two-instance cluster whose failover takes 2 s in the sandbox
    create_cluster(rds, "orders", instances=2)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    lifecycle_core.set_durations(default=0.05, failover=2.0)
    cluster = DbCluster.objects.get(identifier="orders")
    op = start_operation("cluster_failover", cluster, {}, requested_by=operator)
    # and AWS keeps its answer to the failover back: the worker will die waiting for it
    calllog.hold("FailoverDBCluster")
    workers: list[Worker] = []
    try:
        # When a worker (found the queued operation via the reaper) sends the failover
        first = Worker(tmp_path, "first", broker_url, fast_sandbox.url)
        workers.append(first)
        _wait_for(lambda: calllog.calls("FailoverDBCluster"), 60, "the failover call", first)
        # and is SIGKILLed before it could record that AWS accepted it
        first.kill()
        calllog.release("FailoverDBCluster")
        op.refresh_from_db()
        # The checkpoint before the call recorded the intent; the run's end never came,
        # so the operation still looks queued and the request step is not done.
        assert op.mutation_started
        assert op.state == State.QUEUED
        assert op.step_index == 0
        # Then a new worker takes over once the dead one's lease runs out
        second = Worker(tmp_path, "second", broker_url, fast_sandbox.url)
        workers.append(second)
        _wait_for(
            lambda: Operation.objects.get(pk=op.pk).state in (State.SUCCEEDED, State.FAILED),
            60,
            "the operation to end",
            second,
        )
    finally:
        for worker in workers:
            worker.kill()
    op.refresh_from_db()
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["new_writer"] == "orders-2"
    # And AWS received exactly one failover
    accepted = calllog.calls("FailoverDBCluster", succeeded=True)
    assert len(accepted) == 1, accepted
    assert calllog.calls("FailoverDBCluster", succeeded=False) == []
    messages = [e.message for e in op.events.all()]
    assert any("re-enqueued by the reaper" in m for m in messages)
    assert any("already failing over" in m for m in messages)


def _aurora_mysql(account, rds) -> DbCluster:
    create_cluster(rds, "ledger", engine="aurora-mysql", instances=2)
    wait_available(rds, clusters=["ledger"])
    mirror(account, rds)
    return DbCluster.objects.get(identifier="ledger")


def test_killed_worker_mid_clone_recognises_its_clone_and_finishes_with_one_creation_call(
    broker_url, account, rds, operator, tmp_path, fast_sandbox
):
    # Given a clone whose creation AWS applies but answers only after the worker died
    source = _aurora_mysql(account, rds)
    op = start_operation(
        "clone_cluster",
        source,
        {"clone_identifier": "ledger-debug", "instance_class": "db.r6g.large"},
        requested_by=operator,
    )
    calllog.hold("RestoreDBClusterToPointInTime")
    workers: list[Worker] = []
    try:
        first = Worker(tmp_path, "first", broker_url, fast_sandbox.url)
        workers.append(first)
        _wait_for(
            lambda: calllog.calls("RestoreDBClusterToPointInTime"), 60, "the clone call", first
        )
        first.kill()
        calllog.release("RestoreDBClusterToPointInTime")
        # When another worker takes the operation over
        second = Worker(tmp_path, "second", broker_url, fast_sandbox.url)
        workers.append(second)
        _wait_for(
            lambda: Operation.objects.get(pk=op.pk).state in (State.SUCCEEDED, State.FAILED),
            60,
            "the clone to end",
            second,
        )
    finally:
        for worker in workers:
            worker.kill()
    # Then it found the cluster tagged with its id, and made no second creation call
    op.refresh_from_db()
    assert op.state == State.SUCCEEDED, op.error
    assert len(calllog.calls("RestoreDBClusterToPointInTime", succeeded=True)) == 1
    assert calllog.calls("RestoreDBClusterToPointInTime", succeeded=False) == []
    assert any("created by this operation" in e.message for e in op.events.all())


def test_a_slow_answer_to_a_real_worker_does_not_repeat_the_failover(
    broker_url, account, rds, operator, tmp_path, fast_sandbox
):
    import json
    import urllib.request

    from sandbox.extensions import lifecycle_core

    # Given a failover whose answer the sandbox sends 4 s after applying it, switched
    # on over HTTP as a benchmark would (the worker's read timeout is 2 s)
    create_cluster(rds, "orders", instances=2)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    lifecycle_core.set_durations(default=0.05, failover=1.0)
    body = json.dumps({"slow": [{"action": "FailoverDBCluster", "seconds": 4, "times": 0}]})
    urllib.request.urlopen(
        urllib.request.Request(
            f"{fast_sandbox.url}/estate-sandbox/faults", data=body.encode(), method="POST"
        ),
        timeout=5,
    ).read()
    op = start_operation(
        "cluster_failover", DbCluster.objects.get(identifier="orders"), {}, requested_by=operator
    )
    worker = Worker(tmp_path, "worker", broker_url, fast_sandbox.url)
    try:
        _wait_for(
            lambda: Operation.objects.get(pk=op.pk).state in (State.SUCCEEDED, State.FAILED),
            60,
            "the failover to end",
            worker,
        )
    finally:
        worker.kill()
    # Then it succeeded with one failover: the worker gave up on the answer, described
    # the cluster, and saw AWS at work
    op.refresh_from_db()
    assert op.state == State.SUCCEEDED, op.error
    assert len(calllog.calls("FailoverDBCluster", succeeded=True)) == 1
    assert fast_sandbox.faults.slowed_requests == 1
    assert any("No usable answer from AWS" in e.message for e in op.events.all())
