"""Clones and PITR cluster restores: names validated before any AWS call, deletion
protection off unless asked (and turned off by "Delete clone"), and a clone whose
instance AWS refuses leaves nothing behind."""

from __future__ import annotations

from typing import Any

import pytest

from estate import aws
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import mirror, mutating_calls, wait_available

pytestmark = pytest.mark.django_db


@pytest.fixture
def aws_calls(monkeypatch) -> list[str]:
    """Every AWS call Estate makes (describes included), by operation name."""
    made: list[str] = []
    real = aws.call

    def counting(client: Any, operation: str, **kw: Any) -> Any:
        made.append(operation)
        return real(client, operation, **kw)

    monkeypatch.setattr(aws, "call", counting)
    return made


def _cluster_names(rds) -> list[str]:
    return [c["DBClusterIdentifier"] for c in rds.describe_db_clusters()["DBClusters"]]


@pytest.mark.parametrize("kind", ["clone_cluster", "restore_cluster_pitr"])
def test_a_name_too_long_for_its_derived_instance_is_refused_with_no_aws_call(
    kind, cluster, operator, aws_calls
):
    name = "c" * 60  # a valid cluster name, but "<name>-instance-1" has 71 characters
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            kind,
            cluster,
            {"clone_identifier": name, "instance_class": "db.r6g.large"},
            requested_by=operator,
        )
    message = refused.value.errors["clone_identifier"][0]
    assert f"{name}-instance-1" in message
    assert "at most 52 characters" in message
    assert aws_calls == []
    assert Operation.objects.count() == 0


def test_the_longest_name_whose_instance_fits_is_accepted(cluster, operator, rds):
    name = "c" * 52
    op = drive(
        start_operation(
            "clone_cluster",
            cluster,
            {"clone_identifier": name, "instance_class": "db.r6g.large"},
            requested_by=operator,
        ).pk
    )
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["instance"] == f"{name}-instance-1"


def test_a_clone_of_a_protected_cluster_is_created_without_deletion_protection(
    cluster, operator, rds
):
    rds.modify_db_cluster(DBClusterIdentifier="orders", DeletionProtection=True)
    wait_available(rds, clusters=["orders"])
    op = drive(
        start_operation(
            "clone_cluster",
            cluster,
            {"clone_identifier": "orders-scratch", "instance_class": "db.r6g.large"},
            requested_by=operator,
        ).pk
    )
    assert op.state == State.SUCCEEDED, op.error
    clone = rds.describe_db_clusters(DBClusterIdentifier="orders-scratch")["DBClusters"][0]
    assert clone["DeletionProtection"] is False


def test_delete_clone_turns_deletion_protection_off_first(
    cluster, operator, admin_user, rds, account
):
    op = drive(
        start_operation(
            "clone_cluster",
            cluster,
            {
                "clone_identifier": "orders-kept",
                "instance_class": "db.r6g.large",
                "deletion_protection": True,
            },
            requested_by=operator,
        ).pk
    )
    assert op.state == State.SUCCEEDED, op.error
    clone = rds.describe_db_clusters(DBClusterIdentifier="orders-kept")["DBClusters"][0]
    assert clone["DeletionProtection"] is True
    mirror(account, rds)

    deleted = drive(
        start_operation(
            "delete_clone",
            clone["DBClusterArn"],
            {"confirm": "orders-kept"},
            requested_by=admin_user,
        ).pk
    )

    assert deleted.state == State.SUCCEEDED, deleted.error
    assert "orders-kept" not in _cluster_names(rds)
    assert deleted.result["deletion_protection_turned_off"] is True
    assert len(mutating_calls("ModifyDBCluster")) == 1
    # In the operation's own timeline, before the deletion.
    messages = [e.message for e in deleted.events.order_by("pk")]
    turned_off = next(i for i, m in enumerate(messages) if "Turned deletion protection off" in m)
    assert turned_off < next(i for i, m in enumerate(messages) if "deleting the clone" in m)


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("clone_cluster", {}),
        # Protected: the clean-up turns the protection off, then deletes.
        ("restore_cluster_pitr", {"deletion_protection": True}),
    ],
)
def test_a_refused_instance_leaves_nothing_behind(
    kind, params, cluster, operator, rds, fast_sandbox
):
    fast_sandbox.faults.deny(service="rds", action_prefix="CreateDBInstance")
    op = drive(
        start_operation(
            kind,
            cluster,
            {"clone_identifier": "orders-half", "instance_class": "db.r6g.large", **params},
            requested_by=operator,
        ).pk
    )
    fast_sandbox.faults.clear()

    assert op.state == State.FAILED
    assert "AWS refused to create orders-half-instance-1" in op.error
    assert "nothing is left in AWS" in op.error
    assert "orders-half" not in _cluster_names(rds)
    assert len(mutating_calls("RestoreDBClusterToPointInTime")) == 1
    assert [c.target for c in mutating_calls("DeleteDBCluster")] == ["orders-half"]
    assert len(mutating_calls("ModifyDBCluster")) == (1 if params else 0)
