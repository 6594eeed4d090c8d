"""Point-in-time restore accepts every time AWS accepts: the restore forms check the
time against AWS's window at submit time (``check_live``), not against the mirror's,
whose latest restorable time sync rewrites only past ``SYNC_TIME_DRIFT_SECONDS``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from moto.rds.models import rds_backends

from estate.models import DbCluster, DbInstance
from estate.sync import sync_scope
from operations.models import Operation
from operations.services import OperationRefused, start_operation
from sandbox.extensions import rds_backups
from tests.factories.operations import (
    ACCOUNT_ID,
    REGION,
    create_cluster,
    create_instance,
    mutating_calls,
    wait_available,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def aws_lag(monkeypatch):
    """AWS's latest restorable time 30 s behind now (newer than "2 minutes ago")."""
    monkeypatch.setattr(rds_backups, "RESTORE_LAG", timedelta(seconds=30))


def _days_old(resource) -> None:
    resource.created = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=3)
    if hasattr(resource, "instance_create_time"):
        resource.instance_create_time = resource.created


def _stale(model, identifier: str) -> None:
    """The mirror as the drift rule leaves it minutes after a sync: AWS's latest
    restorable time has moved on, by less than SYNC_TIME_DRIFT_SECONDS, and the
    mirrored one has not (a resync wrote nothing)."""
    row = model.objects.get(identifier=identifier)
    model.objects.filter(pk=row.pk).update(
        latest_restorable_time=row.latest_restorable_time - timedelta(minutes=10)
    )


@pytest.fixture
def crm(account, rds, aws_lag) -> DbInstance:
    create_instance(rds, "crm", multi_az=False)
    wait_available(rds, instances=["crm"])
    _days_old(rds_backends[ACCOUNT_ID][REGION].databases["crm"])
    run = sync_scope(kinds=["instances"])
    assert run.status == "succeeded", run.errors
    _stale(DbInstance, "crm")
    return DbInstance.objects.get(identifier="crm")


@pytest.fixture
def events(account, rds, aws_lag) -> DbCluster:
    create_cluster(rds, "events", instances=1)
    wait_available(rds, clusters=["events"], instances=["events-1"])
    _days_old(rds_backends[ACCOUNT_ID][REGION].clusters["events"])
    run = sync_scope(kinds=["clusters", "instances"])
    assert run.status == "succeeded", run.errors
    _stale(DbCluster, "events")
    return DbCluster.objects.get(identifier="events")


def _instance_params(when: datetime) -> dict[str, str]:
    return {"instance_identifier": "crm-incident", "restore_time": when.isoformat()}


def _cluster_params(when: datetime) -> dict[str, str]:
    return {
        "clone_identifier": "events-incident",
        "instance_class": "db.r6g.large",
        "restore_time": when.isoformat(),
    }


def test_instance_restore_to_two_minutes_ago_is_accepted_though_the_mirror_lags(crm, operator):
    when = timezone.now() - timedelta(minutes=2)
    assert crm.latest_restorable_time < when  # the mirror alone would refuse it
    op = start_operation(
        "restore_instance_pitr", crm, _instance_params(when), requested_by=operator
    )
    assert op.params["restore_time"] == when.isoformat()


def test_cluster_restore_to_two_minutes_ago_is_accepted_though_the_mirror_lags(events, operator):
    when = timezone.now() - timedelta(minutes=2)
    assert events.latest_restorable_time < when
    op = start_operation(
        "restore_cluster_pitr", events, _cluster_params(when), requested_by=operator
    )
    assert op.params["restore_time"] == when.isoformat()


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=5), -timedelta(days=4)], ids=["future", "before-earliest"]
)
def test_instance_restore_outside_aws_window_is_refused_with_the_window(crm, operator, rds, offset):
    when = timezone.now() + offset
    with pytest.raises(OperationRefused) as refused:
        start_operation("restore_instance_pitr", crm, _instance_params(when), requested_by=operator)
    message = " ".join(refused.value.errors["__all__"])
    window = rds.describe_db_instance_automated_backups(DBInstanceIdentifier="crm")[
        "DBInstanceAutomatedBackups"
    ][0]["RestoreWindow"]
    assert "outside the restorable window in AWS" in message
    assert window["EarliestTime"].strftime("%Y-%m-%d %H:%M") in message
    assert window["LatestTime"].strftime("%Y-%m-%d %H:%M") in message
    assert Operation.objects.count() == 0
    assert mutating_calls("RestoreDBInstanceToPointInTime") == []


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=5), -timedelta(days=4)], ids=["future", "before-earliest"]
)
def test_cluster_restore_outside_aws_window_is_refused_with_the_window(
    events, operator, rds, offset
):
    when = timezone.now() + offset
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "restore_cluster_pitr", events, _cluster_params(when), requested_by=operator
        )
    message = " ".join(refused.value.errors["__all__"])
    live = rds.describe_db_clusters(DBClusterIdentifier="events")["DBClusters"][0]
    assert "outside the restorable window in AWS" in message
    assert live["EarliestRestorableTime"].strftime("%Y-%m-%d %H:%M") in message
    assert live["LatestRestorableTime"].strftime("%Y-%m-%d %H:%M") in message
    assert Operation.objects.count() == 0
    assert mutating_calls("RestoreDBClusterToPointInTime") == []


@pytest.mark.parametrize(
    ("kind", "fixture"),
    [("restore_instance_pitr", "crm"), ("restore_cluster_pitr", "events")],
)
def test_the_form_shows_aws_window_of_now(client, operator, rds, request, kind, fixture):
    target = request.getfixturevalue(fixture)
    client.force_login(operator)
    page = client.get(reverse("operations:new", args=[kind]), {"target": target.arn})
    assert page.status_code == 200
    text = page.content.decode()
    assert "Window in AWS now:" in text
    # AWS's latest (30 s behind now), not the mirror's (10 minutes older)
    mirrored = target.latest_restorable_time.strftime("%Y-%m-%d %H:%M:%S")
    assert f"to {mirrored}" not in text


def test_backups_page_says_how_far_a_mirrored_latest_time_may_lag(client, settings):
    from estate.roles import VIEWER
    from tests.factories import estate as factories

    settings.SYNC_TIME_DRIFT_SECONDS = 600
    factories.make_instance(
        identifier="crm", latest_restorable_time=timezone.now() - timedelta(minutes=7)
    )
    client.force_login(factories.make_user(role=VIEWER))
    page = client.get(reverse("drills:backups")).content.decode()
    assert "at most 10 min" in page
