from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from estate.auth_forms import LoginForm
from estate.views import caches, dms, groups, inventory, overview, resources, snapshots, sync

urlpatterns = [
    path("", overview.home, name="home"),
    path("sync/now/", overview.sync_now, name="sync_now"),
    path("sync/<int:pk>/progress/", overview.sync_progress, name="sync_progress"),
    path("sync/", sync.sync_run_list, name="sync_runs"),
    path("sync/<int:pk>/", sync.sync_run_detail, name="sync_run"),
    path("inventory/", inventory.inventory, name="inventory"),
    path("inventory.csv", inventory.inventory_csv, name="inventory_csv"),
    path("clusters/<int:pk>/", resources.cluster_detail, name="cluster"),
    path("clusters/<int:pk>/topology/", resources.topology_cluster, name="topology_cluster"),
    path("instances/<int:pk>/", resources.instance_detail, name="instance"),
    path("instances/<int:pk>/topology/", resources.topology_instance, name="topology_instance"),
    path("global/<int:pk>/", resources.global_cluster_detail, name="global_cluster"),
    path("global/<int:pk>/topology/", resources.topology_global, name="topology_global"),
    path("proxies/<int:pk>/", resources.proxy_detail, name="proxy"),
    path("caches/", caches.cache_list, name="caches"),
    path("caches/groups/<int:pk>/", caches.cache_group_detail, name="cache_group"),
    path("caches/clusters/<int:pk>/", caches.cache_cluster_detail, name="cache_cluster"),
    path("caches/serverless/<int:pk>/", caches.serverless_cache_detail, name="serverless_cache"),
    path("dms/", dms.dms_list, name="dms"),
    path("dms/tasks/<int:pk>/", dms.dms_task_detail, name="dms_task"),
    path("parameter-groups/", groups.parameter_group_list, name="parameter_groups"),
    path("parameter-groups/diff/", groups.parameter_diff, name="parameter_diff"),
    path("parameter-groups/<int:pk>/", groups.parameter_group_detail, name="parameter_group"),
    path("option-groups/", groups.option_group_list, name="option_groups"),
    path("option-groups/diff/", groups.option_diff, name="option_diff"),
    path("option-groups/<int:pk>/", groups.option_group_detail, name="option_group"),
    path("snapshots/", snapshots.snapshot_list, name="snapshots"),
    path("topology/", resources.topology_index, name="topology"),
    path("", include("audit.urls")),
    path("", include("guard.urls")),
    path("login/", auth_views.LoginView.as_view(authentication_form=LoginForm), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("operations/", include("operations.urls")),
    path("", include("drills.urls")),
    path("metrics/", include("metrics.urls")),
    path("admin/", admin.site.urls),
]
