"""Probes measure client-observed downtime: a TCP proxy in front of a real server is
cut for a known interval while a probe samples through it."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable

import pytest
from django.utils import timezone

from drills import probes
from drills.probes import ProbeConfigError, ProbeTarget, Sample
from sandbox.listeners import LoopbackListener

POSTGRES = ("127.0.0.1", 5432)
REDIS = ("127.0.0.1", 6379)
CUT_SECONDS = 1.0


def _reachable(address: tuple[str, int]) -> bool:
    try:
        socket.create_connection(address, timeout=0.5).close()
    except OSError:
        return False
    return True


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("condition not met in time")
        pause.wait(0.02)


def _measure_outage(
    target: ProbeTarget, listener: LoopbackListener
) -> tuple[probes.Summary, float]:
    """Probe through ``listener``, cut it for CUT_SECONDS once the baseline is in, and
    stop once the probe has seen 5 successes after the outage."""
    samples: list[Sample] = []
    lock = threading.Lock()
    stop = threading.Event()

    def sink(batch: list[Sample]) -> None:
        with lock:
            samples.extend(batch)

    def snapshot() -> list[Sample]:
        with lock:
            return list(samples)

    worker = threading.Thread(
        target=probes.run_probe,
        args=(target, sink),
        kwargs={"interval": 0.1, "stop_event": stop, "flush_seconds": 0.05, "max_seconds": 30},
    )
    worker.start()
    try:
        _wait_for(lambda: sum(s.ok for s in snapshot()) >= 5)
        listener.go_dark(CUT_SECONDS)
        _wait_for(lambda: not listener.is_dark)
        restored = timezone.now()
        # Five successes sampled after the restore: the probe has seen the recovery.
        _wait_for(lambda: sum(s.ok and s.at > restored for s in snapshot()) >= 5)
    finally:
        stop.set()
        worker.join(timeout=10)
    start, end = listener.dark_periods[-1]
    return probes.summarize(snapshot()), end - start


@pytest.mark.skipif(not _reachable(POSTGRES), reason="needs PostgreSQL on 127.0.0.1:5432")
def test_postgres_probe_measures_a_cut_within_half_a_second():
    # Given a TCP proxy in front of the real PostgreSQL and a SELECT 1 probe through it
    with LoopbackListener(upstream=f"{POSTGRES[0]}:{POSTGRES[1]}") as proxy:
        target = ProbeTarget(host="127.0.0.1", port=proxy.port, kind="postgres", user="postgres")
        assert probes.probe_once(target).ok
        # When the proxy is cut for a known interval during the probe run
        summary, dark = _measure_outage(target, proxy)
    # Then the measured client downtime matches the interval within ±0.5 s
    assert summary.failed > 0
    assert summary.downtime_seconds is not None
    assert abs(summary.downtime_seconds - dark) <= 0.5, (summary, dark)
    assert abs(dark - CUT_SECONDS) < 0.3


def test_tcp_probe_measures_a_cut_within_half_a_second():
    # Given a bare loopback listener (no upstream) and a TCP-connect probe
    with LoopbackListener() as listener:
        target = ProbeTarget(host="127.0.0.1", port=listener.port, kind="tcp")
        # When it goes dark for a known interval
        summary, dark = _measure_outage(target, listener)
    # Then connects are refused for that long, within ±0.5 s
    assert summary.failed > 0
    assert abs(summary.downtime_seconds - dark) <= 0.5, (summary, dark)
    assert summary.recovered_at is not None
    assert summary.recovered_at > summary.first_failure_at


@pytest.mark.skipif(not _reachable(REDIS), reason="needs Redis on 127.0.0.1:6379")
def test_redis_ping_probe_measures_a_cut_within_half_a_second():
    with LoopbackListener(upstream=f"{REDIS[0]}:{REDIS[1]}") as proxy:
        target = ProbeTarget(host="127.0.0.1", port=proxy.port, kind="redis")
        assert probes.probe_once(target).ok
        summary, dark = _measure_outage(target, proxy)
    assert summary.failed > 0
    assert abs(summary.downtime_seconds - dark) <= 0.5, (summary, dark)


def test_a_closed_port_is_a_failed_sample_with_the_reason():
    # Given a port nothing listens on
    with LoopbackListener() as listener:
        port = listener.port
    # When probed, then the sample failed quickly and says why
    sample = probes.probe_once(ProbeTarget(host="127.0.0.1", port=port, kind="tcp"))
    assert not sample.ok
    assert "refused" in sample.error.lower()


def test_summary_counts_downtime_from_first_failure_to_first_success_after_last():
    from datetime import timedelta

    t0 = timezone.now()
    pattern = [True, True, False, True, False, False, True, True]
    samples = [Sample(t0 + timedelta(seconds=i), ok, 1.0 + i) for i, ok in enumerate(pattern)]
    summary = probes.summarize(samples, baseline_until=t0 + timedelta(seconds=1))
    # failures at 2, 4, 5; first success after the last failure at 6
    assert summary.downtime_seconds == 4.0
    assert summary.failed == 3
    assert summary.max_latency_ms == 8.0
    assert summary.baseline_latency_ms == 1.5
    assert probes.consecutive_successes(samples) == 2


def test_summary_without_failures_has_no_downtime():

    summary = probes.summarize([Sample(timezone.now(), True, 2.0)])
    assert summary.downtime_seconds is None
    assert summary.failed == 0


def test_bad_probe_options_are_refused_before_sampling():
    with pytest.raises(ProbeConfigError, match="Unknown probe kind"):
        ProbeTarget(host="h", port=1, kind="oracle")
    with pytest.raises(ProbeConfigError, match="invalid port"):
        ProbeTarget.from_options({"host": "h", "port": 0})
    with pytest.raises(ProbeConfigError, match="Unknown probe option"):
        ProbeTarget.from_options({"host": "h", "port": 5432, "password": "x"})


def test_dsn_comes_from_the_named_environment_variable(monkeypatch):
    target = ProbeTarget(host="h", port=5432, kind="postgres", dsn_env="ORDERS_PROBE_DSN")
    with pytest.raises(ProbeConfigError, match="ORDERS_PROBE_DSN"):
        probes.resolve_credentials(target)
    monkeypatch.setenv("ORDERS_PROBE_DSN", "postgresql://postgres@127.0.0.1:5432/postgres")
    creds = probes.resolve_credentials(target)
    assert creds.dsn.startswith("postgresql://")
    assert "postgres@" not in repr(creds)
