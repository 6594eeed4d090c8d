"""The audit page's filter form: GET parameters in, a filtered queryset out. A value it
cannot read becomes a form error shown above the table (HTTP 400), never an exception."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone

from audit.models import AuditEvent, Outcome


def _day_start(day: date, days_after: int = 0) -> datetime | None:
    """Midnight of ``day`` (+ days) in the current time zone, or None at the edges of
    the calendar (0001-01-01, 9999-12-31), which mean "no bound"."""
    try:
        start = datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())
        start += timedelta(days=days_after)
        start.astimezone(UTC)  # the database compares in UTC: must be representable
    except OverflowError:
        return None
    return start


class AuditFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    actor = forms.CharField(required=False, max_length=150, help_text="username")
    action = forms.CharField(required=False, max_length=100, help_text="e.g. auth. or auth.login")
    target = forms.CharField(required=False, max_length=300, help_text="ARN or label, partial")
    outcome = forms.ChoiceField(required=False, choices=[("", "any"), *Outcome.choices])
    since = forms.DateField(required=False, label="From", widget=forms.DateInput({"type": "date"}))
    until = forms.DateField(required=False, label="To", widget=forms.DateInput({"type": "date"}))
    page = forms.IntegerField(required=False, min_value=1)

    def clean(self) -> dict:
        data = super().clean()
        since, until = data.get("since"), data.get("until")
        if since and until and since > until:
            raise forms.ValidationError("'From' must not be after 'To'.")
        return data

    def apply(self, qs: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
        """The filtered queryset (call after is_valid())."""
        d = self.cleaned_data
        if d.get("actor"):
            qs = qs.filter(username__iexact=d["actor"].strip())
        if d.get("action"):
            action = d["action"].strip()
            # "auth." lists a family of actions; "auth.login" exactly that one.
            qs = (
                qs.filter(action__startswith=action)
                if action.endswith(".")
                else qs.filter(action=action)
            )
        if d.get("target"):
            qs = qs.filter(target__icontains=d["target"].strip())
        if d.get("outcome"):
            qs = qs.filter(outcome=d["outcome"])
        if d.get("since"):
            start = _day_start(d["since"])
            if start is not None:
                qs = qs.filter(at__gte=start)
        if d.get("until"):
            # The whole "To" day is included.
            end = _day_start(d["until"], days_after=1)
            if end is not None:
                qs = qs.filter(at__lt=end)
        if d.get("q"):
            text = d["q"].strip()
            qs = qs.filter(
                Q(username__icontains=text)
                | Q(action__icontains=text)
                | Q(target__icontains=text)
                | Q(source_ip__startswith=text)
                | Q(details__icontains=text)
            )
        return qs
