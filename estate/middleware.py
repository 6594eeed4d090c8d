"""Request hygiene applied before any view runs, and the answer to a signed-out HTMX
request after it."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import resolve_url

# django-axes records a failed login's User-Agent and Accept headers in columns of
# these sizes; a longer header from a hostile client must not turn a login into a 500.
HEADER_LIMITS = {"HTTP_USER_AGENT": 255, "HTTP_ACCEPT": 1025}


class RequestHygieneMiddleware:
    """Refuse NUL characters in query strings and form fields with a clear 400
    (PostgreSQL cannot store them, and no field of Estate has a use for them), and cut
    over-long headers that are stored verbatim."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        for key, limit in HEADER_LIMITS.items():
            value = request.META.get(key)
            if value and len(value) > limit:
                request.META[key] = value[:limit]
        if _has_nul(request.GET) or (request.method == "POST" and _has_nul(request.POST)):
            return HttpResponseBadRequest(
                "The request contains a NUL character (\\x00), which Estate does not accept "
                "in any field.",
                content_type="text/plain",
            )
        return self.get_response(request)


def _has_nul(data) -> bool:
    return any("\x00" in key or any("\x00" in v for v in data.getlist(key)) for key in data)


class SignedOutHtmxMiddleware:
    """A signed-out HTMX request is sent to the login page with ``HX-Redirect``.

    The access rule answers a signed-out user with a redirect to the login page. The
    browser's XMLHttpRequest follows a redirect silently, so htmx would swap the login
    page into whatever it was refreshing (a status box polling every 2 s, a table).
    Every redirect to ``LOGIN_URL`` that carries ``?next=`` (what ``redirect_to_login``
    sends: the access rule, whichever decorator or view applied it) is therefore turned
    into 401 with ``HX-Redirect``: a 401 never passes for a successful poll, and the
    vendored htmx (static/vendor/htmx-2.0.11) reads ``HX-Redirect`` before the response
    code decides about swapping, so it follows it on a 401 too (the browser test
    ``test_a_poll_after_the_session_expired_goes_to_the_login_page_and_back`` watches it
    do so). htmx 4's documentation asks for a 2xx with this header: re-check on an
    upgrade. ``next=`` is the page the user was on (``HX-Current-URL``, same origin
    only), not the partial's URL.

    A history restore after a cache miss is left alone: htmx ignores ``HX-Redirect``
    on it and swaps the whole response into the body, so the followed redirect's full
    login page is the right answer there.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        htmx = getattr(request, "htmx", None)
        if not htmx or htmx.history_restore_request or not _is_login_redirect(response):
            return response
        if request.user.is_authenticated:
            return response
        back = htmx.current_url_abs_path or _next_of(response["Location"])
        signed_out = HttpResponse(status=401)
        signed_out["HX-Redirect"] = redirect_to_login(back)["Location"]
        return signed_out


def _is_login_redirect(response: HttpResponse) -> bool:
    if response.status_code not in (301, 302, 303, 307, 308) or not response.has_header("Location"):
        return False
    location = urlsplit(response["Location"])
    login = urlsplit(resolve_url(settings.LOGIN_URL))
    return location.path == login.path and "next" in parse_qs(location.query)


def _next_of(location: str) -> str:
    return parse_qs(urlsplit(location).query)["next"][0]
