"""Backtrack an Aurora MySQL cluster to a time inside its backtrack window.

The window is [earliest backtrack time, now]: the form shows it and refuses any time
outside it (checked against the mirror, then against a fresh describe).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from estate.models import DbCluster
from estate.when import WhenField
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    describe_cluster,
    parse_time,
    poll_interval,
)


def _fmt(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S UTC") if value else "unknown"


def _as_utc(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if timezone.is_naive(value):
        value = value.replace(tzinfo=UTC)
    return value


class BacktrackForm(KindForm):
    backtrack_to = WhenField(
        label="Backtrack to",
        help_text="A time inside the backtrack window.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cluster: DbCluster = self.target
        self.fields[
            "backtrack_to"
        ].help_text = f"Window: {_fmt(cluster.earliest_backtrack_time)} to now."

    def clean_backtrack_to(self) -> datetime:
        when: datetime = self.cleaned_data["backtrack_to"]
        cluster: DbCluster = self.target
        earliest = cluster.earliest_backtrack_time
        if earliest is not None and when < earliest:
            raise ValidationError(
                f"{_fmt(when)} is before the start of the backtrack window "
                f"({_fmt(earliest)}). Choose a later time."
            )
        if when > timezone.now():
            raise ValidationError(f"{_fmt(when)} is in the future. Choose a past time.")
        return when

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cluster: DbCluster = self.target
        if not cluster.can_backtrack():
            raise ValidationError(
                f"{cluster.identifier} cannot backtrack: only Aurora MySQL clusters with a "
                "backtrack window can."
            )
        if cluster.status != "available":
            raise ValidationError(
                f"{cluster.identifier} is {cluster.status}; it must be available."
            )
        return cleaned


class Backtrack(Kind):
    name = "backtrack"
    label = "Backtrack cluster"
    description = "Rewind an Aurora MySQL cluster in place to an earlier time."
    target_model = DbCluster
    form_class = BacktrackForm
    # Rewinding loses every write after the chosen time.
    confirm_identifier = True
    confirm_help = "Every write after the chosen time is lost."
    destructive = True
    cannot_stop = "AWS cannot stop a backtrack once it has started"
    resync_kinds = ("clusters",)
    steps = (
        Step("request_backtrack", "Ask AWS to backtrack", mutating=True),
        Step("await_backtrack", "Wait for the backtrack to complete", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.can_backtrack()
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cluster = describe_cluster(ctx.call, target.identifier)
        if cluster.get("Engine") != "aurora-mysql" or not cluster.get("BacktrackWindow"):
            raise ValidationError(f"Backtrack is not enabled on {target.identifier} in AWS.")
        if cluster["Status"] != "available":
            raise ValidationError(f"{target.identifier} is {cluster['Status']} in AWS right now.")
        earliest = _as_utc(cluster.get("EarliestBacktrackTime"))
        when = parse_time(params["backtrack_to"])
        if earliest is not None and when is not None and when < earliest:
            raise ValidationError(
                f"{_fmt(when)} is before the start of the backtrack window in AWS "
                f"({_fmt(earliest)}). Choose a later time."
            )

    def _ours(self, ctx: StepContext) -> dict[str, Any] | None:
        found = ctx.call("describe_db_cluster_backtracks", DBClusterIdentifier=ctx.op.target_label)
        wanted = ctx.memory.get("backtrack_id")
        since = _as_utc(ctx.memory.get("requested_at"))
        target = parse_time(ctx.params["backtrack_to"])
        for backtrack in found.get("DBClusterBacktracks", []):
            if wanted and backtrack["BacktrackIdentifier"] == wanted:
                return backtrack
            created = _as_utc(backtrack.get("BacktrackRequestCreationTime"))
            to = _as_utc(backtrack.get("BacktrackTo"))
            # A call that got through before the worker died, recognised by its target.
            if (
                not wanted
                and since is not None
                and created is not None
                and created >= since.replace(microsecond=0)
                and to is not None
                and target is not None
                and abs((to - target).total_seconds()) < 1
            ):
                return backtrack
        return None

    def step_request_backtrack(self, ctx: StepContext) -> Done | Wait | Fail:
        existing = self._ours(ctx) if ctx.memory.get("requested_at") else None
        if existing is not None:
            ctx.memory["backtrack_id"] = existing["BacktrackIdentifier"]
            return Done(
                f"AWS already has this backtrack ({existing['BacktrackIdentifier']}): not "
                "asking again.",
                result={"backtrack_id": existing["BacktrackIdentifier"]},
            )
        cluster = describe_cluster(ctx.call, ctx.op.target_label)
        if cluster["Status"] != "available":
            return Wait(poll_interval(ctx.op), f"Cluster is {cluster['Status']}; waiting.")
        ctx.memory["requested_at"] = timezone.now().isoformat()
        ctx.checkpoint(mutation=True)
        answer = ctx.call(
            "backtrack_db_cluster",
            DBClusterIdentifier=ctx.op.target_label,
            BacktrackTo=parse_time(ctx.params["backtrack_to"]),
        )
        ctx.memory["backtrack_id"] = answer["BacktrackIdentifier"]
        return Done(
            f"AWS accepted backtrack {answer['BacktrackIdentifier']}.",
            result={"backtrack_id": answer["BacktrackIdentifier"]},
        )

    def step_await_backtrack(self, ctx: StepContext) -> Done | Wait | Fail:
        backtrack = self._ours(ctx)
        if backtrack is None:
            return Fail(
                f"AWS no longer lists backtrack {ctx.memory.get('backtrack_id')}.",
                "Check the cluster's backtracks in the AWS console.",
            )
        status = backtrack["Status"]
        if status == "completed":
            cluster = describe_cluster(ctx.call, ctx.op.target_label)
            if cluster["Status"] != "available":
                return Wait(poll_interval(ctx.op), f"Backtrack done; cluster {cluster['Status']}.")
            return Done(
                f"Backtracked to {_fmt(_as_utc(backtrack.get('BacktrackTo')))}.",
                result={
                    "backtrack_id": backtrack["BacktrackIdentifier"],
                    "backtracked_to": str(backtrack.get("BacktrackTo")),
                    "backtracked_from": str(backtrack.get("BacktrackedFrom")),
                },
            )
        if status == "failed":
            return Fail(f"AWS reports backtrack {backtrack['BacktrackIdentifier']} failed.")
        return Wait(poll_interval(ctx.op), f"Backtrack {status}.")


KINDS = (Backtrack,)
