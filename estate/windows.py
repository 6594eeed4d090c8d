"""AWS's maintenance and backup windows: "hh:mm-hh:mm" (daily, UTC) and
"ddd:hh:mm-ddd:hh:mm" (weekly, UTC), as RDS and ElastiCache write them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

# A mirrored row's windows: (field, what it is for, weekly).
ROW_WINDOWS = (
    ("preferred_backup_window", "backup", False),
    ("snapshot_window", "snapshot", False),
    ("preferred_maintenance_window", "maintenance", True),
)


def contains(window: str, now: datetime, *, weekly: bool) -> bool:
    """Whether ``now`` (UTC) is inside an AWS window: "hh:mm-hh:mm" (daily) or
    "ddd:hh:mm-ddd:hh:mm" (weekly). Malformed windows count as outside."""
    if not window or "-" not in window:
        return False
    start_s, end_s = window.lower().split("-", 1)
    days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    try:
        if weekly:
            sd, sh, sm = start_s.split(":")
            ed, eh, em = end_s.split(":")
            start = days.index(sd) * 1440 + int(sh) * 60 + int(sm)
            end = days.index(ed) * 1440 + int(eh) * 60 + int(em)
            cur = now.weekday() * 1440 + now.hour * 60 + now.minute
        else:
            sh, sm = start_s.split(":")
            eh, em = end_s.split(":")
            start, end = int(sh) * 60 + int(sm), int(eh) * 60 + int(em)
            cur = now.hour * 60 + now.minute
    except ValueError:
        return False
    if start <= end:
        return start <= cur < end
    return cur >= start or cur < end  # across midnight (or the week's end)


def running_on(row: Any, now: datetime) -> list[tuple[str, str]]:
    """(what, window) of each of ``row``'s windows (as last synced) running at ``now``."""
    found = []
    for field, what, weekly in ROW_WINDOWS:
        window = getattr(row, field, "") or ""
        if contains(window, now, weekly=weekly):
            found.append((what, window))
    return found
