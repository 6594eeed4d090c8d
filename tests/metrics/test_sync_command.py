"""``manage.py sync --kind metrics`` fetches CloudWatch points into the metrics store."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from estate.models import SyncRun
from metrics.models import MetricHour
from tests.factories import estate as factories
from tests.metrics.conftest import minutes_before

pytestmark = pytest.mark.django_db


def test_sync_kind_metrics_alone_fetches_points_and_leaves_the_mirror_alone(
    cw_sandbox, publish, now
):
    # Given an instance with 10 minutes of CPU in CloudWatch
    account = factories.make_account(regions=["us-east-1"])
    db = factories.make_instance(account)
    points = [(ts, 5.0) for ts in minutes_before(now, 10)]
    publish(
        account,
        "us-east-1",
        "AWS/RDS",
        "CPUUtilization",
        {"DBInstanceIdentifier": db.identifier},
        points,
    )
    # When only metrics are synced
    out = StringIO()
    call_command("sync", "--kind", "metrics", stdout=out)
    # Then new points are stored, reported, and no mirror sync ran
    assert MetricHour.objects.exists()
    assert out.getvalue().startswith("metrics: ")
    assert not SyncRun.objects.exists()


def test_sync_kind_metrics_with_a_mirror_kind_runs_both(cw_sandbox):
    factories.make_account(regions=["us-east-1"])
    out = StringIO()
    call_command("sync", "--kind", "instances", "--kind", "metrics", stdout=out)
    text = out.getvalue()
    assert SyncRun.objects.get().status == SyncRun.Status.SUCCEEDED
    assert text.splitlines()[0].startswith("SyncRun ")
    assert "\nmetrics: " in text


def test_sync_kind_metrics_refuses_an_unknown_account(cw_sandbox):
    factories.make_account(regions=["us-east-1"])
    with pytest.raises(CommandError, match="Unknown account"):
        call_command("sync", "--kind", "metrics", "--account", "999999999999", stdout=StringIO())
