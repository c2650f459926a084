"""Tracking (MongoDB): GPS pings, geofences and their events, evidence files in GridFS.

The app has the other apps' face: `services.py` (writes), `selectors.py` (run-aware
reads), `errors.py` (its DomainErrors), `api/`, `views.py`. Two things differ, on purpose:

- The writes live in the module of the store they write, beside the reads and checks of
  that store: `pings/` (`ingest`, `reads`), `events.py`, `geofences.py`, `evidence.py`,
  `heads.py`. Those modules know runs by id only, so fleet (which owns runs) calls them
  directly; `services.py` names the writes in one place for tracking's own views and
  adds the one that starts from a run (`pings_record`).
- `selectors.py` holds the reads that need fleet's or orders' rows (a run's driver, the
  live fleet, an order's tracking); reads of tracking's stores alone stay in their
  modules (`pings.track_for`, `geofences.geofence_list`, `events.event_list_for`).

Fresh fixes are weighed against the geofences by direct calls of the ingest
(`tracking.events`); `signals.py` keeps only what apps above tracking react to
(`corridor_exited`, turned into an incident by fleet)."""
