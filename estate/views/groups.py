"""Parameter groups (list, detail, diff) and option groups (list, detail)."""

from __future__ import annotations

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_GET

from estate import models, queries
from estate.forms import OptionDiffForm, ParameterDiffForm
from estate.roles import VIEW_ESTATE
from estate.web import HtmxRequest, paginate, render_page, role_required


@require_GET
@role_required(VIEW_ESTATE)
def parameter_group_list(request: HtmxRequest) -> HttpResponse:
    page = paginate(request, queries.parameter_groups())
    groups = list(page.object_list)
    usage = queries.group_usage(groups)
    context = {
        "page": page,
        "rows": [{"group": g, "used_by": usage[g.pk]} for g in groups],
        "has_accounts": models.Account.objects.exists(),
    }
    return render_page(request, "estate/parameter_groups.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def parameter_group_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(models.ParameterGroup.objects.select_related("account"), pk=pk)
    modified_only = request.GET.get("modified") == "1"
    params = group.parameters.all()
    if modified_only:
        params = params.filter(source="user")
    context = {
        "object": group,
        "parameters": list(params),
        "modified_only": modified_only,
        "default_group": queries.default_group_for(group),
        "used_by": queries.group_usage([group])[group.pk],
    }
    return render_page(request, "estate/parameter_group_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def parameter_diff(request: HtmxRequest) -> HttpResponse:
    """Two groups side by side, only the parameters that differ. Without ``b`` the
    group is compared with its engine family's default group."""
    groups = models.ParameterGroup.objects.live().order_by("identifier", "region")
    form = ParameterDiffForm(request.GET or None, groups=groups)
    context: dict = {"form": form, "left": None, "right": None, "rows": [], "problem": ""}
    status = 200
    if request.GET and not form.is_valid():
        status = 400
    elif form.is_bound:
        left = form.cleaned_data["a"]
        right = form.cleaned_data["b"] or queries.default_group_for(left)
        if right is None:
            context["problem"] = (
                f"{left.identifier} is a default group or no default group of family "
                f"{left.family or '?'} is mirrored: pick a group to compare with."
            )
        else:
            context.update(left=left, right=right, rows=queries.parameter_diff(left, right))
            if left.family != right.family:
                context["problem"] = (
                    f"Different families ({left.family} and {right.family}): many "
                    "differences are expected."
                )
    return render_page(
        request, "estate/parameter_diff.html", context, partial="diff", status=status
    )


@require_GET
@role_required(VIEW_ESTATE)
def option_group_list(request: HtmxRequest) -> HttpResponse:
    page = paginate(request, queries.option_groups())
    groups = list(page.object_list)
    usage = queries.option_usage(groups)
    context = {
        "page": page,
        "rows": [{"group": g, "used_by": usage[g.pk]} for g in groups],
        "has_accounts": models.Account.objects.exists(),
    }
    return render_page(request, "estate/option_groups.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def option_group_detail(request: HtmxRequest, pk: int) -> HttpResponse:
    group = get_object_or_404(models.OptionGroup.objects.select_related("account"), pk=pk)
    context = {"object": group, "used_by": queries.option_usage([group])[group.pk]}
    return render_page(request, "estate/option_group_detail.html", context)


@require_GET
@role_required(VIEW_ESTATE)
def option_diff(request: HtmxRequest) -> HttpResponse:
    """Two option groups side by side, only the options that differ."""
    groups = models.OptionGroup.objects.live().order_by("identifier", "region")
    form = OptionDiffForm(request.GET or None, groups=groups)
    context: dict = {"form": form, "left": None, "right": None, "rows": []}
    status = 200
    if form.is_bound and not form.is_valid():
        status = 400
    elif form.is_bound:
        left, right = form.cleaned_data["a"], form.cleaned_data["b"]
        context.update(left=left, right=right, rows=queries.option_diff(left, right))
    return render_page(request, "estate/option_diff.html", context, partial="diff", status=status)
