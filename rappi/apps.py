from django.apps import AppConfig


class RappiConfig(AppConfig):
    name = "rappi"
    label = "core"
    verbose_name = "Rappi core"

    def ready(self) -> None:
        # postgres and reports.sql register what new database connections get.
        from rappi import mongo, postgres  # noqa: F401
        from rappi.reports import sql  # noqa: F401

        mongo.connect()
