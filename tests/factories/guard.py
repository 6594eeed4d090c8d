"""Builders of mirror rows that pass every posture rule (guard.rules); each test
changes one field to break one rule. Plain ORM, no AWS."""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

from django.utils import timezone

from estate import models as m
from guard.models import SecurityGroup
from tests.factories import estate as estate_factories

_seq = itertools.count(1)

SECURE_SG = "sg-private"
WORLD_SG = "sg-world"


def account(env: str = m.Environment.PRODUCTION) -> m.Account:
    # One sequence of account ids for every factory: two counters collided when a test
    # used both modules.
    account_id = estate_factories._account_id()
    return m.Account.objects.create(
        account_id=account_id, name=f"acct-{account_id[-4:]}", environment=env
    )


def _base(acct: m.Account | None, kind: str, **kw: Any) -> dict[str, Any]:
    acct = acct or account()
    ident = kw.pop("identifier", None) or f"{kind}-{next(_seq)}"
    return {
        "account": acct,
        "region": "us-east-1",
        "identifier": ident,
        "arn": f"arn:aws:rds:us-east-1:{acct.account_id}:{kind}:{ident}",
        "status": "available",
        **kw,
    }


def tls_group(acct: m.Account, name: str, scope: str, param: str, value: str) -> None:
    group = m.ParameterGroup.objects.create(
        **_base(acct, "pg", identifier=name), scope=scope, family="x"
    )
    m.Parameter.objects.create(group=group, name=param, value=value, source="user")


def security_group(acct: m.Account, gid: str, cidr: str | None, port: int = 5432) -> None:
    ingress = [
        {
            "protocol": "tcp",
            "from_port": port,
            "to_port": port,
            "cidrs": ["10.0.0.0/8"],
            "ipv6_cidrs": [],
            "groups": [],
        }
    ]
    if cidr == "::/0":
        ingress.append(
            {
                "protocol": "tcp",
                "from_port": port,
                "to_port": port,
                "cidrs": [],
                "ipv6_cidrs": ["::/0"],
                "groups": [],
            }
        )
    elif cidr:
        ingress.append(
            {
                "protocol": "tcp",
                "from_port": 0,
                "to_port": 65535,
                "cidrs": [cidr],
                "ipv6_cidrs": [],
                "groups": [],
            }
        )
    SecurityGroup.objects.create(account=acct, region="us-east-1", group_id=gid, ingress=ingress)


def instance(acct: m.Account | None = None, **kw: Any) -> m.DbInstance:
    acct = acct or account()
    if not m.ParameterGroup.objects.filter(account=acct, identifier="secure-pg").exists():
        tls_group(acct, "secure-pg", m.ParameterGroup.Scope.INSTANCE, "rds.force_ssl", "1")
    secure = {
        "engine": "postgres",
        "engine_version": "16.3",
        "storage_encrypted": True,
        "iam_auth_enabled": True,
        "deletion_protection": True,
        "master_username": "estate_owner",
        "master_user_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:x",
        "backup_retention_period": 35,  # production policy's default minimum
        "multi_az": True,
        "enabled_cloudwatch_logs_exports": ["postgresql"],
        "auto_minor_version_upgrade": True,
        "ca_certificate_identifier": "rds-ca-rsa2048-g1",
        "ca_certificate_valid_till": timezone.now() + timedelta(days=365),
        "parameter_groups": [{"name": "secure-pg", "status": "in-sync"}],
        "port": 5432,
        "vpc_security_group_ids": [SECURE_SG],
    }
    secure.update(kw)
    return m.DbInstance.objects.create(**_base(acct, "db", **secure))


def cluster(acct: m.Account | None = None, readers: int = 1, **kw: Any) -> m.DbCluster:
    acct = acct or account()
    if not m.ParameterGroup.objects.filter(account=acct, identifier="secure-cpg").exists():
        tls_group(acct, "secure-cpg", m.ParameterGroup.Scope.CLUSTER, "rds.force_ssl", "1")
    secure = {
        "engine": "aurora-postgresql",
        "engine_version": "16.2",
        "storage_encrypted": True,
        "iam_auth_enabled": True,
        "deletion_protection": True,
        "master_username": "estate_owner",
        "master_user_secret_arn": "arn:aws:secretsmanager:us-east-1:1:secret:y",
        "backup_retention_period": 35,  # production policy's default minimum
        "enabled_cloudwatch_logs_exports": ["postgresql"],
        "parameter_group_name": "secure-cpg",
        "port": 5432,
        "vpc_security_group_ids": [SECURE_SG],
    }
    secure.update(kw)
    row = m.DbCluster.objects.create(**_base(acct, "cluster", **secure))
    for i in range(1 + readers):
        # Members inherit everything from the cluster; they carry no flags of their own.
        instance(
            acct,
            cluster=row,
            is_cluster_writer=i == 0,
            engine="aurora-postgresql",
            storage_encrypted=False,
            multi_az=False,
            parameter_groups=[],
        )
    return row


def snapshot(acct: m.Account | None = None, **kw: Any) -> m.DbSnapshot:
    secure = {"scope": "instance", "snapshot_type": "manual", "encrypted": True}
    secure.update(kw)
    return m.DbSnapshot.objects.create(**_base(acct, "snapshot", **secure))


def proxy(acct: m.Account | None = None, **kw: Any) -> m.DbProxy:
    secure = {
        "engine_family": "POSTGRESQL",
        "require_tls": True,
        "auth": [{"AuthScheme": "SECRETS", "IAMAuth": "REQUIRED"}],
        "vpc_security_group_ids": [SECURE_SG],
    }
    secure.update(kw)
    return m.DbProxy.objects.create(**_base(acct, "db-proxy", **secure))


def cache_group(acct: m.Account | None = None, **kw: Any) -> m.CacheReplicationGroup:
    secure = {
        "engine": "redis",
        "engine_version": "7.1",
        "transit_encryption": True,
        "at_rest_encryption": True,
        "auth_token_enabled": True,
        "multi_az": True,
        "automatic_failover": "enabled",
        "snapshot_retention_limit": 7,
    }
    secure.update(kw)
    return m.CacheReplicationGroup.objects.create(**_base(acct, "replicationgroup", **secure))


def cache_cluster(acct: m.Account | None = None, **kw: Any) -> m.CacheCluster:
    secure = {"engine": "memcached", "transit_encryption": True, "security_group_ids": [SECURE_SG]}
    secure.update(kw)
    return m.CacheCluster.objects.create(**_base(acct, "cluster", **secure))


def dms_instance(acct: m.Account | None = None, **kw: Any) -> m.DmsReplicationInstance:
    secure = {"multi_az": True, "publicly_accessible": False}
    secure.update(kw)
    return m.DmsReplicationInstance.objects.create(**_base(acct, "rep", **secure))


def dms_endpoint(acct: m.Account | None = None, **kw: Any) -> m.DmsEndpoint:
    secure = {"endpoint_type": "source", "engine_name": "postgres", "ssl_mode": "require"}
    secure.update(kw)
    return m.DmsEndpoint.objects.create(**_base(acct, "endpoint", **secure))


BUILDERS = {
    "instance": instance,
    "cluster": cluster,
    "snapshot": snapshot,
    "proxy": proxy,
    "cache_group": cache_group,
    "cache_cluster": cache_cluster,
    "dms_instance": dms_instance,
    "dms_endpoint": dms_endpoint,
}
