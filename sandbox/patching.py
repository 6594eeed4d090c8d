"""Small helpers the extensions share for patching moto (which has no plugin API).

* ``add_action(ResponseClass)`` adds an API: moto's ``BaseResponse.call_action`` looks
  the action's snake_case name up on the response class at request time.
* ``state(backend, key, factory)`` keeps extension state on the moto backend instance,
  so ``/moto-api/reset`` (which rebuilds the backends) clears it with everything else.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

T = TypeVar("T")


def add_action(response_class: type) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: install the function as a method (an API action) of ``response_class``."""

    def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
        setattr(response_class, function.__name__, function)
        return function

    return decorator


def state(backend: Any, key: str, factory: Callable[[], T]) -> T:
    """Extension state kept on a moto backend instance (cleared by moto's reset)."""
    return backend.__dict__.setdefault(key, factory())


def now() -> datetime:
    """moto keeps naive UTC datetimes; extensions compare against the same kind."""
    return datetime.now(UTC).replace(tzinfo=None)


def filter_values(params: Any) -> dict[str, list[str]]:
    """AWS ``Filters=[{"Name":..., "Values":[...]}]`` as a dict."""
    return {f["Name"]: list(f.get("Values") or []) for f in (params.get("Filters") or [])}
