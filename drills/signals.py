"""Receivers: a drill schedule's django-celery-beat rows follow the schedule.

Connected in ``DrillsConfig.ready()``. Signals rather than ``save()``/``delete()``
overrides: the admin's bulk delete and any other path through the ORM fire them too,
and the model module stays free of side effects (and of ``drills.services``).
"""

from __future__ import annotations

from typing import Any

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from drills import services
from drills.models import DrillSchedule


@receiver(post_save, sender=DrillSchedule, dispatch_uid="drills.schedule_saved")
def schedule_saved(sender: Any, instance: DrillSchedule, raw: bool = False, **kwargs: Any) -> None:
    # A fixture being loaded (raw) brings its beat rows with it, if it has any.
    if raw:
        return
    services.sync_periodic_task(instance)


@receiver(post_delete, sender=DrillSchedule, dispatch_uid="drills.schedule_deleted")
def schedule_deleted(sender: Any, instance: DrillSchedule, **kwargs: Any) -> None:
    services.delete_periodic_task(instance)
