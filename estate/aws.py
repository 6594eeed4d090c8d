"""The only place that builds boto3 clients.

* One session per account: STS AssumeRole (with the external id when set) from Estate's
  own credentials, cached until shortly before the credentials expire; an account with
  no role uses the default credential chain.
* Per-region clients with an explicit botocore Config: retry mode "adaptive", connect
  and read timeouts, and ``AWS_ENDPOINT_URL`` honoured for the sandbox.
* A token-bucket pacer per account, region and service, sized like AWS's documented RDS
  API bucket (burst 300, refill 12/s), so that a full sync stays inside the bucket
  instead of provoking ``ThrottlingException`` and backing off.
* ``ClientError`` and friends become a few errors of our own; nothing outside this
  module catches raw botocore errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import botocore.exceptions
import botocore.parsers
import botocore.session
import botocore.utils
from botocore.config import Config
from django.conf import settings

# Credentials the sandbox accepts; only ever used when AWS_ENDPOINT_URL is set and no
# other credentials are configured.
SANDBOX_ACCESS_KEY = "testing"
SANDBOX_SECRET_KEY = "testing"

THROTTLE_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "RequestThrottled",
    "RequestThrottledException",
    "TooManyRequestsException",
    "SlowDown",
    "Rate exceeded",
}
ACCESS_DENIED_CODES = {
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "AuthFailure",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "ExpiredToken",
    "ExpiredTokenException",
    "NotAuthorized",
}


# --- Errors --------------------------------------------------------------------------


class AwsError(Exception):
    """An AWS call failed. ``code`` and ``message`` are AWS's, verbatim."""

    hint = ""

    def __init__(self, code: str, message: str, operation: str = "") -> None:
        self.code = code
        self.message = message
        self.operation = operation
        super().__init__(f"{code}: {message}" if message else code)


class AwsThrottled(AwsError):
    hint = "AWS is rate-limiting this account and region; the request can be retried later."


class AwsNotFound(AwsError):
    hint = "The resource no longer exists in AWS; a sync will mark it gone."


class AwsAccessDenied(AwsError):
    hint = "Estate's role in this account lacks the IAM permission for this action."


class AwsInvalidState(AwsError):
    hint = "The resource is not in a state that allows this; wait until it is available."


class AwsUnavailable(AwsError):
    """Endpoint unreachable, a 5xx, or an answer botocore could not parse (what the
    sandbox returns for an API moto does not implement)."""

    hint = "AWS (or the sandbox) did not answer usefully; try again later."


class AwsAmbiguous(AwsUnavailable):
    """A mutating call was sent but no usable answer came back (read timeout, the
    connection dropped, a 5xx): AWS may or may not have applied it. Never resent
    blindly: the caller re-describes the target to find out."""

    hint = (
        "AWS may have applied the call: check the resource in the AWS console before asking again."
    )


# Operation names (boto3's snake_case) that only read. Everything else changes
# something in AWS and is sent at most once per attempt of a step (no botocore retry).
READ_PREFIXES = ("describe_", "list_", "get_", "download_", "test_", "validate_")
# ElastiCache TestFailover really moves the primary, despite its prefix.
MUTATING_DESPITE_PREFIX = frozenset({"test_failover"})


def is_mutating(operation: str) -> bool:
    """Does this boto3 operation change something in AWS?"""
    if operation in MUTATING_DESPITE_PREFIX:
        return True
    return not operation.startswith(READ_PREFIXES)


def _classify(code: str, status: int | None) -> type[AwsError]:
    if code in THROTTLE_CODES or "Throttl" in code:
        return AwsThrottled
    if code in ACCESS_DENIED_CODES:
        return AwsAccessDenied
    if "NotFound" in code or code.endswith("NotFoundFault") or code == "NoSuchEntity":
        return AwsNotFound
    if "InvalidState" in code or ("Invalid" in code and "State" in code):
        return AwsInvalidState
    if status is not None and status >= 500:
        return AwsUnavailable
    return AwsError


def translate(exc: Exception, operation: str = "", *, mutating: bool = False) -> AwsError:
    """Our error for a botocore exception. For a ``mutating`` call, an error after which
    AWS may have applied it is ``AwsAmbiguous``; one where the request never left
    (no connection) or was refused stays what it is."""
    if isinstance(exc, AwsError):
        return exc
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code", "Unknown"))
        message = str(error.get("Message", ""))
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        op = operation or getattr(exc, "operation_name", "")
        error_class = _classify(code, status)
        if mutating and error_class is AwsUnavailable:
            # A 5xx (InternalFailure, ServiceUnavailable): AWS does not say whether it
            # acted before failing.
            error_class = AwsAmbiguous
        return error_class(code, message, op)
    if isinstance(exc, botocore.parsers.ResponseParserError):
        error_class = AwsAmbiguous if mutating else AwsUnavailable
        return error_class("Unparseable", str(exc).splitlines()[0][:500], operation)
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        # HTTPClientError covers ReadTimeoutError and ConnectionClosedError: the request
        # was sent. ConnectionError (connect timeout, endpoint unreachable) means it
        # never left this machine, which is safe to send again.
        sent = isinstance(exc, botocore.exceptions.HTTPClientError) and not isinstance(
            exc, botocore.exceptions.ConnectionError
        )
        error_class = AwsAmbiguous if mutating and sent else AwsUnavailable
        return error_class(type(exc).__name__, str(exc), operation)
    raise exc


@contextmanager
def translated(operation: str = "", *, mutating: bool = False) -> Iterator[None]:
    """Run AWS calls, turning botocore errors into ours."""
    try:
        yield
    except (
        botocore.exceptions.ClientError,
        botocore.exceptions.BotoCoreError,
        # Not a BotoCoreError: what an HTML 500 (an API the sandbox lacks) raises.
        botocore.parsers.ResponseParserError,
    ) as exc:
        raise translate(exc, operation, mutating=mutating) from exc


# --- Pacing and call accounting ------------------------------------------------------


class TokenBucket:
    """A thread-safe token bucket: ``acquire`` blocks until a token is free."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self._tokens = capacity
        self._updated = time.monotonic()
        self._cond = threading.Condition()

    def _refill(self, now: float) -> None:
        self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        waited = 0.0
        with self._cond:
            while True:
                now = time.monotonic()
                self._refill(now)
                if self._tokens >= 1:
                    self._tokens -= 1
                    return waited
                delay = (1 - self._tokens) / self.rate
                # A paced sync worker waits here on purpose: that is what keeps it
                # inside AWS's bucket. Other threads may take tokens meanwhile.
                self._cond.wait(delay)
                waited += delay


_buckets: dict[tuple[str, str, str], TokenBucket] = {}
_buckets_lock = threading.Lock()


def bucket_for(account_key: str, region: str, service: str) -> TokenBucket:
    key = (account_key, region, service)
    with _buckets_lock:
        bucket = _buckets.get(key)
        if bucket is None:
            bucket = TokenBucket(settings.AWS_RATE_BURST, settings.AWS_RATE_PER_SECOND)
            _buckets[key] = bucket
        return bucket


def reset_pacers() -> None:
    """Forget every bucket (tests change the rate settings)."""
    with _buckets_lock:
        _buckets.clear()


@dataclass
class CallStats:
    """Counts what a unit of work (a SyncRun, an operation step) asked of AWS."""

    api_calls: int = 0
    throttle_retries: int = 0
    paced_seconds: float = 0.0
    by_operation: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count_call(self, operation: str, waited: float) -> None:
        with self._lock:
            self.api_calls += 1
            self.paced_seconds += waited
            self.by_operation[operation] = self.by_operation.get(operation, 0) + 1

    def count_throttle(self) -> None:
        with self._lock:
            self.throttle_retries += 1


# --- Sessions and clients ------------------------------------------------------------


@dataclass(frozen=True)
class AccountRef:
    """What aws.py needs to know of an account (decoupled from the ORM row)."""

    account_id: str
    role_arn: str = ""
    external_id: str = ""

    @classmethod
    def of(cls, account: Any) -> AccountRef:
        if isinstance(account, AccountRef):
            return account
        return cls(account.account_id, account.role_arn or "", account.external_id or "")


_session_cache: dict[AccountRef, tuple[boto3.Session, datetime | None]] = {}
_session_lock = threading.Lock()
_client_lock = threading.Lock()


_base: dict[str, boto3.Session] = {}


def parse_timestamp(value: Any) -> datetime:
    """botocore's timestamp parser, with ISO 8601 times that carry their zone (what AWS
    sends) parsed by the standard library: dateutil's general parser was ~10 % of the
    client's CPU per describe. Anything else goes to botocore's parser."""
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            parsed = None
        if parsed is not None and parsed.tzinfo is not None:
            return parsed
    return botocore.utils.parse_timestamp(value)


def _tuned(session: boto3.Session) -> boto3.Session:
    session._session.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=parse_timestamp
    )
    return session


def _base_session() -> boto3.Session:
    """The process's session on the default credential chain (the sandbox's keys when
    it has none), built once per endpoint: a boto3 session costs ~100 ms of CPU to
    build (event handlers, and the service models it parses from JSON anew)."""
    endpoint = settings.AWS_ENDPOINT_URL or ""
    with _session_lock:
        cached = _base.get(endpoint)
        if cached is not None:
            return cached
    session = boto3.Session()
    if endpoint and session.get_credentials() is None:
        session = boto3.Session(
            aws_access_key_id=SANDBOX_ACCESS_KEY,
            aws_secret_access_key=SANDBOX_SECRET_KEY,
        )
    with _session_lock:
        return _base.setdefault(endpoint, _tuned(session))


def _assumed_session(creds: dict[str, Any]) -> boto3.Session:
    """A session with an assumed role's credentials, sharing the base session's model
    loader: each account's session would otherwise parse every service model again."""
    core = botocore.session.Session()
    core.register_component("data_loader", _base_session()._session.get_component("data_loader"))
    return _tuned(
        boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
            botocore_session=core,
        )
    )


def botocore_config(**overrides: Any) -> Config:
    options: dict[str, Any] = {
        "retries": {"mode": "adaptive", "max_attempts": settings.AWS_MAX_ATTEMPTS},
        "connect_timeout": settings.AWS_CONNECT_TIMEOUT,
        "read_timeout": settings.AWS_READ_TIMEOUT,
        "max_pool_connections": 20,
    }
    options.update(overrides)
    return Config(**options)


def session_for(account: Any) -> boto3.Session:
    """A boto3 session acting in ``account``: assumed role (cached) or default chain."""
    ref = AccountRef.of(account)
    if not ref.role_arn:
        return _base_session()
    now = datetime.now(UTC)
    with _session_lock:
        cached = _session_cache.get(ref)
        if cached and (cached[1] is None or cached[1] - now > timedelta(minutes=5)):
            return cached[0]
    base = _base_session()
    with _client_lock:  # the base session is shared: build its clients one at a time
        sts = base.client(
            "sts",
            region_name="us-east-1",
            endpoint_url=settings.AWS_ENDPOINT_URL or None,
            config=botocore_config(),
        )
    kwargs: dict[str, Any] = {
        "RoleArn": ref.role_arn,
        "RoleSessionName": settings.AWS_ROLE_SESSION_NAME,
    }
    if ref.external_id:
        kwargs["ExternalId"] = ref.external_id
    with translated("AssumeRole"):
        creds = sts.assume_role(**kwargs)["Credentials"]
    session = _assumed_session(creds)
    expiry = creds.get("Expiration")
    with _session_lock:
        _session_cache[ref] = (session, expiry)
    return session


def forget_sessions() -> None:
    with _session_lock:
        _session_cache.clear()
        _base.clear()


# A mutating call is sent once per attempt of a step: botocore retries a timed-out
# request, and when AWS applied it but answered late that repeats the mutation (a
# second failover is a second outage). Throttled and unreachable calls are retried by
# the operation engine instead, after the step re-describes its target.
MUTATING_RETRIES = {"mode": "standard", "total_max_attempts": 1}


def client(
    account: Any,
    region: str,
    service: str,
    *,
    stats: CallStats | None = None,
    paced: bool = True,
    mutating: bool = False,
) -> Any:
    """A boto3 client for ``service`` in ``account`` and ``region``.

    Every HTTP attempt (retries included) takes a token from the account/region/service
    bucket when ``paced``, and is counted in ``stats`` when given. A ``mutating``
    client makes one attempt per call (see ``MUTATING_RETRIES``); reads keep adaptive
    retries.
    """
    ref = AccountRef.of(account)
    session = session_for(ref)
    config = botocore_config(retries=MUTATING_RETRIES) if mutating else botocore_config()
    # boto3 sessions are not thread-safe while they build clients (shared loaders and
    # credential resolution); sync builds them from several threads at once.
    with _client_lock:
        boto_client = session.client(
            service,
            region_name=region,
            endpoint_url=settings.AWS_ENDPOINT_URL or None,
            config=config,
        )
    # aws.call refuses a mutating operation on a client that would retry it.
    boto_client._estate_mutating = mutating
    bucket = bucket_for(ref.account_id, region, service) if paced else None

    def before_send(request: Any = None, **kwargs: Any) -> None:
        waited = bucket.acquire() if bucket is not None else 0.0
        if stats is not None:
            operation = str(kwargs.get("event_name", "")).rsplit(".", 1)[-1]
            stats.count_call(operation, waited)

    def needs_retry(response: Any = None, **kwargs: Any) -> None:
        # Registered first so that it sees every response before the retry handler,
        # which stops the event chain when it decides to retry.
        if stats is None or not response:
            return
        error = response[1].get("Error", {}) if isinstance(response[1], dict) else {}
        code = str(error.get("Code", ""))
        if code in THROTTLE_CODES or "Throttl" in code:
            stats.count_throttle()

    events = boto_client.meta.events
    events.register(
        f"before-send.{boto_client.meta.service_model.service_id.hyphenize()}", before_send
    )
    events.register_first(
        f"needs-retry.{boto_client.meta.service_model.service_id.hyphenize()}", needs_retry
    )
    return boto_client


def paginate(boto_client: Any, operation: str, result_key: str, **kwargs: Any) -> Iterator[dict]:
    """Yield every item of a paginated list call, with our errors."""
    paginator = boto_client.get_paginator(operation)
    with translated(operation):
        for page in paginator.paginate(**kwargs):
            yield from page.get(result_key, [])


def call(boto_client: Any, operation: str, **kwargs: Any) -> dict:
    """One AWS call with our errors: ``call(rds, "describe_db_clusters", ...)``. A
    mutating call that may have been applied without a usable answer raises
    ``AwsAmbiguous``."""
    mutating = is_mutating(operation)
    if mutating and not getattr(boto_client, "_estate_mutating", False):
        raise RuntimeError(
            f"{operation} changes AWS: call it on a client from "
            "aws.client(..., mutating=True), which never retries it blindly"
        )
    with translated(operation, mutating=mutating):
        return getattr(boto_client, operation)(**kwargs)
