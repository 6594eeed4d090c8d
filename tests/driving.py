"""Running operations in the test process, without a broker or a worker."""

from __future__ import annotations

import threading
import time

from operations import engine, services
from operations.models import TERMINAL, Operation


def drive(op_id: int, *, timeout: float = 20.0, interval: float = 0.01) -> Operation:
    """Advance an operation in this process until it ends (or ``timeout``), ignoring
    countdowns: what a worker would do (including the resync a success asks for, which
    eager Celery runs at once), minus the waiting between polls."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while True:
        services.follow_up(op_id, engine.advance(op_id, force=True))
        op = Operation.objects.get(pk=op_id)
        if op.state in TERMINAL:
            return op
        if time.monotonic() > deadline:
            raise TimeoutError(f"operation {op_id} still {op.state} after {timeout}s: {op.error}")
        pause.wait(interval)
