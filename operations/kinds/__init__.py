"""Operation kinds: one module per family, each exporting ``KINDS``.

``operations.apps`` registers them in ``operations.registry``; look kinds up there.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from operations.kinds.base import Kind


def builtin() -> list[type[Kind]]:
    """The kinds this app brings (imported late: they import the models)."""
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

    modules = (
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
    )
    return [kind for module in modules for kind in module.KINDS]
