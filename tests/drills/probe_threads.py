"""Drill probes as threads of the test process.

Tests run Celery eagerly: the product's runner would run each probe inline, to its
end, and block the engine. ``ThreadProbes`` (installed for every drill test by the
autouse fixture in ``conftest.py``) samples in daemon threads instead.

The threads never touch the database — a test's transaction is not visible to other
connections, and SQLite's in-memory test database locks whole tables between threads —
so samples wait in memory until the engine's thread asks for them (``collect``, which
the drill's steps call before reading samples), and the stop signal comes from memory
too. The worker path (``drills.services.probe_endpoint``) writes itself and is tested
on its own (``test_probe_worker.py``).
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import transaction

from drills import probes, services
from drills.models import DrillRun, ProbeSample
from operations.models import event


class ThreadProbes(services.ProbeRunner):
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.buffers: dict[int, list[ProbeSample]] = {}
        self.stops: dict[int, threading.Event] = {}
        self.finished: dict[int, set[str]] = {}
        self.threads: list[threading.Thread] = []

    def launch(self, run: DrillRun) -> None:
        op = run.operation
        # Fresh state per launch: a straggler thread of an earlier launch must not write
        # into this one.
        stop = threading.Event()
        with self.lock:
            self.stops[run.pk] = stop
            self.buffers.pop(run.pk, None)
            self.finished.pop(run.pk, None)
        for options in run.probe_endpoints:
            label = str(options.get("label", "direct"))
            try:
                target = probes.ProbeTarget.from_options(options)
                creds = probes.resolve_credentials(
                    target, account=op.account if op else None, region=op.region if op else ""
                )
            except Exception as exc:  # noqa: BLE001 - reported, and the baseline notices
                if op is not None:
                    event(op, f"Probe {label} stopped: {exc}", step="", level="error")
                self._done(run.pk, label)
                continue
            thread = threading.Thread(
                target=self._sample,
                args=(run.pk, label, target, creds, run.probe_interval_ms / 1000, stop),
                daemon=True,
                name=f"probe-{run.pk}-{label}",
            )
            self.threads.append(thread)
            thread.start()

    def _sample(
        self,
        run_id: int,
        label: str,
        target: Any,
        creds: Any,
        interval: float,
        stop: threading.Event,
    ) -> None:
        def sink(batch: list[probes.Sample]) -> None:
            rows = [services.sample_row(run_id, label, s) for s in batch]
            with self.lock:
                if self.stops.get(run_id) is stop:
                    self.buffers.setdefault(run_id, []).extend(rows)

        try:
            probes.run_probe(
                target,
                sink,
                interval=interval,
                max_seconds=services.probe_max_seconds(),
                stop_event=stop,
                creds=creds,
                flush_seconds=0.05,
            )
        finally:
            self._done(run_id, label, stop)

    def _done(self, run_id: int, label: str, stop: threading.Event | None = None) -> None:
        with self.lock:
            if stop is None or self.stops.get(run_id) is stop:
                self.finished.setdefault(run_id, set()).add(label)

    def stop(self, run_id: int) -> None:
        with self.lock:
            stop = self.stops.get(run_id)
        if stop is not None:
            stop.set()

    def collect(self, run_id: int) -> None:
        """Store the samples buffered so far, and which probes have ended (in the
        calling thread, the engine's)."""
        with self.lock:
            rows = self.buffers.pop(run_id, [])
            finished = set(self.finished.get(run_id, set()))
        if rows:
            ProbeSample.objects.bulk_create(rows)
        if finished:
            with transaction.atomic():
                run = DrillRun.objects.select_for_update().filter(pk=run_id).first()
                if run is not None and not finished <= set(run.probes_finished):
                    merged = sorted(set(run.probes_finished) | finished)
                    DrillRun.objects.filter(pk=run_id).update(probes_finished=merged)

    def close(self) -> None:
        """Stop every probe this runner started and wait for its thread (a test's
        probes must not sample into the next test)."""
        with self.lock:
            stops = list(self.stops.values())
        for stop in stops:
            stop.set()
        for thread in self.threads:
            thread.join(timeout=5)
