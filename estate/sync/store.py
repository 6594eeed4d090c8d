"""Writing what sync fetched: compare first, then bulk-insert / bulk-update by ARN.

A *part* is one listing of one model in one account and region (e.g. "cluster
snapshots"). Its rows arrive in chunks while the fetch is still paging, and a
``PartWriter`` upserts each chunk at once, so database writes overlap with fetching;
when the part ends, rows it did not see are marked gone — only if the listing
completed (a listing that failed half-way must not make the rest of the estate vanish).

How "unchanged" is decided without reading whole rows: every mirrored row stores
``sync_hash``, a digest of the AWS-derived columns sync last wrote. A part loads
``(id, arn, sync_hash, gone_at)`` plus its few *link* columns (foreign keys and other
values derived from other rows, compared directly because they can resolve later than
the row itself) and *drift* columns (timestamps AWS moves continuously, compared with a
tolerance). A row is written only when one of those differs.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, models, transaction

from estate.models import Account
from estate.sync.bulk import insert_rows

Row = dict[str, Any]

# Inserts go through estate.sync.bulk (COPY on PostgreSQL).
CREATE_BATCH = 500
# bulk_update builds one CASE per column per row: smaller batches keep statements sane.
UPDATE_BATCH = 200
ID_BATCH = 500
# Rows derived from the mirror are upserted in chunks of this size.
CHUNK_SIZE_DERIVED = 500

COUNT_KEYS = ("created", "updated", "unchanged", "gone")


def drift_tolerance_seconds() -> int:
    """How far a continuously moving AWS timestamp (LatestRestorableTime,
    EarliestBacktrackTime, ...) may drift before sync rewrites it. Without it every
    resync would rewrite every instance, because AWS moves these every few minutes."""
    return int(getattr(settings, "SYNC_TIME_DRIFT_SECONDS", 900))


def empty_counts() -> dict[str, int]:
    return dict.fromkeys(COUNT_KEYS, 0)


def add_counts(total: dict[str, int], more: dict[str, int]) -> None:
    for key, value in more.items():
        total[key] = total.get(key, 0) + value


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


try:  # orjson: ~4x faster than json on a 50-field row, the writer's hottest loop
    import orjson

    _ORJSON_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS

    def _canonical(row: Row) -> bytes:
        return orjson.dumps(row, default=_json_default, option=_ORJSON_OPTIONS)

except ImportError:  # pragma: no cover - orjson is a dependency; json is the fallback

    def _canonical(row: Row) -> bytes:
        return json.dumps(
            row, sort_keys=True, default=_json_default, separators=(",", ":")
        ).encode()


def digest(row: Row) -> str:
    """A stable 128-bit digest of a row's values (key order does not matter)."""
    return hashlib.blake2b(_canonical(row), digest_size=16).hexdigest()


@contextlib.contextmanager
def mirror_transaction() -> Iterator[None]:
    """One transaction of mirror writes. On PostgreSQL, when it is the outermost one,
    its commit does not wait for the WAL to reach the disk (``synchronous_commit`` off
    for this transaction only): the mirror is a copy of AWS that the next sync
    rewrites, so a database crash could lose its last fraction of a second (never
    corrupt it), and the writer no longer stalls on a disk flush per chunk."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield


def chunked(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Lookups:
    """Per account/region maps the writer resolves relations with (identifier -> id,
    ...), loaded once with one query and forgotten when their model is written."""

    def __init__(self, account: Account, region: str) -> None:
        self.account = account
        self.region = region
        self._cache: dict[tuple[type[models.Model], str], Any] = {}

    def get(self, model: type[models.Model], name: str, loader: Callable[[], Any]) -> Any:
        key = (model, name)
        if key not in self._cache:
            self._cache[key] = loader()
        return self._cache[key]

    def ids(self, model: type[models.Model], key_field: str = "identifier") -> dict[str, int]:
        """{key: id} of the live rows of ``model`` in this account and region."""

        def load() -> dict[str, int]:
            rows = model.objects.filter(
                account=self.account, region=self.region, gone_at__isnull=True
            ).values_list(key_field, "id")
            return dict(rows)

        return self.get(model, f"ids:{key_field}", load)

    def forget(self, model: type[models.Model]) -> None:
        for key in [k for k in self._cache if k[0] is model]:
            del self._cache[key]


@dataclass(frozen=True)
class ChildSpec:
    """Rows owned by a mirrored parent and replaced with it (parameters of a group,
    targets of a proxy). Rows arrive as ``row["_children"]``; ``key`` identifies a child
    within its parent."""

    model: type[models.Model]
    parent_field: str  # e.g. "group_id"
    key: tuple[str, ...]
    fields: tuple[str, ...]  # compared and written (besides the key)
    counts_as: str  # the pseudo-kind its counts are reported under
    resolve: Callable[[Row, Lookups], None] | None = None


@dataclass(frozen=True)
class PartSpec:
    """One listing of one model in one account/region."""

    name: str  # unique within its kind, e.g. "instance_snapshots"
    model: type[models.Model]
    # Narrows what "every row of this listing" is, for vanish detection.
    scope: dict[str, Any] = field(default_factory=dict)
    # Fields the writer fills from other rows (relations); compared directly.
    link_fields: tuple[str, ...] = ()
    resolve: Callable[[Row, Lookups], None] | None = None
    # Timestamps AWS moves all the time: written only when they drift past a tolerance.
    drift_fields: tuple[str, ...] = ()
    children: ChildSpec | None = None
    # Builds the rows from the mirror instead of AWS (e.g. writer/reader endpoints).
    derive: Callable[[Lookups], list[Row]] | None = None
    # Rows whose ARN does not pin their account/region unit (global clusters).
    movable: bool = False


def _drifted(old: datetime | None, new: datetime | None, tolerance: timedelta) -> bool:
    if old is None or new is None:
        return old is not new
    return abs(new - old) > tolerance


class PartWriter:
    """Upserts the chunks of one part as they arrive; ``finish`` marks the vanished."""

    def __init__(self, spec: PartSpec, lookups: Lookups, now: datetime) -> None:
        self.spec = spec
        self.lookups = lookups
        self.account = lookups.account
        self.region = lookups.region
        self.now = now
        self.counts = empty_counts()
        self.child_counts = empty_counts()
        self.tolerance = timedelta(seconds=drift_tolerance_seconds())
        self._seen: set[str] = set()
        self._existing: dict[str, tuple] | None = None

    def _load_existing(self) -> dict[str, tuple]:
        if self._existing is None:
            spec = self.spec
            columns = ("arn", "id", "sync_hash", "gone_at", *spec.link_fields, *spec.drift_fields)
            rows = spec.model.objects.filter(
                account=self.account, region=self.region, **spec.scope
            ).values_list(*columns)
            self._existing = {row[0]: row[1:] for row in rows}
        return self._existing

    def add(self, rows: list[Row]) -> None:
        """Upsert one chunk (all in one transaction)."""
        if not rows:
            return
        spec = self.spec
        existing = self._load_existing()
        n_links = len(spec.link_fields)
        creates: list[Row] = []
        updates: list[tuple[int, Row]] = []
        children_by_arn: dict[str, list[Row]] = {}
        for raw in rows:
            arn = raw["arn"]
            if arn in self._seen:  # AWS listed it twice (pages shifted under us)
                continue
            self._seen.add(arn)
            row = dict(raw)
            children = row.pop("_children", None)
            if children is not None:
                children_by_arn[arn] = children
            if spec.resolve is not None:
                spec.resolve(row, self.lookups)  # consumes the "_" keys it needs
            for key in [k for k in row if k.startswith("_")]:
                row.pop(key)
            for key, value in row.items():
                # Some APIs (and moto) answer naive datetimes; AWS means UTC.
                if type(value) is datetime and value.tzinfo is None:
                    row[key] = value.replace(tzinfo=UTC)
            hashed = {
                k: v
                for k, v in row.items()
                if k not in spec.link_fields and k not in spec.drift_fields
            }
            if not hashed.get("tags_error"):
                # Tags read: the row hashes as rows did before tags_error existed, so
                # the first sync after that migration does not rewrite every row.
                hashed.pop("tags_error", None)
            row["sync_hash"] = digest(hashed)
            current = existing.get(arn)
            if current is None:
                creates.append(row)
                continue
            pk, old_hash, gone_at = current[0], current[1], current[2]
            links = current[3 : 3 + n_links]
            drifts = current[3 + n_links :]
            changed = (
                old_hash != row["sync_hash"]
                or gone_at is not None
                or any(row.get(f) != old for f, old in zip(spec.link_fields, links, strict=True))
                or any(
                    _drifted(old, row.get(f), self.tolerance)
                    for f, old in zip(spec.drift_fields, drifts, strict=True)
                )
            )
            if changed:
                updates.append((pk, row))
            else:
                self.counts["unchanged"] += 1
        with mirror_transaction():
            if creates:
                self._create(creates)
            if updates:
                self._update(updates)
            if children_by_arn and spec.children is not None:
                self._write_children(children_by_arn)
        if creates or updates:
            self.lookups.forget(spec.model)

    def _create(self, rows: list[Row]) -> None:
        model = self.spec.model
        # A row can move between account/region scopes under the same ARN (a global
        # cluster whose writer region changed): update it instead of inserting twice.
        # Only "movable" parts can: every other ARN names its account and region.
        elsewhere: dict[str, int] = {}
        if self.spec.movable:
            for batch in chunked([r["arn"] for r in rows], ID_BATCH):
                elsewhere.update(model.objects.filter(arn__in=batch).values_list("arn", "id"))
        new: list[Row] = []
        moved: list[tuple[int, Row]] = []
        for row in rows:
            if row["arn"] in elsewhere:
                moved.append((elsewhere[row["arn"]], row))
                continue
            new.append(
                {
                    **row,
                    "account_id": self.account.pk,
                    "region": self.region,
                    "first_seen_at": self.now,
                    "last_synced_at": self.now,
                    "gone_at": None,
                }
            )
        insert_rows(model, new)
        self.counts["created"] += len(new)
        if moved:
            self._update(moved, moved_here=True)

    def _update(self, updates: list[tuple[int, Row]], *, moved_here: bool = False) -> None:
        model = self.spec.model
        # Rows of one part may carry different columns: a row whose tags could not be
        # read has no "tags" (the mirror keeps the last ones read), so each set of
        # columns is written on its own, and no row is given another's defaults.
        by_columns: dict[frozenset[str], list] = {}
        for pk, row in updates:
            obj = model(id=pk, **row, gone_at=None, last_synced_at=self.now)
            if moved_here:
                obj.account = self.account
                obj.region = self.region
            by_columns.setdefault(frozenset(row), []).append(obj)
        for columns, objects in by_columns.items():
            names = {*columns, "gone_at", "last_synced_at"}
            if moved_here:
                names.update({"account_id", "region"})
            # bulk_update takes attnames ("cluster_id") as well as names.
            model.objects.bulk_update(objects, sorted(names), batch_size=UPDATE_BATCH)
        self.counts["updated"] += len(updates)

    def finish(self) -> None:
        """The listing completed: every row it did not report is gone."""
        existing = self._load_existing()
        gone = [cur[0] for arn, cur in existing.items() if arn not in self._seen and cur[2] is None]
        if gone:
            with mirror_transaction():
                for batch in chunked(gone, ID_BATCH):
                    # Scoped again: a movable row another unit claimed meanwhile is not
                    # this unit's to mark gone.
                    self.spec.model.objects.filter(
                        id__in=batch, account=self.account, region=self.region
                    ).update(gone_at=self.now)
            self.lookups.forget(self.spec.model)
        self.counts["gone"] += len(gone)

    def _write_children(self, children_by_arn: dict[str, list[Row]]) -> None:
        spec = self.spec.children
        assert spec is not None
        parents = {}
        for batch in chunked(list(children_by_arn), ID_BATCH):
            parents.update(self.spec.model.objects.filter(arn__in=batch).values_list("arn", "id"))
        parent_ids = list(parents.values())
        columns = ("id", spec.parent_field, *spec.key, *spec.fields)
        existing: dict[tuple, tuple] = {}
        for batch in chunked(parent_ids, ID_BATCH):
            for values in spec.model.objects.filter(
                **{f"{spec.parent_field}__in": batch}
            ).values_list(*columns):
                n_key = 1 + len(spec.key)
                existing[values[1 : 1 + n_key]] = (values[0], values[1 + n_key :])
        creates, updates = [], []
        seen: set[tuple] = set()
        for arn, children in children_by_arn.items():
            parent_id = parents[arn]
            for child in children:
                child = dict(child)
                if spec.resolve is not None:
                    spec.resolve(child, self.lookups)
                key = (parent_id, *(child[k] for k in spec.key))
                if key in seen:
                    continue
                seen.add(key)
                values = tuple(child.get(f) for f in spec.fields)
                current = existing.get(key)
                data = {spec.parent_field: parent_id, **{k: child[k] for k in spec.key}}
                data.update(zip(spec.fields, values, strict=True))
                if current is None:
                    creates.append(data)
                elif current[1] != values:
                    updates.append(spec.model(id=current[0], **data))
                else:
                    self.child_counts["unchanged"] += 1
        stale = [cur[0] for key, cur in existing.items() if key not in seen]
        if creates:
            insert_rows(spec.model, creates)
        if updates:
            spec.model.objects.bulk_update(updates, list(spec.fields), batch_size=UPDATE_BATCH)
        for batch in chunked(stale, ID_BATCH):
            spec.model.objects.filter(id__in=batch).delete()
        self.child_counts["created"] += len(creates)
        self.child_counts["updated"] += len(updates)
        self.child_counts["gone"] += len(stale)
