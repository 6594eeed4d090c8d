"""Failover a Multi-AZ DB instance: reboot with failover, verify the AZs swapped."""

from __future__ import annotations

import time
from typing import Any

from django.core.exceptions import ValidationError

from estate.models import DbInstance
from operations import polling
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    describe_instance,
    poll_interval,
    typical_scale,
)

# AWS: a Multi-AZ DB instance failover typically takes 60-120 s.
TYPICAL_SECONDS = 60.0


class InstanceFailoverForm(KindForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        instance: DbInstance = self.target
        if instance.cluster_id is not None:
            raise ValidationError(
                f"{instance.identifier} belongs to cluster {instance.cluster.identifier}: "
                "fail over the cluster instead."
            )
        if not instance.multi_az:
            raise ValidationError(
                f"{instance.identifier} is a Single-AZ instance: it has no standby to fail "
                "over to. Convert it to Multi-AZ first."
            )
        if instance.status != "available":
            raise ValidationError(
                f"{instance.identifier} is {instance.status}; a failover needs it available."
            )
        return cleaned


class InstanceFailover(Kind):
    name = "instance_failover"
    label = "Fail over Multi-AZ instance"
    description = "Reboot with failover: the standby becomes the primary."
    target_model = DbInstance
    form_class = InstanceFailoverForm
    cannot_stop = "AWS cannot stop a reboot with failover once it has started"
    resync_kinds = ("instances",)
    steps = (
        Step("request_reboot", "Ask AWS to reboot with failover", mutating=True),
        Step("await_failover", "Wait for the standby to take over", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource)
            and resource.multi_az
            and resource.cluster_id is None
            and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        instance = describe_instance(ctx.call, target.identifier)
        if not instance.get("MultiAZ"):
            raise ValidationError(f"{target.identifier} is not Multi-AZ in AWS right now.")
        if instance["DBInstanceStatus"] != "available":
            raise ValidationError(
                f"{target.identifier} is {instance['DBInstanceStatus']} in AWS right now."
            )
        ctx.memory["primary_az"] = instance.get("AvailabilityZone", "")
        ctx.memory["standby_az"] = instance.get("SecondaryAvailabilityZone", "")

    def step_request_reboot(self, ctx: StepContext) -> Done | Wait | Fail:
        instance = describe_instance(ctx.call, ctx.op.target_label)
        primary = ctx.memory["primary_az"]
        if instance["DBInstanceStatus"] == "rebooting" or instance["AvailabilityZone"] != primary:
            ctx.memory.setdefault("requested_at", time.time())
            ctx.checkpoint(mutation=True)
            return Done("AWS is already rebooting (or has failed over): not asking again.")
        if instance["DBInstanceStatus"] != "available":
            return Wait(poll_interval(ctx.op), f"Instance is {instance['DBInstanceStatus']}.")
        ctx.memory["requested_at"] = time.time()
        ctx.checkpoint(mutation=True)
        ctx.call("reboot_db_instance", DBInstanceIdentifier=ctx.op.target_label, ForceFailover=True)
        ctx.memory["requested_at"] = time.time()  # AWS's clock starts when it accepts
        return Done(f"AWS accepted the reboot with failover (primary in {primary}).")

    def step_await_failover(self, ctx: StepContext) -> Done | Wait | Fail:
        # A shared describe per account, region and tick (operations.polling): polling
        # from the start costs no more AWS calls.
        instance = polling.shared(ctx, "instance", ctx.op.target_label)
        if not isinstance(instance, dict):
            return Wait(instance, "AWS is rebooting with failover.")
        status = instance["DBInstanceStatus"]
        primary, standby = ctx.memory["primary_az"], ctx.memory["standby_az"]
        now_primary = instance.get("AvailabilityZone", "")
        if status != "available":
            return Wait(polling.next_tick_in(), f"Instance is {status}.")
        if now_primary == primary:
            # AWS may report "available" for a moment before the reboot shows: only
            # past the typical duration do a few such answers mean it did not happen.
            since = time.time() - float(ctx.memory.get("requested_at") or 0)
            if since < TYPICAL_SECONDS * typical_scale() or ctx.op.step_attempts < 3:
                return Wait(
                    poll_interval(ctx.op), "Instance available; the AZ has not changed yet."
                )
            return Fail(
                f"The instance is available but its primary is still in {primary}: the "
                "failover did not swap the AZs.",
                "Check the instance's events in the AWS console.",
            )
        if standby and now_primary != standby:
            return Fail(f"The primary moved to {now_primary}, not to the standby AZ {standby}.")
        return Done(
            f"Primary now in {now_primary}, standby in {instance.get('SecondaryAvailabilityZone')}.",
            result={
                "old_primary_az": primary,
                "new_primary_az": now_primary,
                "new_standby_az": instance.get("SecondaryAvailabilityZone", ""),
            },
        )


KINDS = (InstanceFailover,)
