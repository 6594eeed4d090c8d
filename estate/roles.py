"""The three roles, as Django groups with permissions (created by a data migration),
and the permissions themselves: every check in the code names one of the constants
below, never a string of its own.

Viewer reads everything; Operator also syncs and runs non-destructive operations and
drills; Admin also runs destructive operations and manages accounts, policies, users.
"""

VIEWER = "Viewer"
OPERATOR = "Operator"
ADMIN = "Admin"
ROLES = (VIEWER, OPERATOR, ADMIN)

# Estate's own permissions (declared in estate.models.Account's Meta.permissions).
VIEW_ESTATE = "estate.view_estate"
TRIGGER_SYNC = "estate.trigger_sync"
RUN_OPERATIONS = "estate.run_operations"
MANAGE_DRILLS = "estate.manage_drills"
RUN_DESTRUCTIVE_OPERATIONS = "estate.run_destructive_operations"
# Accounts, policies (finding suppressions) and users.
MANAGE_ACCOUNTS = "estate.manage_accounts"

VIEWER_PERMS = [VIEW_ESTATE]
OPERATOR_PERMS = [
    *VIEWER_PERMS,
    TRIGGER_SYNC,
    RUN_OPERATIONS,
    MANAGE_DRILLS,
]
ADMIN_PERMS = [
    *OPERATOR_PERMS,
    RUN_DESTRUCTIVE_OPERATIONS,
    MANAGE_ACCOUNTS,
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


def role_for(permission: str) -> str:
    """The weakest role that holds ``permission`` (Admin for one no role lists)."""
    return next((role for role in ROLES if permission in ROLE_PERMS[role]), ADMIN)


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
