"""Fixes for moto RDS behaviour that sync or the demo seed would trip over.

* ``DescribeOptionGroups`` without a name crashed (HTTP 500, ``KeyError``) and, in a
  region without option groups, raised OptionGroupNotFound; AWS lists what there is.
* RDS Custom: moto accepts and drops ``AutomationMode`` and
  ``ResumeFullAutomationModeMinutes`` (ModifyDBInstance); they are kept and reported
  (with ``ResumeFullAutomationModeTime``), and full automation resumes on time.
* mariadb and RDS Custom engines without EngineVersion/Port no longer crash.
* Every instance gets its own DbiResourceId.
* Read replicas are real copies: their own creation time, tags and lists; a
  cross-region replica uses its region's default parameter/option group (moto kept the
  source's, which crashed DescribeDBInstances in that region); deleting a cross-region
  replica works; deleting a source promotes its replicas.
* A static parameter change (ApplyMethod=pending-reboot) marks the instances using the
  group ``pending-reboot`` until they are rebooted; parameters report Source=user.
* Cross-region snapshot copies report SourceRegion and the source snapshot.
* Aurora default parameter groups are named per engine family (default.aurora-mysql8.0,
  default.aurora-postgresql15) and can be described.
* Secondary clusters of a global database report no writer member.
* CA certificates: AWS's default CA, ``CertificateDetails`` (yearly server certificate,
  capped by the CA's expiry); Performance Insights is kept.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.moto_api._internal import mock_random as random
from moto.rds.exceptions import (
    InvalidParameterCombination,
    OptionGroupNotFoundFaultError,
    RDSClientError,
)
from moto.rds.models import (
    DBCluster,
    DBClusterParameterGroup,
    DBInstance,
    DBParameterGroup,
    OptionGroup,
    RDSBackend,
)
from moto.rds.responses import RDSResponse

from sandbox.patching import now

# --- DescribeOptionGroups ------------------------------------------------------------


def describe_option_groups(self: RDSBackend, option_group_kwargs: dict[str, Any]) -> list:
    name = option_group_kwargs.get("option_group_name")
    engine = option_group_kwargs.get("engine_name")
    major = option_group_kwargs.get("major_engine_version")
    found: list[OptionGroup] = [
        group
        for group in self.option_groups.values()
        if (not name or group.name == name)
        and (not engine or group.engine_name == engine)
        and (not major or group.major_engine_version == major)
    ]
    if name and not found:
        raise OptionGroupNotFoundFaultError(name)
    return found


RDSBackend.describe_option_groups = describe_option_groups  # type: ignore[method-assign]


# --- RDS Custom automation mode ------------------------------------------------------

_original_init = DBInstance.__init__
_original_update = DBInstance.update
DEFAULT_RESUME_MINUTES = 60


def _set_automation(instance: DBInstance, mode: str | None, minutes: Any) -> None:
    if mode is None:
        return
    if mode not in ("full", "all-paused"):
        raise InvalidParameterCombination(
            f"Invalid AutomationMode {mode!r}: use 'full' or 'all-paused'."
        )
    if not instance.engine.startswith("custom-"):
        raise InvalidParameterCombination(
            "AutomationMode can only be set on RDS Custom DB instances."
        )
    instance.automation_mode = mode
    if mode == "all-paused":
        minutes = int(minutes or DEFAULT_RESUME_MINUTES)
        if not 60 <= minutes <= 1440:
            raise InvalidParameterCombination(
                "ResumeFullAutomationModeMinutes must be between 60 and 1440."
            )
        instance.resume_full_automation_mode_time = now() + timedelta(minutes=minutes)
    else:
        instance.resume_full_automation_mode_time = None


def _init(self: DBInstance, *args: Any, **kwargs: Any) -> None:
    _original_init(self, *args, **kwargs)
    if self.engine.startswith("custom-"):
        self.automation_mode = "full"
        self.resume_full_automation_mode_time = None
        _set_automation(
            self, kwargs.get("automation_mode"), kwargs.get("resume_full_automation_mode_minutes")
        )


def _update(self: DBInstance, **db_kwargs: Any) -> None:
    mode = db_kwargs.pop("automation_mode", None)
    minutes = db_kwargs.pop("resume_full_automation_mode_minutes", None)
    # Validate before anything changes: a refused request changes nothing.
    if mode is not None:
        probe = DBInstance.__new__(DBInstance)
        probe.__dict__.update(engine=self.engine)
        _set_automation(probe, mode, minutes)
    _original_update(self, **db_kwargs)
    _set_automation(self, mode, minutes)


def _automation_mode(self: DBInstance) -> str | None:
    mode = self.__dict__.get("_estate_automation_mode")
    resume_at = self.__dict__.get("resume_full_automation_mode_time")
    # AWS resumes full automation by itself when the pause runs out.
    if mode == "all-paused" and resume_at is not None and now() >= resume_at:
        self.__dict__["_estate_automation_mode"] = mode = "full"
        self.__dict__["resume_full_automation_mode_time"] = None
    return mode


def _set_automation_mode(self: DBInstance, value: str | None) -> None:
    self.__dict__["_estate_automation_mode"] = value


DBInstance.__init__ = _init  # type: ignore[method-assign]
DBInstance.update = _update  # type: ignore[method-assign]
DBInstance.automation_mode = property(_automation_mode, _set_automation_mode)  # type: ignore[attr-defined]


# --- Engine defaults -----------------------------------------------------------------
# moto crashes (KeyError -> HTTP 500) creating mariadb or RDS Custom instances without
# an explicit EngineVersion/Port; AWS picks a default version and the engine's port.
DBInstance.default_engine_versions.update(
    {
        "mariadb": "10.11.6",
        "custom-sqlserver-ee": "15.00.4236.7.v1",
        "custom-sqlserver-se": "15.00.4236.7.v1",
        "custom-sqlserver-web": "15.00.4236.7.v1",
        "custom-oracle-ee": "19.c.ee.002",
        "custom-oracle-ee-cdb": "19.c.ee.002",
    }
)
_original_default_port = DBInstance.default_port


def _default_port(engine: str) -> int:
    if engine.startswith("custom-sqlserver"):
        return 1433
    if engine.startswith("custom-oracle"):
        return 1521
    return _original_default_port(engine)


DBInstance.default_port = staticmethod(_default_port)  # type: ignore[method-assign]


def _unique_resource_id(instance: DBInstance) -> None:
    # moto gives every instance the same DbiResourceId; AWS's are unique.
    instance.dbi_resource_id = "db-" + "".join(
        random.choice(string.ascii_uppercase + string.digits) for _ in range(26)
    )


_init_with_automation = DBInstance.__init__


def _init_unique(self: DBInstance, *args: Any, **kwargs: Any) -> None:
    _init_with_automation(self, *args, **kwargs)
    _unique_resource_id(self)
    self.__dict__.setdefault("_estate_pending_reboot", set())


DBInstance.__init__ = _init_unique  # type: ignore[method-assign]


# --- Read replicas -------------------------------------------------------------------
# moto makes a replica as a shallow copy of its source: it shares the source's lists,
# creation time and resource id, and a cross-region replica keeps the source region's
# custom parameter/option group names, which crash every DescribeDBInstances in the
# replica's region (KeyError). Deleting a cross-region replica crashed too, and deleting
# a source left its replicas pointing at it (AWS promotes them).

_original_create_replica = RDSBackend.create_db_instance_read_replica
_original_delete_instance = RDSBackend.delete_db_instance


def create_db_instance_read_replica(self: RDSBackend, db_kwargs: dict[str, Any]) -> DBInstance:
    source = self.find_db_from_id(db_kwargs["source_db_instance_identifier"])
    cross_region = source.region != self.region_name
    replica = _original_create_replica(self, db_kwargs)
    replica.created = replica.instance_create_time = now()
    _unique_resource_id(replica)
    replica.tags = list(db_kwargs.get("tags") or [])
    replica.multi_az = bool(db_kwargs.get("multi_az") or False)
    replica.availability_zone = db_kwargs.get("availability_zone") or f"{self.region_name}a"
    replica.domain_memberships = list(source.domain_memberships)
    replica._associated_roles = []
    replica.__dict__["_estate_pending_reboot"] = set()
    replica.vpc_security_group_ids = list(db_kwargs.get("vpc_security_group_ids") or [])
    if cross_region:
        replica.db_parameter_group_name = db_kwargs.get("db_parameter_group_name")
        replica.option_group_name = db_kwargs.get("option_group_name") or (
            default_option_group_name(replica.engine, replica.engine_version)
        )
        replica.db_subnet_group_name = db_kwargs.get("db_subnet_group_name")
        replica.kms_key_id = db_kwargs.get("kms_key_id") or (
            "default_kms_key_id" if replica.storage_encrypted else None
        )
    if not replica.vpc_security_group_ids:
        from moto.ec2.models import ec2_backends

        ec2 = ec2_backends[self.account_id][self.region_name]
        replica.vpc_security_group_ids = [
            ec2.get_default_security_group(ec2.default_vpc.id).id  # type: ignore[union-attr]
        ]
    return replica


def default_option_group_name(engine: str, version: str) -> str:
    parts = version.split(".")
    suffix = parts[0] if len(parts) == 1 else f"{parts[0]}-{parts[1]}"
    return f"default:{engine}-{suffix}"


def _remove_replica(self: DBInstance, replica: DBInstance) -> None:
    for ref in (replica.db_instance_identifier, replica.db_instance_arn):
        if ref in self.replicas:
            self.replicas.remove(ref)


def delete_db_instance(self: RDSBackend, *args: Any, **kwargs: Any) -> DBInstance:
    deleted = _original_delete_instance(self, *args, **kwargs)
    for ref in list(deleted.replicas):
        try:
            replica = self.find_db_from_id(ref)
        except RDSClientError:
            continue
        replica.is_replica = False
        replica.source_db_instance_identifier = None
    deleted.replicas = []
    return deleted


RDSBackend.create_db_instance_read_replica = create_db_instance_read_replica  # type: ignore[method-assign]
RDSBackend.delete_db_instance = delete_db_instance  # type: ignore[method-assign]
DBInstance.remove_replica = _remove_replica  # type: ignore[method-assign]


# --- Parameter changes pending reboot ------------------------------------------------
# moto reports every parameter group "in-sync". AWS marks the instances that use a
# group "pending-reboot" after a static (ApplyMethod=pending-reboot) change, until the
# instance is rebooted.

_original_modify_pg = RDSBackend.modify_db_parameter_group
_original_reboot = RDSBackend.reboot_db_instance
_original_update_parameters = DBParameterGroup.update_parameters


def modify_db_parameter_group(
    self: RDSBackend, db_parameter_group_name: str, db_parameter_group_parameters: Any
) -> DBParameterGroup:
    parameters = list(db_parameter_group_parameters or [])
    group = _original_modify_pg(self, db_parameter_group_name, parameters)
    if any(p.get("ApplyMethod") == "pending-reboot" for p in parameters):
        for instance in self.databases.values():
            if instance.db_parameter_group_name == group.name:
                instance.__dict__.setdefault("_estate_pending_reboot", set()).add(group.name)
    return group


def update_parameters(self: DBParameterGroup, new_parameters: Any) -> None:
    parameters = []
    for parameter in new_parameters:
        static = parameter.get("ApplyMethod") == "pending-reboot"
        parameters.append(
            {
                "Source": "user",
                "IsModifiable": True,
                "ApplyType": "static" if static else "dynamic",
                "DataType": "string",
                **parameter,
            }
        )
    _original_update_parameters(self, parameters)


def reboot_db_instance(self: RDSBackend, db_instance_identifier: str, *args: Any) -> DBInstance:
    instance = _original_reboot(self, db_instance_identifier, *args)
    instance.__dict__["_estate_pending_reboot"] = set()
    return instance


# The lifecycle extension (imported before this module: pkgutil goes alphabetically)
# replaces RebootDBInstance at the response level without calling the backend's
# method, so the pending changes are also applied there.
_reboot_action = RDSResponse.reboot_db_instance


def _reboot_action_applying_parameters(self: RDSResponse) -> Any:
    result = _reboot_action(self)
    identifier = self.params.get("DBInstanceIdentifier")
    instance = self.backend.databases.get(identifier)
    if instance is not None:
        instance.__dict__["_estate_pending_reboot"] = set()
    return result


def _parameter_group_status_list(self: DBInstance) -> list[dict[str, str]]:
    pending = self.__dict__.get("_estate_pending_reboot") or set()
    return [
        {
            "DBParameterGroupName": group.name,
            "ParameterApplyStatus": "pending-reboot" if group.name in pending else "in-sync",
        }
        for group in self.db_parameter_groups()
    ]


RDSBackend.modify_db_parameter_group = modify_db_parameter_group  # type: ignore[method-assign]
RDSBackend.reboot_db_instance = reboot_db_instance  # type: ignore[method-assign]
DBParameterGroup.update_parameters = update_parameters  # type: ignore[method-assign]
RDSResponse.reboot_db_instance = _reboot_action_applying_parameters  # type: ignore[method-assign]
DBInstance.db_parameter_group_status_list = property(_parameter_group_status_list)  # type: ignore[method-assign,assignment]


# --- Cross-region snapshot copies ----------------------------------------------------
# moto copies a snapshot given by ARN from another region but does not say where it
# came from; AWS reports SourceRegion and the source snapshot's ARN.

_original_copy_snapshot = RDSBackend.copy_db_snapshot


def copy_db_snapshot(
    self: RDSBackend,
    source_db_snapshot_identifier: str,
    target_db_snapshot_identifier: str,
    *args: Any,
    **kwargs: Any,
) -> Any:
    copied = _original_copy_snapshot(
        self, source_db_snapshot_identifier, target_db_snapshot_identifier, *args, **kwargs
    )
    if source_db_snapshot_identifier.startswith("arn:"):
        source_region = source_db_snapshot_identifier.split(":")[3]
        if source_region != self.region_name:
            copied.source_region = source_region
            copied.source_db_snapshot_identifier = source_db_snapshot_identifier
    return copied


RDSBackend.copy_db_snapshot = copy_db_snapshot  # type: ignore[method-assign]


# --- Default parameter groups of Aurora ----------------------------------------------
# moto gives every Aurora cluster "default.aurora8.0" (also PostgreSQL ones) and that
# group cannot be described; an aurora-mysql instance's default group came out as
# "default.aurora-mysql8.0.mysql_aurora.3.05". AWS: default.aurora-mysql8.0,
# default.aurora-postgresql15, ... and they are always describable.


def cluster_parameter_family(engine: str, version: str) -> str:
    parts = str(version or "").split(".")
    if engine == "aurora-mysql":
        return f"aurora-mysql{'.'.join(parts[:2])}"
    if engine == "aurora-postgresql":
        return f"aurora-postgresql{parts[0]}"
    return f"{engine}{'.'.join(parts[:2])}"


def _ensure_cluster_parameter_group(backend: RDSBackend, name: str, family: str) -> None:
    if name.startswith("default.") and name not in backend.db_cluster_parameter_groups:
        backend.db_cluster_parameter_groups[name] = DBClusterParameterGroup(
            backend=backend,
            db_cluster_parameter_group_name=name,
            description=f"Default cluster parameter group for {family}",
            db_parameter_group_family=family,
        )


_original_cluster_init = DBCluster.__init__


def _cluster_init(self: DBCluster, backend: RDSBackend, *args: Any, **kwargs: Any) -> None:
    _original_cluster_init(self, backend, *args, **kwargs)
    if self.engine in ("aurora-mysql", "aurora-postgresql"):
        family = cluster_parameter_family(self.engine, self.engine_version)
        if not kwargs.get("db_cluster_parameter_group_name"):
            self.parameter_group = f"default.{family}"
        _ensure_cluster_parameter_group(backend, self.parameter_group, family)


_original_default_pg_details = DBInstance.default_db_parameter_group_details


def _default_db_parameter_group_details(self: DBInstance) -> tuple[str, str]:
    if self.engine in ("aurora-mysql", "aurora-postgresql"):
        family = cluster_parameter_family(self.engine, self.engine_version)
        return family, f"default.{family}"
    return _original_default_pg_details(self)


_original_update_cluster_parameters = DBClusterParameterGroup.update_cluster_parameters


def _update_cluster_parameters(self: DBClusterParameterGroup, new_parameters: Any) -> None:
    parameters = [
        {
            "Source": "user",
            "IsModifiable": True,
            "ApplyType": "static" if p.get("ApplyMethod") == "pending-reboot" else "dynamic",
            "DataType": "string",
            **p,
        }
        for p in new_parameters
    ]
    _original_update_cluster_parameters(self, parameters)


DBCluster.__init__ = _cluster_init  # type: ignore[method-assign]
DBInstance.default_db_parameter_group_details = _default_db_parameter_group_details  # type: ignore[method-assign]
DBClusterParameterGroup.update_cluster_parameters = _update_cluster_parameters  # type: ignore[method-assign]


# --- Aurora Global Database: secondary clusters have no writer -----------------------
# moto marks the first member of every cluster the writer, also in a global database's
# secondary regions, where AWS reports every member as a reader until a switchover or
# failover makes that cluster the primary (``is_writer``).

_original_cluster_members = DBCluster.db_cluster_members


def _db_cluster_members(self: DBCluster) -> list[dict[str, Any]]:
    members = _original_cluster_members.fget(self)  # type: ignore[attr-defined]
    if getattr(self, "global_cluster_identifier", None) and not getattr(self, "is_writer", False):
        for member in members:
            member["IsClusterWriter"] = False
    return members


DBCluster.db_cluster_members = property(_db_cluster_members)  # type: ignore[assignment,method-assign]


# --- CA certificates and Performance Insights ----------------------------------------
# moto reports "rds-ca-default" and no CertificateDetails; AWS's default CA is
# rds-ca-rsa2048-g1 and each instance's server certificate is renewed yearly, until the
# CA itself expires (rds-ca-2019 expired on 2024-08-22: a finding on instances still on
# it). moto also drops EnablePerformanceInsights.

# naive UTC, like moto's timestamps
CA_EXPIRY = {
    "rds-ca-2019": datetime(2024, 8, 22, 17, 8, 50, tzinfo=UTC).replace(tzinfo=None),
    "rds-ca-rsa2048-g1": datetime(2061, 5, 25, 23, 34, 57, tzinfo=UTC).replace(tzinfo=None),
    "rds-ca-rsa4096-g1": datetime(2121, 5, 25, 23, 34, 57, tzinfo=UTC).replace(tzinfo=None),
    "rds-ca-ecc384-g1": datetime(2121, 5, 25, 23, 34, 57, tzinfo=UTC).replace(tzinfo=None),
}
DEFAULT_CA = "rds-ca-rsa2048-g1"


def _certificate_details(self: DBInstance) -> dict[str, Any]:
    ca = self.ca_certificate_identifier
    ca_expiry = CA_EXPIRY.get(ca)
    # The server certificate's next yearly renewal after now, capped by the CA.
    valid_till = self.created
    while valid_till <= now():
        try:
            valid_till = valid_till.replace(year=valid_till.year + 1)
        except ValueError:  # created on 29 February
            valid_till = valid_till.replace(year=valid_till.year + 1, day=28)
    if ca_expiry is not None:
        valid_till = min(valid_till, ca_expiry)
    return {"CAIdentifier": ca, "ValidTill": valid_till}


def _performance_insights_enabled(self: DBInstance) -> bool:
    return bool(self.__dict__.get("enable_performance_insights"))


_init_before_ca = DBInstance.__init__


def _init_ca_and_insights(self: DBInstance, *args: Any, **kwargs: Any) -> None:
    _init_before_ca(self, *args, **kwargs)
    if self.ca_certificate_identifier in (None, "rds-ca-default"):
        self.ca_certificate_identifier = DEFAULT_CA
    self.__dict__["enable_performance_insights"] = bool(kwargs.get("enable_performance_insights"))
    if self.__dict__["enable_performance_insights"]:
        self.__dict__.setdefault(
            "performance_insights_retention_period",
            int(kwargs.get("performance_insights_retention_period") or 7),
        )


DBInstance.__init__ = _init_ca_and_insights  # type: ignore[method-assign]
DBInstance.certificate_details = property(_certificate_details)  # type: ignore[attr-defined]
DBInstance.performance_insights_enabled = property(_performance_insights_enabled)  # type: ignore[attr-defined]
