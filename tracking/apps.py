from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        # Importing `documents` registers them for `manage.py ensure_indexes`.
        from tracking import documents  # noqa: F401

        # Pillow's decompression-bomb guard at the evidence pixel limit.
        from tracking.evidence import configure_pillow

        configure_pillow()
