"""The embedded fake AWS: moto's server on loopback plus Estate's extensions.

Product code never imports this module (or moto): it reaches the sandbox through
``AWS_ENDPOINT_URL`` only. The ``sandbox`` management command, the demo and the test
fixtures start it.
"""

from __future__ import annotations

import importlib
import pkgutil
import urllib.request

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

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


class SandboxServer:
    """moto in server mode, in a thread of this process, on 127.0.0.1."""

    def __init__(self, port: int = 0, host: str = "127.0.0.1") -> None:
        load_extensions()
        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.host = host
        self.port = port

    def start(self) -> SandboxServer:
        self._server.start()
        self.host, self.port = self._server.get_host_and_port()
        return self

    def stop(self) -> None:
        self._server.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def reset(self) -> None:
        """Forget every resource (moto's reset also clears extension state kept on the
        backends)."""
        request = urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as response:
            response.read()
