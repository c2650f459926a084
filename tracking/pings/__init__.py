"""GPS fixes of runs: `ingest` (the fixes a driver's phone sends, checked, stored and
weighed against the geofences as they move the driver's head; the purge of a run's fixes)
and `reads` (tracks, last fixes and positions). Callers use the package
(`from tracking import pings`); the names below are its API."""

from tracking.errors import BatchTooLargeError
from tracking.pings.ingest import (
    OVERTAKEN_WITHIN,
    REASONS,
    Fix,
    IngestResult,
    check_batch_size,
    implied_speed_kmh,
    pings_delete_for,
    pings_ingest,
    to_millis,
)
from tracking.pings.reads import (
    fix_output,
    last_fix_for,
    positions_for,
    positions_near,
    positions_since,
    search_box,
    simplified_trail,
    track_for,
    track_stats,
    trail_for,
)

__all__ = [
    "OVERTAKEN_WITHIN",
    "REASONS",
    "BatchTooLargeError",
    "Fix",
    "IngestResult",
    "check_batch_size",
    "fix_output",
    "implied_speed_kmh",
    "last_fix_for",
    "pings_delete_for",
    "pings_ingest",
    "positions_for",
    "positions_near",
    "positions_since",
    "search_box",
    "simplified_trail",
    "to_millis",
    "track_for",
    "track_stats",
    "trail_for",
]
