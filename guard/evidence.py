"""A finding's evidence as an operator reads it: labelled values, not Python reprs.

Rules record evidence as plain values keyed by what they looked at (the mirror's field
names, which ``manage.py posture --json`` keeps for pipelines). ``readable()`` turns
them into (label, text) pairs for the pages: "Expired on" / "2024-08-22",
"Backup retention" / "14 days", "Security groups" / "sg-1 (web): tcp 0-65535 from
0.0.0.0/0".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from django.utils import timezone

LABELS: dict[str, str] = {
    "at_rest_encryption": "At-rest encryption",
    "auth_token": "AUTH token",
    "auto_minor_version_upgrade": "Auto minor version upgrade",
    "automatic_failover": "Automatic failover",
    "backup_retention_period": "Backup retention",
    "ca_certificate_identifier": "CA certificate",
    "days_left": "Days left",
    "days_since_expiry": "Expired for",
    "deletion_protection": "Deletion protection",
    "enabled_cloudwatch_logs_exports": "CloudWatch log exports",
    "engine": "Engine",
    "engine_name": "Engine",
    "engine_version": "Engine version",
    "environment": "Environment",
    "expired_on": "Expired on",
    "expires_on": "Expires on",
    "groups": "Security groups",
    "iam_auth": "IAM authentication",
    "iam_auth_enabled": "IAM authentication",
    "instances": "Instances",
    "master_user_secret": "Master password",
    "master_username": "Master username",
    "memberships": "Domain memberships",
    "multi_az": "Multi-AZ",
    "nodes": "Nodes",
    "note": "Note",
    "option_groups": "Option groups",
    "parameter": "Parameter",
    "parameter_group": "Parameter group",
    "policy": "Policy",
    "policy_days": "Policy minimum",
    "port": "Port",
    "publicly_accessible": "Publicly accessible",
    "replication_group": "Replication group",
    "require_tls": "Require TLS",
    "restore": "Restorable by",
    "shared_with": "Shared with",
    "snapshot_retention_limit": "Snapshot retention",
    "ssl_mode": "SSL mode",
    "ssl_option": "SSL option",
    "storage_encrypted": "Storage encrypted",
    "transit_encryption": "In-transit encryption",
    "encrypted": "Encrypted",
    "user_groups": "RBAC user groups",
    "valid_till": "Valid till",
    "value": "Value",
    "zones": "Availability zones",
}
# Values counted in days (shown "14 days", "1 day").
DAYS = {
    "backup_retention_period",
    "days_left",
    "days_since_expiry",
    "policy_days",
    "snapshot_retention_limit",
}


def label(key: str) -> str:
    return LABELS.get(key) or key.replace("_", " ").capitalize()


def _days(n: Any) -> str:
    return f"{n} day{'s' * (n != 1)}" if isinstance(n, int) else text(n)


def _rule(rule: Mapping[str, Any]) -> str:
    """One security-group ingress rule: "tcp 5432 from 0.0.0.0/0"."""
    protocol = str(rule.get("protocol", ""))
    low, high = rule.get("from_port"), rule.get("to_port")
    if protocol == "-1":
        what = "all traffic"
    elif low is None or low == high:
        what = f"{protocol} {low if low is not None else 'any port'}"
    else:
        what = f"{protocol} {low}-{high}"
    sources = [*rule.get("cidrs", []), *rule.get("ipv6_cidrs", [])]
    return f"{what} from {', '.join(sources) or 'anywhere'}"


def _group(group: Mapping[str, Any]) -> str:
    name = f"{group.get('group_id', '')}"
    if group.get("group_name"):
        name += f" ({group['group_name']})"
    rules = "; ".join(_rule(r) for r in group.get("rules", []) if isinstance(r, Mapping))
    return f"{name}: {rules}" if rules else name


def _mapping(value: Mapping[str, Any]) -> str:
    if "group_id" in value:
        return _group(value)
    if "domain" in value and "status" in value:
        return f"{value['domain'] or '(no domain)'} {value['status']}"
    if "name" in value and len(value) <= 2:  # an option group membership {"name", "status"}
        return str(value["name"])
    return ", ".join(f"{label(str(k)).lower()} {text(v)}" for k, v in value.items())


def text(value: Any) -> str:
    """One evidence value as text: yes/no, dates without microseconds, lists joined."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M %Z").strip()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return _mapping(value)
    if isinstance(value, (list, tuple, set)):
        items = [text(v) for v in value]
        return ", ".join(items) if items else "none"
    return str(value)


def readable(evidence: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(label, text) for every evidence entry, in the rule's order."""
    pairs = []
    for key, value in evidence.items():
        pairs.append((label(key), _days(value) if key in DAYS else text(value)))
    return pairs
