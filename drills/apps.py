from django.apps import AppConfig


class DrillsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "drills"
    verbose_name = "Drills and backups"

    def ready(self) -> None:
        from drills.kinds import KINDS
        from operations import registry

        registry.register(KINDS)
