"""Signals tracking sends to the apps above it (it may not import them). Receivers run
inside the ping request: they must be quick, and whatever they raise is logged, never
returned to the phone. Tracking's own reactions to fixes (the geofence states and events
in `tracking.events`) are direct calls of the ingest, not receivers."""

from django.dispatch import Signal

# Sent when a run's driver is confirmed outside the run's route corridor (a debounced exit,
# docs/domain.md, Tracking and geofences), with `assignment_id`, `driver_id`, `event_id`
# (the exit in `geofence_events`),
# `at` (device time of the first fix outside), `lat` and `lng` (that fix). Fleet turns it
# into a route-deviation incident.
corridor_exited = Signal()
