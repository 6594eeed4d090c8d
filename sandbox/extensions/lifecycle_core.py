"""What every lifecycle extension shares: transitional states, RDS events, the call log.

moto answers a mutating call with the end state at once; AWS passes through a
transitional state ("failing-over", "backtracking", "creating", ...) for a while. Here a
resource gets a ``Transition`` (status, ready-at time, what to do when it is over) kept
on the moto object itself, and its ``status`` is computed when something reads it: no
timer threads, and moto's reset forgets it with the resource.

Durations: ``SANDBOX_TRANSITION_SECONDS`` (env, default 0 so that other tests and
tools see moto's immediate end states unless they ask otherwise), overridable per kind
of transition in-process with ``set_durations(default=..., failover=...)`` or over HTTP
with ``POST <sandbox>/estate-sandbox/transitions {"default": 3, "failover": 30}``.

Importing this module also installs the call log (``sandbox.calllog``): a wrapper
around moto's ``BaseResponse.call_action`` that records every mutating call.
"""

from __future__ import annotations

import json
import os
import threading
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from moto.core.responses import BaseResponse
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.rds.models import DBCluster, DBInstance

from sandbox import calllog
from sandbox.patching import now

# --- durations -----------------------------------------------------------------------

_durations: dict[str, float] = {}
_durations_lock = threading.Lock()


def set_durations(default: float | None = None, **per_kind: float) -> None:
    """Set transition durations (seconds): ``default`` for every kind without its own."""
    with _durations_lock:
        if default is not None:
            _durations["default"] = float(default)
        _durations.update({k: float(v) for k, v in per_kind.items()})


def reset_durations() -> None:
    with _durations_lock:
        _durations.clear()


def duration(kind: str, resource: Any = None) -> float:
    """The kind's duration; with ``<kind>_spread`` set (benchmarks: failovers lasting
    10 to 60 s), each resource's is longer by a stable fraction of the spread."""
    with _durations_lock:
        spread = _durations.get(f"{kind}_spread", 0.0)
        if kind in _durations:
            base = _durations[kind]
        elif "default" in _durations:
            base = _durations["default"]
        else:
            base = float(os.environ.get("SANDBOX_TRANSITION_SECONDS") or 0)
    if spread and resource is not None:
        base += spread * spread_fraction(resource_name(resource))
    return base


def resource_name(resource: Any) -> str:
    for attribute in ("db_cluster_identifier", "db_instance_identifier", "arn"):
        value = getattr(resource, attribute, None)
        if isinstance(value, str) and value:
            return value
    return str(id(resource))


def spread_fraction(name: str) -> float:
    """A fraction in [0, 1) fixed by the resource's name (so a benchmark can tell when
    the sandbox ended each resource's transition)."""
    return (zlib.crc32(name.encode()) % 10_000) / 10_000


# --- transitions ---------------------------------------------------------------------

# Re-entrant: finishing one transition may read the status of another resource.
_transition_lock = threading.RLock()
TRANSITION_KEY = "_estate_transition"


@dataclass
class Transition:
    status: str
    ready_at: float  # time.monotonic()
    on_ready: Callable[[], None] | None = None
    # moto sometimes answers with a shallow copy of a resource (modify_db_cluster, read
    # replicas): copies share this object, so the end state is applied only once.
    done: bool = False


def begin(
    resource: Any,
    status: str,
    kind: str,
    on_ready: Callable[[], None] | None = None,
    seconds: float | None = None,
) -> None:
    """Show ``status`` on ``resource`` for the kind's duration, then run ``on_ready``.

    A transition that is still pending is finished first (its end state applies), so
    that two quick calls never lose an effect."""
    with _transition_lock:
        settle(resource, force=True)
        wait = duration(kind, resource) if seconds is None else seconds
        resource.__dict__[TRANSITION_KEY] = Transition(status, time.monotonic() + wait, on_ready)


def settle(resource: Any, *, force: bool = False) -> str | None:
    """Finish the resource's transition if its time has come (or ``force``); returns
    the transitional status while it is still running."""
    with _transition_lock:
        transition: Transition | None = resource.__dict__.get(TRANSITION_KEY)
        if transition is None:
            return None
        if not force and time.monotonic() < transition.ready_at:
            return transition.status
        del resource.__dict__[TRANSITION_KEY]
        if not transition.done:
            transition.done = True
            if transition.on_ready is not None:
                transition.on_ready()
        return None


def in_transition(resource: Any) -> bool:
    return settle(resource) is not None


def _instance_status_get(self: DBInstance) -> str:
    pending = settle(self)
    if pending is not None:
        return pending
    return self.__dict__.get("_estate_status", "available")


def _instance_status_set(self: DBInstance, value: str) -> None:
    self.__dict__["_estate_status"] = value


_cluster_status = DBCluster.status


def _cluster_status_get(self: DBCluster) -> str:
    pending = settle(self)
    if pending is not None:
        return pending
    return _cluster_status.fget(self)  # type: ignore[misc]


# DBInstance keeps its status in a plain attribute: a data descriptor on the class takes
# precedence over it, so moto's own ``self.status = ...`` lands in our setter.
DBInstance.status = property(_instance_status_get, _instance_status_set)  # type: ignore[assignment]
DBCluster.status = property(_cluster_status_get, _cluster_status.fset)  # type: ignore[assignment]


# --- RDS events ----------------------------------------------------------------------


class SandboxEvent:
    """An RDS event with AWS's wording (moto's Event only knows a fixed map)."""

    def __init__(
        self, resource: Any, message: str, categories: list[str], source_type: str = ""
    ) -> None:
        self.source_identifier = resource.resource_id
        self.source_type = source_type or resource.event_source_type
        self.message = message
        self.event_categories = categories
        self.source_arn = resource.arn
        self.date = now()


def emit(resource: Any, message: str, categories: list[str], source_type: str = "") -> None:
    """Append an event to the resource's backend (read by DescribeEvents)."""
    resource.backend.events.append(SandboxEvent(resource, message, categories, source_type))


# --- the call log --------------------------------------------------------------------

_call_action = BaseResponse.call_action


def _logged_call_action(self: BaseResponse) -> Any:
    action = self._get_action()
    if not calllog.is_mutating(action):
        return _call_action(self)
    result = _call_action(self)
    status = result[0] if isinstance(result, tuple) else 200
    params = getattr(self, "params", None) or {}
    try:
        target = calllog.target_of(params)
    except Exception:  # a parser-specific mapping type we cannot read: log it anyway
        target = ""
    calllog.record(
        calllog.Call(
            action=action,
            service=str(self.service_name or ""),
            account=str(getattr(self, "current_account", "")),
            region=str(getattr(self, "region", "")),
            target=target,
            status=int(status),
            at=time.time(),
        )
    )
    calllog.wait_if_held(action)
    return result


BaseResponse.call_action = _logged_call_action  # type: ignore[method-assign]


# --- HTTP endpoints of the sandbox itself --------------------------------------------

_dispatch = DomainDispatcherApplication.__call__
TRANSITIONS_PATH = "/estate-sandbox/transitions"


def _transitions_answer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    if environ.get("REQUEST_METHOD") == "POST":
        length = int(environ.get("CONTENT_LENGTH") or 0)
        raw = environ["wsgi.input"].read(length) if length else b"{}"
        values = json.loads(raw or b"{}")
        set_durations(**{k: float(v) for k, v in values.items()})
    with _durations_lock:
        body = json.dumps(dict(_durations)).encode()
    start_response(
        "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _dispatch_with_extras(self: DomainDispatcherApplication, environ: dict, start_response: Any):
    path = environ.get("PATH_INFO", "")
    if path == calllog.HTTP_PATH:
        return calllog.wsgi_answer(environ, start_response)
    if path == TRANSITIONS_PATH:
        return _transitions_answer(environ, start_response)
    if path.startswith("/moto-api/reset"):
        calllog.clear()
    return _dispatch(self, environ, start_response)


DomainDispatcherApplication.__call__ = _dispatch_with_extras  # type: ignore[method-assign]
