"""Forms: a drill schedule (the UI's; the admin uses the model's own validation)."""

from __future__ import annotations

from typing import Any

from django import forms

from drills import services
from drills.models import DrillSchedule
from drills.probes import ProbeConfigError, ProbeTarget


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
                kind_name = services.kind_for_schedule(probe, target)
            except ValueError as exc:
                self.add_error("drill_type", str(exc))
                return cleaned
            self._check_options(kind_name, target, cleaned)
        return cleaned

    def _check_options(self, kind_name: str, target: Any, cleaned: dict[str, Any]) -> None:
        """The options must be what the drill kind's own form accepts (e.g. the shard
        of a cache drill), or every scheduled run would be skipped as refused."""
        from operations import registry

        kind = registry.get(kind_name)
        if kind is None or not isinstance(cleaned.get("options"), dict):
            return
        form = kind.form_class(dict(cleaned["options"]), target=target, kind=kind)
        if not form.is_valid():
            for field, errors in form.errors.items():
                label = "" if field == "__all__" else f"{field}: "
                for error in errors:
                    self.add_error("options", f"{label}{error}")

    def save(self, commit: bool = True) -> DrillSchedule:
        schedule = super().save(commit=False)
        target = getattr(self, "target", None)
        if target is not None:
            schedule.target_label = target.identifier
        if commit:
            schedule.save()
        return schedule
