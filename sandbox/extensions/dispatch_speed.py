"""Keep moto's per-request routing cheap.

moto's server finds the backend of every request by listing its own package directory
on disk (``list_of_moto_modules``: an ``isdir`` per service) and then trying every
service's URL pattern against the Host header, twice for a request to
``127.0.0.1:<port>`` (once for the literal host, once for the host inferred from the
signature). That was ~14 % of the sandbox's CPU in the operations benchmark. The answer
depends on the host string alone and moto's patterns never change while the server
runs, so it is memoized per host.
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core import responses
from moto.moto_server.werkzeug_app import DomainDispatcherApplication

_original = DomainDispatcherApplication.get_backend_for_host
_cache: dict[str | None, Any] = {}
_lock = threading.Lock()
# Hosts are few (one per service and region, plus the loopback address); a bound keeps a
# client that invents Host headers from growing the cache without limit.
_MAX_HOSTS = 4096


def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
    try:
        return _cache[host]
    except KeyError:
        pass
    backend = _original(self, host)
    with _lock:
        if len(_cache) < _MAX_HOSTS:
            _cache[host] = backend
    return backend


DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


# moto lists the response class's methods (``inspect.getmembers``) on every request to
# find the action's handler: ~4 % of the sandbox's CPU. A class's methods are fixed once
# the extensions have patched them (all load before the first request).
_original_method_names = responses.method_names_from_class
_method_names: dict[type, list[str]] = {}


def method_names_from_class(clazz: Any) -> list[str]:
    names = _method_names.get(clazz)
    if names is None:
        names = _method_names[clazz] = _original_method_names(clazz)
    return names


responses.method_names_from_class = method_names_from_class  # type: ignore[assignment]
