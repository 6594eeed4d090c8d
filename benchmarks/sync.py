"""Sync benchmark (not run by CI).

    .venv/bin/python benchmarks/sync.py [--instances 10000] [--clusters 1000] [--repeat 3]

Seeds the sandbox with N DB instances (M Aurora clusters of a writer and a reader
among them) across 2 accounts x 2 regions, straight into moto's backends
(``sandbox.seed.seed_scale``), and the other kinds in a fleet's proportions, all tagged
(proxies with endpoints, custom endpoints, snapshots, parameter and option groups,
replication groups, cache clusters, serverless caches, DMS: ``seed_scale_companions``,
through boto3), then in the same run times

a) the bare paginated boto3 fetch of exactly what sync fetches (same operations, same
   per-item calls, same threads, same pacer) — ``bare_calls`` must equal ``sync_calls``;
b) the full sync into PostgreSQL (``DATABASE_URL``, default
   ``postgres://postgres@127.0.0.1:5432/estate_bench``; created and migrated if missing,
   its mirror emptied first);
c) a resync, counting INSERT/UPDATE/DELETE/COPY statements against mirror tables.

and prints one JSON line. (a) and (b) run ``--repeat`` times, alternately, and the
best of each is compared: single timings on a shared 2-core machine move by 10 % or
more. ``calls_per_1000`` is AWS calls per 1,000 mirrored resources (``resources``: every
mirrored row with an ARN of its own): ``after`` is this sync's, with every kind's tags;
``before`` the same calls without the tag calls (the sync before tags were read for
every kind made exactly those); ``fallback`` (with ``--fallback``) a full sync with
``tag:GetResources`` denied, reading tags with ListTagsForResource instead. The sandbox runs in a child process, as AWS runs elsewhere: the timings are
Estate's client side against a server that is not competing for this process's GIL,
and ``peak_rss_mb`` is this process's peak (Estate's sync), not moto's.
Targets: ratio = sync_s / bare_fetch_s <= 1.2, resync_writes = 0, peak_rss_mb <= 500.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

ACCOUNTS = ("111111111111", "222222222222")
REGIONS = ("us-east-1", "us-west-2")
DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/estate_bench"


def _serve_sandbox(instances: int, clusters: int, conn: Any) -> None:
    """Child process: start the sandbox, seed it in-process, report its URL, serve."""
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
    from sandbox.seed import seed_scale, seed_scale_companions
    from sandbox.server import SandboxServer

    server = SandboxServer(port=0).start()
    started = time.perf_counter()
    seed_scale(instances, clusters=clusters, accounts=ACCOUNTS, regions=REGIONS, prefix="bench")
    seed_scale_companions(server.url, instances, accounts=ACCOUNTS, regions=REGIONS, prefix="bench")
    conn.send({"url": server.url, "seed_s": round(time.perf_counter() - started, 2)})
    conn.recv()  # any message (or the parent's death) ends the child
    server.stop()


def _ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    base, _, name = url.rpartition("/")
    with psycopg.connect(f"{base}/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def _bare_fetch(units: list[tuple[str, str]], workers: int) -> tuple[float, Any]:
    """Every call sync makes, with nothing done to the answers."""
    from estate import aws
    from estate.sync.groups import is_default_group
    from estate.sync.tagging import RESOURCES_PER_PAGE, TAGGING_TYPES

    stats = aws.CallStats()

    def drain(it: Any) -> list[dict]:
        return list(it)

    def unit(account_id: str, region: str) -> None:
        ref = aws.AccountRef(account_id, f"arn:aws:iam::{account_id}:role/EstateSync")
        rds = aws.client(ref, region, "rds", stats=stats)
        ec = aws.client(ref, region, "elasticache", stats=stats)
        dms = aws.client(ref, region, "dms", stats=stats)
        tagging = aws.client(ref, region, "resourcegroupstaggingapi", stats=stats)
        p = aws.paginate

        def tags() -> None:
            # Sync's one pass for the tags of every kind without TagList.
            drain(
                p(
                    tagging,
                    "get_resources",
                    "ResourceTagMappingList",
                    ResourceTypeFilters=[t for types in TAGGING_TYPES.values() for t in types],
                    ResourcesPerPage=RESOURCES_PER_PAGE,
                )
            )

        def proxies() -> None:
            for proxy in p(rds, "describe_db_proxies", "DBProxies"):
                name = proxy["DBProxyName"]
                drain(p(rds, "describe_db_proxy_target_groups", "TargetGroups", DBProxyName=name))
                drain(p(rds, "describe_db_proxy_targets", "Targets", DBProxyName=name))

        def snapshots() -> None:
            for snap in p(rds, "describe_db_snapshots", "DBSnapshots"):
                if snap.get("SnapshotType") == "manual":
                    aws.call(
                        rds,
                        "describe_db_snapshot_attributes",
                        DBSnapshotIdentifier=snap["DBSnapshotIdentifier"],
                    )

        def cluster_snapshots() -> None:
            for snap in p(rds, "describe_db_cluster_snapshots", "DBClusterSnapshots"):
                if snap.get("SnapshotType") == "manual":
                    aws.call(
                        rds,
                        "describe_db_cluster_snapshot_attributes",
                        DBClusterSnapshotIdentifier=snap["DBClusterSnapshotIdentifier"],
                    )

        def parameter_groups(op: str, key: str, name_key: str, params_op: str) -> None:
            for group in p(rds, op, key):
                name = group[name_key]
                if not is_default_group(name):
                    drain(p(rds, params_op, "Parameters", **{name_key: name}))

        def cache_parameter_groups() -> None:
            for group in p(ec, "describe_cache_parameter_groups", "CacheParameterGroups"):
                name = group["CacheParameterGroupName"]
                if not is_default_group(name) and not group.get("IsGlobal"):
                    drain(
                        p(
                            ec,
                            "describe_cache_parameters",
                            "Parameters",
                            CacheParameterGroupName=name,
                        )
                    )

        def tasks() -> None:
            for task in p(dms, "describe_replication_tasks", "ReplicationTasks"):
                drain(
                    p(
                        dms,
                        "describe_table_statistics",
                        "TableStatistics",
                        ReplicationTaskArn=task["ReplicationTaskArn"],
                    )
                )

        steps = [
            lambda: drain(p(rds, "describe_global_clusters", "GlobalClusters")),
            lambda: drain(p(rds, "describe_db_clusters", "DBClusters")),
            lambda: drain(p(rds, "describe_db_instances", "DBInstances")),
            tags,
            proxies,
            lambda: drain(p(rds, "describe_db_cluster_endpoints", "DBClusterEndpoints")),
            lambda: drain(p(rds, "describe_db_proxy_endpoints", "DBProxyEndpoints")),
            snapshots,
            cluster_snapshots,
            lambda: parameter_groups(
                "describe_db_parameter_groups",
                "DBParameterGroups",
                "DBParameterGroupName",
                "describe_db_parameters",
            ),
            lambda: parameter_groups(
                "describe_db_cluster_parameter_groups",
                "DBClusterParameterGroups",
                "DBClusterParameterGroupName",
                "describe_db_cluster_parameters",
            ),
            lambda: drain(p(rds, "describe_option_groups", "OptionGroupsList")),
            lambda: drain(
                p(ec, "describe_cache_clusters", "CacheClusters", ShowCacheNodeInfo=True)
            ),
            lambda: drain(p(ec, "describe_replication_groups", "ReplicationGroups")),
            lambda: drain(p(ec, "describe_serverless_caches", "ServerlessCaches")),
            cache_parameter_groups,
            lambda: drain(p(dms, "describe_replication_instances", "ReplicationInstances")),
            lambda: drain(p(dms, "describe_endpoints", "Endpoints")),
            tasks,
        ]
        for step in steps:
            # A listing that fails stops there, as it does in sync.
            with contextlib.suppress(aws.AwsError):
                step()

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for future in [pool.submit(unit, a, r) for a, r in units]:
            future.result()
    return time.perf_counter() - started, stats


def _mirrored_resources() -> tuple[int, int]:
    """Mirrored rows that are AWS resources of their own (an ARN, tags): every mirrored
    kind, minus the endpoints AWS reports inside their owner (writer, reader, instance,
    proxy default); and how many of them have no TagList in their describe answer (the
    ones the tagging API answers for)."""
    from estate import models

    derived = models.DbEndpoint.objects.exclude(
        kind__in=[models.EndpointKind.CUSTOM, models.EndpointKind.PROXY_ENDPOINT]
    ).count()
    total = sum(m.objects.count() for m in models.Mirrored.__subclasses__()) - derived
    with_tag_list = (models.DbInstance, models.DbCluster, models.GlobalCluster, models.DbSnapshot)
    return total, total - sum(m.objects.count() for m in with_tag_list)


def _faults(url: str, body: dict[str, Any]) -> None:
    """Change the sandbox's fault rules (it runs in the child process)."""
    import urllib.request

    request = urllib.request.Request(
        f"{url}/estate-sandbox/faults",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _profile_writer() -> Any:
    """Profile the writer (the caller's thread) of the sync; fetch threads run free."""
    import cProfile

    from estate.sync import engine

    profiler = cProfile.Profile()
    profiler.writer_s = 0.0  # type: ignore[attr-defined]
    original = engine.Writer.handle

    def handle(self: Any, *args: Any) -> None:
        started = time.perf_counter()
        profiler.enable()
        try:
            original(self, *args)
        finally:
            profiler.disable()
            profiler.writer_s += time.perf_counter() - started  # type: ignore[attr-defined]

    engine.Writer.handle = handle  # type: ignore[method-assign]
    return profiler


def _report_profile(profiler: Any, sync_s: float) -> None:
    import io
    import pstats

    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(40)
    print(f"writer busy {profiler.writer_s:.2f}s of {sync_s:.2f}s", file=sys.stderr)
    print(out.getvalue(), file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=10_000)
    parser.add_argument("--clusters", type=int, default=1_000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="bare fetch + first sync this many times; the best of each is compared",
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile the sync's writer; report to stderr"
    )
    parser.add_argument(
        "--fallback",
        action="store_true",
        help="also count a full sync's calls with tag:GetResources denied",
    )
    args = parser.parse_args()

    ctx = multiprocessing.get_context("spawn")
    parent_conn, child_conn = ctx.Pipe()
    child = ctx.Process(
        target=_serve_sandbox, args=(args.instances, args.clusters, child_conn), daemon=True
    )
    child.start()
    while not parent_conn.poll(1):
        # A seed that fails kills the child: say so instead of waiting forever.
        if not child.is_alive():
            raise SystemExit(f"the sandbox process exited ({child.exitcode}) while seeding")
    sandbox = parent_conn.recv()

    os.environ.setdefault("DEBUG", "1")
    os.environ.setdefault("DATABASE_URL", DEFAULT_DB)
    os.environ["AWS_ENDPOINT_URL"] = sandbox["url"]
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")
    if "bench" not in os.environ["DATABASE_URL"].rsplit("/", 1)[-1]:
        # The benchmark empties the mirror (and what references it) with TRUNCATE.
        raise SystemExit("DATABASE_URL must name a benchmark database (its name contains 'bench')")
    _ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from estate import aws
    from estate.models import Account
    from estate.sync import sync_scope

    call_command("migrate", verbosity=0)

    def clean_mirror() -> None:
        """Empty the mirror so that (b) is a full first sync (TRUNCATE: deleting
        tens of thousands of rows through the ORM's collector would take minutes)."""
        with connection.cursor() as cursor:
            cursor.execute(
                "TRUNCATE estate_account, estate_syncrun, estate_synclease RESTART IDENTITY CASCADE"
            )
        for account_id in ACCOUNTS:
            Account.objects.create(
                account_id=account_id,
                name=f"bench-{account_id[:3]}",
                role_arn=f"arn:aws:iam::{account_id}:role/EstateSync",
                regions=list(REGIONS),
            )

    units = [(a, r) for a in ACCOUNTS for r in REGIONS]
    workers = max(1, min(settings.SYNC_MAX_WORKERS, len(units)))

    # Warm up sessions (assume-role) so neither timing pays for it.
    for account_id in ACCOUNTS:
        aws.session_for(aws.AccountRef(account_id, f"arn:aws:iam::{account_id}:role/EstateSync"))

    # On a shared machine single timings swing by 2x; --repeat takes the best of each.
    bare_runs: list[float] = []
    sync_runs: list[float] = []
    bare_cpu_s = sync_cpu_s = float("inf")
    profiler = None
    for _ in range(args.repeat):
        aws.reset_pacers()
        cpu = _cpu_s()
        bare_s, bare_stats = _bare_fetch(units, workers)
        bare_calls = bare_stats.api_calls
        bare_cpu_s = min(bare_cpu_s, _cpu_s() - cpu)
        bare_runs.append(bare_s)

        clean_mirror()
        aws.reset_pacers()
        if args.profile and profiler is None:
            profiler = _profile_writer()
        cpu = _cpu_s()
        started = time.perf_counter()
        run = sync_scope(triggered_by="benchmark")
        sync_runs.append(time.perf_counter() - started)
        sync_cpu_s = min(sync_cpu_s, _cpu_s() - cpu)
    if profiler is not None:
        _report_profile(profiler, min(sync_runs))

    # The bare fetch again: moto's first pass over fresh data can be slower, and the
    # ratio uses the fastest bare fetch (the figure least favourable to sync).
    aws.reset_pacers()
    bare_runs.append(_bare_fetch(units, workers)[0])
    bare_s, sync_s = min(bare_runs), min(sync_runs)

    aws.reset_pacers()
    with CaptureQueriesContext(connection) as queries:
        started = time.perf_counter()
        resync = sync_scope(triggered_by="benchmark resync")
        resync_s = time.perf_counter() - started
    bookkeeping = ("estate_syncrun", "estate_synclease")
    resync_writes = sum(
        1
        for q in queries.captured_queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE", "COPY"))
        and not any(t in q["sql"] for t in bookkeeping)
    )

    resources, without_tag_list = _mirrored_resources()
    tag_calls = bare_stats.by_operation.get("GetResources", 0)
    calls_per_1000 = {
        "before": round((bare_calls - tag_calls) * 1000 / resources, 1),
        "after": round(run.api_calls * 1000 / resources, 1),
    }
    fallback: Any = None
    if args.fallback:
        _faults(sandbox["url"], {"deny": [{"service": "tagging"}]})
        clean_mirror()
        aws.reset_pacers()
        fallback = sync_scope(triggered_by="benchmark, tag:GetResources denied")
        _faults(sandbox["url"], {"clear": True})
        calls_per_1000["fallback"] = round(fallback.api_calls * 1000 / resources, 1)

    parent_conn.send("stop")
    child.join(timeout=30)
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "instances": args.instances,
                "clusters": args.clusters,
                "bare_fetch_s": round(bare_s, 2),
                "sync_s": round(sync_s, 2),
                "ratio": round(sync_s / bare_s, 3),
                "resync_s": round(resync_s, 2),
                "resync_writes": resync_writes,
                "peak_rss_mb": round(peak_rss_mb, 1),
                "bare_fetch_runs_s": [round(x, 2) for x in bare_runs],
                "sync_runs_s": [round(x, 2) for x in sync_runs],
                # CPU seconds of this process (all threads): the part of the cost that
                # does not depend on how busy the machine and the sandbox are.
                "bare_cpu_s": round(bare_cpu_s, 2),
                "sync_cpu_s": round(sync_cpu_s, 2),
                "load_avg_1m": round(os.getloadavg()[0], 1),
                "bare_calls": bare_calls,
                "sync_calls": run.api_calls,
                "resources": resources,
                "resources_without_tag_list": without_tag_list,
                "calls_per_1000": calls_per_1000,
                "tag_calls": tag_calls,
                "fallback_calls": fallback.api_calls if fallback else None,
                "fallback_status": fallback.status if fallback else None,
                "sync_status": run.status,
                "resync_status": resync.status,
                "created": run.total("created"),
                "errors": {**run.errors, **resync.errors},
                "seed_s": sandbox["seed_s"],
                "workers": workers,
            }
        )
    )


if __name__ == "__main__":
    main()
