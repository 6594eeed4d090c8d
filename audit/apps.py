from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit trail"

    def ready(self) -> None:
        # Connects the login/logout/lockout and account-change receivers.
        from audit import signals  # noqa: F401
