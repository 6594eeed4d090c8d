"""Faults the sandbox can inject in front of moto: AWS's API throttling and IAM denials.

``FaultInjector`` is a WSGI middleware wrapped around moto's application. Each request
is attributed the way AWS attributes it:

* the **account** from the request's access key (moto maps the keys it handed out on
  ``AssumeRole`` to the role's account; unknown keys act in moto's default account),
* the **region** and **service** from the SigV4 credential scope of the
  ``Authorization`` header (``Credential=AKID/20261127/eu-west-1/rds/aws4_request``),
* the **action** from ``X-Amz-Target`` (JSON protocol, e.g. DMS) or from the
  ``Action`` field of the query/form body (query protocol, e.g. RDS, ElastiCache).

Throttling enforces AWS's documented RDS API token bucket per account and region
(burst 300, refill 12/s) and answers past it with HTTP 400 ``ThrottlingException:
Rate exceeded`` in the service's own wire protocol, so botocore parses it, counts it as
throttling in its retry logic, and ``estate.aws`` maps it to ``AwsThrottled``. A denial
answers ``AccessDenied`` (query) / ``AccessDeniedException`` (JSON), which
``estate.aws`` maps to ``AwsAccessDenied``.

A **slow answer** applies the call (moto acts on it) and then keeps the answer back
for a while: past the client's read timeout, that is AWS accepting a mutation whose
answer never arrives, the case a client must not resend blindly.

Rules live in memory of the server's process; ``SandboxServer.reset()`` and a request
to ``/moto-api/reset`` clear them. From another process, ``GET``/``POST``
``<sandbox>/estate-sandbox/faults`` reads or changes them (see ``_control_answer``).
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

# JSON-protocol services answer errors as JSON, the rest (query protocol: RDS,
# ElastiCache, STS, ...) as XML. The sandbox only has to tell these two apart: a JSON
# request always carries X-Amz-Target.
_SCOPE = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/]+)/([^/]+)/aws4_request")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
HTTP_PATH = "/estate-sandbox/faults"


@dataclass(frozen=True)
class RequestInfo:
    account_id: str
    region: str
    service: str
    json_protocol: bool
    target_action: str  # from X-Amz-Target; the query action is read lazily


class Bucket:
    """AWS's token bucket: ``capacity`` requests at once, refilled at ``rate`` per s."""

    def __init__(self, capacity: float, rate: float) -> None:
        self.capacity = capacity
        self.rate = rate
        self.tokens = capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


@dataclass(frozen=True)
class ThrottleRule:
    burst: int
    rate: float
    service: str


@dataclass(frozen=True)
class DenyRule:
    account_id: str
    region: str
    service: str
    action_prefix: str

    def matches_scope(self, info: RequestInfo) -> bool:
        return (
            (not self.account_id or self.account_id == info.account_id)
            and (not self.region or self.region == info.region)
            and (not self.service or self.service == info.service)
        )


@dataclass
class SlowRule:
    """Answer ``action`` (e.g. ``FailoverDBCluster``) ``seconds`` late, the next
    ``times`` calls (0: every call)."""

    action: str
    seconds: float
    times: int = 1
    answered: int = 0


@dataclass
class Faults:
    """The fault rules in force. Thread-safe: tests change them while the server runs."""

    _throttles: list[ThrottleRule] = field(default_factory=list)
    _denials: list[DenyRule] = field(default_factory=list)
    _slow: list[SlowRule] = field(default_factory=list)
    _buckets: dict[tuple[str, str, str], Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    throttled_requests: int = 0
    denied_requests: int = 0
    slowed_requests: int = 0
    # Counting requests per action (benchmarks: how many describes did N operations
    # cost?) is off unless asked for: it reads every query-protocol body.
    counting: bool = False
    counted: dict[str, int] = field(default_factory=dict)

    def throttle(self, burst: int = 300, rate: float = 12.0, service: str = "rds") -> None:
        """Enforce a token bucket per account and region for ``service`` (AWS's RDS
        API bucket by default). Replaces an earlier throttle of the same service."""
        if burst < 1 or rate <= 0:
            raise ValueError(f"burst must be >= 1 and rate > 0 (got {burst}, {rate})")
        if not service:
            raise ValueError("service is required (e.g. 'rds')")
        with self._lock:
            self._throttles = [t for t in self._throttles if t.service != service]
            self._throttles.append(ThrottleRule(burst, rate, service))
            self._buckets = {k: b for k, b in self._buckets.items() if k[2] != service}

    def deny(
        self,
        account_id: str = "",
        region: str = "",
        service: str = "",
        action_prefix: str = "",
    ) -> None:
        """Answer AccessDenied to matching calls; an empty field matches anything, and
        ``action_prefix`` limits the denial to actions starting with it
        (``"Describe"``, ``"DescribeTableStatistics"``)."""
        if not (account_id or region or service or action_prefix):
            raise ValueError("deny() needs at least one of account_id, region, service, action")
        with self._lock:
            self._denials.append(DenyRule(account_id, region, service, action_prefix))

    def slow(self, action: str, seconds: float, times: int = 1) -> None:
        """Apply ``action`` but answer it ``seconds`` late, for the next ``times`` calls
        (0: all). Replaces an earlier rule for the same action."""
        if not action or seconds <= 0 or times < 0:
            raise ValueError(f"slow needs an action, seconds > 0, times >= 0 (got {action!r})")
        with self._lock:
            self._slow = [r for r in self._slow if r.action != action]
            self._slow.append(SlowRule(action, float(seconds), int(times)))

    def clear(self) -> None:
        with self._lock:
            self._throttles = []
            self._denials = []
            self._slow = []
            self._buckets = {}
            self.throttled_requests = 0
            self.denied_requests = 0
            self.slowed_requests = 0
            self.counting = False
            self.counted = {}

    def count(self, action: str) -> None:
        with self._lock:
            self.counted[action] = self.counted.get(action, 0) + 1

    def describe(self) -> dict[str, Any]:
        with self._lock:
            return {
                "throttles": [vars(t) for t in self._throttles],
                "denials": [vars(d) for d in self._denials],
                "slow": [vars(r) for r in self._slow],
                "throttled_requests": self.throttled_requests,
                "denied_requests": self.denied_requests,
                "slowed_requests": self.slowed_requests,
                "counting": self.counting,
                "counted": dict(self.counted),
            }

    @property
    def active(self) -> bool:
        return bool(self._throttles or self._denials or self._slow)

    def delay_for(self, action: Callable[[], str]) -> float:
        """Seconds to keep this request's answer back (0: none); counts the use."""
        with self._lock:
            if not self._slow:
                return 0.0
        name = action()
        with self._lock:
            for rule in self._slow:
                if rule.action == name and (rule.times == 0 or rule.answered < rule.times):
                    rule.answered += 1
                    self.slowed_requests += 1
                    return rule.seconds
        return 0.0

    # --- used by the middleware ------------------------------------------------------

    def denial_for(self, info: RequestInfo, action: Callable[[], str]) -> DenyRule | None:
        with self._lock:
            candidates = [d for d in self._denials if d.matches_scope(info)]
        for rule in candidates:
            if not rule.action_prefix or action().startswith(rule.action_prefix):
                with self._lock:
                    self.denied_requests += 1
                return rule
        return None

    def admits(self, info: RequestInfo) -> bool:
        """Take a token from the request's bucket; False = throttle it."""
        with self._lock:
            rule = next((t for t in self._throttles if t.service == info.service), None)
            if rule is None:
                return True
            key = (info.account_id, info.region, info.service)
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = Bucket(rule.burst, rule.rate)
            if bucket.take():
                return True
            self.throttled_requests += 1
            return False


def _account_for(environ: dict[str, Any], access_key: str) -> str:
    # The same precedence as moto's BaseResponse.get_current_account, minus the env var
    # (the sandbox never sets MOTO_ACCOUNT_ID).
    header = environ.get("HTTP_X_MOTO_ACCOUNT_ID")
    if header:
        return str(header)
    from moto.iam.models import get_account_id_from

    return get_account_id_from(access_key)


def _error_response(
    environ: dict[str, Any],
    info: RequestInfo,
    status: int,
    code: str,
    message: str,
    start_response: Callable[..., Any],
) -> list[bytes]:
    # Drain the unread request body so that a kept-alive connection stays in step.
    _request_body(environ)
    request_id = str(uuid.uuid4())
    if info.json_protocol:
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
    else:
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{escape(code)}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    headers.append(("Content-Length", str(len(body))))
    reason = {400: "Bad Request", 403: "Forbidden"}.get(status, "Error")
    start_response(f"{status} {reason}", headers)
    return [body]


class FaultInjector:
    """WSGI middleware: applies ``faults`` before moto's app sees a request."""

    def __init__(self, app: WSGIApp, faults: Faults) -> None:
        self.app = app
        self.faults = faults

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if path == HTTP_PATH:
            return _control_answer(self.faults, environ, start_response)
        if path.startswith("/moto-api/reset"):
            self.faults.clear()
        if self.faults.counting and not path.startswith("/moto-api"):
            target = environ.get("HTTP_X_AMZ_TARGET", "")
            self.faults.count(target.rsplit(".", 1)[-1] if target else _query_action(environ))
        if not self.faults.active or path.startswith("/moto-api"):
            return self.app(environ, start_response)
        match = _SCOPE.search(environ.get("HTTP_AUTHORIZATION", ""))
        if not match:
            return self.app(environ, start_response)
        access_key, region, service = match.groups()
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        info = RequestInfo(
            account_id=_account_for(environ, access_key),
            region=region,
            service=service,
            json_protocol=bool(target),
            target_action=target.rsplit(".", 1)[-1],
        )

        def action() -> str:
            if info.target_action:
                return info.target_action
            return _query_action(environ)

        rule = self.faults.denial_for(info, action)
        if rule is not None:
            code = "AccessDeniedException" if info.json_protocol else "AccessDenied"
            message = (
                f"User: arn:aws:sts::{info.account_id}:assumed-role/EstateSync/estate "
                f"is not authorized to perform: {info.service}:{action()}"
            )
            return _error_response(environ, info, 400, code, message, start_response)
        if not self.faults.admits(info):
            return _error_response(
                environ, info, 400, "ThrottlingException", "Rate exceeded", start_response
            )
        delay = self.faults.delay_for(action)
        if delay:
            return _answered_late(self.app, environ, start_response, delay)
        return self.app(environ, start_response)


def _answered_late(
    app: WSGIApp, environ: dict[str, Any], start_response: Callable[..., Any], delay: float
) -> list[bytes]:
    """Let moto apply the request now, and send its answer ``delay`` seconds later (the
    injected fault itself: a waitress thread is held, as AWS's answer would be)."""
    answer: dict[str, Any] = {}

    def hold_start(status: str, headers: list, exc_info: Any = None) -> Callable[..., Any]:
        answer.update(status=status, headers=headers, exc_info=exc_info)
        return lambda data: None

    body = b"".join(app(environ, hold_start))
    threading.Event().wait(delay)
    start_response(answer["status"], answer["headers"], answer.get("exc_info"))
    return [body]


def _query_action(environ: dict[str, Any]) -> str:
    """The query protocol's Action, from the query string or the form body. Reading the
    body consumes ``wsgi.input``, so it is put back for moto."""
    cached = environ.get("estate.sandbox.action")
    if cached is not None:
        return str(cached)
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action", [""])[0]
    if not action:
        body = _request_body(environ)
        action = parse_qs(body.decode("utf-8", "replace")).get("Action", [""])[0]
    environ["estate.sandbox.action"] = action
    return action


def _request_body(environ: dict[str, Any]) -> bytes:
    """Read the whole body once and put it back as a fresh stream for moto."""
    cached = environ.get("estate.sandbox.body")
    if cached is not None:
        return bytes(cached)
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["estate.sandbox.body"] = body
    return body


def _control_answer(
    faults: Faults, environ: dict[str, Any], start_response: Callable[..., Any]
) -> list[bytes]:
    """``GET`` the rules and counters; ``POST`` JSON to change them, for a sandbox in
    another process (``manage.py sandbox``, benchmarks)::

        {"clear": true,
         "throttle": {"burst": 20, "rate": 5, "service": "rds"},
         "deny": [{"account_id": "222222222222", "region": "eu-west-1", "service": "dms"}],
         "slow": [{"action": "FailoverDBCluster", "seconds": 3, "times": 1}],
         "count": true}
    """
    if environ.get("REQUEST_METHOD") == "POST":
        try:
            body = json.loads(_request_body(environ) or b"{}")
            if not isinstance(body, dict):
                raise ValueError("expected a JSON object")
            if body.get("clear"):
                faults.clear()
            if "count" in body:
                faults.counting = bool(body["count"])
            if body.get("throttle"):
                faults.throttle(**body["throttle"])
            for rule in body.get("deny") or []:
                faults.deny(**rule)
            for rule in body.get("slow") or []:
                faults.slow(**rule)
        except (TypeError, ValueError) as exc:
            payload = json.dumps({"error": str(exc)}).encode()
            start_response(
                "400 Bad Request",
                [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))],
            )
            return [payload]
    payload = json.dumps(faults.describe()).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(payload)))]
    )
    return [payload]
