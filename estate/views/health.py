"""A liveness/readiness answer for load balancers and container health checks."""

from __future__ import annotations

from django.db import DatabaseError, connection
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@never_cache
@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """200 when the web process can reach its database, 503 otherwise. Public and
    exempt from the HTTPS redirect (``SECURE_REDIRECT_EXEMPT``) so that a health check
    inside the container can call it over plain HTTP; it says nothing about the estate."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError:
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")
