"""Forms: a drill schedule (the UI's; the admin uses the model's own validation)."""

from __future__ import annotations

from typing import Any

from django import forms

from drills import services
from drills.models import DrillSchedule
from operations.probes import ProbeConfigError, ProbeTarget


class DrillScheduleForm(forms.ModelForm):
    webhook_url = forms.URLField(
        required=False,
        max_length=1000,
        assume_scheme="https",
        help_text="POSTed a JSON (Slack-compatible 'text') on drill failure or SLO breach.",
    )

    class Meta:
        model = DrillSchedule
        fields = [
            "name",
            "drill_type",
            "target_arn",
            "cron",
            "timezone",
            "window_start",
            "window_end",
            "blackout_dates",
            "slo_seconds",
            "probe_endpoints",
            "probe_interval_ms",
            "options",
            "webhook_url",
            "enabled",
        ]
        widgets = {
            "window_start": forms.TimeInput(attrs={"type": "time"}),
            "window_end": forms.TimeInput(attrs={"type": "time"}),
        }

    def clean_target_arn(self) -> str:
        arn = self.cleaned_data["target_arn"].strip()
        target = services.resolve_target(arn)
        if target is None or target.gone_at is not None:
            raise forms.ValidationError("No live cluster or instance with this ARN in the mirror.")
        self.target = target
        return arn

    def clean_probe_endpoints(self) -> list[dict[str, Any]]:
        value = self.cleaned_data.get("probe_endpoints") or []
        if not isinstance(value, list):
            raise forms.ValidationError("A list of endpoint objects.")
        for item in value:
            try:
                ProbeTarget.from_options(item if isinstance(item, dict) else {})
            except ProbeConfigError as exc:
                raise forms.ValidationError(str(exc)) from exc
        return value

    def clean_options(self) -> dict[str, Any]:
        value = self.cleaned_data.get("options") or {}
        if not isinstance(value, dict):
            raise forms.ValidationError("An object of drill parameters.")
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        target = getattr(self, "target", None)
        if target is not None and cleaned.get("drill_type"):
            probe = DrillSchedule(drill_type=cleaned["drill_type"])
            try:
                services.kind_for_schedule(probe, target)
            except ValueError as exc:
                self.add_error("drill_type", str(exc))
        return cleaned

    def save(self, commit: bool = True) -> DrillSchedule:
        schedule = super().save(commit=False)
        target = getattr(self, "target", None)
        if target is not None:
            schedule.target_label = target.identifier
        if commit:
            schedule.save()
        return schedule
