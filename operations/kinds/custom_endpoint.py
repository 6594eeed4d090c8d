"""Custom Aurora cluster endpoints: create one, change its members, delete it."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError

from estate import aws
from estate.models import DbCluster, DbEndpoint, EndpointKind
from operations.kinds.base import (
    Done,
    Fail,
    Kind,
    KindForm,
    LiveContext,
    Step,
    StepContext,
    Wait,
    creation_tags,
    describe_cluster,
    poll_interval,
)
from operations.kinds.clone import valid_identifier

MAX_CUSTOM_ENDPOINTS = 5


def _describe_endpoint(ctx: StepContext | LiveContext, endpoint_id: str) -> dict[str, Any] | None:
    try:
        found = ctx.call(
            "describe_db_cluster_endpoints", DBClusterEndpointIdentifier=endpoint_id
        ).get("DBClusterEndpoints", [])
    except aws.AwsNotFound:
        return None
    return found[0] if found else None


def _member_choices(cluster: DbCluster | None) -> list[tuple[str, str]]:
    if cluster is None:
        return []
    return [(m["identifier"], m["identifier"]) for m in cluster.members]


class CreateEndpointForm(KindForm):
    endpoint_identifier = forms.CharField(label="Endpoint name", max_length=63)
    endpoint_type = forms.ChoiceField(choices=[("READER", "Readers"), ("ANY", "Any instance")])
    static_members = forms.MultipleChoiceField(
        required=False, help_text="Empty: every instance of the type (present and future)."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["static_members"].choices = _member_choices(self.target)

    def clean_endpoint_identifier(self) -> str:
        name = valid_identifier(self.cleaned_data["endpoint_identifier"].strip())
        cluster: DbCluster = self.target
        taken = DbEndpoint.objects.live().filter(
            account=cluster.account,
            region=cluster.region,
            kind=EndpointKind.CUSTOM,
            identifier=name,
        )
        if taken.exists():
            raise ValidationError(f"An endpoint named {name} already exists in {cluster.region}.")
        return name

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        cluster: DbCluster = self.target
        if not cluster.is_aurora:
            raise ValidationError("Custom endpoints exist on Aurora clusters only.")
        count = cluster.endpoints.live().filter(kind=EndpointKind.CUSTOM).count()
        if count >= MAX_CUSTOM_ENDPOINTS:
            raise ValidationError(
                f"{cluster.identifier} already has {count} custom endpoints (AWS allows "
                f"{MAX_CUSTOM_ENDPOINTS}). Delete one first."
            )
        members = cleaned.get("static_members") or []
        if cleaned.get("endpoint_type") == "READER":
            writer = cluster.writer_identifier
            if writer and writer in members:
                self.add_error(
                    "static_members",
                    f"{writer} is the writer: a READER endpoint cannot include it.",
                )
        return cleaned


class CreateCustomEndpoint(Kind):
    name = "create_custom_endpoint"
    label = "Create custom endpoint"
    description = "A custom endpoint over chosen instances of the cluster."
    target_model = DbCluster
    form_class = CreateEndpointForm
    mutating = False  # adds an endpoint; the cluster itself is unchanged
    resync_kinds = ("endpoints",)
    steps = (
        Step("create", "Ask AWS to create the endpoint", mutating=True),
        Step("await_available", "Wait for the endpoint", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return (
            super().applies_to(resource) and resource.is_aurora and resource.status == "available"
        )

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        cluster = describe_cluster(ctx.call, target.identifier)
        live_members = {m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])}
        missing = sorted(set(params.get("static_members") or []) - live_members)
        if missing:
            raise ValidationError(
                f"Not members of {target.identifier} in AWS: {', '.join(missing)}."
            )
        if _describe_endpoint(ctx, params["endpoint_identifier"]) is not None:
            raise ValidationError(
                f"An endpoint named {params['endpoint_identifier']} already exists in AWS."
            )

    def step_create(self, ctx: StepContext) -> Done | Wait | Fail:
        name = ctx.params["endpoint_identifier"]
        existing = _describe_endpoint(ctx, name)
        if existing is not None:
            if existing.get("DBClusterIdentifier") != ctx.op.target_label:
                return Fail(f"An endpoint named {name} exists on another cluster.")
            return Done("The endpoint already exists (requested before a restart).")
        ctx.checkpoint(mutation=True)
        kwargs: dict[str, Any] = {
            "DBClusterIdentifier": ctx.op.target_label,
            "DBClusterEndpointIdentifier": name,
            "EndpointType": ctx.params["endpoint_type"],
        }
        if ctx.params.get("static_members"):
            kwargs["StaticMembers"] = ctx.params["static_members"]
        # (DescribeDBClusterEndpoints shows no tags: a re-run recognises the endpoint by
        # its cluster; the tags mark it as Estate's in the mirror.)
        kwargs["Tags"] = creation_tags(ctx.op)
        ctx.call("create_db_cluster_endpoint", **kwargs)
        return Done(f"AWS is creating endpoint {name}.")

    def step_await_available(self, ctx: StepContext) -> Done | Wait | Fail:
        endpoint = _describe_endpoint(ctx, ctx.params["endpoint_identifier"])
        if endpoint is None:
            return Fail("The endpoint disappeared while being created.")
        if endpoint.get("Status") != "available":
            return Wait(poll_interval(ctx.op), f"Endpoint is {endpoint.get('Status')}.")
        return Done(
            f"{endpoint.get('Endpoint')} is available.",
            result={
                "endpoint_arn": endpoint.get("DBClusterEndpointArn", ""),
                "address": endpoint.get("Endpoint", ""),
                "static_members": endpoint.get("StaticMembers", []),
            },
        )


class ModifyEndpointForm(KindForm):
    endpoint_type = forms.ChoiceField(choices=[("READER", "Readers"), ("ANY", "Any instance")])
    static_members = forms.MultipleChoiceField(required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        endpoint: DbEndpoint = self.target
        self.fields["static_members"].choices = _member_choices(endpoint.cluster)
        self.fields["static_members"].initial = endpoint.static_members
        self.fields["endpoint_type"].initial = endpoint.custom_type or "READER"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        endpoint: DbEndpoint = self.target
        if endpoint.kind != EndpointKind.CUSTOM:
            raise ValidationError("Only custom endpoints can be changed.")
        if endpoint.status != "available":
            raise ValidationError(
                f"{endpoint.identifier} is {endpoint.status}; it must be available."
            )
        return cleaned


def _endpoint_applies(resource: Any) -> bool:
    return (
        isinstance(resource, DbEndpoint)
        and resource.gone_at is None
        and resource.kind == EndpointKind.CUSTOM
        and resource.status == "available"
    )


class ModifyCustomEndpoint(Kind):
    name = "modify_custom_endpoint"
    label = "Change endpoint members"
    description = "Change which instances a custom endpoint routes to."
    target_model = DbEndpoint
    form_class = ModifyEndpointForm
    resync_kinds = ("endpoints",)
    steps = (
        Step("modify", "Ask AWS to change the members", mutating=True),
        Step("await_available", "Wait for the endpoint", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return _endpoint_applies(resource)

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        endpoint = _describe_endpoint(ctx, target.identifier)
        if endpoint is None:
            raise ValidationError(f"{target.identifier} no longer exists in AWS.")
        cluster = describe_cluster(ctx.call, endpoint["DBClusterIdentifier"])
        live = {m["DBInstanceIdentifier"] for m in cluster.get("DBClusterMembers", [])}
        missing = sorted(set(params.get("static_members") or []) - live)
        if missing:
            raise ValidationError(f"Not members of the cluster in AWS: {', '.join(missing)}.")

    def step_modify(self, ctx: StepContext) -> Done | Wait | Fail:
        endpoint = _describe_endpoint(ctx, ctx.op.target_label)
        if endpoint is None:
            return Fail(f"{ctx.op.target_label} no longer exists in AWS.")
        wanted = sorted(ctx.params.get("static_members") or [])
        if (
            sorted(endpoint.get("StaticMembers", [])) == wanted
            and endpoint.get("CustomEndpointType") == ctx.params["endpoint_type"]
        ):
            return Done("The endpoint already has these members: not asking again.")
        ctx.checkpoint(mutation=True)
        ctx.call(
            "modify_db_cluster_endpoint",
            DBClusterEndpointIdentifier=ctx.op.target_label,
            EndpointType=ctx.params["endpoint_type"],
            StaticMembers=wanted,
        )
        return Done("AWS accepted the new members.")

    def step_await_available(self, ctx: StepContext) -> Done | Wait | Fail:
        endpoint = _describe_endpoint(ctx, ctx.op.target_label)
        if endpoint is None:
            return Fail("The endpoint disappeared while being changed.")
        if endpoint.get("Status") != "available":
            return Wait(poll_interval(ctx.op), f"Endpoint is {endpoint.get('Status')}.")
        return Done(
            "The endpoint routes to its new members.",
            result={"static_members": endpoint.get("StaticMembers", [])},
        )


class DeleteEndpointForm(KindForm):
    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.target.kind != EndpointKind.CUSTOM:
            raise ValidationError("Only custom endpoints can be deleted.")
        return cleaned


class DeleteCustomEndpoint(Kind):
    name = "delete_custom_endpoint"
    label = "Delete custom endpoint"
    description = "Clients using this address lose it."
    target_model = DbEndpoint
    form_class = DeleteEndpointForm
    destructive = True
    confirm_identifier = True
    confirm_help = "Clients connecting through this endpoint will fail."
    resync_kinds = ("endpoints",)
    steps = (
        Step("delete", "Ask AWS to delete the endpoint", mutating=True),
        Step("await_gone", "Wait until it is gone", settles=True),
    )

    @classmethod
    def applies_to(cls, resource: Any) -> bool:
        return _endpoint_applies(resource)

    @classmethod
    def check_live(cls, target: Any, params: dict[str, Any], ctx: LiveContext) -> None:
        if _describe_endpoint(ctx, target.identifier) is None:
            raise ValidationError(f"{target.identifier} no longer exists in AWS.")

    def step_delete(self, ctx: StepContext) -> Done | Wait | Fail:
        endpoint = _describe_endpoint(ctx, ctx.op.target_label)
        if endpoint is None or endpoint.get("Status") == "deleting":
            return Done("The endpoint is already gone or going: not asking again.")
        ctx.checkpoint(mutation=True)
        ctx.call("delete_db_cluster_endpoint", DBClusterEndpointIdentifier=ctx.op.target_label)
        return Done("AWS is deleting the endpoint.")

    def step_await_gone(self, ctx: StepContext) -> Done | Wait | Fail:
        endpoint = _describe_endpoint(ctx, ctx.op.target_label)
        if endpoint is not None:
            return Wait(poll_interval(ctx.op), f"Endpoint is {endpoint.get('Status')}.")
        return Done("The endpoint is gone.", result={"deleted": ctx.op.target_arn})


KINDS = (CreateCustomEndpoint, ModifyCustomEndpoint, DeleteCustomEndpoint)
