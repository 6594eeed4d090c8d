"""The registry of operation kinds: one module per kind, each a ``Kind`` subclass."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from operations.kinds.base import Kind

_registry: dict[str, type[Kind]] | None = None


def all_kinds() -> dict[str, type[Kind]]:
    global _registry
    if _registry is None:
        from operations.kinds import (
            backtrack,
            cache_failover,
            clone,
            cluster_failover,
            custom_endpoint,
            dms,
            global_db,
            instance_failover,
            read_replica,
            restore,
            serverless,
            snapshot,
        )

        found: dict[str, type[Kind]] = {}
        for module in (
            cluster_failover,
            instance_failover,
            backtrack,
            clone,
            read_replica,
            custom_endpoint,
            serverless,
            snapshot,
            restore,
            cache_failover,
            global_db,
            dms,
        ):
            for kind in module.KINDS:
                found[kind.name] = kind
        _registry = found
    return _registry


def get(name: str) -> type[Kind] | None:
    return all_kinds().get(name)


def applicable(resource: object) -> list[type[Kind]]:
    """The kinds to offer for a resource in its current mirrored state."""
    return [k for k in all_kinds().values() if k.applies_to(resource)]
