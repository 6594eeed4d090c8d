"""Admins manage backup policies (in the admin): give the Admin role the model's
permissions, which did not exist when estate's role migration ran."""

from django.db import migrations

POLICY_PERMS = [
    "view_backuppolicy",
    "add_backuppolicy",
    "change_backuppolicy",
    "delete_backuppolicy",
]


def grant(apps, schema_editor):
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    admin, _ = Group.objects.get_or_create(name="Admin")
    admin.permissions.add(
        *Permission.objects.filter(content_type__app_label="drills", codename__in=POLICY_PERMS)
    )


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for group in Group.objects.filter(name="Admin"):
        group.permissions.remove(
            *Permission.objects.filter(content_type__app_label="drills", codename__in=POLICY_PERMS)
        )


class Migration(migrations.Migration):
    dependencies = [("drills", "0001_initial"), ("estate", "0002_roles")]

    operations = [migrations.RunPython(grant, revoke)]
