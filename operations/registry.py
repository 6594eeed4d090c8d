"""The registry of operation kinds.

Every app that brings kinds registers them from its ``AppConfig.ready()``
(``operations`` its own, ``drills`` the drill kinds); nothing else writes to it, and
no app reaches into another's modules to find kinds.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from operations.kinds.base import Kind

_kinds: dict[str, type[Kind]] = {}


def register(*kinds: type[Kind] | Iterable[type[Kind]]) -> None:
    """Add kinds (classes, or iterables of them). A name is registered once: a second,
    different class under the same name is a programming error."""
    for item in kinds:
        for kind in (item,) if isinstance(item, type) else item:
            existing = _kinds.get(kind.name)
            if existing is not None and existing is not kind:
                raise ValueError(
                    f"operation kind {kind.name!r} is registered twice "
                    f"({existing.__module__} and {kind.__module__})"
                )
            _kinds[kind.name] = kind


def all_kinds() -> dict[str, type[Kind]]:
    """Every registered kind by name (a copy)."""
    return dict(_kinds)


def get(name: str) -> type[Kind] | None:
    return _kinds.get(name)


def applicable_to(resource: object) -> list[type[Kind]]:
    """The kinds to offer for a resource in its current mirrored state."""
    return [kind for kind in _kinds.values() if kind.applies_to(resource)]
