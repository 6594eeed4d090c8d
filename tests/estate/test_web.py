"""estate/web.py (the access rule, page-or-partial rendering, pagination) and the
middleware that answers signed-out HTMX requests; and that every app's views use them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AnonymousUser
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.middleware import HtmxDetails

from estate.middleware import SignedOutHtmxMiddleware
from estate.roles import ADMIN, MANAGE_DRILLS, ROLE_PERMS, VIEW_ESTATE, VIEWER
from estate.web import paginate, render_page, role_required
from tests.factories import estate as f

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def _request(rf, path: str = "/sync/", user=None, **headers) -> HttpRequest:
    request = rf.get(path, **headers)
    request.user = user or AnonymousUser()
    request.htmx = HtmxDetails(request)
    request.session = {}
    return request


@role_required(MANAGE_DRILLS)
def _manage(request: HttpRequest) -> HttpResponse:
    return HttpResponse("managed")


# --- role_required ---------------------------------------------------------------------


def test_role_required_sends_an_anonymous_user_to_the_login_page_and_back(rf):
    response = _manage(_request(rf, "/drills/schedules/?x=1"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/drills/schedules/%3Fx%3D1"


def test_role_required_refuses_a_user_without_the_permission(rf):
    viewer = f.make_user(role=VIEWER)

    with pytest.raises(PermissionDenied, match="Operator role"):
        _manage(_request(rf, user=viewer))


def test_role_required_runs_the_view_for_a_user_with_the_permission(rf):
    operator = f.make_user(role="Operator")

    assert _manage(_request(rf, user=operator)).content == b"managed"


# --- render_page -------------------------------------------------------------------------


def _sync_runs(rf, **headers) -> HttpResponse:
    request = _request(rf, user=f.make_user(role=VIEWER), **headers)
    page = paginate(request, [])
    return render_page(request, "estate/sync_runs.html", {"page": page}, partial="table")


def test_render_page_answers_a_swap_with_the_named_partial_and_varies(rf):
    response = _sync_runs(rf, **HTMX)

    body = response.content.decode()
    assert body.lstrip().startswith('<div id="sync-table">')
    assert "<html" not in body
    assert response["Vary"] == "HX-Request"


@pytest.mark.parametrize(
    "headers",
    [{}, {**HTMX, "HTTP_HX_BOOSTED": "true"}, {**HTMX, "HTTP_HX_HISTORY_RESTORE_REQUEST": "true"}],
    ids=["plain", "boosted", "history-restore"],
)
def test_render_page_answers_a_navigation_with_the_whole_page_and_varies(rf, headers):
    response = _sync_runs(rf, **headers)

    assert "<html" in response.content.decode()
    assert response["Vary"] == "HX-Request"


def test_render_page_without_a_partial_is_always_the_whole_page(rf):
    request = _request(rf, user=f.make_user(role=VIEWER), **HTMX)

    response = render_page(
        request, "estate/sync_runs.html", {"page": paginate(request, [])}, partial=None
    )

    assert "<html" in response.content.decode()
    assert not response.has_header("Vary")


# --- paginate ----------------------------------------------------------------------------


@pytest.mark.parametrize(("asked", "shown"), [("2", 2), ("x", 1), ("99", 3), ("", 1)])
def test_paginate_shows_the_nearest_valid_page(rf, asked, shown):
    page = paginate(rf.get("/", {"page": asked}), list(range(25)), per_page=10)

    assert page.number == shown


# --- a signed-out HTMX request -------------------------------------------------------


def _through_middleware(view, request: HttpRequest) -> HttpResponse:
    return SignedOutHtmxMiddleware(view)(request)


def test_any_login_check_answers_a_signed_out_htmx_request_with_hx_redirect(rf):
    # Given a view behind Django's own login_required (not role_required): the
    # middleware, not the decorator, makes the HTMX answer, so no view can forget it
    view = login_required(lambda request: HttpResponse("secret"))
    request = _request(
        rf, "/sync/7/progress/", HTTP_HX_CURRENT_URL="http://testserver/sync/7/", **HTMX
    )

    response = _through_middleware(view, request)

    assert response.status_code == 401
    assert response["HX-Redirect"] == f"{reverse('login')}?next=/sync/7/"
    assert response.content == b""


def test_a_page_from_another_origin_is_not_where_the_login_sends_back_to(rf):
    view = login_required(lambda request: HttpResponse("secret"))
    request = _request(
        rf, "/sync/7/progress/", HTTP_HX_CURRENT_URL="https://evil.example/phish", **HTMX
    )

    response = _through_middleware(view, request)

    assert response["HX-Redirect"] == f"{reverse('login')}?next=/sync/7/progress/"


def test_a_redirect_to_the_login_page_without_next_is_left_alone(rf):
    # Given a view that sends to the login page without asking to come back (a logout)
    response = _through_middleware(
        lambda request: redirect(settings.LOGOUT_REDIRECT_URL), _request(rf, **HTMX)
    )

    assert response.status_code == 302
    assert not response.has_header("HX-Redirect")


def test_a_plain_signed_out_request_still_gets_the_redirect(rf):
    view = login_required(lambda request: HttpResponse("secret"))

    response = _through_middleware(view, _request(rf, "/sync/"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/sync/"


# --- every app's views use estate/web.py -------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
VIEW_MODULES = sorted(
    [*ROOT.glob("estate/views/*.py"), *ROOT.glob("*/views.py")], key=lambda p: str(p)
)
# What web.py and estate/roles.py provide; a view module that reaches for these itself
# keeps a second way of doing it.
OWN_HELPERS = {
    "Paginator": "paginate()",
    "patch_vary_headers": "render_page()",
    "render": "render_page()",
    "login_required": "role_required()",
    "permission_required": "role_required()",
}


def _imported_names(tree: ast.Module) -> set[str]:
    return {
        alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("django")
        for alias in node.names
    }


# "estate.run_operations", "drills.change_backuppolicy", ...: a permission's name.
PERMISSION = re.compile(r"^[a-z]+\.(view|add|change|delete|run|manage|trigger)_[a-z_]+$")


def _permission_literals(tree: ast.Module) -> list[str]:
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and PERMISSION.match(node.value)
    ]


def test_there_are_view_modules_to_check():
    names = {str(p.relative_to(ROOT)) for p in VIEW_MODULES}
    assert {"operations/views.py", "drills/views.py", "estate/views/inventory.py"} <= names


@pytest.mark.parametrize("path", VIEW_MODULES, ids=lambda p: str(p.relative_to(ROOT)))
def test_views_use_the_shared_helpers_and_named_permissions(path):
    tree = ast.parse(path.read_text())

    own = {name: use for name, use in OWN_HELPERS.items() if name in _imported_names(tree)}
    assert not own, f"{path.relative_to(ROOT)} imports {own}: use estate.web instead"
    literals = _permission_literals(tree)
    assert not literals, f"{path.relative_to(ROOT)}: use the constants of estate.roles {literals}"


PRODUCT_MODULES = sorted(
    path
    for app in ("audit", "drills", "estate", "guard", "metrics", "operations")
    for path in (ROOT / app).rglob("*.py")
    if "migrations" not in path.parts and path != ROOT / "estate" / "roles.py"
)


def test_permissions_are_named_only_in_estate_roles():
    # (Migrations freeze their own copy: a migration must not change with the code.)
    found = {
        str(path.relative_to(ROOT)): literals
        for path in PRODUCT_MODULES
        if (literals := _permission_literals(ast.parse(path.read_text())))
    }
    assert not found, f"Use the constants of estate.roles instead of: {found}"


def test_the_permission_pattern_knows_every_role_permission():
    assert all(PERMISSION.match(p) for p in ROLE_PERMS[ADMIN])
    assert PERMISSION.match(VIEW_ESTATE)
