"""Register the demo accounts in Estate's database, pointing at the sandbox's roles."""

from __future__ import annotations

from sandbox.seed import DEMO_ACCOUNTS, DEMO_REGIONS


def register_demo_accounts() -> list:
    """Create or update an ``estate.models.Account`` per demo account (idempotent): its
    name, environment, role ARN and the demo regions; re-enables a disabled one.
    Returns the Account rows."""
    from estate.models import Account

    rows = []
    for demo in DEMO_ACCOUNTS:
        account, _created = Account.objects.update_or_create(
            account_id=demo.account_id,
            defaults={
                "name": demo.name,
                "environment": demo.environment,
                "role_arn": demo.role_arn,
                "external_id": "",
                "regions": list(DEMO_REGIONS),
                "enabled": True,
            },
        )
        rows.append(account)
    return rows
