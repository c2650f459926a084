from django.apps import AppConfig


class RappiConfig(AppConfig):
    name = "rappi"
    label = "core"
    verbose_name = "Rappi core"

    def ready(self) -> None:
        from rappi import mongo

        mongo.connect()
