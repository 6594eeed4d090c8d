"""Small builders the sandbox tests share (plain boto3 against the sandbox)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
from django.conf import settings


def client(
    service: str, region: str = "us-east-1", account_id: str = "", endpoint_url: str = ""
) -> Any:
    """A boto3 client on the sandbox (``endpoint_url``, by default Estate's setting),
    acting in ``account_id`` (via assume-role) or in moto's default account."""
    endpoint_url = endpoint_url or settings.AWS_ENDPOINT_URL
    session = boto3.Session(aws_access_key_id="testing", aws_secret_access_key="testing")
    if account_id:
        sts = session.client("sts", region_name=region, endpoint_url=endpoint_url)
        creds = sts.assume_role(
            RoleArn=f"arn:aws:iam::{account_id}:role/EstateSync", RoleSessionName="test"
        )["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
    return session.client(service, region_name=region, endpoint_url=endpoint_url)


def aurora_mysql_cluster(
    rds: Any, name: str = "orders", readers: int = 2, **cluster_kwargs: Any
) -> list[str]:
    """An Aurora MySQL cluster with a writer and ``readers`` readers; returns the
    instance identifiers, writer first."""
    rds.create_db_cluster(
        DBClusterIdentifier=name,
        Engine="aurora-mysql",
        EngineVersion="8.0.mysql_aurora.3.05.2",
        MasterUsername="admin",
        MasterUserPassword="password123",
        **cluster_kwargs,
    )
    members = [f"{name}-{i}" for i in range(readers + 1)]
    for member in members:
        rds.create_db_instance(
            DBInstanceIdentifier=member,
            DBClusterIdentifier=name,
            DBInstanceClass="db.r6g.large",
            Engine="aurora-mysql",
        )
    return members


def until(condition: Callable[[], Any], timeout: float = 5.0) -> None:
    """Poll ``condition`` with a deadline (a transition lasting a set duration)."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        pause.wait(0.02)
