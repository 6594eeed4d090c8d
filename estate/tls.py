"""Whether a database forces clients to use TLS: the one answer that the resource pages
and the posture rule RDS-TLS (guard.rules) both give.

RDS decides it with a parameter of the resource's effective parameter group —
``rds.force_ssl`` (PostgreSQL, Aurora PostgreSQL, SQL Server) or
``require_secure_transport`` (MySQL, MariaDB, Aurora MySQL) — and Oracle with the SSL
option of an option group. A parameter the mirror does not hold (the group is not
synced, or AWS lists it without a value because it is left at the engine default) takes
the engine's default, which is known: RDS for PostgreSQL 15 and later ships with
``rds.force_ssl=1``; older PostgreSQL, Aurora, SQL Server, MySQL and MariaDB with 0.

``decide()`` is pure (the posture rules call it over rows they loaded in bulk);
``for_instance()`` and ``for_cluster()`` read what one resource page needs from the
parameter groups the page has loaded (one query for their parameters). This module sits in estate so that both estate's pages and guard can import it.

ElastiCache decides it with TransitEncryptionMode (``cache_transit()``): only "required"
forces TLS; "preferred" still accepts plaintext clients.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from estate import models

TLS_PARAMETERS = ("rds.force_ssl", "require_secure_transport")
_TRUE = {"1", "on", "true"}


def _truthy(value: str | None) -> bool:
    return str(value).strip().lower() in _TRUE


def _major(version: str) -> int | None:
    head = (version or "").split(".", 1)[0]
    return int(head) if head.isdigit() else None


def parameter_for(engine: str, version: str) -> tuple[str, str] | None:
    """(the parameter that forces TLS, its engine default) for an engine; None for
    Oracle (an option, not a parameter) and engines Estate does not know."""
    engine = engine or ""
    if "postgres" in engine or engine.startswith("sqlserver"):
        # RDS for PostgreSQL 15+ ships with rds.force_ssl=1; older and Aurora with 0.
        default = "1" if engine == "postgres" and (_major(version) or 0) >= 15 else "0"
        return "rds.force_ssl", default
    if "mysql" in engine or engine == "mariadb":
        return "require_secure_transport", "0"
    return None


@dataclass(frozen=True)
class TlsVerdict:
    """``enforced`` is None only when Estate cannot tell (an engine it does not know)."""

    enforced: bool | None
    source: str  # "parameter", "engine default", "option group" or "unknown engine"
    parameter: str = ""
    value: str = ""
    group: str = ""
    note: str = ""

    @property
    def summary(self) -> str:
        """What a page prints beside yes/no, e.g. "rds.force_ssl = 1 in orders-pg16"."""
        if self.source == "parameter":
            return f"{self.parameter} = {self.value} in {self.group}"
        if self.source == "engine default":
            where = f" ({self.note})" if self.note else ""
            return f"{self.parameter} left at the engine default ({self.value}){where}"
        if self.source == "option group":
            return f"SSL option {'in' if self.enforced else 'not in'} {self.group or 'any option group'}"
        return "Estate does not know how this engine forces TLS"

    def evidence(self) -> dict[str, Any]:
        """The finding's evidence (guard.rules RDS-TLS)."""
        if self.source == "option group":
            return {"option_groups": self.group or "(none)", "ssl_option": bool(self.enforced)}
        evidence: dict[str, Any] = {
            "parameter_group": self.group or "(none)",
            "parameter": self.parameter,
        }
        if self.source == "parameter":
            evidence["value"] = self.value
        else:
            evidence["value"] = f"engine default ({self.value})"
        if self.note:
            evidence["note"] = self.note
        return evidence


NOT_MIRRORED = "parameter group not mirrored; engine default assumed"


def decide(
    engine: str,
    version: str,
    *,
    group: str,
    values: Mapping[str, str | None] | None,
    options: Iterable[str] | None = None,
    option_groups: str = "",
) -> TlsVerdict:
    """The verdict for a resource whose effective parameter group is ``group`` with the
    mirrored TLS parameters ``values`` (None: the group is not mirrored). For Oracle,
    ``options`` are the option names of its option groups (named in ``option_groups``)."""
    engine = engine or ""
    if engine.startswith("oracle"):
        found = {str(o).upper() for o in options or ()}
        return TlsVerdict("SSL" in found, "option group", group=option_groups)
    known = parameter_for(engine, version)
    if known is None:
        return TlsVerdict(None, "unknown engine")
    name, default = known
    value = (values or {}).get(name)
    if value not in (None, ""):
        return TlsVerdict(_truthy(value), "parameter", name, str(value), group)
    # AWS lists a parameter left at the engine default without a value: the default holds.
    return TlsVerdict(
        _truthy(default),
        "engine default",
        name,
        default,
        group,
        note=NOT_MIRRORED if values is None else "",
    )


def parameter_group(
    account_id: int, region: str, scope: str, name: str
) -> models.ParameterGroup | None:
    """The live mirrored parameter group of that scope and name (AWS names DB and
    cluster parameter groups separately: "default.aurora-postgresql16" is both)."""
    if not name:
        return None
    return (
        models.ParameterGroup.objects.live()
        .filter(account_id=account_id, region=region, scope=scope, identifier=name)
        .only("id", "identifier", "family")
        .first()
    )


def group_values(group: models.ParameterGroup | None) -> dict[str, str | None] | None:
    """The mirrored TLS parameters of a group (one query); None when the group is not
    mirrored."""
    if group is None:
        return None
    return dict(group.parameters.filter(name__in=TLS_PARAMETERS).values_list("name", "value"))


def for_cluster(cluster: models.DbCluster, group: models.ParameterGroup | None) -> TlsVerdict:
    """A cluster (Aurora or Multi-AZ DB cluster): its cluster parameter group ``group``
    (``parameter_group()`` of scope cluster; None when not mirrored) decides."""
    return decide(
        cluster.engine,
        cluster.engine_version,
        group=cluster.parameter_group_name,
        values=group_values(group),
    )


def for_instance(
    instance: models.DbInstance, groups: Mapping[str, models.ParameterGroup]
) -> TlsVerdict:
    """A standalone instance: its DB parameter group, among ``groups`` (the mirrored DB
    parameter groups the page loaded, by name); Oracle: its option groups. A cluster
    member forces TLS as its cluster does."""
    cluster = instance.cluster if instance.cluster_id is not None else None
    if cluster is not None:
        scope = models.ParameterGroup.Scope.CLUSTER
        group = parameter_group(
            cluster.account_id, cluster.region, scope, cluster.parameter_group_name
        )
        return for_cluster(cluster, group)
    name = next((g.get("name", "") for g in instance.parameter_groups or []), "")
    engine = instance.engine or ""
    if engine.startswith("oracle"):
        names = option_group_names(instance)
        options: set[str] = set()
        for og in models.OptionGroup.objects.live().filter(
            account_id=instance.account_id, region=instance.region, identifier__in=names
        ):
            options |= option_names(og.options)
        return decide(
            engine,
            instance.engine_version,
            group=name,
            values=None,
            options=options,
            option_groups=", ".join(names),
        )
    return decide(
        engine, instance.engine_version, group=name, values=group_values(groups.get(name))
    )


def option_group_names(instance: models.DbInstance) -> list[str]:
    """The names of an instance's option groups (AWS's OptionGroupMemberships)."""
    return [
        og.get("name", "") if isinstance(og, dict) else str(og)
        for og in instance.option_groups or []
    ]


def option_names(options: Any) -> set[str]:
    """Upper-cased option names of a mirrored option group's ``options``."""
    return {str(o.get("name", "")).upper() for o in options or [] if isinstance(o, dict)}


# --- ElastiCache ---------------------------------------------------------------------


@dataclass(frozen=True)
class CacheTransitVerdict:
    """Whether an ElastiCache resource forces clients to use TLS.

    AWS's TransitEncryptionMode "preferred" (the middle step of turning TLS on in a live
    group) serves TLS *and still accepts plaintext clients*: encryption is on, yet it is
    not enforced. Only "required" is. A resource with TransitEncryptionEnabled and no mode
    predates the modes (AWS added them in 2022), when in-transit encryption meant required.
    """

    enforced: bool
    enabled: bool
    mode: str

    @property
    def summary(self) -> str:
        if not self.enabled:
            return "off: clients connect in clear text"
        if not self.enforced:
            return "preferred: TLS offered, plaintext clients still accepted"
        return "required" if self.mode else "on"

    def evidence(self) -> dict[str, Any]:
        """The finding's evidence (guard.rules CACHE-TRANSIT-ENCRYPTION)."""
        evidence: dict[str, Any] = {"transit_encryption": self.enabled}
        if self.enabled:
            evidence["transit_encryption_mode"] = self.mode or "(not reported)"
        return evidence


def cache_transit(enabled: bool, mode: str = "") -> CacheTransitVerdict:
    """The verdict for a replication group or cache cluster from AWS's
    TransitEncryptionEnabled and TransitEncryptionMode."""
    mode = (mode or "").strip().lower()
    return CacheTransitVerdict(
        enforced=bool(enabled) and mode != "preferred", enabled=bool(enabled), mode=mode
    )
