"""The mirror: Estate's copy of every managed-database resource it has seen in AWS.

Only sync writes these rows (the admin shows them read-only). ARN is the natural key of
every AWS resource; rows are never deleted by sync: a resource that AWS no longer reports
gets ``gone_at`` and is kept for history, and one that reappears has it cleared.

``last_synced_at`` is the last time sync *wrote* the row (created or changed it): a
resync of an unchanged estate writes nothing at all, so the freshness of the whole
scope is the latest SyncRun for its account and region, not this column.

``sync_hash`` is how sync knows a row is unchanged without loading it: a digest of the
AWS-derived columns it last wrote (relations excluded; sync compares those separately).
Loading ``(id, arn, sync_hash, gone_at)`` per kind is one narrow query even for tens of
thousands of rows, and it never disagrees with AWS's value because of a database's own
normalisation (datetime precision, JSON key order, float formatting).

Statuses that AWS owns stay plain strings ("failing-over", "backtracking", ...);
``estate.status.badge`` maps them to colours in one place.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class Environment(models.TextChoices):
    PRODUCTION = "production", "Production"
    STAGING = "staging", "Staging"
    DEVELOPMENT = "development", "Development"


def default_regions() -> list[str]:
    return ["us-east-1"]


class Account(models.Model):
    """An AWS account Estate mirrors. Credentials are never stored: Estate assumes
    ``role_arn`` (with ``external_id`` when set) from its own credentials, or uses its
    default credentials when ``role_arn`` is empty."""

    account_id = models.CharField(max_length=12, unique=True)
    name = models.CharField(max_length=100)
    environment = models.CharField(
        max_length=20, choices=Environment.choices, default=Environment.DEVELOPMENT
    )
    role_arn = models.CharField(max_length=2048, blank=True)
    external_id = models.CharField(max_length=1224, blank=True)
    regions = models.JSONField(default=default_regions)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("view_estate", "Can view the estate (Viewer)"),
            ("trigger_sync", "Can start a sync"),
            ("run_operations", "Can run non-destructive operations and drills (Operator)"),
            ("manage_drills", "Can manage drill schedules (Operator)"),
            ("run_destructive_operations", "Can run destructive operations (Admin)"),
            ("manage_accounts", "Can manage accounts, policies and users (Admin)"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.account_id})"

    @property
    def is_production(self) -> bool:
        return self.environment == Environment.PRODUCTION


class MirroredQuerySet(models.QuerySet):
    def live(self) -> MirroredQuerySet:
        return self.filter(gone_at__isnull=True)

    def gone(self) -> MirroredQuerySet:
        return self.filter(gone_at__isnull=False)


class Mirrored(models.Model):
    """Columns every mirrored AWS resource has."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="+")
    region = models.CharField(max_length=32, db_index=True)
    arn = models.CharField(max_length=1024, unique=True)
    identifier = models.CharField(max_length=255, db_index=True)
    status = models.CharField(max_length=64, blank=True, db_index=True)
    tags = models.JSONField(default=dict, blank=True)
    # Why the last sync could not read the tags ("" = it read them: ``tags`` is AWS's).
    # When set, ``tags`` holds the tags last read, if any: never "no tags".
    tags_error = models.CharField(max_length=500, blank=True, default="")
    first_seen_at = models.DateTimeField(default=timezone.now)
    last_synced_at = models.DateTimeField(default=timezone.now)
    gone_at = models.DateTimeField(null=True, blank=True, db_index=True)
    sync_hash = models.CharField(max_length=32, blank=True, editable=False)

    objects = MirroredQuerySet.as_manager()

    class Meta:
        abstract = True
        ordering = ["identifier"]

    def __str__(self) -> str:
        return self.identifier

    @property
    def is_gone(self) -> bool:
        return self.gone_at is not None

    @property
    def tags_read(self) -> bool:
        """Whether ``tags`` is what AWS said at the last sync (an empty dict then means
        the resource has no tags)."""
        return not self.tags_error


class GlobalCluster(Mirrored):
    """An Aurora Global Database. ``region`` is the writer's region; ``members`` is
    AWS's GlobalClusterMembers as [{"cluster_arn", "region", "is_writer", "readers",
    "synchronization_status"}]."""

    engine = models.CharField(max_length=64, blank=True)
    engine_version = models.CharField(max_length=64, blank=True)
    deletion_protection = models.BooleanField(default=False)
    storage_encrypted = models.BooleanField(default=False)
    members = models.JSONField(default=list, blank=True)
    # AWS's FailoverState while a switchover or failover is in flight, as {"status",
    # "from_cluster_arn", "from_region", "to_cluster_arn", "to_region",
    # "is_data_loss_allowed"}; {} when none is. AWS: data loss allowed = a failover,
    # otherwise a switchover.
    failover_state = models.JSONField(default=dict, blank=True)

    class Meta(Mirrored.Meta):
        pass

    @property
    def writer_region(self) -> str:
        for member in self.members:
            if member.get("is_writer"):
                return member.get("region", "")
        return ""


class DbCluster(Mirrored):
    """An Aurora cluster or a Multi-AZ DB cluster."""

    engine = models.CharField(max_length=64, db_index=True)
    engine_mode = models.CharField(max_length=32, blank=True)
    engine_version = models.CharField(max_length=64, blank=True)
    cluster_instance_class = models.CharField(max_length=64, blank=True)  # Multi-AZ DB cluster
    multi_az = models.BooleanField(default=False)
    endpoint = models.CharField(max_length=255, blank=True)
    reader_endpoint = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    availability_zones = models.JSONField(default=list, blank=True)
    # Serverless v2 range (ACU) and the v1 ScalingConfigurationInfo, raw.
    serverless_v2_min_acu = models.FloatField(null=True, blank=True)
    serverless_v2_max_acu = models.FloatField(null=True, blank=True)
    scaling_configuration = models.JSONField(default=dict, blank=True)
    backtrack_window = models.PositiveIntegerField(null=True, blank=True)  # seconds
    earliest_backtrack_time = models.DateTimeField(null=True, blank=True)
    earliest_restorable_time = models.DateTimeField(null=True, blank=True)
    latest_restorable_time = models.DateTimeField(null=True, blank=True)
    backup_retention_period = models.PositiveIntegerField(null=True, blank=True)
    preferred_backup_window = models.CharField(max_length=32, blank=True)
    preferred_maintenance_window = models.CharField(max_length=64, blank=True)
    storage_encrypted = models.BooleanField(default=False)
    kms_key_id = models.CharField(max_length=2048, blank=True)
    storage_type = models.CharField(max_length=32, blank=True)
    allocated_storage = models.PositiveIntegerField(null=True, blank=True)
    iam_auth_enabled = models.BooleanField(default=False)
    deletion_protection = models.BooleanField(default=False)
    domain_memberships = models.JSONField(default=list, blank=True)
    parameter_group_name = models.CharField(max_length=255, blank=True)
    global_cluster = models.ForeignKey(
        GlobalCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="clusters"
    )
    # A secondary's writer flag as AWS reports it in the global cluster's member list.
    is_global_writer = models.BooleanField(default=False)
    clone_group_id = models.CharField(max_length=128, blank=True, db_index=True)
    clone_source = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="clones"
    )
    replication_source_identifier = models.CharField(max_length=1024, blank=True)
    master_username = models.CharField(max_length=128, blank=True)
    master_user_secret_arn = models.CharField(max_length=2048, blank=True)
    vpc_security_group_ids = models.JSONField(default=list, blank=True)
    enabled_cloudwatch_logs_exports = models.JSONField(default=list, blank=True)
    created_time = models.DateTimeField(null=True, blank=True)
    # Members as AWS reports them: [{"identifier", "is_writer", "promotion_tier",
    # "parameter_group_status"}]; the instances themselves are DbInstance rows.
    members = models.JSONField(default=list, blank=True)
    # AWS's (Cluster)PendingModifiedValues as reported: what changes at the next
    # maintenance window ({} = nothing pending; a pending password is "(changing)").
    pending_modified_values = models.JSONField(default=dict, blank=True)
    iops = models.PositiveIntegerField(null=True, blank=True)  # provisioned (Multi-AZ, io1)
    storage_throughput = models.PositiveIntegerField(null=True, blank=True)  # MiB/s (gp3)
    engine_lifecycle_support = models.CharField(max_length=64, blank=True)  # Extended Support
    # AWS reports these two for Multi-AZ DB clusters (Aurora keeps them per instance):
    # None = not reported.
    auto_minor_version_upgrade = models.BooleanField(null=True, blank=True)
    performance_insights_enabled = models.BooleanField(null=True, blank=True)
    db_cluster_resource_id = models.CharField(max_length=64, blank=True)  # IAM auth, logs
    http_endpoint_enabled = models.BooleanField(default=False)  # RDS Data API

    class Meta(Mirrored.Meta):
        pass

    @property
    def has_pending_changes(self) -> bool:
        return bool(self.pending_modified_values)

    @property
    def storage_label(self) -> str:
        """Aurora's storage configuration by AWS's console names (I/O-Optimized is billed
        for storage only; Standard per I/O); other storage types as AWS names them."""
        if self.storage_type == "aurora-iopt1":
            return "I/O-Optimized"
        if self.storage_type == "aurora" or (not self.storage_type and self.is_aurora):
            return "Standard"
        return self.storage_type

    @property
    def is_aurora(self) -> bool:
        return self.engine.startswith("aurora")

    @property
    def is_serverless_v2(self) -> bool:
        return self.serverless_v2_max_acu is not None

    @property
    def has_master_user_secret(self) -> bool:
        return bool(self.master_user_secret_arn)

    def can_backtrack(self) -> bool:
        return self.engine == "aurora-mysql" and bool(self.backtrack_window)

    @property
    def writer_identifier(self) -> str:
        for member in self.members:
            if member.get("is_writer"):
                return member.get("identifier", "")
        return ""


class DbInstance(Mirrored):
    instance_class = models.CharField(max_length=64, blank=True)
    engine = models.CharField(max_length=64, db_index=True)
    engine_version = models.CharField(max_length=64, blank=True)
    availability_zone = models.CharField(max_length=32, blank=True)
    secondary_availability_zone = models.CharField(max_length=32, blank=True)
    multi_az = models.BooleanField(default=False)
    endpoint_address = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    cluster = models.ForeignKey(
        DbCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="instances"
    )
    is_cluster_writer = models.BooleanField(default=False)
    promotion_tier = models.PositiveSmallIntegerField(null=True, blank=True)
    # The source as AWS names it (an identifier in-region, an ARN cross-region) and the
    # mirrored row when Estate has it.
    replica_source_identifier = models.CharField(max_length=1024, blank=True)
    replica_source = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="replicas"
    )
    read_replica_identifiers = models.JSONField(default=list, blank=True)
    is_custom = models.BooleanField(default=False)  # RDS Custom
    automation_mode = models.CharField(max_length=32, blank=True)
    resume_full_automation_mode_time = models.DateTimeField(null=True, blank=True)
    backup_retention_period = models.PositiveIntegerField(null=True, blank=True)
    preferred_backup_window = models.CharField(max_length=32, blank=True)
    preferred_maintenance_window = models.CharField(max_length=64, blank=True)
    latest_restorable_time = models.DateTimeField(null=True, blank=True)
    allocated_storage = models.PositiveIntegerField(null=True, blank=True)
    storage_type = models.CharField(max_length=32, blank=True)
    iops = models.PositiveIntegerField(null=True, blank=True)
    storage_encrypted = models.BooleanField(default=False)
    kms_key_id = models.CharField(max_length=2048, blank=True)
    publicly_accessible = models.BooleanField(default=False)
    vpc_id = models.CharField(max_length=64, blank=True)
    vpc_security_group_ids = models.JSONField(default=list, blank=True)
    iam_auth_enabled = models.BooleanField(default=False)
    domain_memberships = models.JSONField(default=list, blank=True)
    ca_certificate_identifier = models.CharField(max_length=64, blank=True)
    ca_certificate_valid_till = models.DateTimeField(null=True, blank=True)
    # [{"name", "status"}] (status is AWS's ParameterApplyStatus: in-sync, pending-reboot, ...)
    parameter_groups = models.JSONField(default=list, blank=True)
    option_groups = models.JSONField(default=list, blank=True)
    deletion_protection = models.BooleanField(default=False)
    auto_minor_version_upgrade = models.BooleanField(default=True)
    performance_insights_enabled = models.BooleanField(default=False)
    master_username = models.CharField(max_length=128, blank=True)
    master_user_secret_arn = models.CharField(max_length=2048, blank=True)
    enabled_cloudwatch_logs_exports = models.JSONField(default=list, blank=True)
    dbi_resource_id = models.CharField(max_length=64, blank=True)
    created_time = models.DateTimeField(null=True, blank=True)
    # AWS's PendingModifiedValues as reported: what changes at the next reboot or
    # maintenance window ({} = nothing pending; a pending password is "(changing)").
    pending_modified_values = models.JSONField(default=dict, blank=True)
    max_allocated_storage = models.PositiveIntegerField(null=True, blank=True)  # autoscaling
    storage_throughput = models.PositiveIntegerField(null=True, blank=True)  # MiB/s (gp3)
    engine_lifecycle_support = models.CharField(max_length=64, blank=True)  # Extended Support
    monitoring_interval = models.PositiveIntegerField(null=True, blank=True)  # s; 0 = off
    copy_tags_to_snapshot = models.BooleanField(default=False)
    license_model = models.CharField(max_length=64, blank=True)
    network_type = models.CharField(max_length=16, blank=True)  # IPV4 / DUAL
    db_name = models.CharField(max_length=128, blank=True)
    activity_stream_status = models.CharField(max_length=32, blank=True)
    # StatusInfos: [{"StatusType", "Normal", "Status", "Message"}] (replication errors).
    status_infos = models.JSONField(default=list, blank=True)

    class Meta(Mirrored.Meta):
        pass

    @property
    def has_pending_changes(self) -> bool:
        return bool(self.pending_modified_values)

    @property
    def abnormal_status_infos(self) -> list[dict]:
        return [s for s in self.status_infos if not s.get("Normal", True)]

    @property
    def is_writer(self) -> bool:
        return self.cluster_id is None or self.is_cluster_writer

    @property
    def is_replica(self) -> bool:
        return bool(self.replica_source_identifier)

    @property
    def is_cross_region_replica(self) -> bool:
        return self.replica_source_identifier.startswith("arn:") and (
            f":{self.region}:" not in self.replica_source_identifier
        )

    @property
    def parameter_apply_pending(self) -> bool:
        return any(pg.get("status") == "pending-reboot" for pg in self.parameter_groups)

    @property
    def has_master_user_secret(self) -> bool:
        return bool(self.master_user_secret_arn)


class EndpointKind(models.TextChoices):
    CLUSTER_WRITER = "writer", "Cluster writer"
    CLUSTER_READER = "reader", "Cluster reader"
    CUSTOM = "custom", "Custom"
    INSTANCE = "instance", "Instance"
    PROXY = "proxy", "Proxy default"
    PROXY_ENDPOINT = "proxy-endpoint", "Proxy endpoint"


class DbEndpoint(Mirrored):
    """An address clients connect to. Custom cluster endpoints and proxy endpoints have
    their own ARNs; writer, reader and instance endpoints get a derived key
    ``<owner arn>/endpoint/<kind>`` so that every endpoint has one natural key."""

    kind = models.CharField(max_length=20, choices=EndpointKind.choices)
    address = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    custom_type = models.CharField(max_length=16, blank=True)  # READER / ANY
    static_members = models.JSONField(default=list, blank=True)
    excluded_members = models.JSONField(default=list, blank=True)
    target_role = models.CharField(max_length=16, blank=True)  # proxy endpoints: READ_WRITE
    cluster = models.ForeignKey(
        DbCluster, null=True, blank=True, on_delete=models.CASCADE, related_name="endpoints"
    )
    instance = models.ForeignKey(
        DbInstance, null=True, blank=True, on_delete=models.CASCADE, related_name="endpoints"
    )
    proxy = models.ForeignKey(
        "DbProxy", null=True, blank=True, on_delete=models.CASCADE, related_name="endpoints"
    )

    class Meta(Mirrored.Meta):
        pass


class DbProxy(Mirrored):
    engine_family = models.CharField(max_length=32, blank=True)
    endpoint = models.CharField(max_length=255, blank=True)
    require_tls = models.BooleanField(default=False)
    # AWS's Auth list raw: [{"AuthScheme", "IAMAuth", "SecretArn", ...}]
    auth = models.JSONField(default=list, blank=True)
    idle_client_timeout = models.PositiveIntegerField(null=True, blank=True)
    debug_logging = models.BooleanField(default=False)
    vpc_id = models.CharField(max_length=64, blank=True)
    vpc_security_group_ids = models.JSONField(default=list, blank=True)
    role_arn = models.CharField(max_length=2048, blank=True)
    # Default target group pool settings.
    max_connections_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    max_idle_connections_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    connection_borrow_timeout = models.PositiveIntegerField(null=True, blank=True)
    session_pinning_filters = models.JSONField(default=list, blank=True)
    created_time = models.DateTimeField(null=True, blank=True)

    class Meta(Mirrored.Meta):
        verbose_name_plural = "DB proxies"

    @property
    def iam_auth_required(self) -> bool:
        return any(a.get("IAMAuth") == "REQUIRED" for a in self.auth)


class DbProxyTarget(models.Model):
    """What a proxy's default target group points at (written by sync with its proxy)."""

    proxy = models.ForeignKey(DbProxy, on_delete=models.CASCADE, related_name="targets")
    target_type = models.CharField(
        max_length=32
    )  # RDS_INSTANCE / TRACKED_CLUSTER / RDS_SERVERLESS_ENDPOINT
    rds_resource_id = models.CharField(max_length=255)
    role = models.CharField(max_length=16, blank=True)  # READ_WRITE / READ_ONLY / UNKNOWN
    endpoint = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    health_state = models.CharField(max_length=32, blank=True)
    health_reason = models.CharField(max_length=64, blank=True)
    health_description = models.TextField(blank=True)
    cluster = models.ForeignKey(
        DbCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="proxy_targets"
    )
    instance = models.ForeignKey(
        DbInstance, null=True, blank=True, on_delete=models.SET_NULL, related_name="proxy_targets"
    )

    class Meta:
        ordering = ["proxy_id", "target_type", "rds_resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["proxy", "target_type", "rds_resource_id"], name="uniq_proxy_target"
            )
        ]


class DbSnapshot(Mirrored):
    class Scope(models.TextChoices):
        INSTANCE = "instance", "Instance"
        CLUSTER = "cluster", "Cluster"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    snapshot_type = models.CharField(max_length=32, db_index=True)  # manual/automated/awsbackup
    source_identifier = models.CharField(max_length=255, blank=True, db_index=True)
    engine = models.CharField(max_length=64, blank=True)
    engine_version = models.CharField(max_length=64, blank=True)
    created_time = models.DateTimeField(null=True, blank=True)
    allocated_storage = models.PositiveIntegerField(null=True, blank=True)
    encrypted = models.BooleanField(default=False)
    kms_key_id = models.CharField(max_length=2048, blank=True)
    source_region = models.CharField(max_length=32, blank=True)
    source_snapshot_arn = models.CharField(max_length=1024, blank=True)  # copied from
    shared_with = models.JSONField(default=list, blank=True)  # account ids from restore attrs
    is_public = models.BooleanField(default=False)
    instance = models.ForeignKey(
        DbInstance, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots"
    )
    cluster = models.ForeignKey(
        DbCluster, null=True, blank=True, on_delete=models.SET_NULL, related_name="snapshots"
    )

    class Meta(Mirrored.Meta):
        pass

    @property
    def is_copy(self) -> bool:
        return bool(self.source_snapshot_arn)


class ParameterGroup(Mirrored):
    class Scope(models.TextChoices):
        INSTANCE = "db", "DB instance"
        CLUSTER = "cluster", "DB cluster"
        CACHE = "cache", "ElastiCache"

    scope = models.CharField(max_length=10, choices=Scope.choices)
    family = models.CharField(max_length=64, blank=True)
    description = models.TextField(blank=True)

    class Meta(Mirrored.Meta):
        pass

    @property
    def is_default(self) -> bool:
        return self.identifier.startswith("default.")


class Parameter(models.Model):
    group = models.ForeignKey(ParameterGroup, on_delete=models.CASCADE, related_name="parameters")
    name = models.CharField(max_length=255)
    value = models.TextField(blank=True, null=True)
    source = models.CharField(max_length=32, blank=True)  # user / system / engine-default
    apply_type = models.CharField(max_length=16, blank=True)  # static / dynamic
    apply_method = models.CharField(max_length=32, blank=True)
    data_type = models.CharField(max_length=32, blank=True)
    allowed_values = models.TextField(blank=True)
    is_modifiable = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="uniq_group_parameter")
        ]

    def __str__(self) -> str:
        return f"{self.name}={self.value}"

    @property
    def is_modified(self) -> bool:
        return self.source == "user"


class OptionGroup(Mirrored):
    engine = models.CharField(max_length=64, blank=True)
    major_engine_version = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    # [{"name", "version", "port", "settings": {name: value}, "persistent", "permanent"}]
    options = models.JSONField(default=list, blank=True)

    class Meta(Mirrored.Meta):
        pass


# --- ElastiCache ---------------------------------------------------------------------


class CacheReplicationGroup(Mirrored):
    """A Redis/Valkey replication group. ``node_groups`` is the shards as
    [{"id", "status", "slots", "primary_endpoint", "reader_endpoint",
      "members": [{"cache_cluster_id", "node_id", "role", "az", "endpoint"}]}]."""

    engine = models.CharField(max_length=32, blank=True)  # redis / valkey
    engine_version = models.CharField(max_length=32, blank=True)
    description = models.TextField(blank=True)
    node_type = models.CharField(max_length=64, blank=True)
    cluster_mode = models.CharField(max_length=16, blank=True)  # enabled/disabled/compatible
    cluster_enabled = models.BooleanField(default=False)
    multi_az = models.BooleanField(default=False)
    automatic_failover = models.CharField(max_length=16, blank=True)  # enabled/disabled/...
    transit_encryption = models.BooleanField(default=False)
    # AWS's TransitEncryptionMode: "required", or "preferred" (TLS offered but plaintext
    # clients still accepted: the step of a live migration to TLS); "" when AWS omits it.
    transit_encryption_mode = models.CharField(max_length=16, blank=True)
    at_rest_encryption = models.BooleanField(default=False)
    auth_token_enabled = models.BooleanField(default=False)
    user_group_ids = models.JSONField(default=list, blank=True)
    kms_key_id = models.CharField(max_length=2048, blank=True)
    snapshot_retention_limit = models.PositiveIntegerField(null=True, blank=True)
    snapshot_window = models.CharField(max_length=32, blank=True)
    primary_endpoint = models.CharField(max_length=255, blank=True)
    reader_endpoint = models.CharField(max_length=255, blank=True)
    configuration_endpoint = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    parameter_group_name = models.CharField(max_length=255, blank=True)
    node_groups = models.JSONField(default=list, blank=True)
    member_clusters = models.JSONField(default=list, blank=True)
    data_tiering = models.CharField(max_length=16, blank=True)  # enabled / disabled (r6gd)

    class Meta(Mirrored.Meta):
        pass

    @property
    def has_auth(self) -> bool:
        return self.auth_token_enabled or bool(self.user_group_ids)


class CacheCluster(Mirrored):
    """A cache cluster: a Memcached cluster, a single-node Redis/Valkey cluster, or one
    member of a replication group. ``nodes`` is [{"id", "status", "az", "endpoint"}]."""

    engine = models.CharField(max_length=32, blank=True)
    engine_version = models.CharField(max_length=32, blank=True)
    node_type = models.CharField(max_length=64, blank=True)
    num_nodes = models.PositiveIntegerField(null=True, blank=True)
    availability_zone = models.CharField(max_length=32, blank=True)
    replication_group = models.ForeignKey(
        CacheReplicationGroup,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="cache_clusters",
    )
    role = models.CharField(max_length=16, blank=True)  # primary / replica (group members)
    transit_encryption = models.BooleanField(default=False)
    at_rest_encryption = models.BooleanField(default=False)
    auth_token_enabled = models.BooleanField(default=False)
    snapshot_retention_limit = models.PositiveIntegerField(null=True, blank=True)
    parameter_group_name = models.CharField(max_length=255, blank=True)
    configuration_endpoint = models.CharField(max_length=255, blank=True)
    security_group_ids = models.JSONField(default=list, blank=True)
    nodes = models.JSONField(default=list, blank=True)
    created_time = models.DateTimeField(null=True, blank=True)

    class Meta(Mirrored.Meta):
        pass


class ServerlessCache(Mirrored):
    engine = models.CharField(max_length=32, blank=True)
    major_engine_version = models.CharField(max_length=32, blank=True)
    endpoint = models.CharField(max_length=255, blank=True)
    reader_endpoint = models.CharField(max_length=255, blank=True)
    kms_key_id = models.CharField(max_length=2048, blank=True)
    user_group_id = models.CharField(max_length=128, blank=True)
    snapshot_retention_limit = models.PositiveIntegerField(null=True, blank=True)
    usage_limits = models.JSONField(default=dict, blank=True)

    class Meta(Mirrored.Meta):
        pass


# --- DMS -----------------------------------------------------------------------------


class DmsReplicationInstance(Mirrored):
    instance_class = models.CharField(max_length=64, blank=True)
    engine_version = models.CharField(max_length=32, blank=True)
    multi_az = models.BooleanField(default=False)
    publicly_accessible = models.BooleanField(default=False)
    availability_zone = models.CharField(max_length=32, blank=True)
    allocated_storage = models.PositiveIntegerField(null=True, blank=True)
    kms_key_id = models.CharField(max_length=2048, blank=True)

    class Meta(Mirrored.Meta):
        pass


class DmsEndpoint(Mirrored):
    endpoint_type = models.CharField(max_length=16)  # source / target
    engine_name = models.CharField(max_length=64, blank=True)
    server_name = models.CharField(max_length=255, blank=True)
    port = models.PositiveIntegerField(null=True, blank=True)
    database_name = models.CharField(max_length=255, blank=True)
    ssl_mode = models.CharField(max_length=32, blank=True)

    class Meta(Mirrored.Meta):
        pass


class DmsReplicationTask(Mirrored):
    migration_type = models.CharField(max_length=32, blank=True)
    progress_percent = models.PositiveSmallIntegerField(null=True, blank=True)
    source_endpoint = models.ForeignKey(
        DmsEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    target_endpoint = models.ForeignKey(
        DmsEndpoint, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    replication_instance = models.ForeignKey(
        DmsReplicationInstance,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="tasks",
    )
    last_failure_message = models.TextField(blank=True)
    stop_reason = models.CharField(max_length=255, blank=True)
    # ReplicationTaskStats raw, and a summary of DescribeTableStatistics:
    # {"tables": n, "full_load_rows": n, "inserts": n, "updates": n, "deletes": n, "errored": n}
    stats = models.JSONField(default=dict, blank=True)
    table_statistics_summary = models.JSONField(default=dict, blank=True)
    started_time = models.DateTimeField(null=True, blank=True)

    class Meta(Mirrored.Meta):
        pass


# --- Sync bookkeeping ----------------------------------------------------------------


class SyncRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partial (some kinds failed)"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped (another sync of this scope is running)"

    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    # {"accounts": [...], "regions": [...], "kinds": [...]}; empty list = all
    scope = models.JSONField(default=dict, blank=True)
    # {kind: {"created": n, "updated": n, "unchanged": n, "gone": n}}
    counts = models.JSONField(default=dict, blank=True)
    api_calls = models.PositiveIntegerField(default=0)
    throttle_retries = models.PositiveIntegerField(default=0)
    # Seconds sync's threads waited in the pacer (time spent staying inside AWS's bucket).
    paced_seconds = models.FloatField(default=0.0)
    # {"<account>/<region>/<kind>": "message"}
    errors = models.JSONField(default=dict, blank=True)
    # Why a run was skipped or failed as a whole (e.g. the lease holder).
    message = models.TextField(blank=True)
    triggered_by = models.CharField(max_length=150, blank=True)

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"SyncRun {self.pk} {self.status}"

    @property
    def duration_seconds(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()

    def total(self, key: str) -> int:
        return sum(c.get(key, 0) for c in self.counts.values())

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE


class SyncLease(models.Model):
    """Who is syncing one kind in one account and region right now, and which run last
    synced it successfully.

    A sync claims every (account, region, kind) of its scope with a conditional
    ``UPDATE ... WHERE holder IS NULL OR expires_at <= now`` (atomic on SQLite and
    PostgreSQL, so it works across processes and machines) and releases them when it
    ends. ``expires_at`` frees the lease of a worker that died mid-sync; a live sync
    renews it as it goes.
    """

    account_id = models.CharField(max_length=12)
    region = models.CharField(max_length=32)
    kind = models.CharField(max_length=32)
    holder = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(default=timezone.now)
    # The latest run that synced this kind of this account and region without an error,
    # and when it started reading AWS: what "last seen by sync" means for every row of
    # the scope (a row's own ``last_synced_at`` is when it last *changed*). Kept here,
    # one row per scope, so a list page reads every scope's freshness in one query.
    last_succeeded_run = models.ForeignKey(
        SyncRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_succeeded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["account_id", "region", "kind"], name="uniq_sync_lease")
        ]

    def __str__(self) -> str:
        return f"{self.account_id}/{self.region}/{self.kind}"
