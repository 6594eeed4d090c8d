import os
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")

app = Celery("estate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@task_prerun.connect
@task_postrun.connect
def close_old_connections(sender: Any = None, **kwargs: Any) -> None:
    """Per task what Django does per request: close connections older than
    CONN_MAX_AGE or left broken. (Celery's own fixup would close them all, every task:
    see CELERY_DB_REUSE_MAX.) Eager tasks run inside the caller's transaction: skipped."""
    request = getattr(sender, "request", None)
    if getattr(request, "is_eager", False):
        return
    from django.db import close_old_connections as close

    close()
