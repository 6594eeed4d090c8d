"""Request hygiene applied before any view runs."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest

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
