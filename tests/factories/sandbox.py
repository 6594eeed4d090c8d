"""Seeding helpers for the sync tests: small estates made through boto3 (the sandbox)."""

from __future__ import annotations

from typing import Any

from django.db import connection
from django.test.utils import CaptureQueriesContext

from estate import aws
from estate.models import Account

PROD = "111111111111"
STAGING = "222222222222"
REGION = "eu-west-1"
OTHER_REGION = "us-east-1"
PASSWORD = "password123"


def make_account(account_id: str = PROD, regions: list[str] | None = None, **kw: Any) -> Account:
    return Account.objects.create(
        account_id=account_id,
        name=kw.pop("name", f"acct-{account_id[:3]}"),
        role_arn=f"arn:aws:iam::{account_id}:role/EstateSync",
        regions=regions or [REGION],
        **kw,
    )


def client(account_id: str, region: str, service: str) -> Any:
    """A seeding client acting in the account (unpaced, uncounted)."""
    ref = aws.AccountRef(account_id, f"arn:aws:iam::{account_id}:role/EstateSync")
    return aws.client(ref, region, service, paced=False)


def create_instance(rds: Any, identifier: str, **kw: Any) -> dict:
    params = {
        "DBInstanceIdentifier": identifier,
        "DBInstanceClass": "db.t3.micro",
        "Engine": "postgres",
        "AllocatedStorage": 20,
        "MasterUsername": "admin",
        "MasterUserPassword": PASSWORD,
    }
    params.update(kw)
    return rds.create_db_instance(**params)["DBInstance"]


def create_aurora(rds: Any, identifier: str, members: int = 2, **kw: Any) -> None:
    params = {
        "DBClusterIdentifier": identifier,
        "Engine": "aurora-mysql",
        "EngineVersion": "8.0.mysql_aurora.3.05.2",
        "MasterUsername": "admin",
        "MasterUserPassword": PASSWORD,
    }
    params.update(kw)
    rds.create_db_cluster(**params)
    for n in range(members):
        rds.create_db_instance(
            DBInstanceIdentifier=f"{identifier}-{n + 1}",
            DBClusterIdentifier=identifier,
            Engine=params["Engine"],
            DBInstanceClass="db.r6g.large",
        )
    # moto reports a new cluster "creating" exactly once; let that pass before syncing.
    rds.describe_db_clusters(DBClusterIdentifier=identifier)


MIRROR_BOOKKEEPING = ("estate_syncrun", "estate_synclease")


def mirror_writes(ctx: CaptureQueriesContext) -> list[str]:
    """INSERT/UPDATE/DELETE/COPY statements against mirror tables (bookkeeping excluded)."""
    writes = []
    for query in ctx.captured_queries:
        sql = query["sql"].lstrip().upper()
        if not sql.startswith(("INSERT", "UPDATE", "DELETE", "COPY")):
            continue
        if any(table.upper() in sql for table in MIRROR_BOOKKEEPING):
            continue
        writes.append(query["sql"])
    return writes


def capture() -> CaptureQueriesContext:
    return CaptureQueriesContext(connection)
