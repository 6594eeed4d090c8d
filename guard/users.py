"""User management for Admins: invite (a one-time set-password link), activate /
deactivate, assign a role, unlock after a login lockout. Every change is audited.

Rules that keep a team from locking itself out: nobody changes their own role or
deactivates themselves, so there is always at least the acting Admin left.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import HttpRequest
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from audit.services import record
from estate.roles import MANAGE_ACCOUNTS, ROLES, role_of

User = get_user_model()


class UserManagementError(ValueError):
    """A refused change, with a message for the Admin."""


def _require_admin(by: Any) -> None:
    # Checked here as well as in the views, so no caller can skip it.
    if by is None or not by.has_perm(MANAGE_ACCOUNTS):
        raise PermissionDenied("Only Admins may manage users.")


def set_password_link(request: HttpRequest | None, user: Any) -> str:
    """An absolute one-time link (Django's password-reset token: valid for
    PASSWORD_RESET_TIMEOUT, void once the password is set or the user logs in)."""
    path = reverse(
        "user_set_password",
        kwargs={
            "uidb64": urlsafe_base64_encode(force_bytes(user.pk)),
            "token": default_token_generator.make_token(user),
        },
    )
    return request.build_absolute_uri(path) if request is not None else path


def _set_role(user: Any, role: str) -> None:
    if role not in ROLES:
        raise UserManagementError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(name=role))
    user.groups.add(Group.objects.get(name=role))


def invite(
    *, username: str, email: str, role: str, by: Any, request: HttpRequest | None = None
) -> tuple[Any, str]:
    """Create a user without a usable password in ``role``; returns (user, link)."""
    _require_admin(by)
    username = username.strip()
    if not username:
        raise UserManagementError("a username is required")
    if User.objects.filter(username__iexact=username).exists():
        raise UserManagementError(f"a user named {username!r} already exists")
    with transaction.atomic():
        user = User.objects.create_user(username=username, email=email.strip())
        user.set_unusable_password()
        user.save(update_fields=["password"])
        _set_role(user, role)
        record(
            "user.invited",
            actor=by,
            target=f"user {username}",
            details={"role": role, "email": email.strip()},
            request=request,
        )
    return user, set_password_link(request, user)


def change_role(user: Any, role: str, *, by: Any, request: HttpRequest | None = None) -> None:
    _require_admin(by)
    if user.pk == by.pk:
        raise UserManagementError("you cannot change your own role")
    if user.is_superuser:
        raise UserManagementError("a superuser is always an Admin; change that in the admin")
    before = role_of(user)
    with transaction.atomic():
        _set_role(user, role)
        record(
            "user.role_changed",
            actor=by,
            target=f"user {user.get_username()}",
            details={"from": before, "to": role},
            request=request,
        )


def set_active(user: Any, active: bool, *, by: Any, request: HttpRequest | None = None) -> None:
    _require_admin(by)
    if user.pk == by.pk:
        raise UserManagementError("you cannot deactivate yourself")
    if user.is_active == active:
        raise UserManagementError(
            f"{user.get_username()} is already {'active' if active else 'deactivated'}"
        )
    with transaction.atomic():
        user.is_active = active
        user.save(update_fields=["is_active"])
        record(
            "user.activated" if active else "user.deactivated",
            actor=by,
            target=f"user {user.get_username()}",
            request=request,
        )
    # No session purge needed: ModelBackend.get_user refuses inactive users, so their
    # sessions end on their next request.


def unlock(user: Any, *, by: Any, request: HttpRequest | None = None) -> int:
    """Clear django-axes' failed attempts for ``user`` (ends a lockout)."""
    _require_admin(by)
    from axes.utils import reset

    cleared = reset(username=user.get_username())
    record(
        "user.unlocked",
        actor=by,
        target=f"user {user.get_username()}",
        details={"cleared_attempts": cleared},
        request=request,
    )
    return cleared
