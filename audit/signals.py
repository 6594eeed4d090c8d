"""Receivers that write audit events for things Django (and django-axes) announce:
login, logout, failed login, lockout, changes made in the Django admin, and changes to
Accounts wherever they are made."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from audit.middleware import current_request
from audit.services import record
from estate.models import Account, SyncRun

# Account fields whose changes are worth spelling out in the event.
ACCOUNT_FIELDS = [
    "account_id",
    "name",
    "environment",
    "role_arn",
    "external_id",
    "regions",
    "enabled",
]


@receiver(user_logged_in, dispatch_uid="audit_login")
def _logged_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    record("auth.login", actor=user, target=f"user {user.get_username()}", request=request)


@receiver(user_logged_out, dispatch_uid="audit_logout")
def _logged_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is None:  # logging out an anonymous session records nothing worth keeping
        return
    record("auth.logout", actor=user, target=f"user {user.get_username()}", request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def _login_failed(sender: Any, credentials: dict, request: Any = None, **kwargs: Any) -> None:
    username = str(credentials.get("username", ""))[:150]
    record(
        "auth.login_failed",
        target=f"user {username}",
        outcome="failure",
        # Django has already masked the password in ``credentials``; keep only the name.
        details={"username": username},
        request=request,
    )


if apps.is_installed("axes"):
    from axes.signals import user_locked_out

    @receiver(user_locked_out, dispatch_uid="audit_locked_out")
    def _locked_out(
        sender: Any, request: Any, username: str | None = None, ip_address: str = "", **kw: Any
    ) -> None:
        record(
            "auth.locked_out",
            target=f"user {username or ''}",
            outcome="denied",
            details={"username": username or "", "ip_address": ip_address},
            request=request,
        )


_ADMIN_ACTIONS = {ADDITION: "admin.add", CHANGE: "admin.change", DELETION: "admin.delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit_admin_logentry")
def _admin_logged(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    if not created or kwargs.get("raw"):  # raw: loaddata / a test's serialized rollback
        return
    model = instance.content_type.model_class() if instance.content_type_id else None
    if model is Account:
        return  # audited with field-level detail by the Account receivers below
    label = model._meta.verbose_name if model is not None else "object"
    record(
        _ADMIN_ACTIONS.get(instance.action_flag, "admin.change"),
        actor=instance.user,
        target=f"{label} {instance.object_repr}",
        details={"object_id": instance.object_id, "change": instance.get_change_message()},
        request=current_request(),
    )


@receiver(pre_save, sender=Account, dispatch_uid="audit_account_before")
def _account_before(sender: Any, instance: Account, **kwargs: Any) -> None:
    if instance.pk is None or kwargs.get("raw"):
        instance._audit_before = None
        return
    instance._audit_before = Account.objects.filter(pk=instance.pk).values(*ACCOUNT_FIELDS).first()


@receiver(post_save, sender=Account, dispatch_uid="audit_account_saved")
def _account_saved(sender: Any, instance: Account, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):  # loaddata
        return
    before = getattr(instance, "_audit_before", None) or {}
    if created or not before:
        action = "account.created"
        changes = {name: getattr(instance, name) for name in ACCOUNT_FIELDS}
    else:
        action = "account.changed"
        changes = {
            name: {"from": before[name], "to": getattr(instance, name)}
            for name in ACCOUNT_FIELDS
            if before.get(name) != getattr(instance, name)
        }
        if not changes:
            return
    record(
        action,
        target=f"account {instance.account_id}",
        details={"changes": changes},
        request=current_request(),
    )


@receiver(post_delete, sender=Account, dispatch_uid="audit_account_deleted")
def _account_deleted(sender: Any, instance: Account, **kwargs: Any) -> None:
    record(
        "account.deleted",
        target=f"account {instance.account_id}",
        details={"name": instance.name, "environment": instance.environment},
        request=current_request(),
    )


@receiver(post_save, sender=SyncRun, dispatch_uid="audit_sync_triggered")
def _sync_triggered(sender: Any, instance: SyncRun, created: bool, **kwargs: Any) -> None:
    # Only syncs someone started from a page are someone's action; scheduled runs and
    # workers' bookkeeping saves are not audited.
    request = current_request()
    if not created or kwargs.get("raw") or request is None:
        return
    record(
        "sync.triggered",
        target=f"sync run {instance.pk}",
        target_url=_sync_run_url(instance.pk),
        details={"sync_run_id": instance.pk, "scope": instance.scope or {}},
        request=request,
    )


def _sync_run_url(pk: int) -> str:
    from django.urls import NoReverseMatch, reverse

    try:
        return reverse("sync_run", args=[pk])
    except NoReverseMatch:
        return ""
