"""What every page shares: the access rule, HTMX-aware rendering, pagination."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Page, Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render, resolve_url
from django.utils.cache import patch_vary_headers
from django_htmx.middleware import HtmxDetails

VIEW_PERMISSION = "estate.view_estate"
PAGE_SIZE = 50


class HtmxRequest(HttpRequest):
    htmx: HtmxDetails


def viewer_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Anonymous users go to the login page; a logged-in user without the Viewer
    permission gets 403 (not a login loop).

    An HTMX request whose session has expired would otherwise swap the login page
    into the table it was refreshing, so it gets ``HX-Redirect`` instead and the
    browser goes to the login page, coming back to the page it was on."""

    page_view = login_required(view)

    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            if getattr(request, "htmx", False):
                back = request.htmx.current_url_abs_path or request.get_full_path()
                response = HttpResponse(status=401)
                response["HX-Redirect"] = (
                    f"{resolve_url(settings.LOGIN_URL)}?{urlencode({'next': back})}"
                )
                return response
            return page_view(request, *args, **kwargs)
        if not request.user.has_perm(VIEW_PERMISSION):
            raise PermissionDenied("You need the Viewer role to see the estate.")
        return view(request, *args, **kwargs)

    return wrapped


def wants_partial(request: HtmxRequest) -> bool:
    """An HTMX swap gets only the named partial. A boosted navigation or a history
    restore after a cache miss needs the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx) and not htmx.boosted and not htmx.history_restore_request


def render_page(
    request: HtmxRequest,
    template: str,
    context: dict[str, Any],
    *,
    partial: str = "content",
    status: int = 200,
) -> HttpResponse:
    name = f"{template}#{partial}" if wants_partial(request) else template
    response = render(request, template_name=name, context=context, status=status)
    # The same URL answers with a page or a fragment: caches must keep them apart, or
    # the back button could show a bare fragment.
    patch_vary_headers(response, ["HX-Request"])
    return response


def paginate(request: HttpRequest, qs: Any, per_page: int = PAGE_SIZE) -> Page:
    """One COUNT and one page query; an out-of-range or non-numeric page shows the
    nearest valid page instead of an error."""
    return Paginator(qs, per_page).get_page(request.GET.get("page"))
