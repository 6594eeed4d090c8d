import os
import time
from typing import Any

from celery import Celery
from celery.signals import task_postrun, task_prerun

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "estate.settings")

app = Celery("estate")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# A connection that served the previous task without error this recently is not
# health-checked again: the check is a round trip (SELECT 1) per task, and at hundreds
# of operation steps a second on a busy machine each round trip costs a context switch
# to PostgreSQL and back. A connection idle for longer is checked as Django checks it.
RECENTLY_USED_SECONDS = 5.0
# Kept on each connection (per thread: the demo's worker runs a thread pool).
_LAST_OK = "_estate_last_ok"


def _is_eager(sender: Any) -> bool:
    return bool(getattr(getattr(sender, "request", None), "is_eager", False))


@task_prerun.connect
def before_task(sender: Any = None, **kwargs: Any) -> None:
    """Per task what Django does per request: close connections older than
    CONN_MAX_AGE or left broken. (Celery's own fixup would close them all, every task:
    see CELERY_DB_REUSE_MAX.) Eager tasks run inside the caller's transaction: skipped."""
    if _is_eager(sender):
        return
    from django.db import close_old_connections, connections

    close_old_connections()
    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        recent = now - conn.__dict__.get(_LAST_OK, float("-inf")) < RECENTLY_USED_SECONDS
        if conn.connection is not None and not conn.errors_occurred and recent:
            conn.health_check_done = True


@task_postrun.connect
def after_task(sender: Any = None, **kwargs: Any) -> None:
    if _is_eager(sender):
        return
    from django.db import close_old_connections, connections

    now = time.monotonic()
    for conn in connections.all(initialized_only=True):
        if conn.connection is not None and not conn.errors_occurred:
            conn.__dict__[_LAST_OK] = now
    close_old_connections()
