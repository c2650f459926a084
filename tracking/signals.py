"""Signals tracking sends. Receivers run inside the ping request: they must be quick, and
whatever they raise is logged, never returned to the phone."""

from django.dispatch import Signal

# Sent after each ping request has stored its fixes and moved the driver's head (its
# position and geofence states: the ingest weighs the fixes against the geofences itself),
# with the keyword arguments `assignment_id`, `driver_id`, `vehicle_plate` and `fixes`: the
# accepted fixes that are newer than the run's latest stored one, oldest first, as dicts
# with `lat`, `lng`, `recorded_at`, `accuracy_m`, `speed_kmh` and `heading`. Late fixes
# (older than what the run already had) are stored for history only and are not sent.
fixes_accepted = Signal()

# Sent when a run's driver is confirmed outside the run's route corridor (a debounced exit,
# docs/domain.md, Tracking and geofences), with `assignment_id`, `driver_id`, `event_id`
# (the exit in `geofence_events`),
# `at` (device time of the first fix outside), `lat` and `lng` (that fix). Fleet turns it
# into a route-deviation incident.
corridor_exited = Signal()
