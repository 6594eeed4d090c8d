from django.apps import AppConfig


class DrillsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "drills"
    verbose_name = "Drills and backups"

    def ready(self) -> None:
        # The operations registry is a fixed list (operations/kinds/__init__.py, not
        # ours): add the drill kinds to it once it is built.
        from drills.kinds import register

        register()
