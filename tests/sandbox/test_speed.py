"""The sandbox's speed-ups keep moto's answers: cluster membership from an index, the
serializer's memoized attribute names, the memoized routing."""

from __future__ import annotations

import pytest

from tests.sandbox.helpers import aurora_mysql_cluster, client, until


@pytest.fixture
def rds(sandbox):
    return client("rds", "eu-west-1")


def _members(rds, name: str) -> dict[str, bool]:
    cluster = rds.describe_db_clusters(DBClusterIdentifier=name)["DBClusters"][0]
    return {m["DBInstanceIdentifier"]: m["IsClusterWriter"] for m in cluster["DBClusterMembers"]}


def _backend():
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.rds.models import rds_backends

    return rds_backends[DEFAULT_ACCOUNT_ID]["eu-west-1"]


def test_membership_follows_instances_created_deleted_and_failed_over(rds):
    aurora_mysql_cluster(rds, "orders", readers=1)
    aurora_mysql_cluster(rds, "billing", readers=0)
    assert _members(rds, "orders") == {"orders-0": True, "orders-1": False}
    assert _members(rds, "billing") == {"billing-0": True}
    # Describes reuse one index while nothing changes
    index = _backend().__dict__["_estate_members"]
    _members(rds, "billing")
    assert _backend().__dict__["_estate_members"] is index
    # A new member shows up, in its own cluster only
    rds.create_db_instance(
        DBInstanceIdentifier="orders-2",
        DBClusterIdentifier="orders",
        DBInstanceClass="db.r6g.large",
        Engine="aurora-mysql",
    )
    assert set(_members(rds, "orders")) == {"orders-0", "orders-1", "orders-2"}
    assert set(_members(rds, "billing")) == {"billing-0"}
    # A failover moves the writer role; membership is unchanged
    until(
        lambda: (
            rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["Status"]
            == "available"
        )
    )
    rds.failover_db_cluster(DBClusterIdentifier="orders", TargetDBInstanceIdentifier="orders-1")
    until(lambda: _members(rds, "orders").get("orders-1") is True)
    assert _members(rds, "orders") == {"orders-0": False, "orders-1": True, "orders-2": False}
    # Instances written outside any request (the seed, a transition finishing) count
    import copy

    written = copy.copy(_backend().databases["orders-2"])
    written.db_instance_identifier = "orders-3"
    _backend().databases["orders-3"] = written
    assert set(_members(rds, "orders")) == {"orders-0", "orders-1", "orders-2", "orders-3"}
    del _backend().databases["orders-3"]
    assert "orders-3" not in _members(rds, "orders")
    # A deleted member goes away
    until(
        lambda: (
            rds.describe_db_instances(DBInstanceIdentifier="orders-2")["DBInstances"][0][
                "DBInstanceStatus"
            ]
            == "available"
        )
    )
    rds.delete_db_instance(DBInstanceIdentifier="orders-2")
    until(lambda: "orders-2" not in _members(rds, "orders"), timeout=10)
    assert _members(rds, "orders") == {"orders-0": False, "orders-1": True}


def test_membership_seen_by_a_listing_matches_moto_scan(rds):
    from moto.rds.models import DBCluster

    from sandbox.extensions import rds_speed

    for name in ("a", "b", "c"):
        aurora_mysql_cluster(rds, name, readers=1)
    listed = {
        c["DBClusterIdentifier"]: sorted(m["DBInstanceIdentifier"] for m in c["DBClusterMembers"])
        for c in rds.describe_db_clusters()["DBClusters"]
    }
    scanned = {
        cluster.db_cluster_identifier: sorted(
            i.db_instance_identifier for i in rds_speed._original_members.fget(cluster)
        )
        for cluster in _backend().clusters.values()
        if isinstance(cluster, DBCluster)
    }
    assert listed == scanned == {"a": ["a-0", "a-1"], "b": ["b-0", "b-1"], "c": ["c-0", "c-1"]}


def test_serialized_responses_keep_every_field(rds):
    # The memoized attribute names must give what moto's own lookup gives, for objects
    # of different classes sharing member names (clusters, instances, snapshots).
    aurora_mysql_cluster(rds, "orders", readers=0)
    cluster = rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]
    instance = rds.describe_db_instances(DBInstanceIdentifier="orders-0")["DBInstances"][0]
    assert cluster["DBClusterIdentifier"] == "orders"
    assert cluster["Engine"] == "aurora-mysql"
    assert cluster["Endpoint"].startswith("orders.")
    assert instance["DBInstanceIdentifier"] == "orders-0"
    assert instance["DBClusterIdentifier"] == "orders"
    assert instance["DBInstanceClass"] == "db.r6g.large"
    until(
        lambda: (
            rds.describe_db_clusters(DBClusterIdentifier="orders")["DBClusters"][0]["Status"]
            == "available"
        )
    )
    rds.create_db_cluster_snapshot(
        DBClusterIdentifier="orders", DBClusterSnapshotIdentifier="orders-snap"
    )
    snapshot = rds.describe_db_cluster_snapshots(DBClusterSnapshotIdentifier="orders-snap")[
        "DBClusterSnapshots"
    ][0]
    assert snapshot["DBClusterSnapshotIdentifier"] == "orders-snap"
    assert snapshot["DBClusterIdentifier"] == "orders"


@pytest.mark.parametrize(
    "body",
    [
        {"R": {"A": "x", "B": None, "C": "", "D": [], "E": ["1", "2"], "@xmlns": "urn:x"}},
        {"R": {"Flag": True, "Off": False, "N": 3, "F": 1.5, "Text": "a<b>&'\"c"}},
        {"R": {"L": [{"M": "1"}, None, "", {"#text": "t", "@a": "q\"'<&>\n"}]}},
        {"R": {"Empty": {}, "Only": {"@id": "1"}, "Nested": {"Inner": {"Deep": []}}}},
        {"R": {"T": ()}, "S": "second root"},
        {"R": {"#text": "", "Child": "c"}},
    ],
)
def test_xml_bodies_are_written_as_xmltodict_writes_them(body):
    import xmltodict

    from sandbox.extensions.serialize_speed import render_xml

    expected = xmltodict.unparse(body, full_document=False, short_empty_elements=True)
    assert render_xml(body) == expected


@pytest.mark.parametrize(
    "body",
    [
        {"R": {"#comment": "note", "A": "x"}},
        {"R": {"A": b"bytes"}},
        {"R": {"A": {1, 2}}},
        {"R": {"A": [["nested"]]}},
        {"R": {"ns:A": "x"}},
    ],
)
def test_unusual_xml_bodies_are_left_to_xmltodict(body):
    from sandbox.extensions.serialize_speed import _Unusual, render_xml

    with pytest.raises(_Unusual):
        render_xml(body)


def test_real_responses_render_the_same_xml(rds, monkeypatch):
    import xmltodict
    from moto.core.serialize import BaseXMLSerializer

    from sandbox.extensions import serialize_speed

    compared: list[str] = []

    def both(self, body):
        fast = serialize_speed.render_xml(body)  # no fallback: the fast path itself
        assert fast == xmltodict.unparse(body, full_document=False, short_empty_elements=True)
        compared.append(fast)
        return fast

    monkeypatch.setattr(BaseXMLSerializer, "_serialize_body", both)
    aurora_mysql_cluster(rds, "orders", readers=1)
    rds.add_tags_to_resource(
        ResourceName=rds.describe_db_clusters()["DBClusters"][0]["DBClusterArn"],
        Tags=[{"Key": "team", "Value": "<payments & co>"}],
    )
    rds.describe_db_clusters()
    rds.describe_db_instances(Filters=[{"Name": "db-cluster-id", "Values": ["orders"]}])
    rds.describe_events()
    with pytest.raises(rds.exceptions.DBClusterNotFoundFault):
        rds.describe_db_clusters(DBClusterIdentifier="missing")
    cache = client("elasticache", "eu-west-1")
    cache.describe_replication_groups()
    assert len(compared) >= 8
    assert any("&lt;payments &amp; co&gt;" in xml for xml in compared)


def test_backend_apps_run_outside_flasks_debug_mode_and_still_propagate_errors():
    from sandbox.server import _backend_app

    app = _backend_app("rds")
    assert app.debug is False
    assert app.config["PROPAGATE_EXCEPTIONS"] is True
