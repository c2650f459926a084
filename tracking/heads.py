"""A driver's head: the one small document (in `driver_positions`, one per driver) that the
ping ingest reads and writes besides the fixes themselves — the driver's last position,
the geofence states of its current run (`tracking.events`) and a `version`. A write
succeeds only if `version` is still the one read (compare-and-set); the loser of two
concurrent writes re-reads the head and tries again with what is still to do. So the
common ping costs one read and one write of it, and no lock is held anywhere."""

from pymongo.errors import DuplicateKeyError

from tracking.documents import DriverPosition

# Attempts before giving up: each failed one means another request of the driver wrote.
MAX_ATTEMPTS = 50


class HeadContendedError(RuntimeError):
    pass


def _heads():
    return DriverPosition._get_collection()


def read(driver_id: int) -> dict | None:
    return _heads().find_one({"driver_id": driver_id})


def write(driver_id: int, *, head: dict | None, fields: dict) -> tuple[bool, dict | None]:
    """Set `fields` on the driver's head if it is still `head` (None: there was none).
    (True, None) when written; (False, the head as it is now) when another request wrote
    first."""
    version = (head or {}).get("version") or 0
    values = {**fields, "version": version + 1}
    if head is None:
        try:
            _heads().insert_one({"driver_id": driver_id, **values})
        except DuplicateKeyError:
            return False, read(driver_id)
        return True, None
    # `version` None also matches a head written before it had one.
    matched = (
        _heads()
        .update_one({"_id": head["_id"], "version": head.get("version")}, {"$set": values})
        .matched_count
    )
    if matched:
        return True, None
    return False, read(driver_id)


def forget_states(*, assignment_id: int) -> None:
    """Drop a run's geofence states from its driver's head (the run is being purged)."""
    _heads().update_many(
        {"geofences_run": assignment_id},
        {"$unset": {"geofences": "", "geofences_run": ""}, "$inc": {"version": 1}},
    )
