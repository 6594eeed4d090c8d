"""What fetch threads hand the writer: chunks of mapped rows and the end of a listing.

Fetch threads never touch the database; they page through AWS, map each item to a
row (plain dicts of model attnames) and put events on the writer's queue.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from estate import aws
from estate.sync.store import PartSpec, Row
from estate.sync.tagging import TagSource

# Rows per chunk: small enough that the writer starts while AWS is still paging,
# large enough that a chunk is one or two bulk statements.
CHUNK = 250


@dataclass
class Rows:
    part: PartSpec
    rows: list[Row]


@dataclass
class End:
    """A listing finished; with ``error`` it did not (nothing is marked gone)."""

    part: PartSpec
    error: str = ""


@dataclass
class Derive:
    """The writer builds this part's rows from the mirror (see PartSpec.derive)."""

    part: PartSpec


@dataclass
class Problem:
    """Something a kind could not read although its listings completed (tags that
    could not be read): recorded in ``SyncRun.errors``; the rows are still written and
    vanished ones still marked gone."""

    message: str


Event = Rows | End | Derive | Problem


def describe_error(exc: Exception) -> str:
    if isinstance(exc, aws.AwsError):
        op = f"{exc.operation}: " if exc.operation else ""
        return f"{op}{exc}"
    return f"{type(exc).__name__}: {exc}"


class FetchContext:
    """One account and region, as a fetch thread sees it: paced clients per service,
    and the tags of the resources of ``kinds`` (all kinds when None; see
    ``estate.sync.tagging``)."""

    def __init__(
        self,
        ref: aws.AccountRef,
        region: str,
        stats: aws.CallStats,
        *,
        paced: bool = True,
        kinds: Iterable[str] | None = None,
    ) -> None:
        self.ref = ref
        self.region = region
        self.stats = stats
        self.paced = paced
        self._clients: dict[str, Any] = {}
        self.tags = TagSource(self, kinds)

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = aws.client(
                self.ref, self.region, service, stats=self.stats, paced=self.paced
            )
        return self._clients[service]

    def paginate(self, service: str, operation: str, key: str, **kwargs: Any) -> Iterator[dict]:
        return aws.paginate(self.client(service), operation, key, **kwargs)

    def call(self, service: str, operation: str, **kwargs: Any) -> dict:
        return aws.call(self.client(service), operation, **kwargs)

    def tag_problems(self) -> Iterator[Problem]:
        """The tags this kind could not read (a fetcher yields them after its listings)."""
        for message in self.tags.unread():
            yield Problem(message)


def stream(
    part: PartSpec, items: Iterator[dict], mapper: Callable[[dict], Row | None]
) -> Iterator[Event]:
    """Map a paged listing into chunks; an AWS error ends the part with that error."""
    batch: list[Row] = []
    try:
        for item in items:
            row = mapper(item)
            if row is not None:
                batch.append(row)
            if len(batch) >= CHUNK:
                yield Rows(part, batch)
                batch = []
    except aws.AwsError as exc:
        if batch:
            yield Rows(part, batch)
        yield End(part, describe_error(exc))
        return
    if batch:
        yield Rows(part, batch)
    yield End(part)


def listed(part: PartSpec, rows: list[Row]) -> Iterator[Event]:
    """A listing fetched whole (when mapping needs several lists at once)."""
    for start in range(0, len(rows), CHUNK):
        yield Rows(part, rows[start : start + CHUNK])
    yield End(part)


# --- small mapping helpers ------------------------------------------------------------


def text(value: Any) -> str:
    return "" if value is None else str(value)
