"""Fixtures for operations tests: a fast sandbox, an account, users by role (the
builders they use live in tests/factories/operations.py)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User

from estate import aws, roles
from estate.models import Account, DbCluster, Environment
from sandbox import calllog
from tests.factories.operations import (
    ACCOUNT_ID,
    REGION,
    _user,
    create_cluster,
    mirror,
    wait_available,
)


@pytest.fixture
def fast_sandbox(sandbox, settings):
    """The sandbox with near-zero transitions, and the engine polling as fast."""
    from sandbox.extensions import lifecycle_core

    lifecycle_core.set_durations(default=0.05)
    settings.OPERATIONS_POLL_SECONDS = 0.02
    settings.OPERATIONS_TYPICAL_SCALE = 0.001
    settings.OPERATIONS_CHAIN_SECONDS = 5
    calllog.clear()
    yield sandbox
    lifecycle_core.reset_durations()


@pytest.fixture
def account(db) -> Account:
    return Account.objects.create(
        account_id=ACCOUNT_ID,
        name="payments-dev",
        environment=Environment.DEVELOPMENT,
        role_arn=f"arn:aws:iam::{ACCOUNT_ID}:role/Estate",
        regions=[REGION, "eu-west-1"],
    )


@pytest.fixture
def rds(account, fast_sandbox):
    return aws.client(account, REGION, "rds")


@pytest.fixture
def cluster(account, rds):
    """Aurora cluster "orders" (a writer and a reader), available and mirrored. Test
    modules that need another shape define their own."""
    create_cluster(rds, "orders", instances=2)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    return DbCluster.objects.get(identifier="orders")


@pytest.fixture
def operator(db) -> User:
    return _user("olivia", roles.OPERATOR)


@pytest.fixture
def admin_user(db) -> User:
    return _user("adam", roles.ADMIN)


@pytest.fixture
def viewer(db) -> User:
    return _user("victor", roles.VIEWER)
