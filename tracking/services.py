"""Tracking writes. Each lives in the module of the store it writes, next to the reads and
checks that store needs (`pings`, `events`, `geofences`, `evidence`; see the app's
docstring): this module names them in one place, and adds the one write that starts from
a run, `pings_record`. Callers use `from tracking import services`.

Fleet, which owns runs, incidents and proofs, calls the store modules itself: they know
runs by id only. Nothing here imports fleet at run time, so fleet may import this module
too."""

from typing import TYPE_CHECKING

from tracking.events import event_link_incident, events_delete_for, process_fixes
from tracking.evidence import (
    evidence_delete,
    evidence_delete_for,
    evidence_delete_for_incident,
    evidence_store,
)
from tracking.geofences import (
    corridor_delete_for,
    corridor_replace,
    geofence_create,
    geofence_deactivate,
    geofence_update,
    restriction_zone_ensure,
    zone_ensure,
)
from tracking.pings import Fix, IngestResult, pings_delete_for, pings_ingest

if TYPE_CHECKING:
    from fleet.models import Assignment

__all__ = [
    "corridor_delete_for",
    "corridor_replace",
    "event_link_incident",
    "events_delete_for",
    "evidence_delete",
    "evidence_delete_for",
    "evidence_delete_for_incident",
    "evidence_store",
    "geofence_create",
    "geofence_deactivate",
    "geofence_update",
    "pings_delete_for",
    "pings_ingest",
    "pings_record",
    "process_fixes",
    "restriction_zone_ensure",
    "zone_ensure",
]


def pings_record(*, run: "Assignment", fixes: list[Fix]) -> IngestResult:
    """The fixes one request of the driver's phone carries, for its run in progress as
    `selectors.ping_run_for` returns it (driver, plate, start, and the geofence generations
    read with it), through `pings_ingest`."""
    assert run.started_at is not None  # a run in progress has started
    return pings_ingest(
        assignment_id=run.pk,
        driver_id=run.driver_id,
        vehicle_plate=run.vehicle.plate,
        started_at=run.started_at,
        fixes=fixes,
        generations=run.geofence_generations,
    )
