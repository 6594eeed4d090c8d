"""Every operation form's time inputs are WhenFields: an operator may type "-5m" or an
ISO time, and an ambiguous date is refused, not guessed."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from estate.when import WhenField
from operations import registry
from operations.kinds.backtrack import Backtrack
from operations.kinds.base import json_params
from tests.factories import estate as f

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    return f.make_cluster(
        identifier="ledger",
        engine="aurora-mysql",
        backtrack_window=7200,
        earliest_backtrack_time=timezone.now() - timedelta(hours=2),
    )


def _form(cluster, when: str):
    return Backtrack.form_class(
        {"backtrack_to": when, "confirm": "ledger"}, target=cluster, kind=Backtrack
    )


def test_backtrack_form_reads_a_relative_time(ledger):
    form = _form(ledger, "-5m")
    assert form.is_valid(), form.errors
    expected = timezone.now() - timedelta(minutes=5)
    assert abs(form.cleaned_data["backtrack_to"] - expected) < timedelta(seconds=5)
    # Stored as ISO 8601 with its offset, read back the same way ("Run again").
    assert _form(ledger, json_params(form.cleaned_data)["backtrack_to"]).is_valid()


def test_backtrack_form_refuses_an_ambiguous_date_and_keeps_its_window_check(ledger):
    ambiguous = _form(ledger, "04/12/2026")
    assert not ambiguous.is_valid()
    assert "year-month-day" in ambiguous.errors["backtrack_to"][0]
    too_early = _form(ledger, "-3h")
    assert not too_early.is_valid()
    assert "before the start of the backtrack window" in too_early.errors["backtrack_to"][0]


def test_backtrack_form_says_the_format_and_zone_beside_its_window(ledger):
    help_text = Backtrack.form_class(target=ledger, kind=Backtrack)["backtrack_to"].help_text
    assert help_text.startswith("Window: ")
    assert "-5m" in help_text
    assert "UTC" in help_text


def test_every_time_input_of_every_kind_is_a_when_field():
    from django import forms

    for kind in registry.all_kinds().values():
        for name, field in kind.form_class.base_fields.items():
            if isinstance(field, (forms.DateTimeField, forms.SplitDateTimeField)):
                pytest.fail(f"{kind.name}.{name} is a {type(field).__name__}, not a WhenField")
    names = {
        name
        for kind in registry.all_kinds().values()
        for name, field in kind.form_class.base_fields.items()
        if isinstance(field, WhenField)
    }
    assert {"backtrack_to", "restore_time", "expires_at"} <= names
