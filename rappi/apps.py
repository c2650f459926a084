from django.apps import AppConfig


class RappiConfig(AppConfig):
    name = "rappi"
    label = "core"
    verbose_name = "Rappi core"

    def ready(self) -> None:
        from rappi import mongo
        from rappi.reports import sql  # noqa: F401 - registers SQLite's percentile

        mongo.connect()
