"""The three roles, as Django groups with permissions (created by a data migration).

Viewer reads everything; Operator also syncs and runs non-destructive operations and
drills; Admin also runs destructive operations and manages accounts, policies, users.
"""

VIEWER = "Viewer"
OPERATOR = "Operator"
ADMIN = "Admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

VIEWER_PERMS = ["estate.view_estate"]
OPERATOR_PERMS = [
    *VIEWER_PERMS,
    "estate.trigger_sync",
    "estate.run_operations",
    "estate.manage_drills",
]
ADMIN_PERMS = [
    *OPERATOR_PERMS,
    "estate.run_destructive_operations",
    "estate.manage_accounts",
    "estate.add_account",
    "estate.change_account",
    "estate.delete_account",
    "estate.view_account",
    # Granted by drills' migration 0002 (the model is the drills app's).
    "drills.view_backuppolicy",
    "drills.add_backuppolicy",
    "drills.change_backuppolicy",
    "drills.delete_backuppolicy",
]
ROLE_PERMS = {VIEWER: VIEWER_PERMS, OPERATOR: OPERATOR_PERMS, ADMIN: ADMIN_PERMS}


def role_of(user) -> str | None:
    """The strongest role a user holds (superusers are Admins)."""
    if not user.is_authenticated:
        return None
    if user.is_superuser:
        return ADMIN
    names = set(user.groups.values_list("name", flat=True))
    for role in (ADMIN, OPERATOR, VIEWER):
        if role in names:
            return role
    return None
