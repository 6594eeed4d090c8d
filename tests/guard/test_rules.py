"""Security posture rules: each rule fires on a resource that breaks it and stays
silent on one that does not. Every builder here makes a resource that passes every rule;
each test changes one thing."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from estate import models as m
from guard import rules
from guard.models import SecurityGroup
from tests.factories.guard import (
    BUILDERS,
    SECURE_SG,
    WORLD_SG,
    account,
    cache_cluster,
    cache_group,
    cluster,
    dms_endpoint,
    dms_instance,
    instance,
    proxy,
    security_group,
    snapshot,
    tls_group,
)

pytestmark = pytest.mark.django_db


def rules_for(row: Any) -> set[str]:
    return {f.rule.id for f in rules.evaluate() if f.resource_arn == row.arn}


def finding(row: Any, rule_id: str) -> rules.Finding:
    return next(f for f in rules.evaluate() if f.resource_arn == row.arn and f.rule.id == rule_id)


@pytest.mark.parametrize("kind", BUILDERS)
def test_a_secure_resource_has_no_findings(kind):
    acct = account()
    security_group(acct, SECURE_SG, None)
    row = BUILDERS[kind](acct)
    assert rules_for(row) == set()


# (rule, builder, the one change that breaks the rule)
TRIGGERS = [
    ("RDS-ENCRYPTION", "instance", {"storage_encrypted": False}),
    ("RDS-ENCRYPTION", "cluster", {"storage_encrypted": False}),
    ("SNAPSHOT-ENCRYPTION", "snapshot", {"encrypted": False}),
    (
        "RDS-TLS",
        "instance",
        {
            "parameter_groups": [{"name": "default.postgres14", "status": "in-sync"}],
            "engine_version": "14.9",
        },
    ),
    ("RDS-TLS", "cluster", {"parameter_group_name": "default.aurora-postgresql16"}),
    ("RDS-IAM-AUTH", "instance", {"iam_auth_enabled": False}),
    ("RDS-IAM-AUTH", "cluster", {"iam_auth_enabled": False}),
    ("RDS-KERBEROS", "instance", {"domain_memberships": [{"Domain": "d-1", "Status": "failed"}]}),
    (
        "RDS-KERBEROS",
        "cluster",
        {"domain_memberships": [{"Domain": "d-1", "Status": "pending-join"}]},
    ),
    ("RDS-PUBLIC", "instance", {"publicly_accessible": True}),
    ("SNAPSHOT-PUBLIC", "snapshot", {"is_public": True}),
    ("SNAPSHOT-SHARED", "snapshot", {"shared_with": ["222222222222"]}),
    ("RDS-DELETION-PROTECTION", "instance", {"deletion_protection": False}),
    ("RDS-DELETION-PROTECTION", "cluster", {"deletion_protection": False}),
    ("RDS-DEFAULT-USERNAME", "instance", {"master_username": "postgres"}),
    ("RDS-DEFAULT-USERNAME", "cluster", {"master_username": "admin"}),
    ("RDS-MASTER-SECRET", "instance", {"master_user_secret_arn": ""}),
    ("RDS-MASTER-SECRET", "cluster", {"master_user_secret_arn": ""}),
    (
        "RDS-CA-EXPIRY",
        "instance",
        {"ca_certificate_valid_till": timezone.now() + timedelta(days=60)},
    ),
    (
        "RDS-CA-EXPIRED",
        "instance",
        {"ca_certificate_valid_till": timezone.now() - timedelta(days=834)},
    ),
    ("ENGINE-DEPRECATED", "instance", {"engine_version": "11.22"}),
    (
        "ENGINE-DEPRECATED",
        "cluster",
        {
            "engine": "aurora-mysql",
            "engine_version": "5.7.mysql_aurora.2.11.2",
            "parameter_group_name": "tls-mysql",
        },
    ),
    ("ENGINE-DEPRECATED", "cache_group", {"engine_version": "5.0.6"}),
    ("RDS-AUTO-MINOR-UPGRADE", "instance", {"auto_minor_version_upgrade": False}),
    ("RDS-BACKUP-RETENTION", "instance", {"backup_retention_period": 3}),
    ("RDS-BACKUP-RETENTION", "cluster", {"backup_retention_period": 1}),
    ("RDS-SINGLE-AZ", "instance", {"multi_az": False}),
    ("RDS-SINGLE-AZ", "cluster", {"readers": 0}),
    ("RDS-LOG-EXPORTS", "instance", {"enabled_cloudwatch_logs_exports": []}),
    ("RDS-LOG-EXPORTS", "cluster", {"enabled_cloudwatch_logs_exports": []}),
    ("PROXY-TLS", "proxy", {"require_tls": False}),
    ("PROXY-IAM-AUTH", "proxy", {"auth": [{"AuthScheme": "SECRETS", "IAMAuth": "DISABLED"}]}),
    ("CACHE-TRANSIT-ENCRYPTION", "cache_group", {"transit_encryption": False}),
    ("CACHE-TRANSIT-ENCRYPTION", "cache_cluster", {"transit_encryption": False}),
    ("CACHE-TRANSIT-ENCRYPTION", "cache_group", {"transit_encryption_mode": "preferred"}),
    ("CACHE-AT-REST-ENCRYPTION", "cache_group", {"at_rest_encryption": False}),
    ("CACHE-AUTH", "cache_group", {"auth_token_enabled": False, "user_group_ids": []}),
    ("CACHE-HA", "cache_group", {"multi_az": False}),
    ("CACHE-HA", "cache_group", {"automatic_failover": "disabled"}),
    ("CACHE-BACKUPS", "cache_group", {"snapshot_retention_limit": 0}),
    ("DMS-PUBLIC", "dms_instance", {"publicly_accessible": True}),
    ("DMS-SINGLE-AZ", "dms_instance", {"multi_az": False}),
    ("DMS-ENDPOINT-SSL", "dms_endpoint", {"ssl_mode": "none"}),
]


@pytest.mark.parametrize(
    ("rule_id", "kind", "change"), TRIGGERS, ids=lambda v: v if isinstance(v, str) else ""
)
def test_rule_fires_on_the_resource_that_breaks_it(rule_id, kind, change):
    # given an otherwise secure resource with one weakness
    acct = account()
    security_group(acct, SECURE_SG, None)
    tls_group(acct, "tls-mysql", m.ParameterGroup.Scope.CLUSTER, "require_secure_transport", "ON")
    row = BUILDERS[kind](acct, **change)
    # when the posture is evaluated
    found = rules_for(row)
    # then exactly that rule fires, with the evidence
    assert found == {rule_id}
    hit = finding(row, rule_id)
    assert hit.evidence
    assert all([hit.rule.title, hit.rule.rationale, hit.rule.remediation])


def test_every_rule_has_a_triggering_test_and_full_text():
    tested = {rule_id for rule_id, _, _ in TRIGGERS} | {"SG-OPEN-DB-PORT"}
    assert tested == set(rules.RULES)
    for rule in rules.RULES.values():
        assert rule.severity in rules.Severity.ORDER


@pytest.mark.parametrize(
    ("kind", "cidr", "port"),
    [
        ("instance", "0.0.0.0/0", 5432),
        ("cluster", "::/0", 5432),
        ("proxy", "0.0.0.0/0", 5432),
        ("cache_cluster", "0.0.0.0/0", 11211),
    ],
)
def test_security_group_open_to_the_world_on_the_db_port(kind, cidr, port):
    acct = account()
    security_group(acct, WORLD_SG, cidr, port=port)
    row = BUILDERS[kind](
        acct,
        **{
            "security_group_ids" if kind == "cache_cluster" else "vpc_security_group_ids": [
                WORLD_SG
            ]
        },
    )
    assert rules_for(row) == {"SG-OPEN-DB-PORT"}
    assert finding(row, "SG-OPEN-DB-PORT").evidence["groups"][0]["group_id"] == WORLD_SG


def test_security_group_open_to_the_world_on_another_port_is_not_a_finding():
    acct = account()
    SecurityGroup.objects.create(
        account=acct,
        region="us-east-1",
        group_id=WORLD_SG,
        ingress=[
            {
                "protocol": "tcp",
                "from_port": 443,
                "to_port": 443,
                "cidrs": ["0.0.0.0/0"],
                "ipv6_cidrs": [],
                "groups": [],
            }
        ],
    )
    row = instance(acct, vpc_security_group_ids=[WORLD_SG])
    assert rules_for(row) == set()


def test_public_instance_behind_an_open_group_is_critical():
    acct = account()
    security_group(acct, WORLD_SG, "0.0.0.0/0")
    row = instance(acct, publicly_accessible=True, vpc_security_group_ids=[WORLD_SG])
    assert finding(row, "SG-OPEN-DB-PORT").severity == rules.Severity.CRITICAL


def test_production_only_rules_stay_quiet_outside_production():
    acct = account(m.Environment.STAGING)
    security_group(acct, SECURE_SG, None)
    rows = [
        instance(acct, deletion_protection=False, multi_az=False),
        cache_group(acct, multi_az=False, automatic_failover="disabled"),
        dms_instance(acct, multi_az=False),
    ]
    assert all(rules_for(row) == set() for row in rows)


def test_tls_uses_engine_defaults_when_the_group_is_not_mirrored():
    acct = account()
    security_group(acct, SECURE_SG, None)
    # RDS for PostgreSQL 15+ forces SSL by default; MySQL does not.
    pg15 = instance(
        acct,
        parameter_groups=[{"name": "default.postgres15", "status": "in-sync"}],
        engine_version="15.5",
    )
    mysql = instance(
        acct,
        engine="mysql",
        engine_version="8.0.36",
        enabled_cloudwatch_logs_exports=["error"],
        parameter_groups=[{"name": "default.mysql8.0", "status": "in-sync"}],
    )
    assert "RDS-TLS" not in rules_for(pg15)
    assert finding(mysql, "RDS-TLS").evidence["note"].startswith("parameter group not mirrored")


def test_a_zero_backup_retention_is_high_severity():
    acct = account()
    security_group(acct, SECURE_SG, None)
    row = instance(acct, backup_retention_period=0)
    assert finding(row, "RDS-BACKUP-RETENTION").severity == rules.Severity.HIGH


def test_gone_resources_are_not_judged():
    row = instance(storage_encrypted=False, gone_at=timezone.now())
    assert rules_for(row) == set()


def test_evaluation_needs_the_same_queries_for_a_small_and_a_large_estate():
    def build(n: int) -> None:
        acct = account()
        for _ in range(n):
            instance(acct, storage_encrypted=False)
            cluster(acct, readers=0, iam_auth_enabled=False)
            snapshot(acct, is_public=True)
            proxy(acct, require_tls=False)
            cache_group(acct, transit_encryption=False)
            cache_cluster(acct)
            dms_instance(acct, publicly_accessible=True)
            dms_endpoint(acct, ssl_mode="none")

    def queries() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as captured:
            findings = rules.evaluate()
        return len(captured.captured_queries), len(findings)

    build(1)
    small_queries, small_findings = queries()
    build(20)
    large_queries, large_findings = queries()
    assert large_queries == small_queries <= 13
    assert large_findings > small_findings


def test_finding_counts_by_severity_leave_out_suppressed_findings(django_user_model):
    from guard.services import suppress_finding

    acct = account()
    security_group(acct, SECURE_SG, None)
    public = snapshot(acct, is_public=True)
    instance(acct, storage_encrypted=False)
    counts = rules.finding_counts()
    assert counts["by_severity"]["critical"] == 1
    assert counts["by_severity"]["high"] == 1
    assert counts["open"] == 2
    user = django_user_model.objects.create_superuser("sec")
    suppress_finding(
        rule_id="SNAPSHOT-PUBLIC",
        resource_arn=public.arn,
        reason="public dataset",
        expires_at=timezone.now() + timedelta(days=7),
        user=user,
    )
    counts = rules.finding_counts()
    assert counts["by_severity"]["critical"] == 0
    assert counts["suppressed"] == 1
    assert counts["open"] == 1


def test_findings_for_one_resource():
    acct = account()
    security_group(acct, SECURE_SG, None)
    bad = instance(acct, publicly_accessible=True)
    instance(acct, storage_encrypted=False)
    assert {f.rule.id for f in rules.findings_for(bad.arn)} == {"RDS-PUBLIC"}
    assert rules.findings_for("not-an-arn") == []


def test_finding_counts_are_cached_and_a_suppression_clears_them(
    settings, django_user_model, django_capture_on_commit_callbacks
):
    from guard.services import suppress_finding

    # given caching on and a clean cache
    settings.GUARD_COUNTS_CACHE_SECONDS = 60
    rules.forget_finding_counts()
    acct = account()
    security_group(acct, SECURE_SG, None)
    public = snapshot(acct, is_public=True)
    assert rules.finding_counts()["open"] == 1
    # when the mirror changes, the cached counts stand until they expire
    instance(acct, storage_encrypted=False)
    assert rules.finding_counts()["open"] == 1
    assert rules.finding_counts(fresh=True)["open"] == 2
    # but a suppression clears them at once
    user = django_user_model.objects.create_superuser("sec2")
    with django_capture_on_commit_callbacks(execute=True):
        suppress_finding(
            rule_id="SNAPSHOT-PUBLIC",
            resource_arn=public.arn,
            reason="public dataset",
            expires_at=timezone.now() + timedelta(days=7),
            user=user,
        )
    counts = rules.finding_counts()
    assert counts["open"] == 1
    assert counts["suppressed"] == 1
    rules.forget_finding_counts()


def test_replicas_are_not_judged_on_what_they_inherit_from_their_source():
    # given a PostgreSQL read replica (no backups possible) of a source, and a global
    # secondary cluster, both with an unmanaged master password and a default username
    acct = account()
    security_group(acct, SECURE_SG, None)
    source = instance(acct)
    replica = instance(
        acct,
        replica_source=source,
        replica_source_identifier=source.identifier,
        backup_retention_period=0,
        master_user_secret_arn="",
        master_username="postgres",
    )
    glob = m.GlobalCluster.objects.create(
        account=acct, region="us-east-1", arn="arn:aws:rds::1:global-cluster:g", identifier="g"
    )
    secondary = cluster(
        acct,
        global_cluster=glob,
        is_global_writer=False,
        master_user_secret_arn="",
    )
    # then neither carries master-user findings, nor the replica a backup one
    assert rules_for(replica) == set()
    assert rules_for(secondary) == set()


def test_an_aurora_cluster_whose_instances_share_one_az_is_single_az():
    acct = account()
    security_group(acct, SECURE_SG, None)
    same = cluster(acct, readers=1)
    same.instances.update(availability_zone="us-east-1a")
    spread = cluster(acct, readers=1)
    for inst, zone in zip(
        spread.instances.order_by("pk"), ["us-east-1a", "us-east-1b"], strict=True
    ):
        m.DbInstance.objects.filter(pk=inst.pk).update(availability_zone=zone)
    assert rules_for(same) == {"RDS-SINGLE-AZ"}
    assert finding(same, "RDS-SINGLE-AZ").evidence["zones"] == ["us-east-1a"]
    assert rules_for(spread) == set()


def test_an_expired_certificate_is_its_own_critical_finding_not_an_expiring_one():
    # given certificates that expired 834 days ago, expire in 20 days and in 60 days
    acct = account()
    security_group(acct, SECURE_SG, None)
    now = timezone.now()
    expired = instance(acct, ca_certificate_valid_till=now - timedelta(days=834, hours=1))
    soon = instance(acct, ca_certificate_valid_till=now + timedelta(days=20, hours=1))
    later = instance(acct, ca_certificate_valid_till=now + timedelta(days=60, hours=1))
    # then the expired one is RDS-CA-EXPIRED, critical, with the day it expired
    assert rules_for(expired) == {"RDS-CA-EXPIRED"}
    hit = finding(expired, "RDS-CA-EXPIRED")
    assert hit.severity == rules.Severity.CRITICAL
    assert hit.rule.title == "CA certificate expired"
    assert hit.evidence == {
        "ca_certificate_identifier": "rds-ca-rsa2048-g1",
        "expired_on": timezone.localdate(now - timedelta(days=834, hours=1)),
        "days_since_expiry": 834,
    }
    # and the others expire within 90 days: high under 30 days left, medium otherwise
    assert finding(soon, "RDS-CA-EXPIRY").severity == rules.Severity.HIGH
    assert finding(soon, "RDS-CA-EXPIRY").evidence["days_left"] == 20
    assert finding(later, "RDS-CA-EXPIRY").severity == rules.Severity.MEDIUM
    assert finding(later, "RDS-CA-EXPIRY").rule.title == "CA certificate expires within 90 days"
