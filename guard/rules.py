"""Security posture rules: plain functions over the mirror that return findings.

Each rule has an id, a severity, a title, the rationale (why it matters), the
remediation (what to do), and each finding carries the evidence that triggered it (the
mirrored values it looked at). ``evaluate()`` loads every kind of resource once (a fixed
number of queries, whatever the size of the estate), runs every rule over the rows in
memory, and marks findings hidden by an active suppression.

Rules see the mirror only; they never call AWS. Where a value is not mirrored (a default
parameter group Estate has not synced, an unknown engine), the rule says so in the
evidence and assumes the engine default rather than guessing that all is well.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import FilteredRelation, Model, Q
from django.utils import timezone

from estate import models as m
from estate import tls
from estate.tls import TLS_PARAMETERS
from guard import backups
from guard.models import FindingSuppression, SecurityGroup


class Severity:
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    ORDER = (CRITICAL, HIGH, MEDIUM, LOW)
    CHOICES = [(s, s.title()) for s in ORDER]

    @classmethod
    def rank(cls, severity: str) -> int:
        return cls.ORDER.index(severity)


@dataclass(frozen=True)
class Rule:
    id: str
    severity: str
    title: str
    rationale: str
    remediation: str
    kinds: tuple[str, ...]  # resource kinds it looks at, for the findings page filter


@dataclass
class Finding:
    rule: Rule
    resource_kind: str  # "instance", "cluster", "snapshot", "proxy", "cache", "dms-*"
    resource_arn: str
    resource_label: str
    resource_pk: int
    account_pk: int
    account_name: str
    environment: str
    region: str
    evidence: dict[str, Any]
    severity: str = ""  # the rule's, unless the evidence makes it worse
    suppression: Any = None  # the active guard.FindingSuppression, when hidden

    def __post_init__(self) -> None:
        self.severity = self.severity or self.rule.severity

    @property
    def suppressed(self) -> bool:
        return self.suppression is not None

    @property
    def key(self) -> tuple[str, str]:
        return (self.rule.id, self.resource_arn)


RULES: dict[str, Rule] = {}


def _rule(
    rule_id: str, severity: str, title: str, rationale: str, remediation: str, *kinds: str
) -> Rule:
    rule = Rule(rule_id, severity, title, rationale, remediation, kinds)
    RULES[rule_id] = rule
    return rule


# --- Policy knobs and reference tables -----------------------------------------------

DEFAULT_MASTER_USERNAMES = {"admin", "administrator", "postgres", "root", "master", "sa", "user"}
CA_EXPIRY_WARNING_DAYS = 90
HEALTHY_DOMAIN_STATUSES = {"joined", "kerberos-enabled"}
# Engines whose database users can authenticate with IAM tokens.
IAM_AUTH_ENGINES = ("mysql", "mariadb", "postgres", "aurora-mysql", "aurora-postgresql")

# Engine major versions past AWS's end of standard support (RDS extended support or
# forced upgrade). A small, dated table: extend it as AWS announces end-of-life dates.
# Source: AWS RDS/Aurora release calendars as of 2026-01.
DEPRECATED_ENGINE_VERSIONS: dict[str, tuple[str, ...]] = {
    "mysql": ("5.5", "5.6", "5.7"),
    "postgres": ("9.", "10.", "11.", "12."),
    "aurora-mysql": ("5.6", "5.7", "2."),  # Aurora MySQL v1 (5.6) and v2 (5.7)
    "aurora-postgresql": ("9.", "10.", "11.", "12."),
    "mariadb": ("10.2", "10.3", "10.4"),
    "redis": ("2.", "3.", "4.", "5."),
}


def is_deprecated_version(engine: str, version: str) -> bool:
    prefixes = DEPRECATED_ENGINE_VERSIONS.get(engine, ())
    return bool(version) and any(version.startswith(p) for p in prefixes)


# --- The rules -----------------------------------------------------------------------

ENCRYPTION = _rule(
    "RDS-ENCRYPTION",
    Severity.HIGH,
    "Storage not encrypted",
    "Unencrypted storage, backups and snapshots expose data to anyone who obtains the "
    "volume or a snapshot copy; encryption cannot be turned on in place later.",
    "Snapshot the database, copy the snapshot with a KMS key, restore from the encrypted "
    "copy and switch clients over.",
    "instance",
    "cluster",
)
SNAPSHOT_ENCRYPTION = _rule(
    "SNAPSHOT-ENCRYPTION",
    Severity.MEDIUM,
    "Snapshot not encrypted",
    "An unencrypted snapshot can be copied, shared or restored anywhere without a key.",
    "Copy the snapshot with a KMS key and delete the unencrypted original.",
    "snapshot",
)
TLS = _rule(
    "RDS-TLS",
    Severity.HIGH,
    "TLS not enforced",
    "Without rds.force_ssl / require_secure_transport the database accepts unencrypted "
    "connections, so credentials and data can cross the network in clear text.",
    "Set rds.force_ssl=1 (PostgreSQL, SQL Server) or require_secure_transport=ON (MySQL, "
    "MariaDB) in a custom parameter group attached to the resource.",
    "instance",
    "cluster",
)
IAM_AUTH = _rule(
    "RDS-IAM-AUTH",
    Severity.LOW,
    "IAM database authentication off",
    "IAM authentication replaces long-lived database passwords with short-lived tokens "
    "tied to IAM identities and CloudTrail.",
    "Enable IAM database authentication and grant rds_iam / AWSAuthenticationPlugin "
    "to application users.",
    "instance",
    "cluster",
)
KERBEROS = _rule(
    "RDS-KERBEROS",
    Severity.HIGH,
    "Kerberos domain membership not healthy",
    "A database whose Active Directory membership failed or is pending cannot "
    "authenticate domain users; logins fail or fall back to local accounts.",
    "Check the directory, the IAM role for directory service and the security groups, "
    "then re-join the domain (modify the resource with the same Domain).",
    "instance",
    "cluster",
)
PUBLIC = _rule(
    "RDS-PUBLIC",
    Severity.HIGH,
    "Publicly accessible",
    "A publicly accessible instance gets a public DNS name and IP; only security groups "
    "stand between it and the internet.",
    "Modify the instance with PubliclyAccessible=false and reach it through private "
    "networking (VPN, peering, a bastion or RDS Proxy).",
    "instance",
)
OPEN_SG = _rule(
    "SG-OPEN-DB-PORT",
    Severity.HIGH,
    "Security group open to the internet on the database port",
    "An ingress rule from 0.0.0.0/0 or ::/0 on the database port lets anyone try to "
    "connect and brute-force credentials.",
    "Replace the rule with the application's security group or private CIDR ranges.",
    "instance",
    "cluster",
    "proxy",
    "cache",
)
PUBLIC_SNAPSHOT = _rule(
    "SNAPSHOT-PUBLIC",
    Severity.CRITICAL,
    "Snapshot is public",
    "Any AWS account can restore a public snapshot and read all of its data.",
    "Remove 'all' from the snapshot's restore attribute (ModifyDBSnapshotAttribute).",
    "snapshot",
)
SHARED_SNAPSHOT = _rule(
    "SNAPSHOT-SHARED",
    Severity.MEDIUM,
    "Snapshot shared with another account",
    "Accounts a snapshot is shared with can restore it; sharing is easy to forget.",
    "Confirm each account still needs it; remove the others from the restore attribute.",
    "snapshot",
)
DELETION_PROTECTION = _rule(
    "RDS-DELETION-PROTECTION",
    Severity.MEDIUM,
    "Deletion protection off in production",
    "Without deletion protection one API call or console click deletes a production database.",
    "Modify the resource with DeletionProtection=true.",
    "instance",
    "cluster",
)
DEFAULT_USERNAME = _rule(
    "RDS-DEFAULT-USERNAME",
    Severity.LOW,
    "Default master username",
    "Well-known master usernames (admin, postgres, root, ...) halve the work of a "
    "credential-guessing attack.",
    "Create resources with a non-obvious master username (it cannot be renamed in "
    "place; restore or migrate to change it).",
    "instance",
    "cluster",
)
MASTER_SECRET = _rule(
    "RDS-MASTER-SECRET",
    Severity.MEDIUM,
    "Master password not managed by Secrets Manager",
    "A master password set by hand is rarely rotated and often ends up in scripts.",
    "Modify the resource with ManageMasterUserPassword=true so RDS keeps and rotates it "
    "in Secrets Manager.",
    "instance",
    "cluster",
)
CA_ROTATE = (
    "Rotate to a current CA (rds-ca-rsa2048-g1 or newer) with ModifyDBInstance "
    "CACertificateIdentifier, after updating client trust stores."
)
CA_EXPIRY = _rule(
    "RDS-CA-EXPIRY",
    Severity.MEDIUM,  # high when fewer than 30 days are left
    f"CA certificate expires within {CA_EXPIRY_WARNING_DAYS} days",
    "When the server certificate's CA expires, clients that verify TLS cannot connect.",
    CA_ROTATE,
    "instance",
)
# Critical, not high: an expired CA is a failure now, not a date to plan for — clients
# that verify the server certificate cannot connect at all, and those that still
# connect do not verify it, so TLS no longer proves they talk to this database.
CA_EXPIRED = _rule(
    "RDS-CA-EXPIRED",
    Severity.CRITICAL,
    "CA certificate expired",
    "The server certificate's CA has expired: clients that verify TLS cannot connect, "
    "and clients that still connect are not verifying the server, so a "
    "man-in-the-middle goes unnoticed.",
    CA_ROTATE,
    "instance",
)
DEPRECATED_VERSION = _rule(
    "ENGINE-DEPRECATED",
    Severity.MEDIUM,
    "Deprecated engine version",
    "Versions past end of standard support get no fixes without paid extended support "
    "and are eventually upgraded by AWS at a time it chooses.",
    "Plan a major version upgrade (test it on a clone first).",
    "instance",
    "cluster",
    "cache",
)
AUTO_MINOR = _rule(
    "RDS-AUTO-MINOR-UPGRADE",
    Severity.LOW,
    "Auto minor version upgrade off",
    "Minor versions carry security fixes; with auto upgrade off they wait for someone to remember.",
    "Enable AutoMinorVersionUpgrade (upgrades happen in the maintenance window).",
    "instance",
)
BACKUP_RETENTION = _rule(
    "RDS-BACKUP-RETENTION",
    Severity.MEDIUM,
    "Backup retention below policy",
    "Short retention limits how far back point-in-time recovery can go; 0 turns "
    "automated backups off entirely.",
    "Raise BackupRetentionPeriod to at least the environment's backup policy's number "
    "of days (Backups page; policies are edited in the admin).",
    "instance",
    "cluster",
)
SINGLE_AZ = _rule(
    "RDS-SINGLE-AZ",
    Severity.MEDIUM,
    "Single-AZ production database",
    "A single-AZ database is down for the whole time an AZ or its host is impaired.",
    "Convert to Multi-AZ (instances) or add a reader in another AZ (Aurora).",
    "instance",
    "cluster",
)
LOG_EXPORTS = _rule(
    "RDS-LOG-EXPORTS",
    Severity.LOW,
    "No CloudWatch log exports",
    "Without exported logs, audit, error and slow-query logs rotate away on the host "
    "and cannot be searched or alarmed on.",
    "Enable the engine's log exports (e.g. postgresql, error/audit/slowquery).",
    "instance",
    "cluster",
)
PROXY_TLS = _rule(
    "PROXY-TLS",
    Severity.HIGH,
    "RDS Proxy does not require TLS",
    "Clients may connect to the proxy in clear text even if the database requires TLS behind it.",
    "Modify the proxy with RequireTLS=true.",
    "proxy",
)
PROXY_IAM = _rule(
    "PROXY-IAM-AUTH",
    Severity.LOW,
    "RDS Proxy IAM authentication off",
    "With IAM auth disabled, clients authenticate to the proxy with database passwords "
    "instead of short-lived IAM tokens.",
    "Set IAMAuth=REQUIRED in the proxy's auth configuration.",
    "proxy",
)
CACHE_TRANSIT = _rule(
    "CACHE-TRANSIT-ENCRYPTION",
    Severity.HIGH,
    "ElastiCache without enforced in-transit encryption",
    "Cache traffic (often session tokens) crosses the network in clear text: in-transit "
    "encryption is off, or in preferred mode, which still accepts plaintext clients.",
    "Enable TransitEncryptionEnabled in preferred mode, move every client to TLS, then set "
    "TransitEncryptionMode=required.",
    "cache",
)
CACHE_AT_REST = _rule(
    "CACHE-AT-REST-ENCRYPTION",
    Severity.MEDIUM,
    "ElastiCache without at-rest encryption",
    "Snapshots and swap of an unencrypted cache are readable without a key; at-rest "
    "encryption can only be chosen at creation.",
    "Create an encrypted replication group from a backup and move clients to it.",
    "cache",
)
CACHE_AUTH = _rule(
    "CACHE-AUTH",
    Severity.HIGH,
    "ElastiCache without AUTH or RBAC",
    "Anyone who can reach the port can read and overwrite every key.",
    "Set an AUTH token or attach an RBAC user group.",
    "cache",
)
CACHE_HA = _rule(
    "CACHE-HA",
    Severity.MEDIUM,
    "Production cache single-AZ or without automatic failover",
    "Without Multi-AZ and automatic failover a primary node failure needs manual action.",
    "Add replicas in other AZs and enable Multi-AZ with automatic failover.",
    "cache",
)
CACHE_BACKUPS = _rule(
    "CACHE-BACKUPS",
    Severity.LOW,
    "ElastiCache backups off",
    "With a snapshot retention of 0 there is no automatic backup to restore from.",
    "Set SnapshotRetentionLimit to at least 1 day.",
    "cache",
)
DMS_PUBLIC = _rule(
    "DMS-PUBLIC",
    Severity.HIGH,
    "DMS replication instance publicly accessible",
    "A public replication instance exposes the host that holds credentials to both the "
    "source and the target databases.",
    "Recreate the replication instance with PubliclyAccessible=false.",
    "dms-instance",
)
DMS_SINGLE_AZ = _rule(
    "DMS-SINGLE-AZ",
    Severity.MEDIUM,
    "Production DMS replication instance single-AZ",
    "A single-AZ replication instance stops the migration while its AZ is impaired.",
    "Modify the replication instance with MultiAZ=true.",
    "dms-instance",
)
DMS_SSL = _rule(
    "DMS-ENDPOINT-SSL",
    Severity.HIGH,
    "DMS endpoint with SSL mode none",
    "Replicated data and credentials travel between DMS and the database in clear text.",
    "Modify the endpoint with SslMode=require (or verify-full with a CA certificate).",
    "dms-endpoint",
)


# --- Loading the estate (bounded queries) --------------------------------------------


@dataclass
class Estate:
    """Every row the rules look at, loaded once."""

    instances: list[m.DbInstance] = field(default_factory=list)
    clusters: list[m.DbCluster] = field(default_factory=list)
    snapshots: list[m.DbSnapshot] = field(default_factory=list)
    proxies: list[m.DbProxy] = field(default_factory=list)
    cache_groups: list[m.CacheReplicationGroup] = field(default_factory=list)
    cache_clusters: list[m.CacheCluster] = field(default_factory=list)
    dms_instances: list[m.DmsReplicationInstance] = field(default_factory=list)
    dms_endpoints: list[m.DmsEndpoint] = field(default_factory=list)
    # (account pk, region, scope, group name) -> {parameter name: value}
    tls_parameters: dict[tuple[int, str, str, str], dict[str, str | None]] = field(
        default_factory=dict
    )
    # (account pk, region, option group name) -> option names
    option_names: dict[tuple[int, str, str], set[str]] = field(default_factory=dict)
    # (account pk, region, group id) -> guard.SecurityGroup
    security_groups: dict[tuple[int, str, str], Any] = field(default_factory=dict)
    # environment -> its backup policy (saved, or the default): guard.backups.policies()
    backup_policies: dict[str, Any] = field(default_factory=backups.PolicyTable)


def load_estate(account_ids: Iterable[int] | None = None) -> Estate:
    """Load live rows of every kind and the backup policies: 12 queries whatever the
    estate's size."""

    def live(model: type[Model]) -> Any:
        qs = model.objects.live().select_related("account")
        return qs.filter(account_id__in=account_ids) if account_ids is not None else qs

    account_ids = list(account_ids) if account_ids is not None else None
    estate = Estate(
        instances=list(live(m.DbInstance)),
        clusters=list(live(m.DbCluster)),
        snapshots=list(live(m.DbSnapshot)),
        proxies=list(live(m.DbProxy)),
        cache_groups=list(live(m.CacheReplicationGroup)),
        cache_clusters=list(live(m.CacheCluster)),
        dms_instances=list(live(m.DmsReplicationInstance)),
        dms_endpoints=list(live(m.DmsEndpoint)),
        backup_policies=backups.policies(),
    )
    # Every mirrored DB/cluster parameter group with its TLS parameters (a LEFT JOIN, so
    # a group without them is known to be mirrored: its engine default holds).
    params = (
        m.ParameterGroup.objects.live()
        .filter(scope__in=[m.ParameterGroup.Scope.INSTANCE, m.ParameterGroup.Scope.CLUSTER])
        .annotate(
            tls=FilteredRelation("parameters", condition=Q(parameters__name__in=TLS_PARAMETERS))
        )
        .values_list("account_id", "region", "scope", "identifier", "tls__name", "tls__value")
    )
    if account_ids is not None:
        params = params.filter(account_id__in=account_ids)
    for account_pk, region, scope, group, name, value in params:
        values = estate.tls_parameters.setdefault((account_pk, region, scope, group), {})
        if name is not None:
            values[name] = value
    options = m.OptionGroup.objects.live().values_list(
        "account_id", "region", "identifier", "options"
    )
    if account_ids is not None:
        options = options.filter(account_id__in=account_ids)
    for account_pk, region, name, option_list in options:
        estate.option_names[(account_pk, region, name)] = tls.option_names(option_list)
    groups = SecurityGroup.objects.all()
    if account_ids is not None:
        groups = groups.filter(account_id__in=account_ids)
    for group in groups:
        estate.security_groups[(group.account_id, group.region, group.group_id)] = group
    return estate


# --- Helpers -------------------------------------------------------------------------


def _finding(rule: Rule, kind: str, row: Any, evidence: dict[str, Any], **kw: Any) -> Finding:
    return Finding(
        rule=rule,
        resource_kind=kind,
        resource_arn=row.arn,
        resource_label=row.identifier,
        resource_pk=row.pk,
        account_pk=row.account_id,
        account_name=row.account.name,
        environment=row.account.environment,
        region=row.region,
        evidence=evidence,
        **kw,
    )


def _is_production(row: Any) -> bool:
    return row.account.environment == m.Environment.PRODUCTION


def tls_verdict(estate: Estate, row: Any, scope: str, group_name: str) -> tls.TlsVerdict:
    """The resource pages' TLS answer (estate.tls.decide), over the loaded estate."""
    engine = row.engine or ""
    if engine.startswith("oracle"):
        names = tls.option_group_names(row)
        options: set[str] = set()
        for name in names:
            options |= estate.option_names.get((row.account_id, row.region, name), set())
        return tls.decide(
            engine,
            row.engine_version,
            group=group_name,
            values=None,
            options=options,
            option_groups=", ".join(names),
        )
    return tls.decide(
        engine,
        row.engine_version,
        group=group_name,
        values=estate.tls_parameters.get((row.account_id, row.region, scope, group_name)),
    )


def _open_groups(
    estate: Estate, row: Any, group_ids: Iterable[str], port: int | None
) -> list[dict[str, Any]]:
    hits = []
    for gid in group_ids or []:
        group = estate.security_groups.get((row.account_id, row.region, gid))
        if group is None:
            continue
        rules = group.open_to_world(port)
        if rules:
            hits.append({"group_id": gid, "group_name": group.name, "rules": rules})
    return hits


# --- Rule functions by kind ----------------------------------------------------------

DB_DEFAULT_PORTS = {
    "postgres": 5432,
    "mysql": 3306,
    "mariadb": 3306,
    "sqlserver": 1433,
    "oracle": 1521,
    "aurora-mysql": 3306,
    "aurora-postgresql": 5432,
}


def _default_port(engine: str) -> int | None:
    for prefix, port in DB_DEFAULT_PORTS.items():
        if engine.startswith(prefix):
            return port
    return None


def _common_db_checks(
    estate: Estate,
    row: Any,
    kind: str,
    now: datetime,
    *,
    replica: bool = False,
) -> Iterator[Finding]:
    """Rules that apply alike to standalone instances and clusters."""
    engine = row.engine or ""
    if not row.storage_encrypted:
        yield _finding(ENCRYPTION, kind, row, {"storage_encrypted": False})
    if engine.startswith(IAM_AUTH_ENGINES) and not row.iam_auth_enabled:
        yield _finding(IAM_AUTH, kind, row, {"iam_auth_enabled": False, "engine": engine})
    unhealthy = [
        {"domain": d.get("Domain", ""), "status": d.get("Status", "")}
        for d in row.domain_memberships or []
        if str(d.get("Status", "")).lower() not in HEALTHY_DOMAIN_STATUSES
    ]
    if unhealthy:
        yield _finding(KERBEROS, kind, row, {"memberships": unhealthy})
    if _is_production(row) and not row.deletion_protection:
        yield _finding(
            DELETION_PROTECTION,
            kind,
            row,
            {"deletion_protection": False, "environment": "production"},
        )
    # A replica (read replica, or a secondary cluster of a global database) takes its
    # master user and password from its source: judged there, not twice.
    if not replica:
        if row.master_username and row.master_username.lower() in DEFAULT_MASTER_USERNAMES:
            yield _finding(DEFAULT_USERNAME, kind, row, {"master_username": row.master_username})
        if not row.master_user_secret_arn:
            yield _finding(MASTER_SECRET, kind, row, {"master_user_secret": "not managed"})
    if is_deprecated_version(engine, row.engine_version):
        yield _finding(
            DEPRECATED_VERSION, kind, row, {"engine": engine, "engine_version": row.engine_version}
        )
    # The Backups page's retention rule, against the environment's policy: one answer.
    policy = estate.backup_policies[row.account.environment]
    kept = backups.retention_result(row, policy)
    if kept is not None and not kept.ok:
        retention = row.backup_retention_period
        yield _finding(
            BACKUP_RETENTION,
            kind,
            row,
            {
                "backup_retention_period": retention,
                "policy_days": policy.min_retention_days,
                "policy": backups.policy_label(policy),
            },
            severity=Severity.HIGH if retention == 0 else "",
        )
    if not row.enabled_cloudwatch_logs_exports:
        yield _finding(LOG_EXPORTS, kind, row, {"enabled_cloudwatch_logs_exports": []})


def check_instance(estate: Estate, row: m.DbInstance, now: datetime) -> Iterator[Finding]:
    in_cluster = row.cluster_id is not None
    engine = row.engine or ""
    # Aurora and Multi-AZ cluster members inherit storage, backups, auth, TLS (cluster
    # parameter group) and deletion protection from their cluster: judged there, once.
    if not in_cluster:
        # A read replica's backups are judged on its source (guard.backups).
        yield from _common_db_checks(estate, row, "instance", now, replica=row.is_replica)
        group = next((g.get("name", "") for g in row.parameter_groups or []), "")
        verdict = tls_verdict(estate, row, m.ParameterGroup.Scope.INSTANCE, group)
        if verdict.enforced is False:
            yield _finding(TLS, "instance", row, verdict.evidence())
        if _is_production(row) and not row.multi_az and not row.is_replica:
            yield _finding(
                SINGLE_AZ, "instance", row, {"multi_az": False, "environment": "production"}
            )
    if row.publicly_accessible:
        yield _finding(PUBLIC, "instance", row, {"publicly_accessible": True})
    port = row.port or _default_port(engine)
    open_groups = _open_groups(estate, row, row.vpc_security_group_ids, port)
    if open_groups:
        yield _finding(
            OPEN_SG,
            "instance",
            row,
            {"port": port, "publicly_accessible": row.publicly_accessible, "groups": open_groups},
            # Reachable from the internet *and* open to it: the worst combination.
            severity=Severity.CRITICAL if row.publicly_accessible else "",
        )
    yield from _ca_findings(row, now)
    if not row.auto_minor_version_upgrade and not row.is_custom:
        yield _finding(AUTO_MINOR, "instance", row, {"auto_minor_version_upgrade": False})


def _ca_findings(row: m.DbInstance, now: datetime) -> Iterator[Finding]:
    """Expired (critical) and expiring (medium, high within 30 days) are two findings:
    one is an outage for verifying clients today, the other a date to plan for."""
    valid_till = row.ca_certificate_valid_till
    if valid_till is None:
        return
    day = timezone.localdate(valid_till)
    if valid_till <= now:
        yield _finding(
            CA_EXPIRED,
            "instance",
            row,
            {
                "ca_certificate_identifier": row.ca_certificate_identifier,
                "expired_on": day,
                "days_since_expiry": (now - valid_till).days,
            },
        )
        return
    days_left = (valid_till - now).days
    if days_left < CA_EXPIRY_WARNING_DAYS:
        yield _finding(
            CA_EXPIRY,
            "instance",
            row,
            {
                "ca_certificate_identifier": row.ca_certificate_identifier,
                "expires_on": day,
                "days_left": days_left,
            },
            severity=Severity.HIGH if days_left < 30 else "",
        )


def check_cluster(
    estate: Estate, row: m.DbCluster, now: datetime, members: int, zones: set[str] | None = None
) -> Iterator[Finding]:
    engine = row.engine or ""
    secondary = bool(row.replication_source_identifier) or (
        row.global_cluster_id is not None and not row.is_global_writer
    )
    yield from _common_db_checks(estate, row, "cluster", now, replica=secondary)
    verdict = tls_verdict(estate, row, m.ParameterGroup.Scope.CLUSTER, row.parameter_group_name)
    if verdict.enforced is False:
        yield _finding(TLS, "cluster", row, verdict.evidence())
    serverless_v1 = row.engine_mode == "serverless"
    # A Multi-AZ DB cluster always spans three AZs; Aurora needs a reader in another AZ.
    # Two instances in one AZ are still single-AZ (zones unknown: judged by count).
    zones = zones or set()
    if (
        _is_production(row)
        and row.is_aurora
        and not serverless_v1
        and (members < 2 or len(zones) == 1)
    ):
        yield _finding(
            SINGLE_AZ,
            "cluster",
            row,
            {"instances": members, "zones": sorted(zones), "environment": "production"},
        )
    port = row.port or _default_port(engine)
    open_groups = _open_groups(estate, row, row.vpc_security_group_ids, port)
    if open_groups:
        yield _finding(OPEN_SG, "cluster", row, {"port": port, "groups": open_groups})


def check_snapshot(estate: Estate, row: m.DbSnapshot, now: datetime) -> Iterator[Finding]:
    if not row.encrypted:
        yield _finding(SNAPSHOT_ENCRYPTION, "snapshot", row, {"encrypted": False})
    if row.is_public:
        yield _finding(PUBLIC_SNAPSHOT, "snapshot", row, {"restore": ["all"]})
    others = sorted(a for a in row.shared_with or [] if a not in ("all", row.account.account_id))
    if others:
        yield _finding(SHARED_SNAPSHOT, "snapshot", row, {"shared_with": others})


def check_proxy(estate: Estate, row: m.DbProxy, now: datetime) -> Iterator[Finding]:
    if not row.require_tls:
        yield _finding(PROXY_TLS, "proxy", row, {"require_tls": False})
    if not row.iam_auth_required:
        schemes = [a.get("IAMAuth", "") for a in row.auth or []]
        yield _finding(PROXY_IAM, "proxy", row, {"iam_auth": schemes or ["(no auth entries)"]})
    port = 5432 if "POSTGRES" in (row.engine_family or "").upper() else 3306
    if "SQLSERVER" in (row.engine_family or "").upper():
        port = 1433
    open_groups = _open_groups(estate, row, row.vpc_security_group_ids, port)
    if open_groups:
        yield _finding(OPEN_SG, "proxy", row, {"port": port, "groups": open_groups})


def _cache_security(row: Any, kind: str, *, has_auth: bool) -> Iterator[Finding]:
    # A group in "preferred" mode encrypts but still accepts plaintext clients: it fails.
    transit = tls.cache_transit(row.transit_encryption, getattr(row, "transit_encryption_mode", ""))
    if not transit.enforced:
        yield _finding(CACHE_TRANSIT, kind, row, transit.evidence())
    if not row.at_rest_encryption:
        yield _finding(CACHE_AT_REST, kind, row, {"at_rest_encryption": False})
    if not has_auth:
        yield _finding(CACHE_AUTH, kind, row, {"auth_token": False, "user_groups": []})
    if not row.snapshot_retention_limit:
        yield _finding(
            CACHE_BACKUPS, kind, row, {"snapshot_retention_limit": row.snapshot_retention_limit}
        )
    if is_deprecated_version(row.engine or "redis", row.engine_version):
        yield _finding(
            DEPRECATED_VERSION,
            kind,
            row,
            {"engine": row.engine, "engine_version": row.engine_version},
        )


def check_cache_group(
    estate: Estate, row: m.CacheReplicationGroup, now: datetime
) -> Iterator[Finding]:
    yield from _cache_security(row, "cache", has_auth=row.has_auth)
    failover = (row.automatic_failover or "").lower()
    if _is_production(row) and (not row.multi_az or failover not in ("enabled", "enabling")):
        yield _finding(
            CACHE_HA,
            "cache",
            row,
            {"multi_az": row.multi_az, "automatic_failover": row.automatic_failover or "disabled"},
        )


def check_cache_cluster(estate: Estate, row: m.CacheCluster, now: datetime) -> Iterator[Finding]:
    engine = (row.engine or "").lower()
    if row.replication_group_id is None and engine in ("redis", "valkey"):
        # A standalone single-node Redis: judged like a group, and single-AZ by nature.
        yield from _cache_security(row, "cache", has_auth=row.auth_token_enabled)
        if _is_production(row):
            yield _finding(
                CACHE_HA, "cache", row, {"nodes": row.num_nodes, "replication_group": None}
            )
    elif engine == "memcached" and not row.transit_encryption:
        yield _finding(CACHE_TRANSIT, "cache", row, {"transit_encryption": False})
    port = 11211 if engine == "memcached" else 6379
    open_groups = _open_groups(estate, row, row.security_group_ids, port)
    if open_groups:
        yield _finding(OPEN_SG, "cache", row, {"port": port, "groups": open_groups})


def check_dms_instance(
    estate: Estate, row: m.DmsReplicationInstance, now: datetime
) -> Iterator[Finding]:
    if row.publicly_accessible:
        yield _finding(DMS_PUBLIC, "dms-instance", row, {"publicly_accessible": True})
    if _is_production(row) and not row.multi_az:
        yield _finding(
            DMS_SINGLE_AZ, "dms-instance", row, {"multi_az": False, "environment": "production"}
        )


def check_dms_endpoint(estate: Estate, row: m.DmsEndpoint, now: datetime) -> Iterator[Finding]:
    # S3, Kinesis and similar targets have no SslMode; only database engines are judged.
    if (row.ssl_mode or "").lower() == "none":
        yield _finding(
            DMS_SSL, "dms-endpoint", row, {"ssl_mode": row.ssl_mode, "engine": row.engine_name}
        )


# --- Evaluation ----------------------------------------------------------------------


def evaluate_estate(estate: Estate, now: datetime | None = None) -> list[Finding]:
    """Every finding for the loaded estate, worst first (no queries)."""
    now = now or timezone.now()
    members: Counter[int] = Counter(i.cluster_id for i in estate.instances if i.cluster_id)
    zones: dict[int, set[str]] = {}
    for inst in estate.instances:
        if inst.cluster_id and inst.availability_zone:
            zones.setdefault(inst.cluster_id, set()).add(inst.availability_zone)
    checks: list[tuple[Iterable[Any], Callable[..., Iterator[Finding]]]] = [
        (estate.instances, check_instance),
        (estate.snapshots, check_snapshot),
        (estate.proxies, check_proxy),
        (estate.cache_groups, check_cache_group),
        (estate.cache_clusters, check_cache_cluster),
        (estate.dms_instances, check_dms_instance),
        (estate.dms_endpoints, check_dms_endpoint),
    ]
    findings: list[Finding] = []
    for rows, check in checks:
        for row in rows:
            findings.extend(check(estate, row, now))
    for cluster in estate.clusters:
        # Members as mirrored rows, or as AWS listed them when the instances are not synced.
        count = members.get(cluster.pk) or len(cluster.members or [])
        findings.extend(check_cluster(estate, cluster, now, count, zones.get(cluster.pk)))
    findings.sort(key=lambda f: (Severity.rank(f.severity), f.rule.id, f.resource_label))
    return findings


def apply_suppressions(findings: list[Finding], now: datetime | None = None) -> list[Finding]:
    """Attach active suppressions (one query). Expired or revoked ones are ignored, so
    the finding comes back by itself."""
    active: dict[tuple[str, str], Any] = {}
    for suppression in FindingSuppression.objects.active(now).order_by("expires_at"):
        active[(suppression.rule_id, suppression.resource_arn)] = suppression
    for finding in findings:
        finding.suppression = active.get(finding.key)
    return findings


def evaluate(account_ids: Iterable[int] | None = None) -> list[Finding]:
    """All findings over the mirror, with suppressions attached: 13 queries in all."""
    return apply_suppressions(evaluate_estate(load_estate(account_ids)))


COUNTS_CACHE_KEY = "guard:finding-counts:v2"


def finding_counts(*, fresh: bool = False) -> dict[str, Any]:
    """For the overview: open (unsuppressed) findings by severity, plus totals.

    {"open": n, "suppressed": n, "by_severity": {"critical": n, "high": n, ...},
     "backup_retention": n}  (open RDS-BACKUP-RETENTION findings)

    Cached for GUARD_COUNTS_CACHE_SECONDS (suppressing or revoking clears it at once);
    ``fresh=True`` recomputes."""
    timeout = int(getattr(settings, "GUARD_COUNTS_CACHE_SECONDS", 60))
    if not fresh and timeout > 0:
        cached = cache.get(COUNTS_CACHE_KEY)
        if cached is not None:
            return cached
    by_severity = dict.fromkeys(Severity.ORDER, 0)
    suppressed = 0
    retention = 0
    for finding in evaluate():
        if finding.suppressed:
            suppressed += 1
        else:
            by_severity[finding.severity] += 1
            retention += finding.rule is BACKUP_RETENTION
    counts = {
        "open": sum(by_severity.values()),
        "suppressed": suppressed,
        "by_severity": by_severity,
        "backup_retention": retention,
    }
    if timeout > 0:
        cache.set(COUNTS_CACHE_KEY, counts, timeout)
    return counts


def forget_finding_counts() -> None:
    cache.delete(COUNTS_CACHE_KEY)


def findings_for(arn: str) -> list[Finding]:
    """Findings for one resource (detail pages): evaluates only its account (the
    account id is the ARN's fifth field), a bounded number of queries."""
    parts = arn.split(":")
    if len(parts) < 6 or not parts[4]:
        return []
    account_pks = list(m.Account.objects.filter(account_id=parts[4]).values_list("pk", flat=True))
    if not account_pks:
        return []
    return [f for f in evaluate(account_pks) if f.resource_arn == arn]
