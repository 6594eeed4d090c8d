"""Two simultaneous requests for the same target: the database decides, one wins and
the other is refused naming it. Needs PostgreSQL (real concurrent connections)."""

import threading

import pytest
from django.db import connections

from estate.models import DbCluster
from operations.models import Operation
from operations.services import OperationConflict, start_operation
from tests.factories.operations import create_cluster, mirror, wait_available

pytestmark = [
    pytest.mark.postgres("real concurrent writers: SQLite serialises them"),
    pytest.mark.django_db(transaction=True),
]


def test_two_simultaneous_requests_one_wins_one_is_refused(
    account, rds, operator, admin_user, monkeypatch
):
    create_cluster(rds, "orders", instances=2)
    wait_available(rds, clusters=["orders"])
    mirror(account, rds)
    cluster = DbCluster.objects.get(identifier="orders")
    # Both requests pass every check before either inserts: the race the constraint is for
    both_checked = threading.Barrier(2, timeout=10)
    original_save = Operation.save

    def save_after_both_checked(self, *args, **kwargs):
        both_checked.wait()
        return original_save(self, *args, **kwargs)

    monkeypatch.setattr(Operation, "save", save_after_both_checked)
    outcomes: dict[str, object] = {}

    def request(user) -> None:
        try:
            outcomes[user.username] = start_operation(
                "cluster_failover", cluster, {}, requested_by=user
            )
        except OperationConflict as exc:
            outcomes[user.username] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=request, args=(u,)) for u in (operator, admin_user)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    won = [o for o in outcomes.values() if isinstance(o, Operation)]
    refused = [o for o in outcomes.values() if isinstance(o, OperationConflict)]
    assert len(won) == 1
    assert len(refused) == 1
    assert refused[0].running.pk == won[0].pk
    assert f"Operation #{won[0].pk}" in refused[0].message
    assert Operation.objects.count() == 1
