"""Loopback TCP listeners that stand in for database endpoints, and can go dark.

A ``LoopbackListener`` listens on 127.0.0.1 (port 0 = any free port). Without an
upstream it accepts connections and holds them open (enough for a TCP-connect probe);
with an upstream ("127.0.0.1:5432") it is a small TCP proxy, so SQL and PING probes
work through it. ``cut()`` closes the listening socket and resets every connection —
new connects are *refused*, exactly what a client sees while DNS points at a node that
is down — and ``restore()`` listens on the same port again. ``go_dark(seconds)`` cuts
and restores on a timer.

For the demo, ``back_endpoint(identifier, ...)`` attaches a listener to a sandbox
resource: while the sandbox simulates that resource failing over (a ``failing-over``
or ``rebooting`` transition), its listener goes dark for the transition's duration, so
a drill's probe measures a real outage. ``serve_demo_endpoints()`` is what the sandbox
command calls.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

_BUFFER = 65536


class LoopbackListener:
    def __init__(self, upstream: str = "", host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self._requested_port = port
        self.port = 0
        self.upstream: tuple[str, int] | None = None
        if upstream:
            up_host, _, up_port = upstream.rpartition(":")
            if not up_host or not up_port.isdigit():
                raise ValueError(f"upstream must be host:port, not {upstream!r}")
            self.upstream = (up_host, int(up_port))
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._dark_timer: threading.Timer | None = None
        self._closed = False
        self.dark_periods: list[tuple[float, float]] = []  # (monotonic start, end)

    # --- lifecycle -------------------------------------------------------------------

    def start(self) -> LoopbackListener:
        self._listen()
        return self

    def _listen(self) -> None:
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Re-listening on the same port right after a cut must not fail on TIME_WAIT.
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((self.host, self.port or self._requested_port))
        server.listen(128)
        self.port = server.getsockname()[1]
        with self._lock:
            self._server = server
        threading.Thread(target=self._accept_loop, args=(server,), daemon=True).start()

    def stop(self) -> None:
        self._closed = True
        if self._dark_timer is not None:
            self._dark_timer.cancel()
        self._close_all()

    def __enter__(self) -> LoopbackListener:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def is_dark(self) -> bool:
        with self._lock:
            return self._server is None

    # --- outages ---------------------------------------------------------------------

    def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        if self.is_dark:
            return
        self.dark_periods.append((time.monotonic(), float("nan")))
        self._close_all()

    def restore(self) -> None:
        if self._closed or not self.is_dark:
            return
        self._listen()
        if self.dark_periods:
            start, _ = self.dark_periods[-1]
            self.dark_periods[-1] = (start, time.monotonic())

    def go_dark(self, seconds: float) -> None:
        """Cut now and restore after ``seconds`` (a timer thread, not a sleep)."""
        if self._dark_timer is not None:
            self._dark_timer.cancel()
        self.cut()
        self._dark_timer = threading.Timer(seconds, self.restore)
        self._dark_timer.daemon = True
        self._dark_timer.start()

    def _close_all(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            conns, self._conns = self._conns, set()
        if server is not None:
            with contextlib.suppress(OSError):
                server.shutdown(socket.SHUT_RDWR)
            server.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                # RST, not FIN: the client sees the connection die, as in a failover.
                conn.setsockopt(
                    socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                )
            with contextlib.suppress(OSError):
                conn.close()

    # --- serving ---------------------------------------------------------------------

    def _track(self, conn: socket.socket) -> bool:
        with self._lock:
            if self._server is None:
                return False
            self._conns.add(conn)
            return True

    def _forget(self, conn: socket.socket) -> None:
        with self._lock:
            self._conns.discard(conn)
        with contextlib.suppress(OSError):
            conn.close()

    def _accept_loop(self, server: socket.socket) -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return  # closed by cut() or stop()
            if not self._track(conn):
                conn.close()
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        if self.upstream is None:
            # Hold the connection until the client leaves or we are cut.
            with contextlib.suppress(OSError):
                while conn.recv(_BUFFER):
                    pass
            self._forget(conn)
            return
        try:
            up = socket.create_connection(self.upstream, timeout=5)
        except OSError:
            self._forget(conn)
            return
        up.settimeout(None)
        if not self._track(up):
            up.close()
            self._forget(conn)
            return
        threading.Thread(target=self._pump, args=(up, conn), daemon=True).start()
        self._pump(conn, up)

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while True:
                data = src.recv(_BUFFER)
                if not data:
                    break
                dst.sendall(data)
        self._forget(src)
        self._forget(dst)


# --- sandbox endpoints that fail over for real ---------------------------------------

_backed: dict[str, LoopbackListener] = {}
_backed_lock = threading.Lock()
# Transitions during which a backed endpoint refuses connections: RDS failovers and
# reboots, Global Database switchover/failover, ElastiCache test failover.
_DARK_STATUSES = {"failing-over", "rebooting", "switching-over"}
_DARK_KINDS = {"failover", "global"}


def back_endpoint(identifier: str, upstream: str = "") -> LoopbackListener:
    """A listener for the sandbox resource ``identifier`` (instance or cluster); it
    goes dark while the sandbox simulates that resource failing over or rebooting."""
    _install_hook()
    with _backed_lock:
        listener = _backed.get(identifier)
        if listener is None:
            listener = LoopbackListener(upstream).start()
            _backed[identifier] = listener
    return listener


def backed_endpoints() -> dict[str, str]:
    """identifier -> "127.0.0.1:port" of every listener (for drill probe options)."""
    with _backed_lock:
        return {k: v.address for k, v in _backed.items()}


_written: list[str] = []


def stop_all() -> None:
    with _backed_lock:
        listeners = list(_backed.values())
        _backed.clear()
    for listener in listeners:
        listener.stop()
    import contextlib
    import os

    while _written:
        with contextlib.suppress(OSError):
            os.remove(_written.pop())


def _identifier(resource: Any) -> str:
    """The resource's own identifier. Order matters: an instance of a cluster also
    carries the cluster's identifier, and a cluster its global cluster's."""
    if getattr(resource, "db_instance_identifier", None):
        return str(resource.db_instance_identifier)
    for attr in ("db_cluster_identifier", "global_cluster_identifier", "replication_group_id"):
        value = getattr(resource, attr, None)
        if value:
            return str(value)
    return ""


_hooked = False


def _install_hook() -> None:
    """Wrap the sandbox lifecycle's ``begin`` so a failover transition darkens the
    resource's listener. (The lifecycle modules are not ours to change; a wrapper
    keeps them unaware of listeners.)"""
    global _hooked
    if _hooked:
        return
    from sandbox.extensions import lifecycle_core

    original = lifecycle_core.begin

    def begin(
        resource: Any,
        status: str,
        kind: str,
        on_ready: Any = None,
        seconds: float | None = None,
    ) -> None:
        original(resource, status, kind, on_ready, seconds)
        if status not in _DARK_STATUSES and kind not in _DARK_KINDS:
            return
        with _backed_lock:
            listener = _backed.get(_identifier(resource))
        if listener is not None:
            wait = lifecycle_core.duration(kind) if seconds is None else seconds
            listener.go_dark(wait)

    lifecycle_core.begin = begin  # type: ignore[assignment]
    # Modules that imported ``begin`` by name hold their own reference.
    import importlib

    for name in ("lifecycle_rds", "lifecycle_global", "lifecycle_cache"):
        try:
            module = importlib.import_module(f"sandbox.extensions.{name}")
        except ImportError:
            continue
        if getattr(module, "begin", None) is original:
            module.begin = begin  # type: ignore[attr-defined]
    _hooked = True


def serve_demo_endpoints(
    identifiers: list[str], upstream: str = "", address_file: str | None = None
) -> dict[str, str]:
    """Back each sandbox resource in ``identifiers`` with a loopback listener and
    return identifier -> address. With ``address_file``, also write that mapping as
    JSON there: drills read it (``settings.DRILL_PROBE_ADDRESS_FILE``) to probe the
    listener instead of the resource's (unresolvable) sandbox hostname."""
    for identifier in identifiers:
        back_endpoint(identifier, upstream)
    found = backed_endpoints()
    if address_file:
        import json
        import os

        # A fresh checkout has no var/ yet.
        os.makedirs(os.path.dirname(os.path.abspath(address_file)), exist_ok=True)
        tmp = f"{address_file}.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            json.dump(found, fh, indent=1, sort_keys=True)
        os.replace(tmp, address_file)  # readers never see half a file
        if address_file not in _written:
            _written.append(address_file)
    return found


def default_address_file() -> str:
    """Where drills look for listener addresses (``DRILL_PROBE_ADDRESS_FILE``, else
    ``<VAR_DIR>/probe-addresses.json``)."""
    from django.conf import settings

    configured = getattr(settings, "DRILL_PROBE_ADDRESS_FILE", "")
    return str(configured or settings.VAR_DIR / "probe-addresses.json")


def failover_targets() -> list[str]:
    """Identifiers of every sandbox resource a failover drill can target: clusters
    with two members or more, Multi-AZ instances outside a cluster, global clusters,
    and replication groups with automatic failover; plus RDS proxies (probed beside
    their cluster's endpoint)."""
    from moto.elasticache.models import elasticache_backends
    from moto.rds.models import rds_backends

    found: list[str] = []
    for regions in rds_backends.values():
        for backend in regions.values():
            for name, cluster in backend.clusters.items():
                if len(cluster.db_cluster_members) >= 2:
                    found.append(name)
            for name, db in backend.databases.items():
                if db.multi_az and not getattr(db, "db_cluster_identifier", None):
                    found.append(name)
            found.extend(getattr(backend, "global_clusters", {}).keys())
            # Proxies get a listener too (it never goes dark: what RDS Proxy promises).
            found.extend(getattr(backend, "db_proxies", {}).keys())
    for regions in elasticache_backends.values():
        for backend in regions.values():
            for name, group in getattr(backend, "replication_groups", {}).items():
                if getattr(group, "automatic_failover", "") in ("enabled", True):
                    found.append(name)
    return sorted(set(found))


def back_demo_estate(address_file: str | None = None) -> dict[str, str]:
    """Back every failover target of the sandbox with a listener and write the
    address file drills read. The sandbox command calls this after seeding."""
    return serve_demo_endpoints(
        failover_targets(), address_file=address_file or default_address_file()
    )
