"""The time an operator types: ``WhenField``, one form field for every time input.

An operator in an incident types "-5m" or "10 minutes ago", pastes an ISO 8601 time
from a log line (with or without an offset), or types "now". What is never guessed is
a date written with slashes or dots: "04/12/2026" is 12 April in the US and 4 December
in most of the world, and restoring a database to the wrong one is not a typo to read
silently. A time without an offset is read in the configured ``TIME_ZONE``, and the
field's help text says so.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.forms.boundfield import BoundField
from django.utils import timezone

# Seconds per unit, by the unit's first letter (every spelling below starts with it).
UNITS: dict[str, int] = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
# Longest spelling first, so that "minutes" is not read as "m" followed by junk.
_UNIT = r"(?:seconds?|secs?|s|minutes?|mins?|m|hours?|hrs?|h|days?|d|weeks?|w)"
_PART = re.compile(rf"(\d+)\s*({_UNIT})", re.IGNORECASE)
# "-5m", "-1h30m", "+2d", "-90 s"
_SIGNED = re.compile(rf"^([+-])\s*((?:\d+\s*{_UNIT}\s*)+)$", re.IGNORECASE)
# "5 minutes ago", "1h 30m ago"
_AGO = re.compile(rf"^((?:\d+\s*{_UNIT}\s*)+)ago$", re.IGNORECASE)
# "in 3 days"
_IN = re.compile(rf"^in\s+((?:\d+\s*{_UNIT}\s*)+)$", re.IGNORECASE)
# 04/12/2026, 4.12.26, 12-04-2026: day and month in an order we cannot know.
_NUMERIC_DATE = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{2,4})(?:[ T,].*)?$")


def _seconds(spec: str) -> int:
    total = 0
    for number, unit in _PART.findall(spec):
        total += int(number) * UNITS[unit[0].lower()]
    return total


def _ambiguous(text: str) -> ValidationError | None:
    match = _NUMERIC_DATE.match(text)
    if match is None:
        return None
    a, b, year = int(match[1]), int(match[2]), match[3]
    year = year if len(year) == 4 else f"20{year}"
    readings = []
    if 1 <= b <= 12 and 1 <= a <= 31:
        readings.append(f"{year}-{b:02d}-{a:02d}")  # day first
    if 1 <= a <= 12 and 1 <= b <= 31:
        readings.append(f"{year}-{a:02d}-{b:02d}")  # month first
    if len(set(readings)) > 1:
        return ValidationError(
            f"“{text}” could be {readings[0]} or {readings[1]}: write the date as "
            "year-month-day (ISO 8601), e.g. "
            f"{readings[1]} 09:30.",
            code="ambiguous",
        )
    example = readings[0] if readings else "2026-04-12"
    return ValidationError(
        f"“{text}”: write the date as year-month-day (ISO 8601), e.g. {example} 09:30.",
        code="ambiguous",
    )


def parse_when(text: str, *, now: datetime | None = None) -> datetime:
    """``text`` as an aware datetime, or ValidationError saying how to write
    it. Accepts "now"; relative times ("-5m", "-1h30m", "+2d", "5 minutes ago",
    "in 3 days"); ISO 8601 with or without an offset ("Z" included) or with a space
    for the "T"; a naive time is in the configured TIME_ZONE."""
    text = " ".join(text.split())
    now = now or timezone.now()
    lowered = text.lower()
    if lowered == "now":
        return now
    for pattern, sign in ((_SIGNED, None), (_AGO, -1), (_IN, 1)):
        match = pattern.match(lowered)
        if match is None:
            continue
        if sign is None:
            direction = -1 if match[1] == "-" else 1
            spec = match[2]
        else:
            direction, spec = sign, match[1]
        return now + timedelta(seconds=direction * _seconds(spec))
    problem = _ambiguous(text)
    if problem is not None:
        raise problem
    try:
        value = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise ValidationError(
            f"“{text}” is not a time Estate can read: write now, -5m, 2 hours ago, or "
            "an ISO 8601 time such as 2026-04-12 09:30 or 2026-04-12T09:30:00+02:00.",
            code="invalid",
        ) from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value, timezone.get_default_timezone())
    return value


def zone_name() -> str:
    return str(timezone.get_default_timezone())


def hint(*, future: bool = False) -> str:
    """How to write a time, and in which zone a time without offset is read."""
    relative = "+2h, in 3 days" if future else "-5m, 2 hours ago"
    return (
        f"Write now, {relative}, or ISO 8601 (2026-04-12 09:30, 2026-04-12T09:30+02:00); "
        f"a time without an offset is read in {zone_name()}."
    )


class _WhenBoundField(BoundField):
    """Appends the format and time zone to the help text, whatever a form's
    ``__init__`` set it to (forms often replace it with the window that applies)."""

    def __init__(self, form: forms.BaseForm, field: forms.Field, name: str) -> None:
        super().__init__(form, field, name)
        extra = hint(future=getattr(field, "future", False))
        self.help_text = f"{self.help_text} {extra}".strip() if self.help_text else extra


class WhenField(forms.Field):
    """A point in time typed by an operator: see the module docstring. ``future=True``
    gives examples that point forward (an expiry); both directions are always read."""

    widget = forms.TextInput
    bound_field_class = _WhenBoundField

    def __init__(self, *, future: bool = False, **kwargs: Any) -> None:
        self.future = future
        super().__init__(**kwargs)

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.setdefault("placeholder", "+1d" if self.future else "-5m or 2026-04-12 09:30")
        attrs.setdefault("autocomplete", "off")
        attrs.setdefault("spellcheck", "false")
        return attrs

    def prepare_value(self, value: Any) -> Any:
        # An initial datetime is shown in the zone a naive input would be read in,
        # with its offset, to the second: typed back unchanged, it means the same.
        if isinstance(value, datetime):
            if timezone.is_aware(value):
                value = timezone.localtime(value, timezone.get_default_timezone())
            return value.isoformat(sep=" ", timespec="seconds")
        return value

    def to_python(self, value: Any) -> datetime | None:
        if value in self.empty_values:
            return None
        if isinstance(value, datetime):
            if timezone.is_naive(value):
                return timezone.make_aware(value, timezone.get_default_timezone())
            return value
        return parse_when(str(value))
