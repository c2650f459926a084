from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        # Importing `documents` registers them for `manage.py ensure_indexes`. The ping
        # ingest weighs fresh fixes against the geofences itself (`tracking.events`), in
        # the one write of the driver's head: not through `fixes_accepted`.
        from tracking import documents  # noqa: F401

        # Pillow's decompression-bomb guard at the evidence pixel limit.
        from tracking.evidence import configure_pillow

        configure_pillow()
