from django.contrib import admin

from estate import models

admin.site.site_header = "Estate administration"


@admin.register(models.Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["name", "account_id", "environment", "enabled", "role_arn"]
    list_filter = ["environment", "enabled"]
    search_fields = ["name", "account_id", "role_arn"]


class MirroredAdmin(admin.ModelAdmin):
    """Mirrored rows are written by sync only: every field is read-only here."""

    list_display = ["identifier", "account", "region", "status", "gone_at"]
    list_filter = ["account", "region", "status", ("gone_at", admin.EmptyFieldListFilter)]
    search_fields = ["identifier", "arn"]
    list_select_related = ["account"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False


def _mirrored(model, extra_display=(), extra_filters=()):
    attrs = {
        "list_display": [
            *MirroredAdmin.list_display[:1],
            *extra_display,
            *MirroredAdmin.list_display[1:],
        ],
        "list_filter": [*extra_filters, *MirroredAdmin.list_filter],
    }
    admin.site.register(model, type(f"{model.__name__}Admin", (MirroredAdmin,), attrs))


_mirrored(models.GlobalCluster, ["engine"], ["engine"])
_mirrored(models.DbCluster, ["engine", "engine_version"], ["engine", "account__environment"])
_mirrored(
    models.DbInstance, ["engine", "instance_class", "cluster"], ["engine", "account__environment"]
)
_mirrored(models.DbEndpoint, ["kind", "address"], ["kind"])
_mirrored(models.DbProxy, ["engine_family"], ["engine_family"])
_mirrored(
    models.DbSnapshot,
    ["scope", "snapshot_type", "source_identifier"],
    ["scope", "snapshot_type", "encrypted"],
)
_mirrored(models.ParameterGroup, ["scope", "family"], ["scope"])
_mirrored(models.OptionGroup, ["engine"], ["engine"])
_mirrored(models.CacheReplicationGroup, ["engine", "node_type"], ["engine"])
_mirrored(models.CacheCluster, ["engine", "node_type", "replication_group"], ["engine"])
_mirrored(models.ServerlessCache, ["engine"], ["engine"])
_mirrored(models.DmsReplicationInstance, ["instance_class"], [])
_mirrored(models.DmsEndpoint, ["endpoint_type", "engine_name"], ["endpoint_type", "engine_name"])
_mirrored(models.DmsReplicationTask, ["migration_type", "progress_percent"], ["migration_type"])


@admin.register(models.SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "started_at",
        "finished_at",
        "status",
        "api_calls",
        "throttle_retries",
        "triggered_by",
    ]
    list_filter = ["status"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
