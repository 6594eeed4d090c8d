"""What an operation kind is: a parameter form, a fresh-describe check, ordered steps.

A step is a method ``step_<name>(ctx) -> Done | Wait | Fail``. Rules every kind keeps:

* a step makes at most one mutating AWS call, and *first re-describes* the target to
  skip the call when its effect is already there (a retry after a crash must not
  repeat it); it saves what it saw before acting with ``ctx.checkpoint()``;
* waiting for AWS is ``Wait(seconds)``, never a sleep: the task re-enqueues itself;
* AWS errors are not caught here: the engine retries throttling/5xx with backoff
  inside the step budget and fails the operation on permanent errors.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from estate import aws
from estate.roles import RUN_DESTRUCTIVE_OPERATIONS, RUN_OPERATIONS

if TYPE_CHECKING:
    from operations.models import Operation


# --- AWS clients ---------------------------------------------------------------------

# Building a boto3 client costs tens of milliseconds: a worker driving hundreds of
# operations reuses one per account, region and service (boto3 clients are
# thread-safe). They are rebuilt after a while so that assumed-role credentials, which
# estate.aws caches until shortly before they expire, are picked up fresh.
CLIENT_TTL_SECONDS = 600.0
_clients: dict[tuple[Any, str, str, str], tuple[float, Any, Any]] = {}
_clients_lock = threading.Lock()


def cached_client(account: Any, region: str, service: str, *, mutating: bool = False) -> Any:
    """A shared client; ``mutating`` ones never retry a call (see ``aws.client``)."""
    from django.conf import settings

    ref = aws.AccountRef.of(account)
    # estate.aws caches the assumed-role session; a new session (credentials renewed,
    # or forgotten by tests) means a new client.
    session = aws.session_for(ref) if ref.role_arn else None
    key = (ref, region, service, settings.AWS_ENDPOINT_URL, mutating)
    now = time.monotonic()
    with _clients_lock:
        cached = _clients.get(key)
        if cached is not None and cached[2] is session and now - cached[0] < CLIENT_TTL_SECONDS:
            return cached[1]
    client = aws.client(ref, region, service, mutating=mutating)
    with _clients_lock:
        _clients[key] = (now, client, session)
    return client


def forget_clients() -> None:
    with _clients_lock:
        _clients.clear()


# --- step outcomes -------------------------------------------------------------------


@dataclass(frozen=True)
class Done:
    message: str = ""
    result: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Wait:
    seconds: float
    message: str = ""
    progress: float | None = None


@dataclass(frozen=True)
class Fail:
    reason: str
    hint: str = ""


Outcome = Done | Wait | Fail


class LeaseLost(Exception):
    """Another worker holds the operation now (this one was too slow, or presumed
    dead): the step must stop before its AWS call, and nothing of this run is saved."""


class StepInterrupted(Exception):
    """A step cannot go on now; the engine takes ``outcome`` as the step's outcome
    (raised from deep inside a step, e.g. by ``StepContext.call``)."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(getattr(outcome, "message", "") or getattr(outcome, "reason", ""))
        self.outcome = outcome


# Mutating calls that AWS applies idempotently: sending one again after an ambiguous
# answer changes nothing (tags are set to the same values).
IDEMPOTENT_CALLS = frozenset({"add_tags_to_resource", "remove_tags_from_resource"})
# Where a step keeps what it knows of an unanswered mutating call (see StepContext),
# and the mutating call a run is about to send (checkpointed first).
AMBIGUOUS = "_ambiguous"
CALLING = "_calling"
# The parameter that names a call's target, most specific first (the new resource
# before its source).
_TARGET_PARAMS = (
    "DBClusterEndpointIdentifier",
    "TargetDBSnapshotIdentifier",
    "TargetDBClusterSnapshotIdentifier",
    "DBSnapshotIdentifier",
    "DBClusterSnapshotIdentifier",
    "DBInstanceIdentifier",
    "DBClusterIdentifier",
    "GlobalClusterIdentifier",
    "ReplicationGroupId",
    "ReplicationTaskArn",
    "ResourceName",
)


def call_target(kwargs: dict[str, Any]) -> str:
    """What a mutating call acts on, to tell two calls of one step apart."""
    for name in _TARGET_PARAMS:
        value = kwargs.get(name)
        if isinstance(value, str) and value:
            return value
    return ""


def unanswered(calling: dict[str, Any], reason: str) -> dict[str, Any]:
    """What ``memory[AMBIGUOUS]`` holds for a call (``memory[CALLING]``) that got no
    usable answer."""
    return {**calling, "since": time.time(), "reason": reason[:300]}


def ambiguity_grace_seconds() -> float:
    from django.conf import settings

    return float(getattr(settings, "OPERATIONS_AMBIGUOUS_GRACE_SECONDS", 60.0))


@dataclass(frozen=True)
class Step:
    name: str
    label: str
    # Makes a mutating AWS call (skipped when the operation is being cancelled).
    mutating: bool = False
    # Waits for AWS to finish something it started and cannot stop: on cancel it
    # still runs to its end, then the operation ends cancelled.
    settles: bool = False
    # How long this step may keep waiting or retrying before the operation fails.
    budget_seconds: float = 1800.0


# --- the context a step runs in ------------------------------------------------------


class StepContext:
    """What a running step may use: AWS clients for the operation's account, its
    memory (kept between runs), its result, the timeline, and a checkpoint."""

    def __init__(
        self,
        op: Operation,
        checkpoint: Callable[[], bool],
        note: Callable[[str, str, dict[str, Any]], None] | None = None,
    ) -> None:
        self.op = op
        self._checkpoint = checkpoint
        self._note = note

    @property
    def params(self) -> dict[str, Any]:
        return self.op.params

    @property
    def memory(self) -> dict[str, Any]:
        return self.op.memory

    @property
    def result(self) -> dict[str, Any]:
        return self.op.result

    def client(
        self, service: str = "rds", region: str | None = None, *, mutating: bool = False
    ) -> Any:
        return cached_client(self.op.account, region or self.op.region, service, mutating=mutating)

    def call(self, operation: str, service: str = "rds", region: str | None = None, **kw: Any):
        """One AWS call. A mutating one is sent once (no botocore retry); when AWS may
        have applied it without answering (``AwsAmbiguous``), or a worker died after the
        checkpoint before it, the step's re-runs re-describe the target, and a re-run
        that still reaches this call does not send it again: it waits (a grace period)
        for AWS to show the effect, then fails the operation."""
        mutating = aws.is_mutating(operation)
        client = self.client(service, region, mutating=mutating)
        if not mutating:
            return aws.call(client, operation, **kw)
        target = call_target(kw)
        self._refuse_repeat(operation, target)
        # Checkpointed before sending: a run that dies from here on leaves a record of
        # exactly which call may have reached AWS.
        self.memory[CALLING] = {
            "step": self.op.current_step,
            "operation": operation,
            "target": target,
        }
        self.checkpoint(mutation=True)
        try:
            return aws.call(client, operation, **kw)
        except aws.AwsAmbiguous as exc:
            self.memory[AMBIGUOUS] = unanswered(self.memory[CALLING], f"{exc.code}: {exc.message}")
            raise

    def _refuse_repeat(self, operation: str, target: str) -> None:
        unanswered = self.memory.get(AMBIGUOUS)
        if not unanswered or unanswered.get("step") != self.op.current_step:
            return
        if operation in IDEMPOTENT_CALLS or (operation, target) != (
            unanswered.get("operation"),
            unanswered.get("target", ""),
        ):
            return
        waited = time.time() - float(unanswered.get("since") or 0)
        grace = ambiguity_grace_seconds()
        what = unanswered.get("operation") or operation
        if waited < grace:
            raise StepInterrupted(
                Wait(
                    min(poll_interval(self.op), max(0.5, grace - waited)),
                    f"No answer from AWS to {what} ({unanswered.get('reason', '')}); "
                    f"watching {self.op.target_label} to see whether it took effect. "
                    "Estate does not send it again.",
                )
            )
        raise StepInterrupted(
            Fail(
                f"AWS did not answer {what} ({unanswered.get('reason', '')}), and "
                f"{waited:.0f} s later {self.op.target_label} shows no sign that it took "
                "effect. Estate did not send it again.",
                "Check the resource in the AWS console (and its events), then start a new "
                "operation if the change is still wanted.",
            )
        )

    def log(self, message: str, level: str = "info", **data: Any) -> None:
        if self._note is not None:
            self._note(message, level, data)
            return
        from operations.models import event

        event(self.op, message, level=level, **data)

    def checkpoint(self, *, mutation: bool = False) -> None:
        """Persist memory (and that a mutating call is about to be made) before acting.
        Raises ``LeaseLost`` when another worker has taken the operation over."""
        if mutation:
            self.op.mutation_started = True
            # Cleared when the step's run ends (saved): found set, a run was
            # interrupted after this point, and whether AWS got the call is unknown.
            self.op.memory["_mutating_step"] = self.op.current_step
        if self._checkpoint() is False:
            raise LeaseLost(f"operation {self.op.pk}: lease lost at a checkpoint")


# --- parameter forms -----------------------------------------------------------------


class KindForm(forms.Form):
    """A kind's parameters, validated against the mirror (``target`` is the mirrored
    row). Destructive kinds add a typed confirmation of the target's identifier."""

    # Typed by a person each time: never filled in from an earlier operation.
    RETYPED: ClassVar[frozenset[str]] = frozenset({"confirm", "accept_data_loss"})

    def __init__(self, *args: Any, target: Any, kind: type[Kind], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target = target
        self.kind = kind
        if kind.confirm_identifier:
            self.fields["confirm"] = forms.CharField(
                label=f"Type {target.identifier} to confirm",
                help_text=kind.confirm_help,
            )

    def clean_confirm(self) -> str:
        typed = self.cleaned_data.get("confirm", "")
        if typed.strip() != self.target.identifier:
            raise ValidationError(
                f"Type the identifier {self.target.identifier} exactly to confirm.",
                code="confirm",
            )
        return typed


def json_params(cleaned: dict[str, Any]) -> dict[str, Any]:
    """Cleaned form data as JSON-safe parameters (datetimes as ISO 8601, no confirm)."""
    out: dict[str, Any] = {}
    for key, value in cleaned.items():
        if key == "confirm":
            continue
        if isinstance(value, datetime):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        elif hasattr(value, "pk"):
            value = value.pk
        out[key] = value
    return out


def parse_time(value: str | None) -> datetime | None:
    if not value:
        return None
    parsed = datetime.fromisoformat(value)
    if timezone.is_naive(parsed):
        parsed = timezone.make_aware(parsed, timezone.get_current_timezone())
    return parsed


# --- the kind ------------------------------------------------------------------------


class Kind:
    name: ClassVar[str]
    label: ClassVar[str]
    description: ClassVar[str] = ""
    target_model: ClassVar[type]
    form_class: ClassVar[type[KindForm]] = KindForm
    steps: ClassVar[tuple[Step, ...]]
    mutating: ClassVar[bool] = True
    destructive: ClassVar[bool] = False
    # Destructive and data-losing kinds make the user type the target's identifier.
    confirm_identifier: ClassVar[bool] = False
    confirm_help: ClassVar[str] = "This cannot be undone."
    # What the timeline says when a cancel arrives while AWS is busy.
    cannot_stop: ClassVar[str] = "AWS cannot stop this once it has started"
    # Kinds of estate.sync.KINDS to resync after success.
    resync_kinds: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        """Offer this kind for ``resource`` in its current (mirrored) state?"""
        return isinstance(resource, cls.target_model) and resource.gone_at is None

    @classmethod
    def permission(cls) -> str:
        return RUN_DESTRUCTIVE_OPERATIONS if cls.destructive else RUN_OPERATIONS

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        """Validate against a fresh describe of the target; raise ``ValidationError``.
        May put what it saw in ``ctx.memory`` for the steps."""

    @classmethod
    def step_named(cls, name: str) -> Step:
        return next(s for s in cls.steps if s.name == name)

    def run(self, step: Step, ctx: StepContext) -> Outcome:
        return getattr(self, f"step_{step.name}")(ctx)

    def resync_regions(self, op: Operation) -> list[str]:
        """Regions whose mirror changes (a cross-region replica adds its region)."""
        return [op.region]


class LiveContext:
    """AWS access for ``check_live`` (before any Operation exists)."""

    def __init__(self, account: Any, region: str) -> None:
        self.account = account
        self.region = region
        self.memory: dict[str, Any] = {}

    def call(self, operation: str, service: str = "rds", region: str | None = None, **kw: Any):
        mutating = aws.is_mutating(operation)
        client = cached_client(self.account, region or self.region, service, mutating=mutating)
        return aws.call(client, operation, **kw)


# --- helpers the RDS kinds share -----------------------------------------------------


# --- resources an operation creates ---------------------------------------------------

# Every resource an operation creates carries these tags, so that a re-run after any
# interruption (a timeout, a lost lease, a killed worker) recognises it as its own
# rather than someone else's that happens to have the name.
OPERATION_TAG = "estate:operation"
CREATED_BY_TAG = "estate:created-by"


def creation_tags(op: Operation, **extra: str) -> list[dict[str, str]]:
    """AWS ``Tags`` for a resource ``op`` creates (plus ``extra`` key/values)."""
    tags = {CREATED_BY_TAG: "estate", OPERATION_TAG: str(op.pk), **extra}
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def tag_map(resource: dict[str, Any]) -> dict[str, str]:
    """A described resource's tags (``TagList`` or ``Tags``) as a dict."""
    items = resource.get("TagList") or resource.get("Tags") or []
    return {str(t.get("Key")): str(t.get("Value", "")) for t in items}


def created_by(resource: dict[str, Any], op: Operation) -> bool:
    return tag_map(resource).get(OPERATION_TAG) == str(op.pk)


def ours_or_fail(ctx: StepContext, resource: dict[str, Any], noun: str, name: str) -> Done | Fail:
    """A step found the resource it is about to create: this operation's (tagged with
    its id) means an earlier run's request got through; anyone else's is not ours."""
    if not created_by(resource, ctx.op):
        return Fail(
            f"A {noun} named {name} exists that this operation did not create.",
            f"Choose another name for the new {noun} and start again.",
        )
    return Done(
        f"{name} already exists, created by this operation (an earlier attempt's request "
        "got through): not asking again."
    )


def describe_cluster(call: Callable[..., dict], identifier: str) -> dict[str, Any]:
    return call("describe_db_clusters", DBClusterIdentifier=identifier)["DBClusters"][0]


def describe_instance(call: Callable[..., dict], identifier: str) -> dict[str, Any]:
    return call("describe_db_instances", DBInstanceIdentifier=identifier)["DBInstances"][0]


def cluster_writer(cluster: dict[str, Any]) -> str:
    for member in cluster.get("DBClusterMembers", []):
        if member.get("IsClusterWriter"):
            return member["DBInstanceIdentifier"]
    return ""


def members_status(call: Callable[..., dict], cluster: dict[str, Any]) -> dict[str, str]:
    """Member identifier -> status (one describe, filtered by cluster)."""
    found = call(
        "describe_db_instances",
        Filters=[{"Name": "db-cluster-id", "Values": [cluster["DBClusterIdentifier"]]}],
    )["DBInstances"]
    return {i["DBInstanceIdentifier"]: i["DBInstanceStatus"] for i in found}


POLL_SECONDS = 5.0


def poll_interval(op: Operation) -> float:
    """How long to wait before describing again: the configured poll interval."""
    from django.conf import settings

    return float(getattr(settings, "OPERATIONS_POLL_SECONDS", POLL_SECONDS))


def typical_scale() -> float:
    from django.conf import settings

    return float(getattr(settings, "OPERATIONS_TYPICAL_SCALE", 1.0))


def settle_wait(ctx: StepContext, typical_seconds: float) -> float:
    """Seconds until the next describe while AWS does something it documents as taking
    about ``typical_seconds`` (Aurora failover ~30 s): none before that time, then
    every 5 % of the time elapsed so far (at least 1 s, at most the poll interval).

    Polling every few seconds from the start would cost hundreds of describes per
    minute when hundreds of operations run, for answers known in advance ("still
    failing over"); being late after the typical time costs at most 5 % of it.
    Needs ``ctx.memory["requested_at"]`` (epoch seconds: set before the AWS call and
    checkpointed, then set again when AWS has accepted it)."""
    typical = typical_seconds * typical_scale()
    since = time.time() - float(ctx.memory.get("requested_at") or 0)
    if since < typical:
        return typical - since
    poll = poll_interval(ctx.op)
    return min(poll, max(min(1.0, poll), 0.05 * since))
