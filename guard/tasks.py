"""Posture tasks: thin, call a service."""

from __future__ import annotations

from celery import shared_task

from guard import services


@shared_task
def sync_security_groups_task() -> dict[str, str]:
    """Periodic (CELERY_BEAT_SCHEDULE): mirror the security groups of every account."""
    return services.sync_all_security_groups()
