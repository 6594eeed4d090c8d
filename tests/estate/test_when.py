"""WhenField: relative times, ISO 8601 with or without offset (naive = TIME_ZONE), and no
silent reading of a date whose day and month could be swapped."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from estate.when import WhenField, parse_when

NOW = datetime(2026, 4, 20, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("now", NOW),
        ("NOW", NOW),
        ("-5m", NOW - timedelta(minutes=5)),
        ("-2h", NOW - timedelta(hours=2)),
        ("- 90s", NOW - timedelta(seconds=90)),
        ("-1h30m", NOW - timedelta(hours=1, minutes=30)),
        ("+2d", NOW + timedelta(days=2)),
        ("5 minutes ago", NOW - timedelta(minutes=5)),
        ("1 hour ago", NOW - timedelta(hours=1)),
        ("2 hrs 15 mins ago", NOW - timedelta(hours=2, minutes=15)),
        ("in 3 days", NOW + timedelta(days=3)),
        ("in 1 week", NOW + timedelta(weeks=1)),
        ("2026-04-12T09:30:00Z", datetime(2026, 4, 12, 9, 30, tzinfo=UTC)),
        ("2026-04-12T09:30:00+02:00", datetime(2026, 4, 12, 7, 30, tzinfo=UTC)),
        ("2026-04-12 09:30", datetime(2026, 4, 12, 9, 30, tzinfo=UTC)),
        ("  2026-04-12   09:30  ", datetime(2026, 4, 12, 9, 30, tzinfo=UTC)),
    ],
)
def test_parse_when_reads_relative_and_iso_times(settings, text, expected):
    settings.TIME_ZONE = "UTC"
    assert parse_when(text, now=NOW) == expected


def test_a_naive_time_is_read_in_the_configured_time_zone(settings):
    settings.TIME_ZONE = "Europe/Berlin"  # UTC+2 in April
    assert parse_when("2026-04-12 09:30", now=NOW) == datetime(2026, 4, 12, 7, 30, tzinfo=UTC)
    # An explicit offset wins over the zone.
    assert parse_when("2026-04-12 09:30Z", now=NOW) == datetime(2026, 4, 12, 9, 30, tzinfo=UTC)


def test_an_ambiguous_date_is_refused_with_both_readings():
    with pytest.raises(ValidationError) as refused:
        parse_when("04/12/2026", now=NOW)
    message = refused.value.messages[0]
    assert "2026-12-04" in message
    assert "2026-04-12" in message
    assert "year-month-day" in message
    assert refused.value.code == "ambiguous"


@pytest.mark.parametrize("text", ["25/12/2026", "12.25.2026 10:00", "4-12-26"])
def test_any_day_month_year_date_is_refused_even_when_it_could_be_guessed(text):
    with pytest.raises(ValidationError) as refused:
        parse_when(text, now=NOW)
    assert refused.value.code == "ambiguous"


@pytest.mark.parametrize("text", ["yesterday-ish", "-5 months", "2026-13-01", "5"])
def test_unreadable_text_says_how_to_write_a_time(text):
    with pytest.raises(ValidationError) as refused:
        parse_when(text, now=NOW)
    assert "ISO 8601" in refused.value.messages[0]


class _Form(forms.Form):
    when = WhenField(help_text="Inside the window.")
    expires = WhenField(required=False, future=True)


def test_the_field_says_the_format_and_time_zone_in_its_help_text(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    form = _Form()
    help_text = form["when"].help_text
    assert help_text.startswith("Inside the window.")
    assert "-5m" in help_text
    assert "ISO 8601" in help_text
    assert "Europe/Berlin" in help_text
    assert "in 3 days" in form["expires"].help_text
    # A form that replaces the help text keeps the hint
    form.fields["when"].help_text = "Window: 09:00 to now."
    assert "Europe/Berlin" in _replaced(form)


def _replaced(form: forms.Form) -> str:
    return form["when"].help_text


def test_the_field_cleans_to_an_aware_time_and_empty_to_none(settings):
    settings.TIME_ZONE = "UTC"
    form = _Form({"when": "-5m", "expires": ""})
    assert form.is_valid(), form.errors
    assert timezone.is_aware(form.cleaned_data["when"])
    assert abs(timezone.now() - timedelta(minutes=5) - form.cleaned_data["when"]) < timedelta(
        seconds=5
    )
    assert form.cleaned_data["expires"] is None


def test_the_field_refuses_an_ambiguous_date_as_a_form_error():
    form = _Form({"when": "04/12/2026"})
    assert not form.is_valid()
    assert "could be" in form.errors["when"][0]


def test_an_initial_time_is_shown_in_the_configured_zone_with_its_offset(settings):
    settings.TIME_ZONE = "Europe/Berlin"
    form = _Form(initial={"when": datetime(2026, 4, 12, 7, 30, 15, 123456, tzinfo=UTC)})
    assert 'value="2026-04-12 09:30:15+02:00"' in str(form["when"])
