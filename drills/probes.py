"""Client-side availability probes used by drills.

A probe opens a *new* connection for every sample — what an application's reconnect
sees during a failover — and records (when, ok, latency, error). Kinds:

* ``tcp``: a TCP connect to host:port;
* ``postgres``: connect with psycopg and run ``SELECT 1``;
* ``mysql``: connect with PyMySQL and run ``SELECT 1``;
* ``redis``: ``PING`` (Redis or Valkey).

Credentials for SQL probes are resolved when the probe starts and live only in this
process's memory: either a Secrets Manager secret (read through ``estate.aws``) or a
DSN from an environment variable whose *name* is in the drill options. Neither the
secret nor the DSN is ever stored in the database.

``run_probe`` samples every ``interval`` seconds until ``should_stop()`` says so or
its deadline passes, handing samples to ``sink`` in batches (stored in bulk). Waiting
between samples is the one legitimate wait in Estate: it runs in its own Celery queue
(``probes``) and waits on an Event, so stopping it is immediate.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from django.utils import timezone

KINDS = ("tcp", "postgres", "mysql", "redis")
DEFAULT_INTERVAL = 0.2
DEFAULT_TIMEOUT = 1.0


class ProbeConfigError(ValueError):
    """A probe's settings are unusable (said before any sample is taken)."""


@dataclass(frozen=True)
class ProbeTarget:
    """Where and how to probe. ``label`` tells endpoints apart ("direct", "proxy")."""

    host: str
    port: int
    kind: str = "tcp"
    label: str = "direct"
    timeout: float = DEFAULT_TIMEOUT
    # SQL probes: credentials come from one of these, never from the database.
    dsn_env: str = ""
    secret_arn: str = ""
    database: str = ""
    user: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ProbeConfigError(f"Unknown probe kind {self.kind!r}; use one of {KINDS}.")
        if not self.host:
            raise ProbeConfigError(f"Probe {self.label!r} has no host.")
        if not (0 < int(self.port) < 65536):
            raise ProbeConfigError(f"Probe {self.label!r} has an invalid port {self.port!r}.")
        if self.timeout <= 0:
            raise ProbeConfigError("A probe timeout must be positive.")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> ProbeTarget:
        """Build from a drill's JSON options (keys as the fields)."""
        allowed = set(cls.__dataclass_fields__)
        unknown = set(options) - allowed
        if unknown:
            raise ProbeConfigError(f"Unknown probe option(s): {', '.join(sorted(unknown))}.")
        try:
            return cls(**{**options, "port": int(options.get("port") or 0)})
        except TypeError as exc:
            raise ProbeConfigError(str(exc)) from exc

    def as_options(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class Sample:
    at: datetime
    ok: bool
    latency_ms: float | None
    error: str = ""


# --- credentials ---------------------------------------------------------------------


@dataclass(frozen=True)
class Credentials:
    user: str = ""
    password: str = ""
    database: str = ""
    # A full DSN (from the environment) wins over the parts.
    dsn: str = field(default="", repr=False)

    def __repr__(self) -> str:  # never print a password
        return f"Credentials(user={self.user!r}, database={self.database!r})"


def resolve_credentials(
    target: ProbeTarget, *, account: Any = None, region: str = ""
) -> Credentials | None:
    """Credentials for a SQL probe, or None for probes that need none.

    ``dsn_env`` names an environment variable holding a DSN; ``secret_arn`` names a
    Secrets Manager secret with ``username``/``password`` (the RDS-managed format),
    read with the account's role. A SQL probe with neither still runs, as the
    configured ``user`` without a password (trust/IAM-less setups, tests)."""
    if target.kind not in ("postgres", "mysql"):
        return None
    if target.dsn_env:
        dsn = os.environ.get(target.dsn_env, "")
        if not dsn:
            raise ProbeConfigError(
                f"The environment variable {target.dsn_env} (named in the drill options) "
                "is not set in the probe worker."
            )
        return Credentials(dsn=dsn)
    if target.secret_arn:
        if account is None:
            raise ProbeConfigError("A Secrets Manager ARN needs the target's account.")
        from estate import aws

        region = region or target.secret_arn.split(":")[3]
        client = aws.client(account, region, "secretsmanager")
        raw = aws.call(client, "get_secret_value", SecretId=target.secret_arn)
        try:
            secret = json.loads(raw.get("SecretString") or "{}")
        except json.JSONDecodeError as exc:
            raise ProbeConfigError("The secret is not JSON with username/password.") from exc
        return Credentials(
            user=secret.get("username", ""),
            password=secret.get("password", ""),
            database=target.database or secret.get("dbname", ""),
        )
    return Credentials(user=target.user, database=target.database)


# --- one sample ----------------------------------------------------------------------


def _tcp(target: ProbeTarget, creds: Credentials | None) -> None:
    with socket.create_connection((target.host, target.port), timeout=target.timeout):
        pass


def _postgres(target: ProbeTarget, creds: Credentials | None) -> None:
    import psycopg

    creds = creds or Credentials()
    if creds.dsn:
        conn = psycopg.connect(creds.dsn, connect_timeout=max(1, round(target.timeout)))
    else:
        conn = psycopg.connect(
            host=target.host,
            port=target.port,
            user=creds.user or "postgres",
            password=creds.password or None,
            dbname=creds.database or "postgres",
            # libpq's connect_timeout is whole seconds (min 2 in practice); the socket
            # options below bound a stalled read instead.
            connect_timeout=max(1, round(target.timeout)),
            options=f"-c statement_timeout={int(target.timeout * 1000)}",
        )
    try:
        conn.execute("SELECT 1").fetchone()
    finally:
        conn.close()


def _mysql(target: ProbeTarget, creds: Credentials | None) -> None:
    import pymysql

    creds = creds or Credentials()
    kwargs: dict[str, Any]
    if creds.dsn:
        kwargs = _mysql_dsn(creds.dsn)
    else:
        kwargs = {
            "host": target.host,
            "port": target.port,
            "user": creds.user or "root",
            "password": creds.password,
            "database": creds.database or None,
        }
    conn = pymysql.connect(
        connect_timeout=target.timeout,
        read_timeout=target.timeout,
        write_timeout=target.timeout,
        **kwargs,
    )
    try:
        with conn.cursor() as cur:
            cur.execute("SELECT 1")
            cur.fetchone()
    finally:
        conn.close()


def _mysql_dsn(dsn: str) -> dict[str, Any]:
    from urllib.parse import unquote, urlsplit

    parts = urlsplit(dsn)
    if parts.scheme not in ("mysql", "mariadb"):
        raise ProbeConfigError("A MySQL DSN must start with mysql://")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 3306,
        "user": unquote(parts.username or ""),
        "password": unquote(parts.password or ""),
        "database": parts.path.lstrip("/") or None,
    }


def _redis(target: ProbeTarget, creds: Credentials | None) -> None:
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    client = redis.Redis(
        host=target.host,
        port=target.port,
        socket_connect_timeout=target.timeout,
        socket_timeout=target.timeout,
        single_connection_client=True,
        # redis-py retries by default; a probe must see every failure as it happens.
        retry=Retry(NoBackoff(), 0),
    )
    try:
        if not client.ping():
            raise ConnectionError("PING did not answer PONG")
    finally:
        client.close()


_RUNNERS: dict[str, Callable[[ProbeTarget, Credentials | None], None]] = {
    "tcp": _tcp,
    "postgres": _postgres,
    "mysql": _mysql,
    "redis": _redis,
}


def _short(exc: BaseException) -> str:
    text = (
        f"{type(exc).__name__}: {exc}".strip().splitlines()[0] if str(exc) else type(exc).__name__
    )
    return text[:240]


def probe_once(target: ProbeTarget, creds: Credentials | None = None) -> Sample:
    """One sample: the wall-clock time the attempt began, whether it worked, and how
    long it took (failures keep their latency too: a timeout is information)."""
    at = timezone.now()
    started = time.perf_counter()
    try:
        _RUNNERS[target.kind](target, creds)
    except Exception as exc:  # every failure is a failed sample, never a crash
        return Sample(at, False, (time.perf_counter() - started) * 1000, _short(exc))
    return Sample(at, True, (time.perf_counter() - started) * 1000)


# --- a run ---------------------------------------------------------------------------


def run_probe(
    target: ProbeTarget,
    sink: Callable[[list[Sample]], None],
    *,
    interval: float = DEFAULT_INTERVAL,
    max_seconds: float = 600.0,
    should_stop: Callable[[], bool] = lambda: False,
    stop_event: threading.Event | None = None,
    creds: Credentials | None = None,
    flush_seconds: float = 1.0,
) -> int:
    """Sample every ``interval`` s until ``stop_event`` is set, ``should_stop()`` is
    true (checked at each flush: it may read the database) or ``max_seconds`` pass.
    Samples start on a fixed grid (a slow sample does not shift the next ones).
    Returns the number of samples taken."""
    if interval <= 0:
        raise ProbeConfigError("The probe interval must be positive.")
    stop_event = stop_event or threading.Event()
    start = time.monotonic()
    deadline = start + max_seconds
    buffer: list[Sample] = []
    taken = 0
    next_flush = start + flush_seconds
    tick = 0
    try:
        while not stop_event.is_set():
            now = time.monotonic()
            if now >= deadline:
                break
            buffer.append(probe_once(target, creds))
            taken += 1
            if time.monotonic() >= next_flush:
                sink(buffer)
                buffer = []
                next_flush = time.monotonic() + flush_seconds
                if should_stop():
                    break
            tick += 1
            due = start + tick * interval
            late = time.monotonic() - due
            if late > 0:
                # A sample took longer than the interval: skip the missed slots.
                tick += int(late // interval) + 1
                due = start + tick * interval
            stop_event.wait(max(0.0, due - time.monotonic()))
    finally:
        if buffer:
            sink(buffer)
    return taken


# --- what the samples say ------------------------------------------------------------


@dataclass(frozen=True)
class Summary:
    samples: int
    failed: int
    # First failed sample to the first success after the last failure (None: no outage).
    downtime_seconds: float | None
    first_failure_at: datetime | None
    recovered_at: datetime | None
    max_latency_ms: float | None
    p50_latency_ms: float | None
    baseline_latency_ms: float | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "samples": self.samples,
            "failed": self.failed,
            "downtime_seconds": self.downtime_seconds,
            "first_failure_at": self.first_failure_at.isoformat()
            if self.first_failure_at
            else None,
            "recovered_at": self.recovered_at.isoformat() if self.recovered_at else None,
            "max_latency_ms": self.max_latency_ms,
            "p50_latency_ms": self.p50_latency_ms,
            "baseline_latency_ms": self.baseline_latency_ms,
        }


def _median(values: Sequence[float]) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def summarize(
    samples: Iterable[Sample],
    *,
    baseline_until: datetime | None = None,
    now: datetime | None = None,
) -> Summary:
    """Client-observed downtime: from the first failed sample to the first success
    after the last failure. A probe that never recovered counts until ``now`` (or its
    last sample)."""
    ordered = sorted(samples, key=lambda s: s.at)
    failures = [s for s in ordered if not s.ok]
    ok_latencies = [s.latency_ms for s in ordered if s.ok and s.latency_ms is not None]
    baseline = [
        s.latency_ms
        for s in ordered
        if s.ok and s.latency_ms is not None and baseline_until and s.at <= baseline_until
    ]
    first_failure = failures[0].at if failures else None
    recovered: datetime | None = None
    downtime: float | None = None
    if failures:
        last_failure = failures[-1].at
        recovered = next((s.at for s in ordered if s.ok and s.at > last_failure), None)
        end = recovered or now or ordered[-1].at
        downtime = max(0.0, (end - first_failure).total_seconds())
    return Summary(
        samples=len(ordered),
        failed=len(failures),
        downtime_seconds=downtime,
        first_failure_at=first_failure,
        recovered_at=recovered,
        max_latency_ms=max(ok_latencies) if ok_latencies else None,
        p50_latency_ms=_median(ok_latencies),
        baseline_latency_ms=_median(baseline),
    )


def consecutive_successes(samples: Sequence[Sample]) -> int:
    """How many of the newest samples in a row succeeded."""
    count = 0
    for sample in sorted(samples, key=lambda s: s.at, reverse=True):
        if not sample.ok:
            break
        count += 1
    return count


def postgres_dsn(host: str, port: int, user: str, database: str) -> str:
    """A passwordless DSN (for tests and docs; real DSNs come from the environment)."""
    return f"postgresql://{quote(user)}@{host}:{port}/{quote(database)}"


def since(samples: Sequence[Sample], seconds: float) -> list[Sample]:
    cutoff = timezone.now() - timedelta(seconds=seconds)
    return [s for s in samples if s.at >= cutoff]
