"""The findings page (security posture) and finding suppression.

Viewing needs the Viewer role (``VIEW_ESTATE``). Suppressing or revoking a
suppression changes what the whole team sees as the estate's risk, so it needs the
Admin permission ``MANAGE_ACCOUNTS`` ("accounts, policies and users").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from axes.models import AccessAttempt
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.views import PasswordResetConfirmView
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.urls import NoReverseMatch, reverse, reverse_lazy
from django.views.decorators.http import require_GET, require_POST

from audit.services import record
from estate import checks
from estate import models as m
from estate.roles import ADMIN, MANAGE_ACCOUNTS, ROLES, VIEW_ESTATE
from estate.web import paginate, render_page, role_required, wants_partial
from guard import drift as drift_queries
from guard import services
from guard import users as user_services
from guard.forms import BaselineForm, FindingFilterForm, InviteForm, RoleForm, SuppressForm
from guard.models import FindingSuppression

User = get_user_model()
# Finding kind -> URL name of the resource's detail page (none for kinds without one).
DETAIL_URLS = {
    "instance": "instance",
    "cluster": "cluster",
    "proxy": "proxy",
}


def _detail_url(finding: checks.Finding) -> str:
    name = DETAIL_URLS.get(finding.resource_kind)
    if finding.resource_kind == "cache":
        name = "cache_group" if ":replicationgroup:" in finding.resource_arn else "cache_cluster"
    if not name:
        return ""
    try:
        return reverse(name, args=[finding.resource_pk])
    except NoReverseMatch:
        return ""


@require_GET
@role_required(VIEW_ESTATE)
def findings(request: HttpRequest) -> HttpResponse:
    accounts = list(m.Account.objects.order_by("name"))
    form = FindingFilterForm(request.GET, accounts=accounts)
    context: dict[str, Any] = {
        "form": form,
        "page": None,
        "can_suppress": request.user.has_perm(MANAGE_ACCOUNTS),
        "suppress_form": SuppressForm(),
    }
    if not form.is_valid():
        return render_page(request, "guard/findings.html", context, partial="table", status=400)
    every = checks.evaluate()
    selected = [f for f in every if form.matches(f)]
    for finding in selected:
        finding.url = _detail_url(finding)
    by_severity = Counter(f.severity for f in every if not f.suppressed)
    by_rule = Counter(f.rule.id for f in selected)
    page = paginate(request, selected)
    params = request.GET.copy()
    params.pop("page", None)
    context.update(
        page=page,
        findings=page.object_list,
        severity_counts=[(s, by_severity.get(s, 0)) for s in checks.Severity.ORDER],
        rule_counts=[(checks.RULES[r], n) for r, n in by_rule.most_common()],
        suppressed_total=sum(1 for f in every if f.suppressed),
        page_query=params.urlencode(),
        query=request.GET.urlencode(),
    )
    return render_page(request, "guard/findings.html", context, partial="table")


@require_POST
@role_required(MANAGE_ACCOUNTS)
def suppress(request: HttpRequest) -> HttpResponse:
    form = SuppressForm(request.POST)
    # Back to the same filtered view; only a query string is accepted, never a URL.
    query = request.POST.get("next_query", "")
    back = reverse("findings") + (f"?{query}" if query and "://" not in query else "")
    if not form.is_valid():
        problems = "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items())
        messages.error(request, f"Not suppressed: {problems}")
        return redirect(back)
    try:
        services.suppress_finding(
            rule_id=form.cleaned_data["rule_id"],
            resource_arn=form.cleaned_data["resource_arn"],
            reason=form.cleaned_data["reason"],
            expires_at=form.expires_at(),
            user=request.user,
            request=request,
        )
    except ValueError as exc:
        messages.error(request, f"Not suppressed: {exc}")
        return redirect(back)
    messages.success(request, "Finding suppressed.")
    return redirect(back)


@require_POST
@role_required(MANAGE_ACCOUNTS)
def revoke(request: HttpRequest, pk: int) -> HttpResponse:
    suppression = get_object_or_404(FindingSuppression, pk=pk)
    try:
        services.revoke_suppression(suppression, user=request.user, request=request)
        messages.success(request, "Suppression revoked: the finding is back.")
    except ValueError as exc:
        messages.error(request, str(exc))
    return redirect(reverse("findings") + "?status=all")


# --- User management (Admins) --------------------------------------------------------


def _users_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    users = list(User.objects.order_by("username").prefetch_related("groups"))
    failures = dict(
        AccessAttempt.objects.filter(username__in=[u.username for u in users])
        .values_list("username")
        .annotate(n=Sum("failures_since_start"))
    )
    for user in users:
        names = {g.name for g in user.groups.all()}
        user.role = (
            ADMIN if user.is_superuser else next((r for r in ROLES[::-1] if r in names), None)
        )
        user.failed_logins = failures.get(user.username, 0)
    return {
        "users": users,
        "invite_form": extra.pop("invite_form", None) or InviteForm(),
        "roles": ROLES,
        **extra,
    }


@require_GET
@role_required(MANAGE_ACCOUNTS)
def users(request: HttpRequest) -> HttpResponse:
    return render_page(request, "guard/users.html", _users_context(request), partial="table")


@require_POST
@role_required(MANAGE_ACCOUNTS)
def user_invite(request: HttpRequest) -> HttpResponse:
    form = InviteForm(request.POST)
    if form.is_valid():
        try:
            user, link = user_services.invite(
                username=form.cleaned_data["username"],
                email=form.cleaned_data["email"],
                role=form.cleaned_data["role"],
                by=request.user,
                request=request,
            )
        except user_services.UserManagementError as exc:
            form.add_error("username", str(exc))
        else:
            # The link is rendered in this response only: never stored, never redirected
            # through a URL or the session.
            context = _users_context(request, invited=user, invite_link=link)
            response = render_page(request, "guard/users.html", context, partial=None)
            response["Cache-Control"] = "no-store"
            return response
    context = _users_context(request, invite_form=form)
    return render_page(request, "guard/users.html", context, partial=None, status=400)


def _user_action(request: HttpRequest, pk: int, action: Any, done: str) -> HttpResponse:
    target = get_object_or_404(User, pk=pk)
    try:
        action(target)
        messages.success(request, done.format(user=target.get_username()))
    except user_services.UserManagementError as exc:
        messages.error(request, str(exc))
    return redirect("users")


@require_POST
@role_required(MANAGE_ACCOUNTS)
def user_role(request: HttpRequest, pk: int) -> HttpResponse:
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Pick one of the roles.")
        return redirect("users")
    role = form.cleaned_data["role"]
    return _user_action(
        request,
        pk,
        lambda u: user_services.change_role(u, role, by=request.user, request=request),
        f"{{user}} is now {role}.",
    )


@require_POST
@role_required(MANAGE_ACCOUNTS)
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    active = request.POST.get("active") == "1"
    return _user_action(
        request,
        pk,
        lambda u: user_services.set_active(u, active, by=request.user, request=request),
        "{user} " + ("reactivated." if active else "deactivated."),
    )


@require_POST
@role_required(MANAGE_ACCOUNTS)
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    return _user_action(
        request,
        pk,
        lambda u: user_services.unlock(u, by=request.user, request=request),
        "{user} can log in again.",
    )


class SetPasswordView(PasswordResetConfirmView):
    """The invite link: an invited user chooses a password, then logs in."""

    template_name = "guard/set_password.html"
    success_url = reverse_lazy("login")

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)
        record(
            "user.password_set",
            actor=form.user,
            target=f"user {form.user.get_username()}",
            request=self.request,
        )
        messages.success(self.request, "Password set: log in with it now.")
        return response


# --- Configuration drift -------------------------------------------------------------


@require_GET
@role_required(VIEW_ESTATE)
def drift(request: HttpRequest) -> HttpResponse:
    groups = list(m.ParameterGroup.objects.live().select_related("account").order_by("identifier"))
    form = BaselineForm(request.GET, groups=groups)
    context: dict[str, Any] = {"form": form, "baseline": None, "baseline_pairs": []}
    status = 200
    if not form.is_valid():
        status = 400
    elif form.cleaned_data.get("baseline"):
        baseline = form.cleaned_data["baseline"]
        context.update(baseline=baseline, baseline_pairs=drift_queries.against_baseline(baseline))
    if not wants_partial(request):
        context["drift"] = drift_queries.find_drift()  # not in the baseline partial
    return render_page(request, "guard/drift.html", context, partial="baseline", status=status)
