"""Operations engine benchmark (not run by CI).

    .venv/bin/python benchmarks/operations.py [--operations 500] [--seconds 30] [--spread 0]

N Aurora clusters (a writer and a reader each) are seeded into a sandbox running in a
child process, with a cluster failover that takes S seconds there. N cluster failover
operations are validated and created (one transaction; not timed), then enqueued at
once on commit and driven by ONE ``celery worker`` process with concurrency 2 on Redis
(``REDIS_URL``, default DB 5) and PostgreSQL (``DATABASE_URL``, default
``postgres://postgres@127.0.0.1:5432/estate_ops_bench``, created and migrated if
missing). The clock runs from the commit until every operation has ended.

With ``--spread X`` each cluster's failover lasts S plus a stable share of X seconds
(``--seconds 10 --spread 50``: 10 to 60 s, as issue 15's benchmark asks).

Prints one JSON line: {"operations", "simulated_s", "wall_s", "ratio", "failed", ...}:
``ratio`` is wall time over the longest failover; ``detect_p50_s``/``detect_p95_s`` the
time from the sandbox ending a failover to its operation ending (shared polling: target
p95 <= poll interval + 1 s); ``describe_calls_per_s_per_scope`` the DescribeDBClusters
the waiting cost per account/region and second (target <= 2 whatever N);
``all_asked_s`` is when the last operation's failover was accepted by the sandbox,
``slowest_s`` the longest time from an acceptance to its operation's end (S plus the
polling and the worker's backlog). Django runs with production settings (DEBUG off).
Target: ratio = wall_s / simulated_s <= 1.3 — the worker never sleeps while AWS works,
so N operations take about as long as one.

The sandbox enforces no API rate limit, so the worker's client-side pacer (AWS's RDS
bucket: 12 requests/s per account and region) is lifted here; against real AWS, N
failovers in one account and region are bounded by that bucket instead.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "us-west-2")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/estate_ops_bench"
DEFAULT_REDIS = "redis://127.0.0.1:6379/5"


def _serve_sandbox(clusters: int, seconds: float, spread: float, conn: Any) -> None:
    """Child process: the sandbox, seeded, with failovers lasting ``seconds`` (plus a
    stable share of ``spread`` per cluster)."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    from sandbox.extensions import lifecycle_core
    from sandbox.seed import seed_scale
    from sandbox.server import SandboxServer

    server = SandboxServer(port=0).start()
    seed_scale(clusters * 2, clusters=clusters, accounts=ACCOUNTS, regions=REGIONS, prefix="bench")
    lifecycle_core.set_durations(default=0.0, failover=seconds, failover_spread=spread)
    server.faults.counting = True  # the describes the operations cost
    conn.send({"url": server.url})
    conn.recv()
    server.stop()


def _sandbox_counts(url: str) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(f"{url}/estate-sandbox/faults", timeout=10) as answer:
        return dict(json.loads(answer.read())["counted"])


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _vacuum() -> None:
    """Every run starts from tables without the previous runs' dead rows. (Where
    autovacuum is off, as on CI's PostgreSQL, each run left ~100,000 dead row versions
    behind, and every later run was slower than the one before.)"""
    from django.apps import apps
    from django.db import connection

    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in apps.get_models():
            if model._meta.managed and not model._meta.proxy:
                cursor.execute(f"VACUUM ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


def _mirror(sandbox_url: str) -> list[Any]:
    """Mirror the seeded clusters (the columns a failover reads), in bulk."""
    from estate import aws
    from estate.models import Account, DbCluster

    rows = []
    for account_id in ACCOUNTS:
        account = Account.objects.create(
            account_id=account_id,
            name=f"bench-{account_id}",
            role_arn=f"arn:aws:iam::{account_id}:role/Estate",
            regions=list(REGIONS),
        )
        for region in REGIONS:
            rds = aws.client(account, region, "rds", paced=False)
            for c in aws.paginate(rds, "describe_db_clusters", "DBClusters"):
                rows.append(
                    DbCluster(
                        account=account,
                        region=region,
                        arn=c["DBClusterArn"],
                        identifier=c["DBClusterIdentifier"],
                        status=c["Status"],
                        engine=c["Engine"],
                        members=[
                            {
                                "identifier": m["DBInstanceIdentifier"],
                                "is_writer": m["IsClusterWriter"],
                            }
                            for m in c["DBClusterMembers"]
                        ],
                    )
                )
    DbCluster.objects.bulk_create(rows, batch_size=500)
    return list(DbCluster.objects.select_related("account").order_by("id"))


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "estate.celery",
            "worker",
            "-c",
            "2",
            "--loglevel",
            "WARNING",
            "-n",
            "bench@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        pause.wait(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--operations", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument(
        "--spread",
        type=float,
        default=0.0,
        help="failovers last --seconds plus up to this much more, per cluster (10 and 50: "
        "10 to 60 s)",
    )
    args = parser.parse_args()
    if args.operations < 1 or args.seconds <= 0 or args.spread < 0:
        parser.error("--operations must be >= 1, --seconds > 0 and --spread >= 0")

    database_url = os.environ.get("DATABASE_URL") or DEFAULT_DB
    redis_url = os.environ.get("BENCH_REDIS_URL") or DEFAULT_REDIS
    _ensure_database(database_url)

    parent, child = multiprocessing.Pipe()
    sandbox = multiprocessing.Process(
        target=_serve_sandbox,
        args=(args.operations, args.seconds, args.spread, child),
        daemon=True,
    )
    sandbox.start()
    sandbox_url = parent.recv()["url"]

    unlimited = "1000000"
    os.environ.update(
        DJANGO_SETTINGS_MODULE="estate.settings",
        # Production settings: DEBUG on would keep a log of every SQL query.
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(50),
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        AWS_ENDPOINT_URL=sandbox_url,
        AWS_RATE_BURST=unlimited,
        AWS_RATE_PER_SECOND=unlimited,
        AWS_RATE_SHARE="1",
        LOG_LEVEL="WARNING",
    )
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import transaction

    call_command("migrate", verbosity=0)
    import redis

    redis.Redis.from_url(redis_url).flushdb()
    from django.contrib.auth.models import User

    from estate.models import Account, SyncLease
    from operations.models import Operation, State
    from operations.services import start_operation

    Operation.objects.all().delete()
    Account.objects.all().delete()  # cascades to the mirror
    # A previous run's worker is stopped as soon as its operations end, maybe in the
    # middle of a resync: its sync leases must not hold this run's resyncs back.
    SyncLease.objects.all().delete()
    _vacuum()
    clusters = _mirror(sandbox_url)
    user, _ = User.objects.get_or_create(username="bench", defaults={"is_superuser": True})

    tmp = Path(tempfile.mkdtemp(prefix="estate-ops-bench-"))
    worker_log = tmp / "worker.log"
    worker = _start_worker({**os.environ, "ESTATE_VAR_DIR": str(tmp)}, worker_log)
    try:
        from estate.celery import app

        _wait(lambda: bool(app.control.ping(timeout=0.5)), 60, "the worker")
        # Validate and create every operation (a describe each), enqueue on commit.
        with transaction.atomic():
            for cluster in clusters:
                start_operation("cluster_failover", cluster, {}, requested_by=user)
            started = time.perf_counter()
            started_epoch = time.time()
        terminal = (State.SUCCEEDED, State.FAILED, State.CANCELLED)
        _wait(
            lambda: Operation.objects.filter(state__in=terminal).count() >= len(clusters),
            args.seconds * 10 + 120,
            "every operation to end",
        )
        wall = time.perf_counter() - started
        counted = _sandbox_counts(sandbox_url)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(timeout=30)
        parent.send("stop")
    failed = Operation.objects.exclude(state=State.SUCCEEDED).count()
    # Where the time went: starting every operation (each one's first step, up to AWS
    # accepting its call) and the slowest operation from that acceptance to its end.
    accepted = {
        pk: float(memory.get("requested_at") or 0)
        for pk, memory in Operation.objects.values_list("pk", "memory")
    }
    ended = dict(Operation.objects.values_list("pk", "finished_at"))
    all_asked = max(accepted.values()) - started_epoch
    slowest = max(ended[pk].timestamp() - at for pk, at in accepted.items() if at)
    # Detection: from the sandbox ending a failover (accepted + that cluster's duration)
    # to its operation ending.
    from sandbox.extensions.lifecycle_core import spread_fraction

    labels = dict(Operation.objects.values_list("pk", "target_label"))
    detect = sorted(
        ended[pk].timestamp() - (at + args.seconds + args.spread * spread_fraction(labels[pk]))
        for pk, at in accepted.items()
        if at
    )
    longest = args.seconds + args.spread
    print(
        json.dumps(
            {
                "operations": len(clusters),
                "simulated_s": args.seconds,
                "spread_s": args.spread,
                "wall_s": round(wall, 2),
                "ratio": round(wall / longest, 3),
                "detect_p50_s": round(detect[len(detect) // 2], 2),
                "detect_p95_s": round(
                    detect[int(len(detect) * 0.95) - 1 if len(detect) > 1 else 0], 2
                ),
                "failed": failed,
                "all_asked_s": round(all_asked, 2),
                "slowest_s": round(slowest, 2),
                "worker_concurrency": 2,
                "poll_s": float(os.environ.get("OPERATIONS_POLL_SECONDS") or 5.0),
                # Describes the waiting cost, per account/region and second of waiting
                # (the check at start is one describe per operation: not counted here).
                "describe_clusters": counted.get("DescribeDBClusters", 0),
                "describe_calls_per_s_per_scope": round(
                    max(0, counted.get("DescribeDBClusters", 0) - 2 * len(clusters))
                    / (len(ACCOUNTS) * len(REGIONS))
                    / max(wall, 0.001),
                    2,
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
