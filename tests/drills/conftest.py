"""Drill fixtures: the operations fixtures (sandbox, account, users) plus loopback
listeners that back sandbox endpoints, and a local HTTP server for webhooks."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from tests.operations.conftest import (  # noqa: F401  (fixtures)
    account,
    fast_sandbox,
    rds,
)


# Users are made with the factory: transactional tests flush the role groups that the
# data migration created, and the factory recreates them.
@pytest.fixture
def operator(db):
    from estate import roles
    from tests.factories.estate import make_user

    return make_user("olivia", role=roles.OPERATOR)


@pytest.fixture
def viewer(db):
    from estate import roles
    from tests.factories.estate import make_user

    return make_user("victor", role=roles.VIEWER)


@pytest.fixture
def nobody(db):
    from tests.factories.estate import make_user

    return make_user("nora")


@pytest.fixture(autouse=True)
def probe_threads(monkeypatch):
    """Drill probes sample in threads of this process (see ``probe_threads.py``)."""
    from drills import services
    from tests.drills.probe_threads import ThreadProbes

    runner = ThreadProbes()
    monkeypatch.setattr(services, "probe_runner", runner)
    yield runner
    runner.close()


@pytest.fixture
def listeners():
    from sandbox import listeners as module

    yield module
    module.stop_all()


@pytest.fixture
def failover_seconds(fast_sandbox):  # noqa: F811
    """Simulated failovers take this long (everything else stays near-instant)."""
    from sandbox.extensions import lifecycle_core

    seconds = 1.0
    lifecycle_core.set_durations(default=0.05, failover=seconds)
    return seconds


class Hook:
    def __init__(self, statuses: list[int]) -> None:
        self.statuses = statuses
        self.received: list[dict[str, Any]] = []
        self.got = threading.Event()


@pytest.fixture
def webhook():
    """A local HTTP server that answers the given statuses in turn (then 200)."""
    hook = Hook([])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            hook.received.append(json.loads(body))
            status = hook.statuses.pop(0) if hook.statuses else 200
            self.send_response(status)
            self.end_headers()
            if status == 200:
                hook.got.set()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    hook.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    yield hook
    server.shutdown()
    server.server_close()
