"""Worker connection hygiene (estate.celery): connections are kept across tasks, closed
when old or broken, and health-checked only when they have been idle."""

import pytest
from django.db import connection, connections

from estate import celery as worker

pytestmark = pytest.mark.django_db(transaction=True)


class _Task:
    """What the task signals send: a task whose request is not eager."""

    class request:  # noqa: N801
        is_eager = False


@pytest.fixture
def health_checks(monkeypatch):
    monkeypatch.setitem(connection.settings_dict, "CONN_HEALTH_CHECKS", True)
    monkeypatch.setitem(connection.settings_dict, "CONN_MAX_AGE", 60)
    checks: list[bool] = []
    real = connection.is_usable

    def is_usable():
        checks.append(True)
        return real()

    monkeypatch.setattr(connection, "is_usable", is_usable)
    connections["default"].__dict__.pop(worker._LAST_OK, None)
    connection.ensure_connection()
    connection.health_check_enabled = True
    connection.close_at = None
    return checks


def _run_task() -> None:
    worker.before_task(sender=_Task)
    with connection.cursor() as cursor:
        cursor.execute("SELECT 2")
    worker.after_task(sender=_Task)


def test_a_connection_used_by_the_last_task_is_not_checked_again(health_checks):
    _run_task()  # idle before: checked
    assert len(health_checks) == 1
    raw = connection.connection
    _run_task()
    _run_task()
    assert len(health_checks) == 1
    assert connection.connection is raw  # kept across tasks


def test_an_idle_connection_is_checked(health_checks, monkeypatch):
    _run_task()
    clock = worker.time.monotonic() + worker.RECENTLY_USED_SECONDS + 1
    monkeypatch.setattr(worker.time, "monotonic", lambda: clock)
    _run_task()
    assert len(health_checks) == 2


@pytest.mark.postgres("a SQLite connection always reports itself usable")
def test_a_connection_that_failed_is_checked_and_replaced_when_broken(health_checks):
    _run_task()
    raw = connection.connection
    connection.errors_occurred = True
    raw.close()  # PostgreSQL went away under it
    worker.after_task(sender=_Task)
    worker.before_task(sender=_Task)
    assert connection.connection is None  # broken: closed, reconnected on next use
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    assert connection.connection is not raw
