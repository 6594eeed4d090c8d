"""One API budget per account, region and service, shared by every Estate process.

AWS gives each account and region one token bucket per API (RDS: burst 300, 12
requests/s), shared with the console, Terraform and every other tool the customer runs.
Estate spends only its **share** of it (``AWS_RATE_SHARE``, default 0.5).

* With ``REDIS_URL`` the bucket lives in Redis: one atomic Lua script refills and takes
  a token, on Redis's own clock (``TIME``), so every web, worker and beat process on
  every machine draws from the same bucket. A hand-written script rather than a
  library: it is twenty lines, needs the adaptive factor and the priority floor below
  in the same atomic step, and adds no dependency (pyrate-limiter's Redis bucket has
  neither).
* Without Redis (the demo), or while Redis is unreachable, each process paces itself
  with a local bucket scaled down by ``AWS_PACER_PROCESSES`` (how many processes share
  the budget), so even then the whole deployment stays inside its share. The fallback
  is logged once and shown on the Syncs page; calls are never unpaced and never fail
  because of it. Redis is tried again after ``RETRY_REDIS_SECONDS``.
* **Priorities.** An operation's call (``URGENT``) may take the last tokens; a
  background call (sync, metrics) leaves a reserve of ``RESERVE_FRACTION`` of the
  burst for them, so a failover never queues behind a 10,000-instance sync. A
  background caller that has waited ``AGING_SECONDS`` is served as urgent: nobody
  starves.
* **Adaptive.** A throttle that still happens (the customer's other tools spent the
  budget) halves the bucket's rate for everyone (down to ``MIN_FACTOR``); after
  ``RECOVER_AFTER_SECONDS`` without throttles it recovers by ``RECOVER_PER_SECOND``
  per second. Throttles are counted per account, region and service.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

log = logging.getLogger(__name__)

URGENT = "urgent"
BACKGROUND = "background"

RESERVE_FRACTION = 0.2
AGING_SECONDS = 5.0
MIN_FACTOR = 0.1
RECOVER_AFTER_SECONDS = 30.0
RECOVER_PER_SECOND = 0.01
RETRY_REDIS_SECONDS = 10.0
# The longest a caller waits between two tries (a large wait is re-checked: an urgent
# caller may have been given the tokens meanwhile, or the factor recovered).
MAX_NAP_SECONDS = 1.0

# AWS's budgets per service: (burst, refill per second), with where the figure comes
# from. Estate spends AWS_RATE_SHARE of each. Override any with AWS_BUDGETS.
DEFAULT_BUDGETS: dict[str, tuple[float, float, str]] = {
    "rds": (300, 12.0, "RDS API throttling quotas: 300 burst, 12/s per account and region"),
    # ElastiCache, DMS, STS and the tagging API do not publish a bucket; AWS documents
    # throttling per account and region. Figures at or below RDS's, measured safe.
    "elasticache": (100, 10.0, "not published by AWS; conservative"),
    "dms": (100, 10.0, "not published by AWS; conservative"),
    "sts": (100, 10.0, "not published by AWS; conservative"),
    "resourcegroupstaggingapi": (50, 5.0, "not published by AWS; conservative"),
    "cloudwatch": (50, 50.0, "CloudWatch GetMetricData: 50 TPS per account and region"),
    "ec2": (100, 20.0, "EC2 Describe* request-rate limit (token bucket), lower bound"),
    "secretsmanager": (100, 50.0, "Secrets Manager GetSecretValue: 10,000/s; kept low"),
}

_TAKE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local cap = tonumber(ARGV[1])
local rate = tonumber(ARGV[2])
local floor = tonumber(ARGV[3])
local b = redis.call('HMGET', KEYS[1], 'tokens', 'ts', 'factor', 'throttled_at')
local factor = tonumber(b[3]) or 1
local quiet = now - (tonumber(b[4]) or 0) - tonumber(ARGV[5])
if quiet > 0 then factor = math.min(1, factor + quiet * tonumber(ARGV[6])) end
local r = rate * factor
local tokens = tonumber(b[1])
local ts = tonumber(b[2])
if tokens == nil then tokens = cap; ts = now end
tokens = math.min(cap, tokens + math.max(0, now - ts) * r)
local wait = 0
if tokens - 1 >= floor then
  tokens = tokens - 1
else
  wait = (floor + 1 - tokens) / r
end
redis.call('HSET', KEYS[1], 'tokens', tokens, 'ts', now)
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return tostring(wait)
"""

_THROTTLED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local b = redis.call('HMGET', KEYS[1], 'factor', 'throttled_at')
local factor = tonumber(b[1]) or 1
local quiet = now - (tonumber(b[2]) or 0) - tonumber(ARGV[2])
if quiet > 0 then factor = math.min(1, factor + quiet * tonumber(ARGV[3])) end
factor = math.max(tonumber(ARGV[1]), factor / 2)
redis.call('HSET', KEYS[1], 'factor', factor, 'throttled_at', now)
redis.call('EXPIRE', KEYS[1], 86400)
redis.call('HINCRBY', KEYS[2], ARGV[4], 1)
return tostring(factor)
"""


@dataclass(frozen=True)
class Budget:
    """Estate's share of one AWS bucket."""

    burst: float
    rate: float

    @property
    def reserve(self) -> float:
        return max(1.0, self.burst * RESERVE_FRACTION) if self.burst >= 2 else 0.0


def budget_for(service: str) -> Budget:
    """Estate's share of ``service``'s bucket (RDS's bucket for unknown services)."""
    overrides: dict[str, Any] = getattr(settings, "AWS_BUDGETS", {}) or {}
    if service in overrides:
        burst, rate = overrides[service][0], overrides[service][1]
    elif service == "rds" or service not in DEFAULT_BUDGETS:
        # AWS_RATE_BURST / AWS_RATE_PER_SECOND are the RDS bucket's (older setting).
        burst, rate = settings.AWS_RATE_BURST, settings.AWS_RATE_PER_SECOND
    else:
        burst, rate = DEFAULT_BUDGETS[service][:2]
    share = float(getattr(settings, "AWS_RATE_SHARE", 0.5))
    return Budget(max(1.0, float(burst) * share), max(0.001, float(rate) * share))


# --- the local fallback ----------------------------------------------------------------


class TokenBucket:
    """A thread-safe token bucket: ``acquire`` blocks until a token is free."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._tokens = capacity
        self._updated = time.monotonic()
        self._cond = threading.Condition()
        self.factor = 1.0
        self._throttled_at = float("-inf")

    def _refill(self, now: float) -> None:
        quiet = now - self._throttled_at - RECOVER_AFTER_SECONDS
        if quiet > 0 and self.factor < 1:
            self.factor = min(1.0, self.factor + quiet * RECOVER_PER_SECOND)
            self._throttled_at = now - RECOVER_AFTER_SECONDS
        rate = self.rate * self.factor
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * rate)
        self._updated = now

    def take(self, floor: float = 0.0) -> float:
        """Take a token if more than ``floor`` remain: 0, or the seconds to wait."""
        with self._cond:
            now = time.monotonic()
            self._refill(now)
            if self._tokens - 1 >= floor:
                self._tokens -= 1
                return 0.0
            return (floor + 1 - self._tokens) / (self.rate * self.factor)

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        waited = 0.0
        while True:
            delay = self.take()
            if delay <= 0:
                return waited
            with self._cond:
                # A paced caller waits here on purpose: that keeps it in its budget.
                self._cond.wait(min(delay, MAX_NAP_SECONDS))
            waited += min(delay, MAX_NAP_SECONDS)

    def throttled(self) -> None:
        with self._cond:
            self._refill(time.monotonic())
            self.factor = max(MIN_FACTOR, self.factor / 2)
            self._throttled_at = time.monotonic()


# --- the pacer -----------------------------------------------------------------------


@dataclass
class PacerState:
    """What the Syncs page shows."""

    mode: str  # "shared" (Redis), "local" (no Redis configured), "fallback" (Redis down)
    detail: str
    throttles: dict[str, int]


class Pacer:
    """Takes tokens for AWS calls; one per process (``pacer()``)."""

    def __init__(self) -> None:
        self._local: dict[tuple[str, str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        self._redis: Any = None
        self._scripts: tuple[Any, Any] | None = None
        self._redis_down_until = 0.0
        self._fallback_logged = False
        self._local_throttles: dict[str, int] = {}
        self.fallback_reason = ""

    # -- Redis ---------------------------------------------------------------------

    def _prefix(self) -> str:
        return str(getattr(settings, "AWS_PACER_KEY_PREFIX", "estate:pacer"))

    def _client(self) -> Any | None:
        url = getattr(settings, "REDIS_URL", "")
        if not url or time.monotonic() < self._redis_down_until:
            return None
        if self._redis is None:
            import redis

            client = redis.Redis.from_url(
                url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
            )
            self._scripts = (client.register_script(_TAKE), client.register_script(_THROTTLED))
            self._redis = client
        return self._redis

    def _redis_failed(self, exc: Exception) -> None:
        self._redis_down_until = time.monotonic() + RETRY_REDIS_SECONDS
        self.fallback_reason = f"Redis unreachable ({type(exc).__name__}: {exc})"[:300]
        if not self._fallback_logged:
            self._fallback_logged = True
            log.warning(
                "AWS pacing falls back to per-process buckets (1/%d of the budget each): %s",
                self._processes(),
                self.fallback_reason,
            )

    def _redis_ok(self) -> None:
        if self.fallback_reason:
            log.warning("AWS pacing: Redis is back, the shared budget applies again")
        self.fallback_reason = ""
        self._fallback_logged = False

    # -- local -----------------------------------------------------------------------

    def _processes(self) -> int:
        return max(1, int(getattr(settings, "AWS_PACER_PROCESSES", 8)))

    def _bucket(self, key: tuple[str, str, str]) -> TokenBucket:
        with self._lock:
            bucket = self._local.get(key)
            if bucket is None:
                budget = budget_for(key[2])
                # Without Redis, the processes of one deployment cannot see each other:
                # each keeps to its slice so that together they stay inside the share.
                # (The demo, with no Redis configured, runs one worker: all of it.)
                slices = self._processes() if getattr(settings, "REDIS_URL", "") else 1
                bucket = TokenBucket(budget.burst / slices, budget.rate / slices)
                self._local[key] = bucket
            return bucket

    # -- taking ----------------------------------------------------------------------

    def _take(self, key: tuple[str, str, str], floor: float, budget: Budget) -> float:
        client = self._client()
        if client is not None:
            try:
                wait = float(
                    self._scripts[0](  # type: ignore[index]
                        keys=[f"{self._prefix()}:{':'.join(key)}"],
                        args=[
                            budget.burst,
                            budget.rate,
                            floor,
                            3600,
                            RECOVER_AFTER_SECONDS,
                            RECOVER_PER_SECOND,
                        ],
                    )
                )
            except Exception as exc:  # noqa: BLE001 - any Redis failure: pace locally
                self._redis_failed(exc)
            else:
                if self.fallback_reason:
                    self._redis_ok()
                return wait
        local_floor = floor / self._processes() if getattr(settings, "REDIS_URL", "") else floor
        return self._bucket(key).take(local_floor)

    def acquire(self, account: str, region: str, service: str, priority: str = BACKGROUND) -> float:
        """Wait for a token of the account/region/service budget; the seconds waited."""
        key = (account, region, service)
        budget = budget_for(service)
        waited = 0.0
        pause = threading.Event()
        while True:
            urgent = priority == URGENT or waited >= AGING_SECONDS
            delay = self._take(key, 0.0 if urgent else budget.reserve, budget)
            if delay <= 0:
                return waited
            nap = min(delay, MAX_NAP_SECONDS)
            pause.wait(nap)  # pacing: waiting for the budget is the point
            waited += nap

    def throttled(self, account: str, region: str, service: str) -> None:
        """AWS throttled a call: halve this budget's rate for every process."""
        key = (account, region, service)
        name = ":".join(key)
        client = self._client()
        if client is not None:
            try:
                self._scripts[1](  # type: ignore[index]
                    keys=[f"{self._prefix()}:{name}", f"{self._prefix()}:throttles"],
                    args=[MIN_FACTOR, RECOVER_AFTER_SECONDS, RECOVER_PER_SECOND, name],
                )
                return
            except Exception as exc:  # noqa: BLE001 - any Redis failure: count locally
                self._redis_failed(exc)
        self._bucket(key).throttled()
        with self._lock:
            self._local_throttles[name] = self._local_throttles.get(name, 0) + 1

    def state(self) -> PacerState:
        throttles = dict(self._local_throttles)
        if not getattr(settings, "REDIS_URL", ""):
            return PacerState("local", "one process's bucket (no REDIS_URL)", throttles)
        client = self._client()
        if client is not None:
            try:
                raw = client.hgetall(f"{self._prefix()}:throttles")
            except Exception as exc:  # noqa: BLE001
                self._redis_failed(exc)
            else:
                for name, count in raw.items():
                    key = name.decode() if isinstance(name, bytes) else str(name)
                    throttles[key] = throttles.get(key, 0) + int(count)
                return PacerState("shared", "one budget in Redis for every process", throttles)
        return PacerState(
            "fallback",
            f"{self.fallback_reason or 'Redis unreachable'}: each process paces itself with "
            f"1/{self._processes()} of the budget",
            throttles,
        )

    def reset(self) -> None:
        """Forget every bucket and count (tests change the budgets)."""
        with self._lock:
            self._local.clear()
            self._local_throttles.clear()
        self._redis_down_until = 0.0
        self.fallback_reason = ""
        self._fallback_logged = False
        client = self._client() if getattr(settings, "REDIS_URL", "") else None
        if client is not None:
            try:
                keys = list(client.scan_iter(f"{self._prefix()}:*", count=500))
                if keys:
                    client.delete(*keys)
            except Exception as exc:  # noqa: BLE001 - a test without Redis reachable
                log.debug("pacer reset could not reach Redis: %s", exc)
        self._redis = None
        self._scripts = None


_pacer = Pacer()


def pacer() -> Pacer:
    return _pacer
