"""Tags for every mirrored kind, with the fewest AWS calls.

* **Free**: DB instances, clusters, global clusters and snapshots carry their tags in
  their own describe answers (``TagList``); sync maps those and asks nothing more.
* **One pass per account/region** for every other kind (proxies, proxy and custom
  cluster endpoints, DB/cluster/cache parameter groups, option groups, ElastiCache
  replication groups, cache clusters and serverless caches, DMS replication instances,
  endpoints and tasks): the Resource Groups Tagging API's ``GetResources``, filtered to
  the resource types of the kinds being synced, 100 resources a page. Tags of N tagged
  resources cost ceil(N / 100) calls instead of N ``ListTagsForResource``.
* **"No tags" versus "not listed".** GetResources lists only the resources that have
  (or once had) tags. Once the pass has completed, a resource of a filtered type that it
  did not list has no tags: that is AWS's complete answer, not a gap.
* **Fallback** when the pass fails (the role lacks ``tag:GetResources``, the API is
  throttled past botocore's retries, ...): each resource's own service answers —
  ``ListTagsForResource`` per resource for RDS and ElastiCache, and per 100 resources
  for DMS (``ResourceArnList``). A service that refuses it once is not asked again in
  this pass (the role lacks the action for all its resources).
* **Not read.** A resource whose tags could not be read either way gets ``tags_error``
  (the reason) and no ``tags`` key in its row, so the mirror keeps the tags it last
  read; pages say "tags not read: <reason>", never "no tags", and the kind's listing
  reports it in ``SyncRun.errors`` (the run is then partial).

The pass runs when the unit's first kind that needs it maps its first resource, so a
resource created (with tags) after the pass and before its own listing shows no tags
until the next sync — a window of seconds, like the tagging API's own propagation delay.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from estate import aws

if TYPE_CHECKING:  # fetch imports this module: no cycle at run time
    from estate.sync.fetch import FetchContext
    from estate.sync.store import Row

log = logging.getLogger(__name__)

# The tagging API's resource types (``service:<type in the ARN>``) of each kind whose
# describe answers carry no tags. Kinds absent here read ``TagList`` from their own
# describe (instances, clusters, global clusters, snapshots).
TAGGING_TYPES: dict[str, tuple[str, ...]] = {
    "proxies": ("rds:db-proxy",),
    "endpoints": ("rds:cluster-endpoint", "rds:db-proxy-endpoint"),
    "parameter_groups": ("rds:pg", "rds:cluster-pg"),
    "option_groups": ("rds:og",),
    "caches": (
        "elasticache:replicationgroup",
        "elasticache:cluster",
        "elasticache:serverlesscache",
        "elasticache:parametergroup",
    ),
    "dms": ("dms:rep", "dms:endpoint", "dms:task"),
}
# GetResources' largest page.
RESOURCES_PER_PAGE = 100
# ARNs per DMS ListTagsForResource (AWS documents no limit; a modest request).
DMS_ARNS_PER_CALL = 100
# Mirrored.tags_error's length.
TAGS_ERROR_LENGTH = 500


def from_tag_list(item: dict, key: str = "TagList") -> dict[str, str]:
    """AWS's ``[{"Key": k, "Value": v}, ...]`` as ``{k: v}``."""
    return {t.get("Key", ""): t.get("Value", "") for t in item.get(key) or []}


def described(item: dict, key: str = "TagList") -> Row:
    """The tag columns of a resource whose describe answer carries its tags."""
    return {"tags": from_tag_list(item, key), "tags_error": ""}


class TagSource:
    """The tags of one account/region's resources, for the kinds ``kinds`` (read once,
    on first use, by the unit's fetch thread; not shared between threads)."""

    def __init__(self, ctx: FetchContext, kinds: Iterable[str] | None = None) -> None:
        self.ctx = ctx
        chosen = TAGGING_TYPES if kinds is None else [k for k in kinds if k in TAGGING_TYPES]
        self.types = [t for kind in chosen for t in TAGGING_TYPES[kind]]
        self._loaded = False
        self._index: dict[str, dict[str, str]] | None = None
        self._index_error = ""
        self._prefetched: dict[str, Row] = {}
        self._refused: dict[str, str] = {}  # service -> why its ListTagsForResource failed
        self._unread: dict[str, int] = {}  # reason -> resources whose tags it left unread

    # --- reading ---------------------------------------------------------------------

    def _load(self) -> None:
        self._loaded = True
        if not self.types:
            self._index = {}
            return
        index: dict[str, dict[str, str]] = {}
        try:
            for item in self.ctx.paginate(
                "resourcegroupstaggingapi",
                "get_resources",
                "ResourceTagMappingList",
                ResourceTypeFilters=self.types,
                ResourcesPerPage=RESOURCES_PER_PAGE,
            ):
                index[item["ResourceARN"]] = from_tag_list(item, "Tags")
        except aws.AwsError as exc:
            self._index_error = _reason(exc, "GetResources")
            # Each resource is then read on its own: complete, but one call per resource
            # against the services' API budgets. Say why, once per account/region.
            log.warning(
                "sync %s/%s: %s; reading tags per resource instead",
                self.ctx.ref.account_id,
                self.ctx.region,
                self._index_error,
            )
            return
        self._index = index

    @property
    def bulk(self) -> bool:
        """Whether the tagging API's pass answered (else: the per-resource fallback)."""
        if not self._loaded:
            self._load()
        return self._index is not None

    def of(self, arn: str) -> Row:
        """The tag columns of the resource ``arn``: ``{"tags", "tags_error": ""}`` or,
        when they could not be read, ``{"tags_error": why}`` (no ``tags``: the mirror
        keeps the last ones read)."""
        if not arn.startswith("arn:"):
            return {"tags": {}, "tags_error": ""}  # a key of ours: nothing AWS can tag
        if self.bulk:
            assert self._index is not None
            return {"tags": self._index.get(arn, {}), "tags_error": ""}
        if arn in self._prefetched:
            return self._prefetched.pop(arn)
        service = _service(arn)
        if service in self._refused:
            return self._not_read(self._refused[service])
        try:
            if service == "dms":
                answer = self.ctx.call("dms", "list_tags_for_resource", ResourceArn=arn)
            else:
                answer = self.ctx.call(service, "list_tags_for_resource", ResourceName=arn)
        except aws.AwsAccessDenied as exc:
            self._refused[service] = self._fallback_reason(exc)
            return self._not_read(self._refused[service])
        except aws.AwsError as exc:
            return self._not_read(self._fallback_reason(exc))
        return {"tags": from_tag_list(answer), "tags_error": ""}

    def prefetch(self, items: list[dict], arn_key: str) -> None:
        """Before mapping a batch of DMS resources without the tagging API: read their
        tags with one ListTagsForResource per ``DMS_ARNS_PER_CALL`` ARNs."""
        if self.bulk or "dms" in self._refused:
            return
        arns = [item[arn_key] for item in items if item.get(arn_key)]
        for start in range(0, len(arns), DMS_ARNS_PER_CALL):
            chunk = arns[start : start + DMS_ARNS_PER_CALL]
            try:
                answer = self.ctx.call("dms", "list_tags_for_resource", ResourceArnList=chunk)
            except aws.AwsAccessDenied as exc:
                self._refused["dms"] = self._fallback_reason(exc)
                return
            except aws.AwsError:
                continue  # each resource then tries on its own (and says why it failed)
            found: dict[str, dict[str, str]] = {arn: {} for arn in chunk}
            for tag in answer.get("TagList") or []:
                if tag.get("ResourceArn") in found:
                    found[tag["ResourceArn"]][tag.get("Key", "")] = tag.get("Value", "")
            for arn, tags in found.items():
                self._prefetched[arn] = {"tags": tags, "tags_error": ""}

    def tag(self, row: Row) -> Row:
        """``row`` with its tag columns (by its ARN)."""
        row.update(self.of(row["arn"]))
        return row

    def mapper(self, mapper: Callable[[dict], Row | None]) -> Callable[[dict], Row | None]:
        """``mapper`` with the tag columns added to each row it maps."""

        def tagged(item: dict) -> Row | None:
            row = mapper(item)
            return None if row is None else self.tag(row)

        return tagged

    # --- reporting -------------------------------------------------------------------

    def _not_read(self, reason: str) -> Row:
        self._unread[reason] = self._unread.get(reason, 0) + 1
        return {"tags_error": reason[:TAGS_ERROR_LENGTH]}

    def _fallback_reason(self, exc: aws.AwsError) -> str:
        own = _reason(exc, "ListTagsForResource")
        return f"{self._index_error}; {own}" if self._index_error else own

    def unread(self) -> list[str]:
        """What could not be read since the last call, one message per reason (the
        fetch context turns them into ``Problem`` events)."""
        unread, self._unread = self._unread, {}
        return [
            f"tags not read for {count} {'resource' if count == 1 else 'resources'}: {reason}"
            for reason, count in unread.items()
        ]


def _service(arn: str) -> str:
    parts = arn.split(":", 3)
    return parts[2] if len(parts) > 2 else ""


def _reason(exc: aws.AwsError, action: str) -> str:
    return f"{action}: {exc}"[:TAGS_ERROR_LENGTH]


def buffered(
    items: Iterable[dict], before: Callable[[list[dict]], None], size: int = DMS_ARNS_PER_CALL
) -> Iterator[dict]:
    """``items`` in the same order, ``before`` called on each batch of up to ``size``
    before it is passed on (so a batch's tags are read in one call). An error of the
    listing passes the items read so far on first, then propagates."""
    batch: list[dict] = []
    try:
        for item in items:
            batch.append(item)
            if len(batch) >= size:
                before(batch)
                yield from batch
                batch = []
    except aws.AwsError:
        if batch:
            before(batch)
            yield from batch
        raise
    if batch:
        before(batch)
        yield from batch


__all__ = ["TAGGING_TYPES", "TagSource", "buffered", "described", "from_tag_list"]
