"""Template helpers shared by every Estate page."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django import template
from django.http import QueryDict
from django.utils import timezone
from django.utils.html import format_html

from estate import status as status_map
from estate import windows

register = template.Library()


@register.simple_tag
def badge(status: str | None, gone: Any = None) -> str:
    """``{% badge obj.status obj.gone_at %}``: a status badge coloured by the one
    mapping in ``estate.status``."""
    b = status_map.badge(status, gone=bool(gone))
    return format_html('<span class="badge tone-{}">{}</span>', b["tone"], b["text"])


@register.filter
def status_tone(status: str | None) -> str:
    return status_map.tone(status)


@register.filter
def yesno_badge(value: Any, labels: str = "yes,no") -> str:
    """A boolean security fact as a small coloured flag (good = yes unless the labels
    are given as "bad-when-true")."""
    yes, no = (labels.split(",") + ["no"])[:2]
    return format_html(
        '<span class="flag {}">{}</span>', "flag-on" if value else "flag-off", yes if value else no
    )


@register.simple_tag(takes_context=True)
def query_with(context: template.Context, **changes: Any) -> str:
    """The current query string with some parameters replaced (``None``/"" drops one);
    used by sort headers and pagination links so they keep the active filters."""
    request = context.get("request")
    params: QueryDict = request.GET.copy() if request is not None else QueryDict(mutable=True)
    for key, value in changes.items():
        if value is None or value == "":
            params.pop(key, None)
        else:
            params[key] = str(value)
    encoded = params.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag(takes_context=True)
def sort_link(context: template.Context, field: str) -> str:
    """Query string that sorts by ``field``, toggling direction when already sorted by
    it, and going back to page 1."""
    current = context.get("sort", "")
    new = f"-{field}" if current == field else field
    return query_with(context, sort=new, page=None)


@register.simple_tag(takes_context=True)
def sort_mark(context: template.Context, field: str) -> str:
    current = context.get("sort", "")
    if current == field:
        return "▲"
    if current == f"-{field}":
        return "▼"
    return ""


@register.filter
def ago(value: datetime | None) -> str:
    """Compact age: "3m", "5h", "12d"."""
    if value is None:
        return "—"
    delta = timezone.now() - value
    return short_duration(delta.total_seconds())


@register.filter
def short_duration(seconds: float | int | None) -> str:
    if seconds is None:
        return "—"
    seconds = float(seconds)
    if seconds < 0:
        return "0s"
    if seconds < 60:
        return f"{seconds:.0f}s" if seconds >= 10 else f"{seconds:.1f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d"


@register.filter
def seconds_to_hours(value: int | None) -> str:
    if not value:
        return "off"
    return str(timedelta(seconds=int(value)))


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None


@register.simple_tag
def urlparams(**params: Any) -> str:
    return urlencode({k: v for k, v in params.items() if v not in (None, "")})


@register.filter
def total_of(run: Any, key: str) -> int:
    """``{{ run|total_of:"created" }}``: a SyncRun's count summed over kinds."""
    return run.total(key)


@register.simple_tag(takes_context=True)
def sort_aria(context: template.Context, field: str) -> str:
    """The ``aria-sort`` value of a sortable column header."""
    current = context.get("sort", "")
    if current == field:
        return "ascending"
    if current == f"-{field}":
        return "descending"
    return "none"


@register.filter
def aws_window(window: str | None, kind: str = "daily") -> str:
    """An AWS window ("03:00-03:30" daily, "sun:05:00-sun:05:30" weekly, UTC) with a
    "now" badge while it is running: no time for a failover drill or a risky change."""
    if not window:
        return format_html('<span class="muted">{}</span>', "—")
    if windows.contains(window, timezone.now(), weekly=kind == "weekly"):
        return format_html(
            '{} UTC <span class="badge tone-warn" title="{}">now</span>',
            window,
            "This window is running right now",
        )
    return format_html("{} UTC", window)


@register.inclusion_tag("estate/_tags.html")
def resource_tags(resource: Any, compact: bool = False) -> dict[str, Any]:
    """``{% resource_tags obj %}``: a mirrored resource's tags (a model row or an
    inventory row dict). When the last sync could not read them it says "tags not
    read: <reason>" (with the tags last read, if any) — never "no tags", which is
    only said of a resource AWS reports untagged. ``compact`` shortens the reason
    (tables)."""

    def get(name: str) -> Any:
        if isinstance(resource, dict):
            return resource.get(name)
        return getattr(resource, name, None)

    return {"tags": get("tags") or {}, "error": get("tags_error") or "", "compact": compact}


@register.inclusion_tag("estate/_freshness.html")
def freshness(resource: Any) -> dict[str, Any]:
    """``{% freshness obj %}``: when the mirrored row last *changed* (``last_synced_at``:
    sync writes a row only when AWS's answer differs) and when sync last *saw* it (the
    latest successful sync of its account, region and kind; one query)."""
    from estate import queries

    return {"object": resource, "seen": queries.last_seen_of(resource)}


@register.simple_tag
def mirror_time_lag_minutes() -> int:
    """How far a mirrored latest restorable time may trail AWS's, in whole minutes: sync
    rewrites it only once AWS's has moved past ``SYNC_TIME_DRIFT_SECONDS`` (so that a
    resync of an unchanged estate writes nothing)."""
    from django.conf import settings

    return max(1, -(-int(getattr(settings, "SYNC_TIME_DRIFT_SECONDS", 900)) // 60))
