from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        # Register the MongoDB documents so `manage.py ensure_indexes` creates their indexes.
        from tracking import documents  # noqa: F401
