"""Shared polling: operations waiting on AWS share one describe per scope and tick.

Hundreds of operations waiting in one account and region would otherwise each describe
their own target every few seconds, so the cost of waiting grew with their number and
spent the account's API budget. Here a waiting step asks ``shared(ctx, "cluster",
identifier)``; per account, region and resource type, at most one process per tick
(``OPERATIONS_POLL_SECONDS``) makes the describe, filtered by every identifier that
steps asked about recently (100 to a call, AWS's page size), and leaves the answer in
the cache (Redis in production) for the others. A step that asks about a target for the
first time after this tick's describe is told to ask again next tick (the next
describe includes it). A target missing from a describe made after it was asked about
is described alone: it may have been created since, or be gone (then ``AwsNotFound``
says so, as a describe of one would).

Only waiting (read-only) steps use it. Before any mutating call a step still
re-describes its own target (crash safety does not depend on a shared answer).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.cache import cache

from estate import aws

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResourceType:
    operation: str
    result_key: str
    id_key: str
    # The describe's filter by identifier; None: the API has none, and one paginated
    # describe of the region's resources of this type serves everyone.
    filter_name: str | None
    service: str = "rds"


TYPES: dict[str, ResourceType] = {
    "cluster": ResourceType(
        "describe_db_clusters", "DBClusters", "DBClusterIdentifier", "db-cluster-id"
    ),
    "instance": ResourceType(
        "describe_db_instances", "DBInstances", "DBInstanceIdentifier", "db-instance-id"
    ),
    "replication_group": ResourceType(
        "describe_replication_groups",
        "ReplicationGroups",
        "ReplicationGroupId",
        None,
        "elasticache",
    ),
}
# AWS's page size and the most values one describe filter takes here.
CHUNK = 100
# A step that asked about an identifier is included in the shared describes for this
# many ticks afterwards (a waiting step asks again every tick).
INTEREST_TICKS = 6


class Counts:
    """Describes made by this process (for tests and benchmarks)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.shared = 0  # describe calls made for everyone
        self.alone = 0  # describes of one target (missing from the shared answer)
        self.served = 0  # answers served from a shared describe

    def add(self, name: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, name, getattr(self, name) + n)

    def reset(self) -> None:
        with self._lock:
            self.shared = self.alone = self.served = 0


counts = Counts()


def tick_seconds() -> float:
    return max(0.01, float(getattr(settings, "OPERATIONS_POLL_SECONDS", 5.0)))


def _tick_start(now: float, tick: float) -> float:
    """Ticks are windows of wall-clock time, the same in every process."""
    return (now // tick) * tick


def next_tick_in() -> float:
    """Seconds until the next tick begins (a hair after): a waiting step wakes then, with
    every other waiting step of its scope, so the first of them makes the tick's
    describe and the others get its answer, fresh. A change AWS finishes is seen
    within one tick."""
    tick = tick_seconds()
    now = time.time()
    return _tick_start(now, tick) + tick - now + min(0.05, tick / 10)


# Part of every key: the same in every process of a deployment; ``reset`` (tests, each
# with a new sandbox) makes earlier answers unreachable, in this and later runs.
_generation = "0"


def reset() -> None:
    """Forget every shared answer."""
    global _generation
    _generation = uuid.uuid4().hex[:12]
    counts.reset()


def _key(ctx: Any, kind: str, region: str, what: str) -> str:
    account = ctx.op.account.account_id
    return f"operations:poll:{_generation}:{account}:{region}:{kind}:{what}"


def _alone(ctx: Any, rtype: ResourceType, identifier: str, region: str) -> dict[str, Any]:
    counts.add("alone")
    found = ctx.call(
        rtype.operation, service=rtype.service, region=region, **{rtype.id_key: identifier}
    )[rtype.result_key]
    return found[0]


def _describe_many(
    ctx: Any, rtype: ResourceType, identifiers: list[str], region: str
) -> dict[str, dict[str, Any]]:
    items: dict[str, dict[str, Any]] = {}
    client = ctx.client(rtype.service, region)
    if rtype.filter_name is None:
        counts.add("shared")
        for item in aws.paginate(client, rtype.operation, rtype.result_key, MaxRecords=CHUNK):
            if item[rtype.id_key] in identifiers:
                items[item[rtype.id_key]] = item
        return items
    for start in range(0, len(identifiers), CHUNK):
        chunk = identifiers[start : start + CHUNK]
        counts.add("shared")
        for item in aws.paginate(
            client,
            rtype.operation,
            rtype.result_key,
            Filters=[{"Name": rtype.filter_name, "Values": chunk}],
        ):
            items[item[rtype.id_key]] = item
    return items


def shared(
    ctx: Any, kind: str, identifier: str, region: str | None = None
) -> dict[str, Any] | float:
    """``identifier``'s description, from this tick's shared describe of its scope, or
    the seconds to wait before asking again (another process is making this tick's
    describe; or it was made before anyone asked about this target, and the next
    tick's includes it). Raises ``AwsNotFound`` when AWS no longer has it.

    With the cache unreachable (Redis restarting) the target is described alone:
    waiting costs more calls for a while, but no operation fails for it."""
    rtype = TYPES[kind]
    region = region or ctx.op.region
    try:
        return _shared(ctx, rtype, kind, identifier, region)
    except aws.AwsError:
        raise
    except Exception as exc:  # noqa: BLE001 - the cache's own errors (redis, pickling)
        log.warning("shared polling unavailable (%s): describing %s alone", exc, identifier)
        return _alone(ctx, rtype, identifier, region)


def _shared(
    ctx: Any, rtype: ResourceType, kind: str, identifier: str, region: str
) -> dict[str, Any] | float:
    tick = tick_seconds()
    now = time.time()
    snapshot_key, interest_key, lock_key = (
        _key(ctx, kind, region, what) for what in ("snapshot", "interest", "lock")
    )
    found = cache.get_many([snapshot_key, interest_key])
    # identifier -> (first asked at, interested until)
    interest: dict[str, tuple[float, float]] = found.get(interest_key) or {}
    asked_at, until = interest.get(identifier, (now, 0.0))
    if until < now + (INTEREST_TICKS - 1) * tick:
        # (read-modify-write: a concurrent update may drop an identifier for a tick,
        # whose step then describes alone; never a wrong answer)
        interest = {i: v for i, v in interest.items() if v[1] > now}
        interest[identifier] = (asked_at, now + INTEREST_TICKS * tick)
        cache.set(interest_key, interest, timeout=int(INTEREST_TICKS * tick) + 60)
    snapshot = found.get(snapshot_key)
    window = _tick_start(now, tick)
    fresh = snapshot is not None and snapshot["at"] >= window
    if not fresh and cache.add(lock_key, now, timeout=max(5, int(tick))):
        wanted = sorted(i for i, v in interest.items() if v[1] > now)
        try:
            items = _describe_many(ctx, rtype, wanted, region)
        finally:
            cache.delete(lock_key)  # (its timeout covers a process that died here)
        snapshot = {"at": time.time(), "items": items}
        cache.set(snapshot_key, snapshot, timeout=int(tick * 4) + 60)
        fresh = True
    if not fresh:
        # Someone else is making this tick's describe right now: its answer comes in a
        # moment (the previous tick's would be a tick old).
        return min(0.25, tick / 4)
    since = _step_started(ctx)
    if snapshot["at"] >= since and identifier in snapshot["items"]:
        counts.add("served")
        return dict(snapshot["items"][identifier])
    if snapshot["at"] < max(asked_at, since):
        return next_tick_in()  # the next tick's describe includes it
    return _alone(ctx, rtype, identifier, region)


def _step_started(ctx: Any) -> float:
    started = getattr(ctx.op, "step_started_at", None)
    return started.timestamp() if started is not None else 0.0
