"""Drill kinds: one module per family, each exporting ``KINDS``, as in
``operations.kinds``. ``drills.apps`` registers ``KINDS`` in ``operations.registry``.

``base`` holds what the failover drills share (preflight, baseline, trigger, observe,
verify, report; the drill form); ``failover`` (cluster, Multi-AZ instance),
``global_db`` (switchover, failover), ``cache_failover`` and ``restore`` (instance,
cluster) add what differs.
"""

from __future__ import annotations

from drills.kinds import cache_failover, failover, global_db, restore
from operations.kinds.base import Kind

KINDS: tuple[type[Kind], ...] = (
    *failover.KINDS,
    *global_db.KINDS,
    *cache_failover.KINDS,
    *restore.KINDS,
)
