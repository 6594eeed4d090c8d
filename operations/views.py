"""Operation pages: start (a kind's form), detail with a live timeline, list, cancel.

Permissions are checked here (403 before any work) and again in the services.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time
from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from estate import windows
from estate.models import DbCluster, DbInstance
from estate.roles import RUN_DESTRUCTIVE_OPERATIONS, VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required
from operations import registry
from operations.models import ACTIVE, RESOURCE_PAGES, Operation, State
from operations.services import (
    OperationRefused,
    approve_operation,
    cancel_operation,
    reject_operation,
    resolve_target,
    start_operation,
)


def _shown(value: Any) -> str:
    """A parameter or result value as an operator reads it."""
    if value is None or value in ("", [], {}):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.2f}".rstrip("0").rstrip(".")
    if isinstance(value, list | dict):
        return json.dumps(value)
    return str(value)


_ACRONYMS = {"acu": "ACU", "arn": "ARN", "az": "AZ", "id": "ID", "kms": "KMS", "slo": "SLO"}


def _humanized(key: str) -> str:
    """``new_primary_az`` -> "New primary AZ"."""
    words = [_ACRONYMS.get(word, word) for word in key.split("_") if word]
    if words and words[0] == words[0].lower():
        words[0] = words[0].capitalize()
    return " ".join(words)


def _param_rows(kind: Any, params: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(label, key, value) per parameter, labelled as the kind's form labels them; an
    unset hidden field (a drill's schedule id) is left out."""
    fields = getattr(getattr(kind, "form_class", None), "base_fields", {})
    rows = []
    for key, value in params.items():
        field = fields.get(key)
        if field is not None and field.widget.is_hidden and value in (None, ""):
            continue
        label = field.label if field is not None and field.label else _humanized(key)
        rows.append((label, key, _shown(value)))
    return rows


# Result keys that name another page: the drill run's report.
_RESULT_LINKS = {"drill_run": "drills:run"}


def _mirrored_pages(values: list[Any]) -> dict[str, str]:
    """ARN -> page of the mirrored instances and clusters among ``values`` (what an
    operation created: a restored instance, a clone), two queries at most."""
    arns = [v for v in values if isinstance(v, str) and v.startswith("arn:aws:rds:")]
    pages: dict[str, str] = {}
    if arns:
        for model in (DbInstance, DbCluster):
            page = RESOURCE_PAGES[model._meta.label]
            for pk, arn in model.objects.filter(arn__in=arns).values_list("pk", "arn"):
                pages[arn] = reverse(page, args=[pk])
    return pages


def _result_rows(result: dict[str, Any]) -> list[tuple[str, str, str, str]]:
    """(label, key, value, url) per result entry (the DMS table statistics have their
    own table); a drill run and a mirrored resource link to their pages."""
    pages = _mirrored_pages(list(result.values()))
    rows = []
    for key, value in result.items():
        if key == "tables":
            continue
        url = pages.get(value, "") if isinstance(value, str) else ""
        if key in _RESULT_LINKS and value:
            try:
                url = reverse(_RESULT_LINKS[key], args=[value])
            except NoReverseMatch:  # the drills app is optional
                url = ""
        shown = "unknown" if value is None else _shown(value)
        rows.append((_humanized(key), key, shown, url))
    return rows


def _open_windows(target: Any) -> list[str]:
    """The target's AWS windows running right now (as last synced), said so on the form:
    a backup or maintenance in progress is a poor moment for a failover or a change."""
    return [
        f"its {what} window ({window} UTC) is running now"
        for what, window in windows.running_on(target, timezone.now())
    ]


def _copied_from(pk: str | None, kind_class: Any, target: Any) -> Operation | None:
    """The earlier operation of this kind on this target that "Run again" names."""
    if not pk or not pk.isdigit() or len(pk) > 18:  # (a bigint holds 18 digits safely)
        return None
    return Operation.objects.filter(pk=int(pk), kind=kind_class.name, target_arn=target.arn).first()


def _initial_from(op: Operation, kind_class: Any) -> dict[str, Any]:
    """The form filled in with ``op``'s parameters, except what must be typed again
    (confirmations) and hidden fields (a schedule's id: a re-run is a person's)."""
    fields = kind_class.form_class.base_fields
    return {
        key: value
        for key, value in op.params.items()
        if key in fields
        and key not in kind_class.form_class.RETYPED
        and not fields[key].widget.is_hidden
        and value is not None
    }


def _operation(pk: int) -> Operation:
    return get_object_or_404(
        Operation.objects.select_related(
            "requested_by", "account", "cancel_requested_by", "approved_by"
        ),
        pk=pk,
    )


@require_GET
@role_required(VIEW_ESTATE)
def operation_list(request: HtmxRequest) -> HttpResponse:
    ops = Operation.objects.select_related("requested_by").running_first()
    f = request.GET
    if f.get("kind"):
        ops = ops.filter(kind=f["kind"])
    if f.get("state"):
        ops = (
            ops.filter(state__in=ACTIVE) if f["state"] == "active" else ops.filter(state=f["state"])
        )
    if f.get("target"):
        ops = ops.filter(
            Q(target_arn__icontains=f["target"]) | Q(target_label__icontains=f["target"])
        )
    if f.get("requester"):
        ops = ops.filter(requested_by__username=f["requester"])
    for key, lookup, bound in (
        ("from", "created_at__gte", time.min),
        ("to", "created_at__lte", time.max),
    ):
        if f.get(key):
            try:
                day = date.fromisoformat(f[key])
            except ValueError:
                messages.error(request, f"{key}: use YYYY-MM-DD.")
                continue
            ops = ops.filter(**{lookup: datetime.combine(day, bound, tzinfo=UTC)})
    page = paginate(request, ops)
    context = {
        "page": page,
        "operations": page.object_list,
        "kinds": sorted(registry.all_kinds().values(), key=lambda k: k.label),
        "states": State.choices,
        "requesters": User.objects.filter(operations__isnull=False)
        .distinct()
        .order_by("username")
        .values_list("username", flat=True),
        "filters": f,
        "filtered": any(f.get(k) for k in ("kind", "state", "target", "requester", "from", "to")),
        "querystring": f.copy().urlencode() if f else "",
    }
    return render_page(request, "operations/list.html", context, partial="table")


@require_GET
@role_required(VIEW_ESTATE)
def operation_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    op = _operation(pk)
    kind = registry.get(op.kind)
    context = {
        "op": op,
        "kind": kind,
        "events": op.events.all(),
        "steps": kind.steps if kind else (),
        "param_rows": _param_rows(kind, op.params),
        "result_rows": _result_rows(op.result),
        "can_run_again": not op.is_active
        and kind is not None
        and request.user.has_perm(kind.permission()),
        "can_cancel": op.can_cancel
        and kind is not None
        and request.user.has_perm(kind.permission()),
        # Four-eyes: a different Admin decides; the requester only sees that it waits.
        "can_decide": op.is_awaiting_approval
        and request.user.has_perm(RUN_DESTRUCTIVE_OPERATIONS)
        and op.requested_by_id != request.user.pk,
    }
    # The status box polls ?part=status; the page itself has no other swapped region.
    partial = "status" if request.GET.get("part") == "status" else None
    return render_page(request, "operations/detail.html", context, partial=partial)


@role_required(VIEW_ESTATE)
def operation_new(request: HtmxRequest, kind: str) -> HttpResponse:
    kind_class = registry.get(kind)
    if kind_class is None:
        raise Http404(f"No operation kind {kind!r}.")
    if not request.user.has_perm(kind_class.permission()):
        raise PermissionDenied(f"{kind_class.label} needs {kind_class.permission()}.")
    target_arn = request.GET.get("target") or request.POST.get("target") or ""
    try:
        target = resolve_target(kind_class, target_arn)
    except OperationRefused as exc:
        raise Http404(exc.message) from exc
    errors: dict[str, list[str]] = {}
    if request.method == "POST":
        params = _params_from(request, kind_class, target)
        try:
            op = start_operation(kind, target, params, requested_by=request.user, request=request)
        except OperationRefused as exc:
            errors = exc.errors
        else:
            messages.success(request, f"Operation #{op.pk} queued.")
            if request.htmx:
                return HttpResponseClientRedirect(op.get_absolute_url())
            return redirect(op)
        form = kind_class.form_class(request.POST, target=target, kind=kind_class)
        form.is_valid()
    else:
        copied_from = _copied_from(request.GET.get("from"), kind_class, target)
        initial = _initial_from(copied_from, kind_class) if copied_from else {}
        form = kind_class.form_class(target=target, kind=kind_class, initial=initial)
    context = {
        "kind": kind_class,
        "target": target,
        "form": form,
        "errors": errors,
        "non_field_errors": errors.get("__all__", []),
        "running": Operation.objects.active().filter(target_arn=target.arn).first(),
        "open_windows": _open_windows(target),
        "copied_from": copied_from if request.method != "POST" else None,
    }
    status = 422 if errors else 200
    return render_page(request, "operations/new.html", context, partial="form", status=status)


def _params_from(request: HtmxRequest, kind_class: type, target: object) -> dict[str, Any]:
    """The posted values of the kind's form fields (lists for multiple choices)."""
    fields = kind_class.form_class(target=target, kind=kind_class).fields
    params: dict[str, Any] = {}
    for name, field in fields.items():
        if isinstance(field, forms.MultipleChoiceField):
            params[name] = request.POST.getlist(name)
        elif name in request.POST:
            params[name] = request.POST[name]
    return params


@require_POST
@role_required(VIEW_ESTATE)
def operation_cancel(request: HtmxRequest, pk: int) -> HttpResponse:
    op = _operation(pk)
    try:
        cancel_operation(op, by=request.user, request=request)
    except OperationRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.warning(request, f"Cancel requested for operation #{op.pk}.")
    if request.htmx:
        return HttpResponseClientRedirect(op.get_absolute_url())
    return redirect(op)


def _decision(request: HtmxRequest, pk: int, decide: Any, done: str) -> HttpResponse:
    op = _operation(pk)
    try:
        decide(op, by=request.user, comment=request.POST.get("comment", ""), request=request)
    except OperationRefused as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Operation #{op.pk} {done}.")
    if request.htmx:
        return HttpResponseClientRedirect(op.get_absolute_url())
    return redirect(op)


@require_POST
@role_required(RUN_DESTRUCTIVE_OPERATIONS)
def operation_approve(request: HtmxRequest, pk: int) -> HttpResponse:
    return _decision(request, pk, approve_operation, "approved and queued")


@require_POST
@role_required(RUN_DESTRUCTIVE_OPERATIONS)
def operation_reject(request: HtmxRequest, pk: int) -> HttpResponse:
    return _decision(request, pk, reject_operation, "rejected")
