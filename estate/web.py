"""What every page of every app shares: the access rule, HTMX-aware rendering and
pagination. Views import these; no app keeps a helper of its own for them.

- ``role_required(permission)``: anonymous users go to the login page, a logged-in
  user without the permission gets 403 (not a login loop). A signed-out *HTMX*
  request is not answered here but by ``estate.middleware.SignedOutHtmxMiddleware``,
  which turns every redirect to the login page into ``HX-Redirect`` (so a view behind
  any login check, this one or Django's, cannot forget it).
- ``render_page(request, template, context, partial=...)``: the whole page, or its
  named partial (django-template-partials) when an HTMX swap asks; the response
  varies on ``HX-Request`` because one URL answers with two bodies.
- ``paginate(request, items, per_page)``: one page of a queryset or list.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

from estate.roles import role_for

PAGE_SIZE = 50

View = TypeVar("View", bound=Callable[..., HttpResponse])


class HtmxRequest(HttpRequest):
    """The request type views are annotated with (django-htmx sets ``htmx``)."""

    htmx: HtmxDetails


def role_required(permission: str) -> Callable[[View], View]:
    """Let a view run only for a logged-in user holding ``permission`` (one of the
    constants in ``estate.roles``).

    Put it below ``require_GET``/``require_POST``: a method a URL does not accept is
    405 for everybody, before anything about the user is revealed."""
    role = role_for(permission)

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                # For an HTMX request the middleware turns this into HX-Redirect.
                return redirect_to_login(request.get_full_path())
            if not request.user.has_perm(permission):
                raise PermissionDenied(f"This needs the {role} role ({permission}).")
            return view(request, *args, **kwargs)

        return wrapped  # type: ignore[return-value]

    return decorator


def wants_partial(request: HttpRequest) -> bool:
    """An HTMX swap gets only the named partial. A boosted navigation or a history
    restore after a cache miss (htmx sends HX-Request on those too) needs the whole
    page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HttpRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str | None = "content",
    status: int = 200,
) -> HttpResponse:
    """``template`` rendered whole, or only its partial ``partial`` (the
    ``{% partialdef %}`` name, rendered as ``"app/page.html#partial"``) when an HTMX
    swap asks. ``partial=None``: the page has no swapped region; always whole."""
    if partial is None:
        return render(request, template, context, status=status)
    name = f"{template}#{partial}" if wants_partial(request) else template
    response = render(request, name, context, status=status)
    # The same URL answers with a page or a fragment: caches, and the browser's
    # back/forward restore of an hx-push-url address, must keep them apart, or the
    # back button could show a bare fragment.
    patch_vary_headers(response, ["HX-Request"])
    return response


def paginate(request: HttpRequest, items: Any, per_page: int = PAGE_SIZE) -> Page:
    """The page ``?page=`` names, of a queryset (one COUNT and one page query) or a
    list. An out-of-range or non-numeric page shows the nearest valid page instead of
    an error."""
    return Paginator(items, per_page).get_page(request.GET.get("page"))
