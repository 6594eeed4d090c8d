"""Drill schedules: kept in step with django-celery-beat, windows and blackout dates,
and runs that are skipped (with the reason) instead of clashing with another operation."""

from __future__ import annotations

from datetime import UTC, datetime, time

import pytest
from django.core.exceptions import ValidationError
from django_celery_beat.models import PeriodicTask

from drills import services
from drills.models import DrillRun, DrillSchedule, RunStatus
from operations.models import Operation, State
from tests.factories import estate as factories

pytestmark = pytest.mark.django_db


def _schedule(target, **kw) -> DrillSchedule:
    defaults = {
        "name": "weekly",
        "target_arn": target.arn,
        "target_label": target.identifier,
        "cron": "0 3 * * 2",
        "timezone": "Europe/Paris",
    }
    defaults.update(kw)
    return DrillSchedule.objects.create(**defaults)


def test_saving_a_schedule_creates_and_updates_its_periodic_task():
    cluster = factories.make_cluster()
    # When a schedule is saved
    schedule = _schedule(cluster)
    # Then a PeriodicTask with a crontab in the schedule's zone runs it
    task = PeriodicTask.objects.get(name=f"drill-schedule-{schedule.pk}")
    assert task.task == "drills.tasks.run_schedule_task"
    assert task.args == f"[{schedule.pk}]"
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("0", "3", "2")
    assert str(task.crontab.timezone) == "Europe/Paris"
    assert task.enabled
    # When it is disabled and its cron changes, the task follows
    schedule.enabled = False
    schedule.cron = "30 4 * * *"
    schedule.save()
    task.refresh_from_db()
    assert not task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("30", "4")
    # When it is deleted, so is the task
    schedule.delete()
    assert not PeriodicTask.objects.filter(name=f"drill-schedule-{schedule.pk}").exists()


def test_a_bulk_delete_removes_the_periodic_tasks_too():
    # Given two schedules (the admin deletes a selection with one queryset delete,
    # which never calls Model.delete())
    cluster = factories.make_cluster()
    first, second = _schedule(cluster, name="a"), _schedule(cluster, name="b")
    assert PeriodicTask.objects.filter(name__startswith="drill-schedule-").count() == 2
    # When both are deleted at once
    DrillSchedule.objects.filter(pk__in=[first.pk, second.pk]).delete()
    # Then their beat rows are gone with them
    assert not PeriodicTask.objects.filter(name__startswith="drill-schedule-").exists()


def test_next_run_follows_cron_in_the_schedule_time_zone():
    cluster = factories.make_cluster()
    schedule = _schedule(cluster, cron="0 3 * * *", timezone="America/New_York")
    now = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # 07:00 in New York
    nxt = schedule.next_run(now)
    assert nxt.astimezone(UTC) == datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "message"),
    [("0 3 * *", "five fields"), ("61 3 * * *", "not a valid cron")],
)
def test_bad_cron_is_refused_with_a_clear_error(value, message):
    schedule = DrillSchedule(name="x", target_arn="arn:x", cron=value)
    with pytest.raises(ValidationError, match=message):
        schedule.full_clean()


def test_unknown_time_zone_and_bad_blackout_dates_are_refused():
    with pytest.raises(ValidationError, match="Unknown time zone"):
        DrillSchedule(
            name="x", target_arn="arn:x", cron="0 3 * * *", timezone="Mars/Olympus"
        ).full_clean()
    with pytest.raises(ValidationError, match="not YYYY-MM-DD"):
        DrillSchedule(
            name="x", target_arn="arn:x", cron="0 3 * * *", blackout_dates=["24/12/2026"]
        ).full_clean()


def test_window_and_blackout_dates_refuse_in_local_time():
    schedule = DrillSchedule(
        timezone="Europe/Paris",
        window_start=time(2, 0),
        window_end=time(5, 0),
        blackout_dates=["2026-12-24"],
    )
    inside = datetime(2026, 11, 27, 2, 30, tzinfo=UTC)  # 03:30 in Paris
    outside = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    blackout = datetime(2026, 12, 24, 2, 30, tzinfo=UTC)
    assert schedule.window_refusal(inside) == ""
    assert "outside the allowed window 02:00-05:00" in schedule.window_refusal(outside)
    assert "blackout date" in schedule.window_refusal(blackout)


def test_a_window_across_midnight():
    schedule = DrillSchedule(timezone="UTC", window_start=time(23, 0), window_end=time(1, 0))
    assert schedule.window_refusal(datetime(2026, 11, 27, 23, 30, tzinfo=UTC)) == ""
    assert schedule.window_refusal(datetime(2026, 11, 27, 0, 30, tzinfo=UTC)) == ""
    assert schedule.window_refusal(datetime(2026, 11, 27, 12, 0, tzinfo=UTC)) != ""


def test_scheduled_run_is_skipped_while_another_operation_is_active_on_the_target():
    # Given a cluster with a backtrack running on it
    cluster = factories.make_cluster()
    running = Operation.objects.create(
        kind="backtrack_cluster",
        target_arn=cluster.arn,
        target_label=cluster.identifier,
        account=cluster.account,
        region=cluster.region,
        state=State.WAITING,
    )
    schedule = _schedule(cluster)
    # When the schedule fires
    run = services.run_schedule(schedule)
    # Then the run is recorded as skipped with the reason, and nothing was started
    assert run.status == RunStatus.SKIPPED
    assert f"Operation #{running.pk}" in run.reason
    assert "active on the target" in run.reason
    assert run.operation is None
    assert Operation.objects.count() == 1


def test_scheduled_run_outside_its_window_is_skipped():
    cluster = factories.make_cluster()
    schedule = _schedule(cluster, timezone="UTC", window_start=time(2, 0), window_end=time(3, 0))
    run = services.run_schedule(schedule, now=datetime(2026, 11, 27, 12, 0, tzinfo=UTC))
    assert run.status == RunStatus.SKIPPED
    assert "outside the allowed window" in run.reason
    assert DrillRun.objects.filter(schedule=schedule).count() == 1


def test_run_schedule_task_skips_a_vanished_target():
    from django.utils import timezone

    from drills.tasks import run_schedule_task

    cluster = factories.make_cluster(gone_at=timezone.now())
    schedule = _schedule(cluster)
    run_id = run_schedule_task(schedule.pk)
    run = DrillRun.objects.get(pk=run_id)
    assert run.status == RunStatus.SKIPPED
    assert "not in the mirror" in run.reason
