"""Create the Viewer, Operator and Admin groups with their permissions."""

from django.db import migrations

# Frozen here, not imported from estate.roles: a migration must not change when the
# live role lists grow (later apps grant their own permissions in their migrations).
_VIEWER = ["estate.view_estate"]
_OPERATOR = [*_VIEWER, "estate.trigger_sync", "estate.run_operations", "estate.manage_drills"]
_ADMIN = [
    *_OPERATOR,
    "estate.run_destructive_operations",
    "estate.manage_accounts",
    "estate.add_account",
    "estate.change_account",
    "estate.delete_account",
    "estate.view_account",
]
ROLE_PERMS = {"Viewer": _VIEWER, "Operator": _OPERATOR, "Admin": _ADMIN}


def create_roles(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    # Permissions are normally created after all migrations; make sure they exist now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMS.items():
        group, _ = Group.objects.get_or_create(name=role)
        for perm in perms:
            app_label, codename = perm.split(".")
            group.permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


def drop_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=list(ROLE_PERMS)).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("estate", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, drop_roles)]
