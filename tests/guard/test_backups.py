"""Backup policy evaluation per rule, with the edge cases: retention 0, no snapshots at
all, copies in another region and in another account; the default policies."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from drills.models import BackupPolicy, DrillRun, DrillType, RunStatus
from estate.models import Environment
from guard import rules
from guard.backups import backup_rows
from tests.factories import estate as factories
from tests.factories import guard as builders

pytestmark = pytest.mark.django_db


def _row(identifier: str):
    return next(r for r in backup_rows() if r.row.identifier == identifier)


def _rule(row, name: str):
    return next(r for r in row.rules if r.rule == name)


@pytest.fixture
def prod():
    return factories.make_account(environment=Environment.PRODUCTION)


def test_production_defaults_follow_backup_audit_manager():
    policy = BackupPolicy.default_for(Environment.PRODUCTION)
    assert policy.min_retention_days == 35
    assert policy.max_snapshot_age_hours == 24
    assert policy.cross_region_copy_required
    assert policy.encryption_required


def test_retention_zero_means_backups_disabled(prod):
    factories.make_instance(prod, identifier="nobackup", backup_retention_period=0)
    row = _row("nobackup")
    rule = _rule(row, "retention")
    assert not rule.ok
    assert "disabled (retention 0 days)" in rule.reason
    assert not row.passed


def test_short_retention_fails_in_production_and_passes_in_development(prod):
    factories.make_instance(prod, identifier="p7", backup_retention_period=7)
    factories.make_instance(identifier="d7", backup_retention_period=7)
    assert not _rule(_row("p7"), "retention").ok
    assert "7 days kept; the policy asks for at least 35." in _rule(_row("p7"), "retention").reason
    assert _rule(_row("d7"), "retention").ok
    factories.make_instance(prod, identifier="p1", backup_retention_period=1)
    assert _rule(_row("p1"), "retention").reason.startswith("1 day kept;")


def test_no_snapshots_and_no_backups_has_no_restorable_point():
    factories.make_instance(
        identifier="bare", backup_retention_period=0, latest_restorable_time=None
    )
    row = _row("bare")
    rule = _rule(row, "recovery point age")
    assert not rule.ok
    assert "no snapshots at all" in rule.reason
    assert row.snapshots_encrypted is None


def test_stale_recovery_point_fails_with_its_age():
    now = timezone.now()
    factories.make_instance(
        identifier="stale",
        backup_retention_period=7,
        latest_restorable_time=now - timedelta(hours=30),
    )
    factories.make_instance(
        identifier="fresh",
        backup_retention_period=7,
        latest_restorable_time=now - timedelta(minutes=5),
    )
    stale = _rule(_row("stale"), "recovery point age")
    assert not stale.ok
    assert "30.0 h old" in stale.reason
    assert _rule(_row("fresh"), "recovery point age").ok
    assert _row("fresh").lag_seconds == pytest.approx(300, abs=5)


def test_cross_region_copy_counts_copies_in_another_region_and_another_account(prod):
    now = timezone.now()
    a = factories.make_instance(prod, identifier="copied-region", latest_restorable_time=now)
    b = factories.make_instance(prod, identifier="copied-account", latest_restorable_time=now)
    factories.make_instance(prod, identifier="uncopied", latest_restorable_time=now)
    src_a = factories.make_snapshot(instance=a)
    src_b = factories.make_snapshot(instance=b)
    factories.make_snapshot(
        account=prod, region="eu-west-1", source_snapshot_arn=src_a.arn, source_region="us-east-1"
    )
    vault = factories.make_account(name="backup-vault")
    factories.make_snapshot(account=vault, region="us-west-2", source_snapshot_arn=src_b.arn)
    assert _rule(_row("copied-region"), "cross-region copy").ok
    assert _row("copied-region").copy_regions == [f"{prod.account_id}/eu-west-1"]
    assert _rule(_row("copied-account"), "cross-region copy").ok
    assert _row("copied-account").copy_regions == [f"{vault.account_id}/us-west-2"]
    assert not _rule(_row("uncopied"), "cross-region copy").ok


def test_unencrypted_snapshot_and_public_snapshot_fail():
    inst = factories.make_instance(identifier="leaky")
    factories.make_snapshot(
        instance=inst, encrypted=False, is_public=True, shared_with=["999999999999"]
    )
    row = _row("leaky")
    assert not _rule(row, "encryption").ok
    assert "unencrypted" in _rule(row, "encryption").reason
    assert not _rule(row, "no public snapshots").ok
    assert row.shared_with == ["999999999999"]


def test_restore_drill_rule_uses_the_last_passed_restore_drill():
    BackupPolicy.objects.create(environment=Environment.DEVELOPMENT, restore_drill_every_days=30)
    drilled = factories.make_instance(identifier="drilled", latest_restorable_time=timezone.now())
    factories.make_instance(identifier="undrilled", latest_restorable_time=timezone.now())
    DrillRun.objects.create(
        drill_type=DrillType.RESTORE,
        target_arn=drilled.arn,
        target_label="drilled",
        status=RunStatus.PASSED,
        restore_seconds=412.0,
    )
    assert _rule(_row("drilled"), "restore drill").ok
    assert _row("drilled").last_restore_run.restore_seconds == 412.0
    assert "Never" in _rule(_row("undrilled"), "restore drill").reason


def test_cluster_members_are_judged_with_their_cluster():
    cluster = factories.make_cluster(identifier="aurora-a")
    factories.make_instance(cluster=cluster, identifier="aurora-a-1")
    kinds = {(r.kind, r.row.identifier) for r in backup_rows()}
    assert ("cluster", "aurora-a") in kinds
    assert ("instance", "aurora-a-1") not in kinds


def test_failing_only_filters_to_failures(prod):
    factories.make_instance(prod, identifier="bad", backup_retention_period=0)
    factories.make_instance(identifier="good", latest_restorable_time=timezone.now())
    names = {r.row.identifier for r in backup_rows(failing_only=True)}
    assert "bad" in names
    assert "good" not in names


# --- One retention rule for the Backups page, the Findings page and `posture` --------


def _retention_everywhere(client, resource) -> dict[str, bool]:
    """Whether each surface says the resource's backup retention is below policy."""
    findings = client.get(reverse("findings")).context["findings"]
    on_findings = any(
        f.rule.id == "RDS-BACKUP-RETENTION" and f.resource_arn == resource.arn for f in findings
    )
    backups_rows = client.get(reverse("drills:backups")).context["rows"]
    row = next(r for r in backups_rows if r.row.arn == resource.arn)
    kept = [r for r in row.rules if r.rule == "retention"]
    on_backups = bool(kept) and not kept[0].ok
    out = StringIO()
    call_command("posture", "--json", stdout=out)
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    in_posture = any(
        r["rule"] == "RDS-BACKUP-RETENTION" and r["resource"] == resource.arn for r in lines
    )
    return {"findings": on_findings, "backups": on_backups, "posture": in_posture}


def test_a_production_instance_keeping_14_days_fails_on_every_page_and_in_posture(client, viewer):
    # given a production instance that keeps 14 days, under the default production
    # policy (35 days); before, Findings judged it by a global 7 days and passed it
    acct = builders.account(Environment.PRODUCTION)
    builders.security_group(acct, builders.SECURE_SG, None)
    db = builders.instance(acct, identifier="orders-14", backup_retention_period=14)
    client.force_login(viewer)
    # then the Findings page, the Backups page and `posture --json` all fail it
    assert _retention_everywhere(client, db) == {
        "findings": True,
        "backups": True,
        "posture": True,
    }
    found = next(f for f in rules.findings_for(db.arn) if f.rule.id == "RDS-BACKUP-RETENTION")
    assert found.evidence == {
        "backup_retention_period": 14,
        "policy_days": 35,
        "policy": "production policy (default)",
    }
    # and a saved production policy of 14 days passes it everywhere
    BackupPolicy.objects.create(environment=Environment.PRODUCTION, min_retention_days=14)
    assert _retention_everywhere(client, db) == {
        "findings": False,
        "backups": False,
        "posture": False,
    }


@pytest.mark.parametrize(("minimum", "fails"), [(7, True), (3, False)])
def test_the_setting_is_the_default_policy_of_an_environment_without_one(
    client, viewer, settings, minimum, fails
):
    # given GUARD_MIN_BACKUP_RETENTION_DAYS and a staging instance keeping 5 days
    settings.GUARD_MIN_BACKUP_RETENTION_DAYS = minimum
    acct = builders.account(Environment.STAGING)
    builders.security_group(acct, builders.SECURE_SG, None)
    db = builders.instance(acct, backup_retention_period=5)
    client.force_login(viewer)
    # then every surface gives the same answer, from the setting
    assert set(_retention_everywhere(client, db).values()) == {fails}
    assert BackupPolicy.default_for(Environment.STAGING).min_retention_days == minimum
    # production's default never asks for less than AWS Backup Audit Manager's 35 days
    assert BackupPolicy.default_for(Environment.PRODUCTION).min_retention_days == 35


def test_a_read_replica_is_judged_on_its_source_everywhere(client, viewer):
    # given a production PostgreSQL read replica (which cannot keep automated backups)
    acct = builders.account(Environment.PRODUCTION)
    builders.security_group(acct, builders.SECURE_SG, None)
    source = builders.instance(acct)
    replica = builders.instance(
        acct,
        replica_source=source,
        replica_source_identifier=source.identifier,
        backup_retention_period=0,
    )
    client.force_login(viewer)
    # then neither page nor posture holds its retention against it
    assert set(_retention_everywhere(client, replica).values()) == {False}


def test_the_backups_page_names_the_policy_each_row_is_judged_by(client, viewer, prod):
    factories.make_instance(prod, identifier="p-default")
    factories.make_instance(identifier="d-saved")
    BackupPolicy.objects.create(environment=Environment.DEVELOPMENT, min_retention_days=3)
    client.force_login(viewer)
    body = client.get(reverse("drills:backups")).content.decode()
    assert "by the production policy (default)</li>" in body
    assert "by the development policy</li>" in body
