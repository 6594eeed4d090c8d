"""ElastiCache test failover of a shard, end to end, with the sandbox's lifecycle."""

import pytest

from estate import aws
from estate.models import CacheReplicationGroup
from operations.models import Operation, State
from operations.services import OperationRefused, start_operation
from tests.driving import drive
from tests.factories.operations import REGION, mutating_calls

pytestmark = pytest.mark.django_db


def _group(account, *, failover: bool = True) -> CacheReplicationGroup:
    cache = aws.client(account, REGION, "elasticache")
    cache.create_replication_group(
        ReplicationGroupId="sessions",
        ReplicationGroupDescription="sessions",
        Engine="redis",
        CacheNodeType="cache.t3.micro",
        NumCacheClusters=2,
        AutomaticFailoverEnabled=failover,
    )
    live = cache.describe_replication_groups(ReplicationGroupId="sessions")["ReplicationGroups"][0]
    return CacheReplicationGroup.objects.create(
        account=account,
        region=REGION,
        arn=live["ARN"],
        identifier="sessions",
        status=live["Status"],
        automatic_failover=live["AutomaticFailover"],
        node_groups=[
            {
                "id": g["NodeGroupId"],
                "members": [
                    {"cache_cluster_id": m["CacheClusterId"], "role": m.get("CurrentRole", "")}
                    for m in g["NodeGroupMembers"]
                ],
            }
            for g in live["NodeGroups"]
        ],
    )


def test_shard_failover_changes_the_primary_node(account, fast_sandbox, operator):
    group = _group(account)
    op = start_operation(
        "cache_test_failover", group, {"node_group_id": "0001"}, requested_by=operator
    )
    op = drive(op.pk)
    assert op.state == State.SUCCEEDED, op.error
    assert op.result["old_primary"] != op.result["new_primary"]
    cache = aws.client(account, REGION, "elasticache")
    live = cache.describe_replication_groups(ReplicationGroupId="sessions")["ReplicationGroups"][0]
    roles = {
        m["CacheClusterId"]: m["CurrentRole"] for m in live["NodeGroups"][0]["NodeGroupMembers"]
    }
    assert roles[op.result["new_primary"]] == "primary"
    assert roles[op.result["old_primary"]] == "replica"
    messages = [e["Message"] for e in cache.describe_events(SourceIdentifier="sessions")["Events"]]
    assert any(m.startswith("Failover from primary node") for m in messages)
    assert len(mutating_calls("TestFailover")) == 1


def test_shard_failover_without_automatic_failover_is_refused(account, fast_sandbox, operator):
    group = _group(account, failover=False)
    with pytest.raises(OperationRefused, match="Automatic failover"):
        start_operation(
            "cache_test_failover", group, {"node_group_id": "0001"}, requested_by=operator
        )
    assert Operation.objects.count() == 0
    assert mutating_calls("TestFailover") == []


def test_unknown_shard_is_an_inline_error(account, fast_sandbox, operator):
    group = _group(account)
    with pytest.raises(OperationRefused) as refused:
        start_operation(
            "cache_test_failover", group, {"node_group_id": "0009"}, requested_by=operator
        )
    assert "node_group_id" in refused.value.errors
    assert mutating_calls("TestFailover") == []
