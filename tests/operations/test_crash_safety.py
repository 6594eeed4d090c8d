"""A real Celery worker is SIGKILLed after AWS accepted a failover but before the worker
could record it; a new worker finishes the operation without asking AWS again.

Needs PostgreSQL (DATABASE_URL) and Redis (REDIS_URL), skipped otherwise:
the workers are separate processes that must share the test database and a broker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.conf import settings
from django.db import connection

from estate.models import DbCluster
from operations.models import Operation, State
from operations.services import start_operation
from sandbox import calllog
from tests.operations.conftest import create_cluster, mirror, wait_available

pytestmark = [
    pytest.mark.integration,
    pytest.mark.postgres("the worker processes share the test database"),
    pytest.mark.redis("the worker processes' broker"),
    pytest.mark.django_db(transaction=True),
]

REDIS_DB = 5  # this suite's own Redis database
ROOT = Path(__file__).resolve().parents[2]


def _redis_url() -> str | None:
    base = settings.REDIS_URL
    parts = urlsplit(base)
    url = urlunsplit((parts.scheme, parts.netloc, f"/{REDIS_DB}", "", ""))
    try:
        import redis

        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - any failure means "no Redis here"
        return None
    return url


@pytest.fixture
def broker_url():
    url = _redis_url()
    assert url is not None, f"Redis at {settings.REDIS_URL} does not answer"
    import redis

    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()


def _database_url() -> str:
    db = settings.DATABASES["default"]
    user = db.get("USER") or "postgres"
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    host = db.get("HOST") or "127.0.0.1"
    port = db.get("PORT") or 5432
    return f"postgres://{user}{password}@{host}:{port}/{connection.settings_dict['NAME']}"


class Worker:
    """A ``celery worker`` (with an embedded beat running the reaper) in its own
    process group, so that SIGKILL takes the pool's children down with it."""

    def __init__(self, tmp_path: Path, name: str, broker: str, sandbox_url: str) -> None:
        self.log = tmp_path / f"{name}.log"
        env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(tmp_path),
            "DJANGO_SETTINGS_MODULE": "estate.settings",
            "DEBUG": "1",
            "DATABASE_URL": _database_url(),
            "REDIS_URL": broker,
            "AWS_ENDPOINT_URL": sandbox_url,
            "AWS_CONFIG_FILE": os.devnull,
            "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
            "ESTATE_VAR_DIR": str(tmp_path / "var"),
            "OPERATIONS_STEP_LEASE_SECONDS": "3",
            "OPERATIONS_POLL_SECONDS": "0.2",
            "OPERATIONS_TYPICAL_SCALE": "0.05",
            "OPERATIONS_REAPER_INTERVAL_SECONDS": "0.5",
            "OPERATIONS_REAPER_GRACE_SECONDS": "0.5",
            "PYTHONPATH": str(ROOT),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "estate.celery",
                "worker",
                "-c",
                "2",
                "-B",
                "--scheduler",
                "celery.beat:PersistentScheduler",
                "-s",
                str(tmp_path / f"{name}-beat"),
                "-n",
                f"{name}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def kill(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _wait_for(condition, timeout: float, what: str, worker: Worker | None = None):
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        pause.wait(0.1)
    log = worker.log.read_text()[-3000:] if worker else ""
    raise AssertionError(f"timed out waiting for {what}\n{log}")


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
