"""Writing the audit trail.

``record`` is the one way to append an event (``build`` makes it unsaved, for a caller
that writes it in one statement with other rows). Callers pass what happened; the actor
and the source IP come from the request when one is given. Details are redacted (passwords,
secrets, tokens, DSNs) before they are stored, because an audit row can never be fixed
afterwards.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from audit.models import AuditEvent, Outcome
from audit.redaction import redact_value

_MAX_ACTION = AuditEvent._meta.get_field("action").max_length or 100
_MAX_TARGET = AuditEvent._meta.get_field("target").max_length or 1024


def _trusted_networks() -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [
        ipaddress.ip_network(entry, strict=False)
        for entry in getattr(settings, "TRUSTED_PROXIES", [])
    ]


def _parse_ip(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(value.strip())
    except ValueError:
        return None


def client_ip(request: HttpRequest) -> str | None:
    """The client's address. ``X-Forwarded-For`` is believed only hop by hop from the
    right while each hop is a proxy listed in ``TRUSTED_PROXIES`` (IPs or CIDRs); with
    no trusted proxies configured it is ignored entirely, since any client can send it."""
    remote = _parse_ip(request.META.get("REMOTE_ADDR", "") or "")
    if remote is None:
        return None
    trusted = _trusted_networks()
    if not trusted:
        return str(remote)
    chain = [hop for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop]
    current = remote
    while any(current in net for net in trusted) and chain:
        hop = _parse_ip(chain.pop())
        if hop is None:
            # A malformed hop: stop at the last address we could vouch for.
            break
        current = hop
    return str(current)


def axes_client_ip(request: HttpRequest) -> str | None:
    """django-axes' AXES_CLIENT_IP_CALLABLE: lock out by the same address we audit."""
    return client_ip(request)


def _actor_of(actor: Any, request: HttpRequest | None) -> Any:
    if actor is not None:
        return actor
    user = getattr(request, "user", None) if request is not None else None
    if user is not None and user.is_authenticated:
        return user
    return None


def record(action: str, **fields: Any) -> AuditEvent:
    """Append one audit event and return it: the event ``build(action, **fields)``
    makes, saved. Bad input raises ``ValueError`` and writes nothing."""
    event = build(action, **fields)
    event.save()
    return event


def build(
    action: str,
    *,
    actor: Any = None,
    target: str = "",
    outcome: str = "success",
    details: dict | None = None,
    request: HttpRequest | None = None,
    target_url: str = "",
) -> AuditEvent:
    """One audit event, validated and redacted, not saved (``record`` saves it; the
    operations engine writes it in one statement with other rows).

    ``actor`` is a user (defaults to ``request.user`` when authenticated); ``target`` an
    ARN or an object label; ``outcome`` one of success / failure / denied. Bad input
    raises ``ValueError``.
    """
    if not isinstance(action, str) or not action.strip():
        raise ValueError("audit action must be a non-empty string")
    if len(action) > _MAX_ACTION:
        raise ValueError(f"audit action is longer than {_MAX_ACTION} characters")
    if outcome not in Outcome.values:
        raise ValueError(f"audit outcome {outcome!r}: use one of {', '.join(Outcome.values)}")
    if details is not None and not isinstance(details, dict):
        raise ValueError("audit details must be a dict")
    target = str(target or "")
    if len(target) > _MAX_TARGET:
        # Keep the event rather than fail the action it records: truncate, and say so.
        target = target[: _MAX_TARGET - 1] + "…"
    user = _actor_of(actor, request)
    username = ""
    if user is not None:
        username = user.get_username()
    elif details and isinstance(details.get("username"), str):
        username = details["username"][:150]
    return AuditEvent(
        actor=user if user is not None and user.pk is not None else None,
        username=username,
        action=action.strip(),
        target=target,
        target_url=target_url[:1024],
        source_ip=client_ip(request) if request is not None else None,
        outcome=outcome,
        details=redact_value(details or {}),
    )
