"""The one mapping from AWS status strings to badge colours.

AWS owns its status vocabularies (RDS, Aurora, RDS Proxy, ElastiCache and DMS each have
their own, all lower-case and hyphenated except DMS's mixed case); Estate stores them
verbatim and only decides here how loud each one is. Every page shows statuses through
``badge()`` (template filter ``status_badge``), so a new status is classified once.
"""

from __future__ import annotations

from typing import Literal

Tone = Literal["ok", "busy", "warn", "bad", "off", "unknown"]

# Steady and healthy.
_OK = {
    "available",
    "active",
    "running",  # DMS task, SyncRun
    "in-sync",
    "succeeded",
    "completed",
    "load-complete",  # DMS full-load-only task finished
    "ready",
}
# AWS is changing the resource; expected to settle by itself.
_BUSY = {
    "creating",
    "modifying",
    "backing-up",
    "rebooting",
    "renaming",
    "upgrading",
    "configuring-enhanced-monitoring",
    "configuring-iam-database-auth",
    "configuring-log-exports",
    "converting-to-vpc",
    "maintenance",
    "resetting-master-credentials",
    "starting",
    "stopping",
    "moving-to-vpc",
    "storage-optimization",
    "storage-config-upgrade",
    "failing-over",
    "switching-over",
    "backtracking",
    "promoting",
    "cloning-failed-retrying",
    "migrating",
    "preparing-data-migration",
    "snapshotting",
    "deleting",
    "testing",
    "queued",
    "pending",
    "updating",
    "applying",
    "pending-reboot",
    "ready-for-migration",
}
# Needs a human to look, but is not down.
_WARN = {
    "storage-full",
    "incompatible-parameters",
    "incompatible-option-group",
    "incompatible-network",
    "incompatible-restore",
    "incompatible-credentials",
    "insufficient-capacity",
    "inaccessible-encryption-credentials-recoverable",
    "partial",
    "skipped",
    "degraded",
    "suspended",
    "unavailable",
}
# Broken.
_BAD = {
    "failed",
    "restore-error",
    "inaccessible-encryption-credentials",
    "incompatible-create",
    "create-failed",
    "error",
    "unhealthy",
    "snapshot-failed",
}
# Deliberately not serving.
_OFF = {
    "stopped",
    "deleted",
    "gone",
    "inactive",
    "ready-to-restart",
}

_TONE_BY_STATUS: dict[str, Tone] = {
    **dict.fromkeys(_OK, "ok"),
    **dict.fromkeys(_BUSY, "busy"),
    **dict.fromkeys(_WARN, "warn"),
    **dict.fromkeys(_BAD, "bad"),
    **dict.fromkeys(_OFF, "off"),
}

# Statuses that are "fine" for the overview's attention list.
HEALTHY: frozenset[str] = frozenset(_OK)


def normalise(status: str | None) -> str:
    """AWS spells the same idea several ways ("Available", "load complete", "READY"):
    compare in one spelling."""
    return (status or "").strip().lower().replace(" ", "-").replace("_", "-")


def tone(status: str | None) -> Tone:
    """The colour family of an AWS status; unknown statuses are shown neutral, not
    hidden, so a status AWS adds tomorrow still appears."""
    return _TONE_BY_STATUS.get(normalise(status), "unknown")


def is_healthy(status: str | None) -> bool:
    return normalise(status) in HEALTHY


def badge(status: str | None, *, gone: bool = False) -> dict[str, str]:
    """What a badge shows: its text and its CSS tone. A row that vanished from AWS is
    shown as gone whatever its last status was."""
    if gone:
        return {"text": "gone", "tone": "off"}
    text = (status or "").strip() or "unknown"
    return {"text": text, "tone": tone(status)}
