"""Filter forms. They only read GET parameters and turn them into the frozen filter
objects of ``estate.queries``; a value they cannot read becomes a form error shown above
the table (HTTP 400), never an exception."""

from __future__ import annotations

from typing import Any

from django import forms

from estate import models, queries
from metrics.queries import arns_past_threshold


class InventoryFilterForm(forms.Form):
    q = forms.CharField(required=False, max_length=200, label="Search")
    kind = forms.MultipleChoiceField(
        required=False, choices=[(k.key, k.label) for k in queries.KINDS.values()]
    )
    account = forms.TypedMultipleChoiceField(required=False, coerce=int, choices=())
    region = forms.MultipleChoiceField(required=False, choices=())
    environment = forms.ChoiceField(
        required=False, choices=[("", "any"), *models.Environment.choices]
    )
    engine = forms.CharField(required=False, max_length=64)
    status = forms.CharField(required=False, max_length=64)
    tag = forms.CharField(
        required=False,
        max_length=300,
        help_text="key=value, or key alone for any value",
    )
    lifecycle = forms.ChoiceField(required=False, choices=list(queries.LIFECYCLES.items()))
    past_threshold = forms.BooleanField(required=False, label="Past a threshold")
    pending_changes = forms.BooleanField(
        required=False,
        label="Pending changes",
        help_text="DB instances and clusters with changes waiting for a reboot or window",
    )
    sort = forms.CharField(required=False, max_length=40)
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(
        self, data: Any, *, accounts: list[models.Account], regions: list[str], **kw: Any
    ) -> None:
        super().__init__(data, **kw)
        self.fields["account"].choices = [(a.pk, a.name) for a in accounts]
        self.fields["region"].choices = [(r, r) for r in regions]

    def clean_tag(self) -> str:
        tag = self.cleaned_data.get("tag", "").strip()
        key = tag.split("=", 1)[0].strip()
        if tag and not key:
            raise forms.ValidationError("Tag filter needs a key: write key=value or key.")
        return tag

    def clean_sort(self) -> str:
        sort = self.cleaned_data.get("sort", "").strip()
        if sort and sort.lstrip("-") not in queries.SORTABLE:
            allowed = ", ".join(queries.SORTABLE)
            raise forms.ValidationError(f"Cannot sort by {sort!r}; sort by one of: {allowed}.")
        return sort

    def filters(self) -> queries.InventoryFilters:
        """The validated filters (call after is_valid())."""
        d = self.cleaned_data
        tag = d.get("tag") or ""
        key, sep, value = tag.partition("=")
        return queries.InventoryFilters(
            kinds=tuple(d.get("kind") or ()),
            account_ids=tuple(d.get("account") or ()),
            regions=tuple(d.get("region") or ()),
            environment=d.get("environment") or "",
            engine=(d.get("engine") or "").strip(),
            status=(d.get("status") or "").strip(),
            tag_key=key.strip(),
            tag_value=value.strip() if sep else None,
            lifecycle=d.get("lifecycle") or "live",
            q=(d.get("q") or "").strip(),
            sort=d.get("sort") or queries.DEFAULT_SORT,
            arns=frozenset(arns_past_threshold()) if d.get("past_threshold") else None,
            pending_changes=bool(d.get("pending_changes")),
        )


class SnapshotFilterForm(forms.Form):
    resource = forms.CharField(required=False, max_length=255)
    snapshot_type = forms.ChoiceField(
        required=False,
        label="Type",
        choices=[
            ("", "any"),
            ("manual", "manual"),
            ("automated", "automated"),
            ("awsbackup", "AWS Backup"),
        ],
    )
    older_than_days = forms.IntegerField(
        required=False, min_value=0, max_value=36500, label="Older than (days)"
    )
    newer_than_days = forms.IntegerField(
        required=False, min_value=0, max_value=36500, label="Newer than (days)"
    )
    encrypted = forms.ChoiceField(
        required=False, choices=[("", "any"), ("yes", "encrypted"), ("no", "unencrypted")]
    )
    exposure = forms.ChoiceField(
        required=False, choices=[("", "any"), ("shared", "shared"), ("public", "public")]
    )
    region = forms.ChoiceField(required=False, choices=())
    page = forms.IntegerField(required=False, min_value=1)

    def __init__(self, data: Any, *, regions: list[str], **kw: Any) -> None:
        super().__init__(data, **kw)
        self.fields["region"].choices = [("", "any"), *((r, r) for r in regions)]

    def filters(self) -> queries.SnapshotFilters:
        d = self.cleaned_data
        return queries.SnapshotFilters(
            resource=(d.get("resource") or "").strip(),
            snapshot_type=d.get("snapshot_type") or "",
            older_than_days=d.get("older_than_days"),
            newer_than_days=d.get("newer_than_days"),
            encrypted=d.get("encrypted") or "",
            exposure=d.get("exposure") or "",
            region=d.get("region") or "",
        )


class ParameterDiffForm(forms.Form):
    """Pick two groups, or one group against its engine family's defaults (b empty)."""

    a = forms.ModelChoiceField(queryset=models.ParameterGroup.objects.none(), label="Group")
    b = forms.ModelChoiceField(
        queryset=models.ParameterGroup.objects.none(),
        required=False,
        label="Compare with",
        empty_label="engine family defaults",
    )

    def __init__(self, data: Any, *, groups: Any, **kw: Any) -> None:
        super().__init__(data, **kw)
        for name in ("a", "b"):
            field = self.fields[name]
            field.queryset = groups
            # Names repeat across accounts and regions: say which one.
            field.label_from_instance = lambda g: f"{g.identifier} · {g.region} · {g.family}"


class OptionDiffForm(forms.Form):
    a = forms.ModelChoiceField(queryset=models.OptionGroup.objects.none(), label="Group")
    b = forms.ModelChoiceField(queryset=models.OptionGroup.objects.none(), label="Compare with")

    def __init__(self, data: Any, *, groups: Any, **kw: Any) -> None:
        super().__init__(data, **kw)
        for name in ("a", "b"):
            field = self.fields[name]
            field.queryset = groups
            field.label_from_instance = lambda g: (
                f"{g.identifier} · {g.region} · {g.engine} {g.major_engine_version}"
            )
