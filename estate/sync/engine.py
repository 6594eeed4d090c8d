"""Running a SyncRun: fetch threads per account/region, one writer, leases, accounting.

Shape of a run::

    caller thread (the writer)            fetch threads (<= SYNC_MAX_WORKERS)
    ---------------------------           ------------------------------------
    claim leases                          one per account x region unit:
    start fetch threads  ---------------> for kind in kinds (in KINDS order):
    for event in queue:  <--------------     page AWS, map rows, put chunks
        upsert chunk / finish part
    link cross-unit relations
    record counts, calls, errors; release leases

Fetch threads never touch the database, so the run needs no connection per thread
and works inside a test transaction; the writer overlaps its writes with their
fetching. Each unit's kinds arrive in order, so rows a kind links to (the clusters of
instances, the proxies of proxy endpoints) are written before it. Every AWS request goes
through ``estate.aws``'s pacer, one bucket per account, region and service shared by
all threads of the process, so concurrency never pushes a unit past AWS's rate.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils import timezone

from estate import aws
from estate.models import Account, SyncRun
from estate.sync import cache, dms, groups, leases, links, rds, snapshots
from estate.sync.fetch import Derive, End, Event, FetchContext, Problem, Rows, describe_error
from estate.sync.store import CHUNK_SIZE_DERIVED, Lookups, PartWriter, add_counts, empty_counts

log = logging.getLogger(__name__)

# The kinds, in the order each unit syncs them: a kind comes after the kinds it links
# to. See estate.sync.KINDS for what each one covers.
KIND_FETCHERS: dict[str, Callable[[FetchContext, Account], Iterator[Event]]] = {
    "global_clusters": lambda ctx, acct: rds.fetch_global_clusters(ctx, _home_region(acct)),
    "clusters": lambda ctx, acct: rds.fetch_clusters(ctx),
    "instances": lambda ctx, acct: rds.fetch_instances(ctx),
    "proxies": lambda ctx, acct: rds.fetch_proxies(ctx),
    "endpoints": lambda ctx, acct: rds.fetch_endpoints(ctx, acct.account_id),
    "snapshots": lambda ctx, acct: snapshots.fetch_snapshots(ctx),
    "parameter_groups": lambda ctx, acct: groups.fetch_parameter_groups(ctx),
    "option_groups": lambda ctx, acct: groups.fetch_option_groups(ctx),
    "caches": lambda ctx, acct: cache.fetch_caches(ctx),
    "dms": lambda ctx, acct: dms.fetch_dms(ctx),
}


def _home_region(account: Account) -> str:
    return (account.regions or ["us-east-1"])[0]


@dataclass(frozen=True)
class Unit:
    account: Account
    region: str

    @property
    def label(self) -> str:
        return f"{self.account.account_id}/{self.region}"


@dataclass
class Failed:
    """A kind failed outside any listing (assume-role refused, a mapping bug)."""

    message: str


class _UnitDone:
    pass


UNIT_DONE = _UnitDone()
LEASE_POLL_SECONDS = 0.5


class _Stopped(Exception):
    pass


@dataclass
class RunState:
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)
    parts_ok: int = 0

    def error(self, unit: Unit, kind: str, message: str) -> None:
        key = f"{unit.label}/{kind}"
        self.errors[key] = f"{self.errors[key]}; {message}" if key in self.errors else message

    def add(self, kind: str, counts: dict[str, int]) -> None:
        add_counts(self.counts.setdefault(kind, empty_counts()), counts)


def pacing_enabled() -> bool:
    return bool(getattr(settings, "SYNC_PACING", True))


def _fetch_unit(
    index: int,
    unit: Unit,
    kinds: list[str],
    stats: aws.CallStats,
    put: Callable[[tuple[int, str, Any]], None],
) -> None:
    ref = aws.AccountRef.of(unit.account)
    try:
        try:
            aws.session_for(ref)  # assume the role once; a refusal fails every kind
        except aws.AwsError as exc:
            for kind in kinds:
                put((index, kind, Failed(f"AssumeRole: {exc}")))
            return
        ctx = FetchContext(ref, unit.region, stats, paced=pacing_enabled(), kinds=kinds)
        for kind in kinds:
            try:
                for event in KIND_FETCHERS[kind](ctx, unit.account):
                    put((index, kind, event))
            except _Stopped:
                raise
            except Exception as exc:
                log.exception("sync %s/%s failed", unit.label, kind)
                put((index, kind, Failed(describe_error(exc))))
    except _Stopped:
        return
    finally:
        with contextlib.suppress(_Stopped):
            put((index, "", UNIT_DONE))


class Writer:
    """Applies fetch events to the database (in the caller's thread)."""

    def __init__(self, units: list[Unit], state: RunState) -> None:
        self.units = units
        self.state = state
        self.now = timezone.now()
        self.lookups = [Lookups(u.account, u.region) for u in units]
        self.parts: dict[tuple[int, str], tuple[str, PartWriter]] = {}
        self.broken: set[tuple[int, str]] = set()

    def _writer(self, index: int, kind: str, part: Any) -> PartWriter:
        key = (index, part.name)
        if key not in self.parts:
            self.parts[key] = (kind, PartWriter(part, self.lookups[index], self.now))
        return self.parts[key][1]

    def handle(self, index: int, kind: str, event: Event | Failed) -> None:
        unit = self.units[index]
        if isinstance(event, Failed | Problem):
            self.state.error(unit, kind, event.message)
            return
        key = (index, event.part.name)
        if key in self.broken:
            return
        try:
            writer = self._writer(index, kind, event.part)
            if isinstance(event, Rows):
                writer.add(event.rows)
            elif isinstance(event, Derive):
                assert event.part.derive is not None
                rows = event.part.derive(self.lookups[index])
                for start in range(0, len(rows), CHUNK_SIZE_DERIVED):
                    writer.add(rows[start : start + CHUNK_SIZE_DERIVED])
                writer.finish()
                self.state.parts_ok += 1
            elif isinstance(event, End):
                if event.error:
                    self.state.error(unit, kind, event.error)
                else:
                    writer.finish()
                    self.state.parts_ok += 1
        except Exception as exc:
            # A database error in one part: that part stops (its transaction rolled
            # back), the rest of the run goes on.
            log.exception("sync %s/%s: writing %s failed", unit.label, kind, event.part.name)
            self.broken.add(key)
            self.state.error(unit, kind, f"writing {event.part.name}: {describe_error(exc)}")

    def counts_so_far(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for kind, writer in self.parts.values():
            add_counts(counts.setdefault(kind, empty_counts()), writer.counts)
            if writer.spec.children is not None and any(writer.child_counts.values()):
                name = writer.spec.children.counts_as
                add_counts(counts.setdefault(name, empty_counts()), writer.child_counts)
        return counts

    def collect_counts(self) -> None:
        for kind, counts in self.counts_so_far().items():
            self.state.add(kind, counts)


def execute(
    run: SyncRun, units: list[Unit], kinds: list[str], *, wait_seconds: float = 0.0
) -> SyncRun:
    """Run ``run`` (already saved) over ``units`` x ``kinds`` and save the outcome.
    With ``wait_seconds``, a scope another run holds is polled until it frees up (or
    the deadline passes, and the run is skipped)."""
    now = timezone.now()
    run.started_at = now
    run.status = SyncRun.Status.RUNNING
    run.save(update_fields=["started_at", "status"])
    lease_keys = [(u.account.account_id, u.region, k) for u in units for k in kinds]
    deadline = time.monotonic() + max(0.0, wait_seconds)
    holder = leases.claim(run, lease_keys)
    while holder is not None and time.monotonic() < deadline:
        # Polling a row with a deadline: the holder may be in another process.
        threading.Event().wait(min(LEASE_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
        holder = leases.claim(run, lease_keys)
    if holder is not None:
        run.status = SyncRun.Status.SKIPPED
        other = f"SyncRun {holder.holder_id}" if holder.holder_id else "another sync"
        run.message = (
            f"{other} is syncing {holder.account_id}/{holder.region}/{holder.kind}; "
            "this run was skipped"
        )
        run.finished_at = timezone.now()
        run.save(update_fields=["status", "message", "finished_at"])
        return run

    stats = aws.CallStats()
    state = RunState()
    try:
        _run_units(run, units, kinds, stats, state)
        if "*" not in state.errors:
            # Before release: the leases still name this run as their holder.
            failed = [tuple(key.split("/", 2)) for key in state.errors]
            leases.record_success(run, failed)  # type: ignore[arg-type]
    except Exception as exc:
        log.exception("sync run %s failed", run.pk)
        state.errors["*"] = describe_error(exc)
        run.message = f"The run stopped: {describe_error(exc)}"
    finally:
        leases.release(run)
    run.counts = state.counts
    run.errors = state.errors
    run.api_calls = stats.api_calls
    run.throttle_retries = stats.throttle_retries
    run.paced_seconds = round(stats.paced_seconds, 3)
    if not state.errors:
        run.status = SyncRun.Status.SUCCEEDED
    elif state.parts_ok and "*" not in state.errors:
        run.status = SyncRun.Status.PARTIAL
    else:
        run.status = SyncRun.Status.FAILED
    run.finished_at = timezone.now()
    run.save()
    return run


def _run_units(
    run: SyncRun, units: list[Unit], kinds: list[str], stats: aws.CallStats, state: RunState
) -> None:
    if not units:
        return
    events: queue.Queue = queue.Queue(maxsize=64)
    stop = threading.Event()

    def put(item: tuple[int, str, Any]) -> None:
        # Bounded queue: fetchers wait for a slow writer instead of piling up memory,
        # and give up if the writer has stopped.
        while True:
            try:
                events.put(item, timeout=0.2)
                return
            except queue.Full:
                if stop.is_set():
                    raise _Stopped from None

    writer = Writer(units, state)
    renew_every = leases.lease_seconds() / 3
    renewed = time.monotonic()
    workers = max(1, min(int(settings.SYNC_MAX_WORKERS), len(units)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sync") as pool:
        try:
            for index, unit in enumerate(units):
                pool.submit(_fetch_unit, index, unit, kinds, stats, put)
            remaining = len(units)
            while remaining:
                index, kind, event = events.get()
                if event is UNIT_DONE:
                    remaining -= 1
                    if remaining:
                        # Progress for pages polling the run (one bookkeeping UPDATE).
                        run.counts = writer.counts_so_far()
                        run.api_calls = stats.api_calls
                        run.errors = dict(state.errors)
                        run.save(update_fields=["counts", "api_calls", "errors"])
                    continue
                writer.handle(index, kind, event)
                if time.monotonic() - renewed > renew_every:
                    leases.renew(run)
                    renewed = time.monotonic()
        finally:
            stop.set()
    writer.collect_counts()

    unit_keys = [(u.account.pk, u.region) for u in units]
    # Link writes count as updates of the linked rows' kind.
    if "instances" in kinds and (n := links.link_replicas(unit_keys)):
        state.add("instances", {"updated": n})
    if ("clusters" in kinds or "global_clusters" in kinds) and (
        n := links.link_global_clusters(unit_keys)
    ):
        state.add("clusters", {"updated": n})
    if "clusters" in kinds and (n := links.link_clones(unit_keys)):
        state.add("clusters", {"updated": n})
