"""The backup page's facts and the backup policy rules, evaluated over the mirror.

``backup_rows()`` loads every live standalone instance and cluster, every snapshot,
the policies and the last restore drill per resource in a fixed number of queries,
then judges each resource against its environment's ``BackupPolicy`` (or the default
for that environment, which follows AWS Backup Audit Manager: backups at least daily,
retention >= 35 days in production). Cluster members are judged with their cluster
(an Aurora member has no backups of its own).

``retention_result()`` is the one backup-retention rule: the Backups page, the posture
rule RDS-BACKUP-RETENTION (guard.rules, so the Findings page and ``manage.py posture``)
and the overview's count all ask it, with the environment's policy from ``policies()``.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from drills.models import BackupPolicy, DrillRun, DrillType, RunStatus
from estate.models import DbCluster, DbInstance, DbSnapshot


@dataclass
class RuleResult:
    rule: str
    ok: bool
    reason: str


@dataclass
class BackupRow:
    kind: str  # "instance" / "cluster"
    row: Any
    environment: str
    retention_days: int | None
    backup_window: str
    latest_restorable: datetime | None
    lag_seconds: float | None
    earliest_restorable: datetime | None
    last_manual_snapshot_at: datetime | None
    newest_snapshot_at: datetime | None
    cross_region_copy: bool
    copy_regions: list[str]
    snapshots_encrypted: bool | None  # None: no snapshots
    shared_with: list[str]
    public: bool
    last_restore_run: Any | None
    rules: list[RuleResult] = field(default_factory=list)
    policy: BackupPolicy | None = None  # the environment's (unsaved when the default)

    @property
    def policy_label(self) -> str:
        return policy_label(self.policy) if self.policy is not None else ""

    @property
    def passed(self) -> bool:
        return all(r.ok for r in self.rules)

    @property
    def failures(self) -> list[RuleResult]:
        return [r for r in self.rules if not r.ok]

    @property
    def passes(self) -> list[RuleResult]:
        return [r for r in self.rules if r.ok]

    @property
    def manual_snapshot_age(self) -> timedelta | None:
        if self.last_manual_snapshot_at is None:
            return None
        return timezone.now() - self.last_manual_snapshot_at


class PolicyTable(dict[str, BackupPolicy]):
    """Environment -> policy; an environment without a saved one gets the default."""

    def __missing__(self, environment: str) -> BackupPolicy:
        self[environment] = BackupPolicy.default_for(environment)
        return self[environment]


def policies() -> PolicyTable:
    """Every environment's backup policy: the saved one, or the unsaved default
    (``BackupPolicy.default_for``). One query."""
    table = PolicyTable()
    table.update((p.environment, p) for p in BackupPolicy.objects.all())
    return table


def policy_label(policy: BackupPolicy) -> str:
    """How findings name the policy: e.g. "production policy", with "(default)" when
    no policy is saved for the environment."""
    default = " (default)" if policy.pk is None else ""
    return f"{policy.get_environment_display().lower()} policy{default}"


def _hours(seconds: float) -> str:
    return f"{seconds / 3600:.1f} h"


def retention_result(resource: Any, policy: BackupPolicy) -> RuleResult | None:
    """The backup-retention rule for a standalone instance or a cluster against its
    environment's policy; None where it does not apply: an RDS read replica (its
    source's backups are the ones that count, and PostgreSQL replicas cannot keep any)
    and a resource whose retention is not mirrored (nothing to judge)."""
    retention = resource.backup_retention_period
    if retention is None or getattr(resource, "is_replica", False):
        return None
    minimum = policy.min_retention_days
    if retention == 0:
        return RuleResult(
            "retention",
            False,
            f"Automated backups are disabled (retention 0 days); the policy asks for at least "
            f"{minimum}.",
        )
    return RuleResult(
        "retention",
        retention >= minimum,
        f"{retention} day{'s' * (retention != 1)} kept; the policy asks for at least {minimum}.",
    )


def evaluate(row: BackupRow, policy: BackupPolicy, now: datetime) -> list[RuleResult]:
    """Pass/fail per rule, each with the reason (what was seen against what is asked)."""
    results: list[RuleResult] = []
    retention = row.retention_days or 0
    kept = retention_result(row.row, policy)
    if kept is not None:
        results.append(kept)
    newest = max(
        [t for t in (row.latest_restorable if retention else None, row.newest_snapshot_at) if t],
        default=None,
    )
    limit = policy.max_snapshot_age_hours * 3600
    if newest is None:
        results.append(
            RuleResult(
                "recovery point age",
                False,
                "No restorable point: no automated backups and no snapshots at all.",
            )
        )
    else:
        age = (now - newest).total_seconds()
        results.append(
            RuleResult(
                "recovery point age",
                age <= limit,
                f"The newest restorable point is {_hours(age)} old; the limit is "
                f"{policy.max_snapshot_age_hours} h.",
            )
        )
    if policy.cross_region_copy_required:
        results.append(
            RuleResult(
                "cross-region copy",
                row.cross_region_copy,
                f"Copies in {', '.join(row.copy_regions)}."
                if row.cross_region_copy
                else "No snapshot copy in another region (or account) was found.",
            )
        )
    if policy.encryption_required:
        storage = bool(getattr(row.row, "storage_encrypted", False))
        ok = storage and row.snapshots_encrypted is not False
        reason = (
            "Storage and every snapshot are encrypted."
            if ok
            else ("Storage is not encrypted." if not storage else "Some snapshots are unencrypted.")
        )
        results.append(RuleResult("encryption", ok, reason))
    results.append(
        RuleResult(
            "no public snapshots",
            not row.public,
            "A snapshot is public: anyone can restore it." if row.public else "None public.",
        )
    )
    if policy.restore_drill_every_days:
        run = row.last_restore_run
        due = timedelta(days=policy.restore_drill_every_days)
        if run is None:
            results.append(RuleResult("restore drill", False, "Never restore-drilled."))
        else:
            age = now - run.created_at
            results.append(
                RuleResult(
                    "restore drill",
                    age <= due,
                    f"Last successful restore drill {age.days} days ago; the policy asks for one "
                    f"every {policy.restore_drill_every_days} days.",
                )
            )
    return results


def backup_rows(*, failing_only: bool = False, now: datetime | None = None) -> list[BackupRow]:
    now = now or timezone.now()
    last_restore = DrillRun.objects.filter(
        target_arn=OuterRef("arn"), drill_type=DrillType.RESTORE, status=RunStatus.PASSED
    ).order_by("-created_at")
    instances = list(
        DbInstance.objects.live()
        .filter(cluster__isnull=True)
        .select_related("account")
        .annotate(last_restore_id=Subquery(last_restore.values("pk")[:1]))
        .order_by("identifier")
    )
    clusters = list(
        DbCluster.objects.live()
        .select_related("account")
        .annotate(last_restore_id=Subquery(last_restore.values("pk")[:1]))
        .order_by("identifier")
    )
    restore_ids = [r.last_restore_id for r in (*instances, *clusters) if r.last_restore_id]
    restores = {r.pk: r for r in DrillRun.objects.filter(pk__in=restore_ids)}
    snapshots = list(
        DbSnapshot.objects.live().values(
            "arn",
            "account__account_id",
            "region",
            "snapshot_type",
            "source_identifier",
            "source_region",
            "source_snapshot_arn",
            "created_time",
            "encrypted",
            "shared_with",
            "is_public",
            "instance_id",
            "cluster_id",
        )
    )
    by_owner: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    arn_owner: dict[str, tuple[str, int]] = {}
    for s in snapshots:
        owner = ("cluster", s["cluster_id"]) if s["cluster_id"] else ("instance", s["instance_id"])
        if owner[1] is not None and not s["source_snapshot_arn"]:
            by_owner[owner].append(s)
            arn_owner[s["arn"]] = owner
    # Copies (another region or account) point at the snapshot they came from.
    copies: dict[tuple[str, int], list[str]] = defaultdict(list)
    for s in snapshots:
        source = s["source_snapshot_arn"]
        if source and source in arn_owner:
            copies[arn_owner[source]].append(f"{s['account__account_id']}/{s['region']}")
    table = policies()
    out: list[BackupRow] = []
    for kind, rows in (("instance", instances), ("cluster", clusters)):
        for r in rows:
            own = by_owner.get((kind, r.pk), [])
            manual = [
                s["created_time"]
                for s in own
                if s["snapshot_type"] == "manual" and s["created_time"]
            ]
            created = [s["created_time"] for s in own if s["created_time"]]
            latest = r.latest_restorable_time
            row = BackupRow(
                kind=kind,
                row=r,
                environment=r.account.environment,
                retention_days=r.backup_retention_period,
                backup_window=r.preferred_backup_window,
                latest_restorable=latest,
                lag_seconds=(now - latest).total_seconds() if latest else None,
                earliest_restorable=getattr(r, "earliest_restorable_time", None),
                last_manual_snapshot_at=max(manual, default=None),
                newest_snapshot_at=max(created, default=None),
                cross_region_copy=bool(copies.get((kind, r.pk))),
                copy_regions=sorted(set(copies.get((kind, r.pk), []))),
                snapshots_encrypted=all(s["encrypted"] for s in own) if own else None,
                shared_with=sorted({a for s in own for a in (s["shared_with"] or [])}),
                public=any(s["is_public"] for s in own),
                last_restore_run=restores.get(r.last_restore_id),
            )
            row.policy = table[row.environment]
            row.rules = evaluate(row, row.policy, now)
            if failing_only and row.passed:
                continue
            out.append(row)
    return out
