"""Side effects of the security posture: syncing the EC2 security groups that guard
mirrored resources, and suppressing / revoking findings (both audited)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from audit.services import record
from estate import aws
from estate import models as mirror
from estate.roles import MANAGE_ACCOUNTS
from guard.models import FindingSuppression, SecurityGroup

logger = logging.getLogger(__name__)

# DescribeSecurityGroups accepts up to 200 values in one filter.
GROUP_ID_BATCH = 200
MAX_SUPPRESSION_DAYS = 365


def _require_admin(user: Any) -> None:
    # Suppressing hides risk from the whole team: Admins only, checked here as well as
    # in the views, so no other caller (a task, a future API) can skip it.
    if user is None or not user.has_perm(MANAGE_ACCOUNTS):
        raise PermissionDenied("Only Admins may suppress findings or revoke suppressions.")


def max_suppression_days() -> int:
    return int(getattr(settings, "GUARD_MAX_SUPPRESSION_DAYS", MAX_SUPPRESSION_DAYS))


def referenced_group_ids(account: mirror.Account, region: str) -> set[str]:
    """Security group ids attached to live mirrored resources in one account/region."""
    ids: set[str] = set()
    scope = {"account": account, "region": region}
    for model, field in (
        (mirror.DbInstance, "vpc_security_group_ids"),
        (mirror.DbCluster, "vpc_security_group_ids"),
        (mirror.DbProxy, "vpc_security_group_ids"),
        (mirror.CacheCluster, "security_group_ids"),
    ):
        for group_list in model.objects.live().filter(**scope).values_list(field, flat=True):
            for entry in group_list or []:
                # Sync stores plain ids; tolerate AWS's raw {"VpcSecurityGroupId": ...} too.
                if isinstance(entry, dict):
                    gid = entry.get("VpcSecurityGroupId") or entry.get("SecurityGroupId")
                else:
                    gid = entry
                if gid:
                    ids.add(str(gid))
    return ids


def _normalise(permission: dict) -> dict:
    return {
        "protocol": str(permission.get("IpProtocol", "")),
        "from_port": permission.get("FromPort"),
        "to_port": permission.get("ToPort"),
        "cidrs": [r["CidrIp"] for r in permission.get("IpRanges") or [] if r.get("CidrIp")],
        "ipv6_cidrs": [
            r["CidrIpv6"] for r in permission.get("Ipv6Ranges") or [] if r.get("CidrIpv6")
        ],
        "groups": [
            p["GroupId"] for p in permission.get("UserIdGroupPairs") or [] if p.get("GroupId")
        ],
    }


@dataclass
class SecurityGroupSyncResult:
    fetched: int = 0
    created: int = 0
    updated: int = 0
    removed: int = 0
    api_calls: int = 0


def sync_security_groups(
    account: mirror.Account, region: str, *, stats: aws.CallStats | None = None
) -> SecurityGroupSyncResult:
    """Mirror the EC2 security groups that live databases, proxies and caches in
    ``account``/``region`` reference (run after the inventory sync of that scope).

    Groups no longer referenced or no longer in AWS are removed. Raises estate.aws
    errors (AwsAccessDenied when the role lacks ec2:DescribeSecurityGroups)."""
    stats = stats if stats is not None else aws.CallStats()
    result = SecurityGroupSyncResult()
    wanted = sorted(referenced_group_ids(account, region))
    fetched: dict[str, dict[str, Any]] = {}
    if wanted:
        ec2 = aws.client(account, region, "ec2", stats=stats)
        for start in range(0, len(wanted), GROUP_ID_BATCH):
            batch = wanted[start : start + GROUP_ID_BATCH]
            # A filter, not GroupIds=: one deleted group must not fail the whole batch.
            for group in aws.paginate(
                ec2,
                "describe_security_groups",
                "SecurityGroups",
                Filters=[{"Name": "group-id", "Values": batch}],
            ):
                fetched[group["GroupId"]] = {
                    "name": group.get("GroupName", ""),
                    "vpc_id": group.get("VpcId", ""),
                    "description": group.get("Description", ""),
                    "ingress": [_normalise(p) for p in group.get("IpPermissions") or []],
                }
    result.fetched = len(fetched)
    result.api_calls = stats.api_calls
    now = timezone.now()
    with transaction.atomic():
        existing = {
            g.group_id: g for g in SecurityGroup.objects.filter(account=account, region=region)
        }
        for group_id, values in fetched.items():
            row = existing.get(group_id)
            if row is None:
                SecurityGroup.objects.create(
                    account=account, region=region, group_id=group_id, last_synced_at=now, **values
                )
                result.created += 1
            elif any(getattr(row, k) != v for k, v in values.items()):
                for key, value in values.items():
                    setattr(row, key, value)
                row.last_synced_at = now
                row.save()
                result.updated += 1
        stale = [gid for gid in existing if gid not in fetched]
        if stale:
            SecurityGroup.objects.filter(
                account=account, region=region, group_id__in=stale
            ).delete()
            result.removed = len(stale)
    return result


def suppress_finding(
    *,
    rule_id: str,
    resource_arn: str,
    reason: str,
    expires_at: datetime,
    user: Any,
    request: Any = None,
) -> FindingSuppression:
    """Hide one finding until ``expires_at`` (audited). Bad input raises ValueError."""
    from estate.checks import RULES, forget_finding_counts

    _require_admin(user)
    reason = (reason or "").strip()
    if rule_id not in RULES:
        raise ValueError(f"unknown rule {rule_id!r}")
    if not resource_arn:
        raise ValueError("a suppression needs the resource's ARN")
    if len(reason) < 5:
        raise ValueError("give a reason (at least 5 characters) for hiding this finding")
    now = timezone.now()
    if expires_at <= now:
        raise ValueError("the expiry must be in the future")
    limit_days = max_suppression_days()
    if expires_at > now + timedelta(days=limit_days):
        raise ValueError(f"a suppression may last at most {limit_days} days")
    with transaction.atomic():
        suppression = FindingSuppression.objects.create(
            rule_id=rule_id,
            resource_arn=resource_arn,
            reason=reason,
            expires_at=expires_at,
            created_by=user,
        )
        record(
            "finding.suppressed",
            actor=user,
            target=resource_arn,
            details={
                "rule": rule_id,
                "reason": reason,
                "expires_at": expires_at.isoformat(),
                "suppression_id": suppression.pk,
            },
            request=request,
        )
        transaction.on_commit(forget_finding_counts)
    return suppression


def revoke_suppression(suppression: FindingSuppression, *, user: Any, request: Any = None) -> None:
    """End a suppression now: the finding is shown again (audited)."""
    from estate.checks import forget_finding_counts

    _require_admin(user)
    if suppression.revoked_at is not None:
        raise ValueError("this suppression was already revoked")
    with transaction.atomic():
        suppression.revoked_at = timezone.now()
        suppression.revoked_by = user
        suppression.save(update_fields=["revoked_at", "revoked_by"])
        record(
            "finding.unsuppressed",
            actor=user,
            target=suppression.resource_arn,
            details={"rule": suppression.rule_id, "suppression_id": suppression.pk},
            request=request,
        )
        transaction.on_commit(forget_finding_counts)


def sync_all_security_groups() -> dict[str, str]:
    """Sync security groups for every enabled account and region; a scope that fails
    (access denied, AWS unavailable) is logged and reported, the others carry on.
    Returns {"<account id>/<region>": error message} for the failed scopes."""
    errors: dict[str, str] = {}
    for account in mirror.Account.objects.filter(enabled=True):
        for region in account.regions or []:
            try:
                sync_security_groups(account, region)
            except aws.AwsError as exc:
                errors[f"{account.account_id}/{region}"] = str(exc)
                logger.warning(
                    "security group sync failed for %s/%s: %s", account.account_id, region, exc
                )
    return errors
