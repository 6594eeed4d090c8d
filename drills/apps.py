from django.apps import AppConfig


class DrillsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "drills"
    verbose_name = "Drills and backups"

    def ready(self) -> None:
        from drills import signals  # noqa: F401  (connects the schedule receivers)
        from drills.kinds import KINDS
        from operations import registry

        registry.register(KINDS)
