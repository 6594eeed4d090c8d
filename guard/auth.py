"""Authentication backend: django-axes' lockout check, first in AUTHENTICATION_BACKENDS."""

from __future__ import annotations

from typing import Any

from axes.backends import AxesStandaloneBackend
from django.http import HttpRequest


class LockoutBackend(AxesStandaloneBackend):
    """axes' AxesStandaloneBackend (checks lockout, authenticates nobody: Django's
    ModelBackend after it does), except that a call without a request is passed on instead of
    raising. Every login path of the web app (the login view, the admin login) passes
    the request and so is throttled; the calls without one are Django's test client
    ``Client.login`` and management commands, which an attacker cannot reach."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> Any:
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
