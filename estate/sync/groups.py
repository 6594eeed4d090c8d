"""RDS parameter groups (with the parameters of custom groups) and option groups.
The parameter helpers are shared with ElastiCache's cache parameter groups."""

from __future__ import annotations

from collections.abc import Iterator

from estate.models import OptionGroup, Parameter, ParameterGroup
from estate.sync.fetch import Event, FetchContext, stream, text
from estate.sync.store import ChildSpec, PartSpec, Row

# --- parameter groups -----------------------------------------------------------------

PARAMETER_FIELDS = (
    "value",
    "source",
    "apply_type",
    "apply_method",
    "data_type",
    "allowed_values",
    "is_modifiable",
)


def parameter_children(counts_as: str = "parameters") -> ChildSpec:
    return ChildSpec(
        Parameter,
        parent_field="group_id",
        key=("name",),
        fields=PARAMETER_FIELDS,
        counts_as=counts_as,
    )


DB_PARAMETER_GROUPS = PartSpec(
    "db_parameter_groups",
    ParameterGroup,
    scope={"scope": ParameterGroup.Scope.INSTANCE},
    children=parameter_children(),
)
CLUSTER_PARAMETER_GROUPS = PartSpec(
    "cluster_parameter_groups",
    ParameterGroup,
    scope={"scope": ParameterGroup.Scope.CLUSTER},
    children=parameter_children(),
)


def map_parameter(p: dict) -> Row:
    return {
        "name": p.get("ParameterName", ""),
        "value": p.get("ParameterValue"),
        "source": text(p.get("Source")),
        "apply_type": text(p.get("ApplyType") or p.get("ChangeType")),
        "apply_method": text(p.get("ApplyMethod")),
        "data_type": text(p.get("DataType")),
        "allowed_values": text(p.get("AllowedValues")),
        "is_modifiable": bool(p.get("IsModifiable", True)),
    }


def is_default_group(name: str) -> bool:
    return name.startswith("default.") or name.startswith("default:")


def fetch_parameter_groups(ctx: FetchContext) -> Iterator[Event]:
    """DB and cluster parameter groups. Parameters are read for custom groups only:
    a default group cannot be modified (so it has no user-set values) and lists
    hundreds of engine defaults over several pages each — the cost with nothing to see."""

    def group(scope: str, name_key: str, arn_key: str, family_key: str, op: str):
        def mapper(item: dict) -> Row:
            name = item[name_key]
            row: Row = {
                "arn": item[arn_key],
                "identifier": name,
                "status": "",
                **ctx.tags.of(item[arn_key]),
                "scope": scope,
                "family": text(item.get(family_key)),
                "description": text(item.get("Description")),
            }
            if not is_default_group(name):
                key = (
                    "DBClusterParameterGroupName" if scope == "cluster" else "DBParameterGroupName"
                )
                row["_children"] = [
                    map_parameter(p) for p in ctx.paginate("rds", op, "Parameters", **{key: name})
                ]
            return row

        return mapper

    yield from stream(
        DB_PARAMETER_GROUPS,
        ctx.paginate("rds", "describe_db_parameter_groups", "DBParameterGroups"),
        group(
            ParameterGroup.Scope.INSTANCE,
            "DBParameterGroupName",
            "DBParameterGroupArn",
            "DBParameterGroupFamily",
            "describe_db_parameters",
        ),
    )
    yield from stream(
        CLUSTER_PARAMETER_GROUPS,
        ctx.paginate("rds", "describe_db_cluster_parameter_groups", "DBClusterParameterGroups"),
        group(
            ParameterGroup.Scope.CLUSTER,
            "DBClusterParameterGroupName",
            "DBClusterParameterGroupArn",
            "DBParameterGroupFamily",
            "describe_db_cluster_parameters",
        ),
    )
    yield from ctx.tag_problems()


# --- option groups --------------------------------------------------------------------

OPTION_GROUPS = PartSpec("option_groups", OptionGroup)


def map_option_group(item: dict) -> Row:
    return {
        "arn": item["OptionGroupArn"],
        "identifier": item["OptionGroupName"],
        "status": "",
        "engine": text(item.get("EngineName")),
        "major_engine_version": text(item.get("MajorEngineVersion")),
        "description": text(item.get("OptionGroupDescription")),
        "options": [
            {
                "name": o.get("OptionName", ""),
                "version": text(o.get("OptionVersion")),
                "port": o.get("Port"),
                "settings": {
                    s.get("Name", ""): s.get("Value") for s in o.get("OptionSettings") or []
                },
                "persistent": bool(o.get("Persistent")),
                "permanent": bool(o.get("Permanent")),
            }
            for o in item.get("Options") or []
        ],
    }


def fetch_option_groups(ctx: FetchContext) -> Iterator[Event]:
    yield from stream(
        OPTION_GROUPS,
        ctx.paginate("rds", "describe_option_groups", "OptionGroupsList"),
        ctx.tags.mapper(map_option_group),
    )
    yield from ctx.tag_problems()
