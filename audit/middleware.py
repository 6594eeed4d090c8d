"""Makes the current request available to audit receivers that Django calls without one
(model signals such as post_save on an Account), so their events carry actor and IP,
and records every refused (403) attempt to change something."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

SAFE_METHODS = {"GET", "HEAD", "OPTIONS", "TRACE"}
_current_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


def current_request() -> HttpRequest | None:
    return _current_request.get()


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _current_request.set(request)
        try:
            response = self.get_response(request)
        finally:
            _current_request.reset(token)
        if request.method not in SAFE_METHODS and response.status_code == 403:
            # Someone tried to change something their role does not allow (or without
            # a valid CSRF token): that attempt belongs on the record too.
            from audit.services import record

            record(
                "request.denied",
                target=request.path[:1024],
                outcome="denied",
                details={"method": request.method},
                request=request,
            )
        return response
