"""The embedded fake AWS: moto's server on loopback plus Estate's extensions.

Product code never imports this module (or moto): it reaches the sandbox through
``AWS_ENDPOINT_URL`` only. The ``sandbox`` management command, the demo and the test
fixtures start it.
"""

from __future__ import annotations

import errno
import importlib
import pkgutil
import urllib.request

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import (
    DomainDispatcherApplication,
    MotoRequestHandler,
    create_backend_app,
)
from werkzeug.serving import make_server

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


class _FaultyMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is wrapped in the fault injector."""

    def __init__(self, ip_address: str, port: int, faults: Faults) -> None:
        super().__init__(ip_address=ip_address, port=port, verbose=False)
        self.faults = faults
        self.start_error: OSError | None = None

    def _server_entry(self) -> None:
        # Same as moto's, plus the middleware (moto offers no hook for it), and a bind
        # failure (port in use) is reported to start() instead of hanging it forever.
        app = FaultInjector(DomainDispatcherApplication(create_backend_app), self.faults)
        try:
            self._server = make_server(
                self._ip_address, self._port, app, True, request_handler=MotoRequestHandler
            )
        except OSError as exc:
            self.start_error = exc
            self._server_ready_event.set()
            return
        except SystemExit:
            # werkzeug prints "Address already in use" and exits instead of raising.
            self.start_error = OSError(
                errno.EADDRINUSE, f"port {self._port} is in use by another program"
            )
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever()


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
