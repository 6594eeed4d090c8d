"""The embedded fake AWS: moto's server on loopback plus Estate's extensions.

Product code never imports this module (or moto): it reaches the sandbox through
``AWS_ENDPOINT_URL`` only. The ``sandbox`` management command, the demo and the test
fixtures start it.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
import urllib.request
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from sandbox.faults import FaultInjector, Faults

_loaded = False


def load_extensions() -> None:
    """Import every module of ``sandbox.extensions`` once, in this process, before the
    first request reaches moto (each module patches moto's response/backend classes)."""
    global _loaded
    if _loaded:
        return
    import sandbox.extensions as package

    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"{package.__name__}.{module.name}")
    _loaded = True


def _backend_app(service: str) -> Any:
    """moto's Flask application for ``service``, out of Flask's debug mode (moto turns
    it on: every request then went through Flask's debug helpers, ~2 % of the
    sandbox's CPU). Exceptions still propagate to the server, as in debug mode."""
    app = create_backend_app(service)
    app.debug = False
    app.config["PROPAGATE_EXCEPTIONS"] = True
    return app


class _FaultyMotoServer:
    """moto's WSGI application, wrapped in the fault injector, served by waitress.

    moto's own ``ThreadedMotoServer`` uses werkzeug's development server, which closes
    the connection after every response and starts a thread per connection: SDK
    clients then paid a TCP connection, and the server a thread, for every AWS call,
    a good part of the sandbox's CPU at hundreds of calls a second. waitress keeps
    HTTP/1.1 connections alive and serves from a fixed pool of threads.
    """

    def __init__(self, ip_address: str, port: int, faults: Faults, threads: int = 8) -> None:
        self.faults = faults
        self._ip_address = ip_address
        self._port = port
        self._threads = threads
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self.start_error: OSError | None = None

    def start(self) -> None:
        import waitress

        app = FaultInjector(DomainDispatcherApplication(_backend_app), self.faults)
        try:
            self._server = waitress.create_server(
                app,
                host=self._ip_address,
                port=self._port,
                threads=self._threads,
                # Idle keep-alive connections are dropped after a minute.
                channel_timeout=60,
                ident="estate-sandbox",
                # Requests carry AWS query strings, some large (tag lists, filters).
                max_request_header_size=1024 * 1024,
            )
        except OSError as exc:
            self.start_error = exc
            return
        self._thread = threading.Thread(target=self._server.run, name="estate-sandbox", daemon=True)
        self._thread.start()

    def get_host_and_port(self) -> tuple[str, int]:
        return str(self._server.effective_host), int(self._server.effective_port)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        from waitress import wasyncore

        def close_all() -> None:
            # Runs in the server's loop (asyncore is not thread-safe): with every
            # channel closed, the loop, which runs while any is open, ends.
            for channel in list(server._map.values()):
                if channel is not server and channel is not server.trigger:
                    channel.handle_close()
            wasyncore.dispatcher.close(server)
            server.trigger.close()

        server.trigger.pull_trigger(close_all)
        if self._thread is not None:
            self._thread.join(timeout=10)
        server.task_dispatcher.shutdown()


class SandboxServer:
    """moto in server mode, in a thread of this process, on 127.0.0.1.

    ``faults`` injects AWS throttling and access denials (see ``sandbox.faults``).
    """

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        load_extensions()
        self.faults = Faults()
        self._server = _FaultyMotoServer(host, port, self.faults)
        self.host = host
        self.port = port

    def start(self) -> SandboxServer:
        """Serve in a daemon thread; raises OSError when the port cannot be bound."""
        self._server.start()
        if self._server.start_error is not None:
            raise self._server.start_error
        self.host, self.port = self._server.get_host_and_port()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Forget every resource (moto's reset also clears extension state kept on the
        backends) and every fault rule."""
        self.faults.clear()
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
