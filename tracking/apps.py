from django.apps import AppConfig


class TrackingConfig(AppConfig):
    name = "tracking"

    def ready(self) -> None:
        # Importing `documents` registers them for `manage.py ensure_indexes`.
        from tracking import documents, events  # noqa: F401
        from tracking.signals import fixes_accepted

        # Every batch of fresh fixes is weighed against the run's geofences.
        fixes_accepted.connect(events.on_fixes_accepted, dispatch_uid="tracking.events")
        # Pillow's decompression-bomb guard at the evidence pixel limit.
        from tracking.evidence import configure_pillow

        configure_pillow()
