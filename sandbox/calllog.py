"""Every mutating call the sandbox receives, for tests that must prove "exactly once".

A call is *mutating* when its action is not a read (Describe*, List*, Get*, ...). The
log is kept in the sandbox's process (the server runs in a thread of the test process,
so tests read it in-process with ``calls()``); a separate process reads it over HTTP:

* ``GET  <sandbox>/estate-sandbox/calls``  -> ``{"calls": [{action, service, account,
  region, target, status, at}, ...]}``
* ``DELETE <sandbox>/estate-sandbox/calls`` clears it (so does ``/moto-api/reset``).

``hold(action)`` makes the sandbox apply a call and then keep its answer back until
``release(action)``: the crash test uses it to kill a worker after AWS acted but before
the worker could record that it did.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

READ_PREFIXES = ("Describe", "List", "Get", "Download", "Test", "Validate")
# DMS TestConnection only probes an endpoint, but ElastiCache TestFailover really moves
# the primary, so it counts as mutating despite its prefix.
MUTATING_DESPITE_PREFIX = {"TestFailover"}

# The first present names the call's target (the endpoint before its cluster, the
# instance before its cluster, the new resource before its source).
TARGET_PARAMS = (
    "DBClusterEndpointIdentifier",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "SourceDBInstanceIdentifier",
    "SourceDBClusterIdentifier",
    "GlobalClusterIdentifier",
    "DBSnapshotIdentifier",
    "DBClusterSnapshotIdentifier",
    "ReplicationGroupId",
    "ReplicationTaskArn",
    "EndpointArn",
    "ResourceName",
    "ResourceArn",
)


@dataclass(frozen=True)
class Call:
    action: str
    service: str
    account: str
    region: str
    target: str
    status: int
    at: float  # epoch seconds


_calls: list[Call] = []
_lock = threading.Lock()
_holds: dict[str, threading.Event] = {}


def is_mutating(action: str) -> bool:
    if action in MUTATING_DESPITE_PREFIX:
        return True
    return not action.startswith(READ_PREFIXES)


def target_of(params: dict[str, Any]) -> str:
    for name in TARGET_PARAMS:
        value = params.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def record(call: Call) -> None:
    with _lock:
        _calls.append(call)


def calls(action: str | None = None, *, succeeded: bool | None = None) -> list[Call]:
    """The mutating calls received so far (oldest first), optionally one action's only,
    and only those AWS accepted (``succeeded=True``) or refused (``False``)."""
    with _lock:
        found = list(_calls)
    if action is not None:
        found = [c for c in found if c.action == action]
    if succeeded is not None:
        found = [c for c in found if (c.status < 400) == succeeded]
    return found


def clear() -> None:
    with _lock:
        _calls.clear()
    for event in list(_holds.values()):
        event.set()
    _holds.clear()


def hold(action: str) -> None:
    """Apply ``action`` but keep its answer back until ``release(action)`` (or 60 s)."""
    _holds[action] = threading.Event()


def release(action: str) -> None:
    event = _holds.pop(action, None)
    if event is not None:
        event.set()


def wait_if_held(action: str) -> None:
    event = _holds.get(action)
    if event is not None:
        event.wait(timeout=60)


def wait_for(
    action: str, *, count: int = 1, timeout: float = 10.0, interval: float = 0.02
) -> list[Call]:
    """Poll until ``count`` calls of ``action`` arrived (raises TimeoutError)."""
    deadline = time.monotonic() + timeout
    while True:
        found = calls(action)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise TimeoutError(f"{count} x {action} not received in {timeout}s (got {found})")
        threading.Event().wait(interval)


# --- HTTP ----------------------------------------------------------------------------

HTTP_PATH = "/estate-sandbox/calls"


def wsgi_answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
    """Answer the call-log endpoint (GET lists, DELETE clears)."""
    if environ.get("REQUEST_METHOD") == "DELETE":
        clear()
        body = b"{}"
    else:
        body = json.dumps({"calls": [asdict(c) for c in calls()]}).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]
