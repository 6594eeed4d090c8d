"""The engine's hot path in the database: an operation's row in as few statements as
possible.

Every operation step a worker runs claims the row, may checkpoint it before an AWS call,
and saves it with its timeline events and audit records. At hundreds of concurrent
operations on a busy machine each round trip to PostgreSQL costs a context switch to the
server and back, and the ORM's query building costs CPU: the claim was an UPDATE and a
SELECT, the save a transaction of five statements. On PostgreSQL the claim is now one
statement (an UPDATE ... RETURNING joined to the account and the requester) and the save
one statement (an UPDATE with the inserts chained to it, so they happen only if the
lease was still ours, atomically). Other databases (the demo's SQLite) keep the ORM
path in ``operations.engine``.

The SQL is built from the models' metadata, and values go through the fields' own
conversions (``get_db_prep_save`` in, the backend's and the field's converters out),
exactly as the ORM would.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model

from operations.models import Operation


def single_statement() -> bool:
    """Whether the one-statement forms are available (data-modifying CTEs)."""
    return connection.vendor == "postgresql"


def _qn(name: str) -> str:
    return connection.ops.quote_name(name)


# --- reading rows into models --------------------------------------------------------


@cache
def _fields(model: type[Model]) -> tuple[Any, ...]:
    return tuple(model._meta.concrete_fields)


@cache
def _attnames(model: type[Model]) -> tuple[list[str], int]:
    """The concrete fields' attribute names, and where the primary key is among them."""
    names = [f.attname for f in _fields(model)]
    return names, names.index(model._meta.pk.attname)


def _converters(model: type[Model]) -> tuple[tuple[Any, list[Any]], ...]:
    """Per concrete field, what the ORM applies to a value read from the database: the
    column expression and its converters (the backend's, then the field's). Kept on
    this thread's connection: backend converters are bound to it."""
    wrapper = connections[DEFAULT_DB_ALIAS]
    cached = wrapper.__dict__.setdefault("_estate_row_converters", {})
    if model not in cached:
        out = []
        for field in _fields(model):
            col = field.get_col(model._meta.db_table)
            out.append((col, wrapper.ops.get_db_converters(col) + field.get_db_converters(wrapper)))
        cached[model] = tuple(out)
    return cached[model]


def _load(model: type[Model], values: Sequence[Any]) -> Model | None:
    """A model instance from one row's values (None for a LEFT JOIN that found nothing)."""
    attnames, pk_index = _attnames(model)
    if values[pk_index] is None:
        return None
    converted = []
    for value, (col, converters) in zip(values, _converters(model), strict=True):
        for converter in converters:
            value = converter(value, col, connection)
        converted.append(value)
    return model.from_db(connection.alias, attnames, converted)


# --- the claim -----------------------------------------------------------------------

# The related rows a step needs, fetched with the claim: the account (its AWS client)
# and the requester (the actor of the audit records).
_JOINED = ("account", "requested_by")


@cache
def _claim_sql(due: bool) -> str:
    meta = Operation._meta
    table = _qn(meta.db_table)
    col = {f.name: _qn(f.column) for f in meta.concrete_fields}
    selected = [f"c.{_qn(f.column)}" for f in _fields(Operation)]
    joins = []
    for index, name in enumerate(_JOINED):
        fk = meta.get_field(name)
        related = fk.related_model
        alias = f"j{index}"
        selected += [f"{alias}.{_qn(f.column)}" for f in _fields(related)]
        joins.append(
            f"LEFT JOIN {_qn(related._meta.db_table)} {alias} "
            f"ON {alias}.{_qn(related._meta.pk.column)} = c.{_qn(fk.column)}"
        )
    due_sql = f"AND ({col['next_run_at']} IS NULL OR {col['next_run_at']} <= %s) " if due else ""
    return (
        f"WITH c AS (UPDATE {table} SET {col['lease_token']} = %s, {col['lease_until']} = %s "
        f"WHERE {col['id']} = %s AND {col['state']} = ANY(%s) "
        f"AND ({col['lease_until']} IS NULL OR {col['lease_until']} < %s) {due_sql}"
        f"RETURNING *) SELECT {', '.join(selected)} FROM c {' '.join(joins)}"
    )


def claim(
    op_id: int, token: str, lease_until: datetime, now: datetime, runnable: Iterable[str], due: bool
) -> Operation | None:
    """Take the lease and read the operation with its account and requester, in one
    statement. None when it was not free, not runnable or (``due``) not yet due."""
    params: list[Any] = [token, lease_until, op_id, sorted(runnable), now]
    if due:
        params.append(now)
    with connection.cursor() as cursor:
        cursor.execute(_claim_sql(due), params)
        row = cursor.fetchone()
    if row is None:
        return None
    start = len(_fields(Operation))
    op = _load(Operation, row[:start])
    assert isinstance(op, Operation)
    for name in _JOINED:
        related = Operation._meta.get_field(name).related_model
        end = start + len(_fields(related))
        # Assigning caches the related object, as select_related would.
        setattr(op, name, _load(related, row[start:end]))
        start = end
    return op


# --- writing -------------------------------------------------------------------------


def _leased_update(values: dict[str, Any], op_id: int, token: str) -> tuple[str, list[Any]]:
    """``UPDATE`` of the operation's ``values`` where ``token`` still holds its lease."""
    meta = Operation._meta
    parts, params = [], []
    for name, value in values.items():
        field = meta.get_field(name)
        parts.append(f"{_qn(field.column)} = %s")
        params.append(field.get_db_prep_save(value, connection))
    sql = (
        f"UPDATE {_qn(meta.db_table)} SET {', '.join(parts)} "
        f"WHERE {_qn(meta.pk.column)} = %s AND {_qn(meta.get_field('lease_token').column)} = %s"
    )
    return sql, [*params, op_id, token]


def update_if_leased(op_id: int, token: str, values: dict[str, Any]) -> bool:
    """``UPDATE`` the operation's ``values`` if ``token`` still holds its lease."""
    sql, params = _leased_update(values, op_id, token)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount == 1


def _cast_type(field: Any) -> str:
    """The column's type without a length: a value too long for a varchar(n) column is
    refused by the INSERT, as the ORM's would be, instead of cut by the cast."""
    return re.sub(r"\(\d+\)$", "", field.db_type(connection))


def _insert_rows(objs: Sequence[Model], source: str) -> tuple[str, list[Any]]:
    """``INSERT INTO t (...) SELECT <row> FROM source UNION ALL ...``: the rows are
    inserted once per row of ``source`` (here: once if the update happened, else not).
    Every value is cast to its column's type, so a column that is NULL in every row
    still has one."""
    model = type(objs[0])
    fields = [f for f in _fields(model) if f is not model._meta.auto_field]
    columns = ", ".join(_qn(f.column) for f in fields)
    row_sql = ", ".join(f"%s::{_cast_type(f)}" for f in fields)
    params: list[Any] = []
    selects = []
    for obj in objs:
        selects.append(f"SELECT {row_sql} FROM {source}")
        params += [f.get_db_prep_save(f.pre_save(obj, True), connection) for f in fields]
    sql = f"INSERT INTO {_qn(model._meta.db_table)} ({columns}) " + " UNION ALL ".join(selects)
    return sql, params


def save_with_rows(
    op_id: int, token: str, values: dict[str, Any], inserts: Sequence[Sequence[Model]]
) -> bool:
    """One statement: update the operation if ``token`` still holds its lease, and only
    then insert each group of rows in ``inserts`` (timeline events, audit records).
    All or nothing, like the transaction it replaces."""
    update, params = _leased_update(values, op_id, token)
    parts = [f"u AS ({update} RETURNING {_qn(Operation._meta.pk.column)})"]
    for index, objs in enumerate(group for group in inserts if group):
        sql, group_params = _insert_rows(objs, "u")
        parts.append(f"i{index} AS ({sql})")
        params += group_params
    with connection.cursor() as cursor:
        cursor.execute(f"WITH {', '.join(parts)} SELECT count(*) FROM u", params)
        return cursor.fetchone()[0] == 1
