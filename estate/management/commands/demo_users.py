"""``manage.py demo_users``: one login per role for the demo, printed (idempotent)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from estate.roles import ADMIN, OPERATOR, VIEWER

DEMO_URL = "http://127.0.0.1:8000"


@dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str


# Demo-only credentials for a loopback demo: printed on purpose, never for production.
DEMO_USERS = (
    DemoUser("viewer", "estate-viewer", VIEWER),
    DemoUser("operator", "estate-operator", OPERATOR),
    DemoUser("admin", "estate-admin", ADMIN),
)


def login_lines() -> list[str]:
    return [f"  {u.role:<9} {u.username} / {u.password}" for u in DEMO_USERS]


def ensure_broker_folders() -> None:
    """kombu's filesystem transport (demo mode, no REDIS_URL) needs its folders."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", {}) or {}
    if not str(getattr(settings, "CELERY_BROKER_URL", "")).startswith("filesystem://"):
        return
    from pathlib import Path

    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)


class Command(BaseCommand):
    help = (
        "Create (or reset) the demo logins viewer, operator and admin in the Viewer, "
        "Operator and Admin groups, create the demo broker folders, and print the logins."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not settings.DEBUG:
            raise CommandError(
                "demo_users creates well-known passwords: it only runs with DEBUG=1 (demo mode)."
            )
        missing = {u.role for u in DEMO_USERS} - set(
            Group.objects.filter(name__in=[u.role for u in DEMO_USERS]).values_list(
                "name", flat=True
            )
        )
        if missing:
            raise CommandError(
                f"Role group(s) {', '.join(sorted(missing))} missing: run `manage.py migrate` first."
            )
        User = get_user_model()
        with transaction.atomic():
            for demo in DEMO_USERS:
                user, _created = User.objects.get_or_create(username=demo.username)
                user.set_password(demo.password)
                user.is_active = True
                # Admins also get Django's admin site (accounts are edited there).
                user.is_staff = demo.role == ADMIN
                user.save()
                user.groups.set([Group.objects.get(name=demo.role)])
        ensure_broker_folders()
        self.stdout.write(f"Estate demo: open {DEMO_URL} and log in as")
        for line in login_lines():
            self.stdout.write(line)
