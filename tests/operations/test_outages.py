"""Broker and database outages are survived without a human.

Real processes: a Celery worker (with its embedded beat running the reaper), a private
Redis server that is really restarted, PostgreSQL whose connections are cut and
refused for a while (what a restart looks like to its clients), and the sandbox.
Twenty cluster failovers wait on AWS when the outage hits; every one must succeed, with
exactly one failover call per cluster, and the worker must not need a restart.
"""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from estate.models import DbCluster
from operations.models import Operation, State
from operations.services import start_operation
from sandbox import calllog
from tests.factories.operations import create_cluster, mirror, wait_available
from tests.processes import RedisServer, Worker, wait_for

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres("the worker processes share the test database"),
    pytest.mark.django_db(transaction=True),
]

COUNT = 20
FAILOVER_SECONDS = 8.0


@pytest.fixture
def private_redis(tmp_path):
    server = RedisServer(tmp_path).start()
    yield server
    server.stop()


def _waiting_failovers(
    account, rds, operator, seconds: float = FAILOVER_SECONDS, count: int = COUNT
) -> list[Operation]:
    from sandbox.extensions import lifecycle_core

    for i in range(count):
        create_cluster(rds, f"c{i:02d}", instances=2)
    wait_available(rds, clusters=[f"c{i:02d}" for i in range(count)])
    mirror(account, rds)
    lifecycle_core.set_durations(default=0.05, failover=seconds)
    return [
        start_operation("cluster_failover", cluster, {}, requested_by=operator)
        for cluster in DbCluster.objects.order_by("identifier")
    ]


def _states(ops: list[Operation]) -> dict[str, int]:
    found: dict[str, int] = {}
    for state in Operation.objects.filter(pk__in=[o.pk for o in ops]).values_list(
        "state", flat=True
    ):
        found[state] = found.get(state, 0) + 1
    return found


def _all_waiting_on_aws(ops: list[Operation]) -> bool:
    return len(calllog.calls("FailoverDBCluster")) == len(ops) and _states(ops) == {
        State.WAITING: len(ops)
    }


def _all_ended(ops: list[Operation]) -> bool:
    states = _states(ops)
    return states.get(State.SUCCEEDED, 0) + states.get(State.FAILED, 0) == len(ops)


def _assert_each_failed_over_once(ops: list[Operation]) -> None:
    failed = Operation.objects.filter(pk__in=[o.pk for o in ops]).exclude(state=State.SUCCEEDED)
    assert not failed.exists(), [(o.target_label, o.state, o.error) for o in failed]
    targets = sorted(c.target for c in calllog.calls("FailoverDBCluster", succeeded=True))
    assert targets == [f"c{i:02d}" for i in range(len(ops))]


def test_a_redis_restart_loses_no_waiting_operation(
    private_redis, account, rds, operator, tmp_path, fast_sandbox
):
    # Given 20 failovers waiting on AWS, driven by a worker on a Redis broker
    ops = _waiting_failovers(account, rds, operator)
    worker = Worker(tmp_path, "worker", private_redis.url, fast_sandbox.url)
    try:
        wait_for(lambda: _all_waiting_on_aws(ops), 60, "20 waiting failovers", worker.log)
        # When Redis restarts (down for 3 s) while they wait
        private_redis.restart(down_seconds=3)
        # Then every operation still ends, successfully, without anyone restarting
        # the worker
        wait_for(lambda: _all_ended(ops), 120, "the operations to end", worker.log)
        assert worker.alive, worker.log.read_text()[-3000:]
    finally:
        worker.stop()
    _assert_each_failed_over_once(ops)


def _cut_database(seconds: float) -> None:
    """What a PostgreSQL restart looks like to the worker: every connection to the test
    database but this test's own is terminated, and new ones are refused for
    ``seconds`` (run from the maintenance database: a database cannot refuse
    connections to itself)."""
    import psycopg

    name = connection.settings_dict["NAME"]
    connection.ensure_connection()
    ours = connection.connection.info.backend_pid
    db = connection.settings_dict
    admin = psycopg.connect(
        host=db.get("HOST") or "127.0.0.1",
        port=db.get("PORT") or 5432,
        user=db.get("USER") or "postgres",
        password=db.get("PASSWORD") or None,
        dbname="postgres",
        autocommit=True,
    )
    try:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> %s",
            [name, ours],
        )
        threading.Event().wait(seconds)  # the outage itself
    finally:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS true')
        admin.close()


def test_a_postgresql_restart_loses_no_waiting_operation(
    private_redis, account, rds, operator, tmp_path, fast_sandbox
):
    # Given 20 failovers waiting on AWS
    ops = _waiting_failovers(account, rds, operator)
    worker = Worker(tmp_path, "worker", private_redis.url, fast_sandbox.url)
    try:
        wait_for(lambda: _all_waiting_on_aws(ops), 60, "20 waiting failovers", worker.log)
        # When PostgreSQL drops every connection of the worker and refuses new ones
        # for 5 s
        _cut_database(5)
        # Then every operation still ends, successfully, and the worker lives on
        wait_for(lambda: _all_ended(ops), 120, "the operations to end", worker.log)
        assert worker.alive, worker.log.read_text()[-3000:]
    finally:
        worker.stop()
    _assert_each_failed_over_once(ops)


def test_the_demo_broker_loses_a_dead_workers_messages_and_the_reaper_recovers_them(
    account, rds, operator, tmp_path, fast_sandbox
):
    # Given failovers waiting on AWS, driven through the demo's filesystem broker. It
    # carries about a message a second per worker: 6 operations (not 20) keep the test
    # short, and the failovers last long enough that all are waiting at once.
    ops = _waiting_failovers(account, rds, operator, seconds=15.0, count=6)
    # (a poll a second: the filesystem transport is slow with many short countdowns)
    first = Worker(tmp_path, "first", "", fast_sandbox.url, OPERATIONS_POLL_SECONDS="1")
    second = None
    try:
        wait_for(lambda: _all_waiting_on_aws(ops), 90, "6 waiting failovers", first.log)
        # When the worker is killed: the filesystem transport has no acknowledgements,
        # so the countdown messages it had taken are gone with it
        first.kill()
        second = Worker(tmp_path, "second", "", fast_sandbox.url, OPERATIONS_POLL_SECONDS="1")
        # Then the reaper re-enqueues every overdue operation and each one ends
        wait_for(lambda: _all_ended(ops), 120, "the operations to end", second.log)
    finally:
        first.kill()
        if second is not None:
            second.stop()
    _assert_each_failed_over_once(ops)
    reaped = {
        e.operation_id
        for op in ops
        for e in op.events.filter(message__contains="re-enqueued by the reaper")
    }
    assert reaped, "the reaper should have re-enqueued the dead worker's operations"
