"""Forms of the findings page: the GET filter and the POST suppression."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.utils import timezone

from estate import models as m
from estate.roles import ROLES, VIEWER
from guard import rules
from guard.services import max_suppression_days

KINDS = [
    ("instance", "DB instance"),
    ("cluster", "DB cluster"),
    ("snapshot", "Snapshot"),
    ("proxy", "RDS Proxy"),
    ("cache", "ElastiCache"),
    ("dms-instance", "DMS replication instance"),
    ("dms-endpoint", "DMS endpoint"),
]
STATUSES = [("open", "open"), ("suppressed", "suppressed"), ("all", "all")]


class FindingFilterForm(forms.Form):
    severity = forms.ChoiceField(required=False, choices=[("", "any"), *rules.Severity.CHOICES])
    rule = forms.ChoiceField(required=False, choices=())
    account = forms.TypedChoiceField(required=False, coerce=int, empty_value=None, choices=())
    environment = forms.ChoiceField(required=False, choices=[("", "any"), *m.Environment.choices])
    kind = forms.ChoiceField(required=False, choices=[("", "any"), *KINDS])
    status = forms.ChoiceField(required=False, choices=STATUSES)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, data: Any, *, accounts: list[m.Account], **kw: Any) -> None:
        super().__init__(data, **kw)
        self.fields["rule"].choices = [("", "any")] + [
            (r.id, f"{r.id}: {r.title}") for r in rules.RULES.values()
        ]
        self.fields["account"].choices = [("", "any")] + [(a.pk, a.name) for a in accounts]

    def matches(self, finding: rules.Finding) -> bool:
        d = self.cleaned_data
        status = d.get("status") or "open"
        if status == "open" and finding.suppressed:
            return False
        if status == "suppressed" and not finding.suppressed:
            return False
        return (
            (not d.get("severity") or finding.severity == d["severity"])
            and (not d.get("rule") or finding.rule.id == d["rule"])
            and (d.get("account") is None or finding.account_pk == d["account"])
            and (not d.get("environment") or finding.environment == d["environment"])
            and (not d.get("kind") or finding.resource_kind == d["kind"])
        )


class SuppressForm(forms.Form):
    rule_id = forms.ChoiceField(choices=())
    resource_arn = forms.CharField(max_length=1024)
    reason = forms.CharField(min_length=5, max_length=2000, widget=forms.Textarea({"rows": 2}))
    expires_on = forms.DateField(
        label="Until",
        widget=forms.DateInput({"type": "date"}),
        help_text="the finding returns then",
    )

    def __init__(self, *args: Any, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.fields["rule_id"].choices = [(r, r) for r in rules.RULES]

    def clean_expires_on(self) -> Any:
        day = self.cleaned_data["expires_on"]
        today = timezone.localdate()
        if day <= today:
            raise forms.ValidationError("Pick a day after today.")
        limit = max_suppression_days()
        if day > today + timedelta(days=limit):
            raise forms.ValidationError(f"At most {limit} days ahead.")
        return day

    def expires_at(self) -> datetime:
        # The end of the chosen day in the server's time zone.
        day = self.cleaned_data["expires_on"] + timedelta(days=1)
        return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class InviteForm(forms.Form):
    username = forms.CharField(
        max_length=150,
        validators=[UnicodeUsernameValidator()],
        help_text="letters, digits and @/./+/-/_ only",
    )
    email = forms.EmailField(required=False)
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES], initial=VIEWER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=[(r, r) for r in ROLES])


class BaselineForm(forms.Form):
    baseline = forms.TypedChoiceField(
        required=False, coerce=int, empty_value=None, label="Baseline group", choices=()
    )

    def __init__(self, data: Any, *, groups: list[m.ParameterGroup], **kw: Any) -> None:
        super().__init__(data, **kw)
        self._groups = {g.pk: g for g in groups}
        self.fields["baseline"].choices = [("", "choose a group")] + [
            (
                g.pk,
                f"{g.identifier} ({g.get_scope_display()}, {g.family}, {g.account.name}/{g.region})",
            )
            for g in groups
        ]

    def clean_baseline(self) -> m.ParameterGroup | None:
        pk = self.cleaned_data.get("baseline")
        return self._groups.get(pk) if pk is not None else None
