"""Enter and exit events of the geofences a run passes (docs/domain.md, Tracking and geofences).

Each batch of fresh fixes of a run in progress (the `fixes_accepted` signal, or a direct
call to `process_fixes`) is weighed against the geofences that matter to the run: its
route corridor and the active delivery, forbidden and vehicle-restriction zones. Against
one geofence a fix is

- *inside* or *outside* only when its whole accuracy circle lies on that side of the
  border, widened by the zone's `tolerance_m` (not a corridor's: there it is the width
  already drawn round the route);
- *undecided* otherwise, and then it changes nothing: jitter at a border cannot flap.

Per (driver, geofence), for the driver's current run, `geofence_states` keeps whether the
driver is confirmed inside and the outside fixes counted towards leaving:

- the first inside fix is an `enter`, at once (a forbidden zone alerts without delay; the
  whole accuracy circle was inside, and exits are what jitter would fake);
- GEOFENCE_EXIT_FIXES consecutive outside fixes, or outside fixes spanning
  GEOFENCE_EXIT_SECONDS, whichever comes first, make an `exit`, dated at the first of
  them; an inside fix in between starts the count again;
- a driver never seen inside a geofence during the run is outside it, silently: a run that
  has not reached its corridor yet (on its way to the first pickup) has not left it.

A call reads the states and the candidate geofences once, writes the states in one bulk
upsert and the events in one `insert_many`, holding a per-driver lock so two requests of
one phone cannot interleave. Then entering a forbidden zone notifies the dispatchers, and
leaving the run's corridor is announced with `corridor_exited`.
"""

import logging
import threading
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
import shapely
from bson import ObjectId
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from pymongo import UpdateOne
from shapely.errors import GEOSException
from shapely.geometry import shape

from identity import catalogue
from identity.models import User
from identity.services import notification_send
from rappi.routing import Point, haversine_m
from tracking.documents import Geofence, GeofenceEvent, GeofenceState
from tracking.geofences import FORBIDDEN, ROUTE_CORRIDOR, ZONE_KINDS, LocalPlane
from tracking.pings import search_box
from tracking.signals import corridor_exited

logger = logging.getLogger(__name__)

ENTER, EXIT = "enter", "exit"
INSIDE, UNDECIDED, OUTSIDE = 1, 0, -1
IN_BATCH = 400  # $in lists stay this short (mongoeco's SQLite engine rejects ~500+)
# Geofences are asked of the server round the fixes with this margin, then checked here.
_PREFILTER_MARGIN_M = 100.0
# Advisory-lock class of "the geofence states of one driver".
_LOCK_CLASS = 5_701


@dataclass(frozen=True)
class _Fix:
    lat: float
    lng: float
    at: datetime
    accuracy_m: float


@dataclass
class _State:
    geofence_id: ObjectId
    inside: bool = False
    outside_fixes: int = 0
    outside_since: datetime | None = None
    outside_lat: float | None = None
    outside_lng: float | None = None
    last_at: datetime | None = None
    stored: bool = False

    @classmethod
    def from_document(cls, doc: dict) -> "_State":
        return cls(
            geofence_id=doc["geofence_id"],
            inside=doc["inside"],
            outside_fixes=doc.get("outside_fixes") or 0,
            outside_since=doc.get("outside_since"),
            outside_lat=doc.get("outside_lat"),
            outside_lng=doc.get("outside_lng"),
            last_at=doc.get("last_at"),
            stored=True,
        )

    def forget_outside(self) -> None:
        self.outside_fixes, self.outside_since = 0, None
        self.outside_lat = self.outside_lng = None


def _fixes(raw: list[dict]) -> list[_Fix]:
    fixes = [
        _Fix(
            lat=float(fix["lat"]),
            lng=float(fix["lng"]),
            at=fix["recorded_at"],
            accuracy_m=max(0.0, float(fix.get("accuracy_m") or 0.0)),
        )
        for fix in raw
    ]
    return sorted(fixes, key=lambda fix: fix.at)


def _states():
    return GeofenceState._get_collection()


def _events():
    return GeofenceEvent._get_collection()


_local_locks: dict[int, threading.Lock] = defaultdict(threading.Lock)


@contextmanager
def _driver_lock(driver_id: int) -> Iterator[None]:
    """One batch of a driver at a time. On PostgreSQL an advisory lock held by a
    transaction around the block (across workers); on the embedded SQLite default (one
    machine, `make run`) a lock of this process."""
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(%s, %s)", [_LOCK_CLASS, driver_id & 0x7FFFFFFF]
                )
            yield
        return
    # No transaction here: SQLite's would hold the database's write lock (IMMEDIATE
    # mode) through the MongoDB work, stalling every other writer.
    with _local_locks[driver_id]:
        yield


def _box_round(fixes: list[_Fix]) -> dict | None:
    lats, lngs = [fix.lat for fix in fixes], [fix.lng for fix in fixes]
    centre = Point(lat=(min(lats) + max(lats)) / 2, lng=(min(lngs) + max(lngs)) / 2)
    radius = max(haversine_m(centre, Point(lat=fix.lat, lng=fix.lng)) for fix in fixes)
    return search_box(lat=centre.lat, lng=centre.lng, radius_m=radius + _PREFILTER_MARGIN_M)


def _candidates(*, assignment_id: int, fixes: list[_Fix], held: list[ObjectId]) -> list[dict]:
    """The run's corridor, the active zones near the fixes, and those the driver is inside
    however far (so leaving them is seen)."""
    nearby: dict = {"kind": {"$in": list(ZONE_KINDS)}}
    box = _box_round(fixes)
    if box is not None:
        nearby["geometry"] = {"$geoIntersects": {"$geometry": box}}
    clauses = [{"kind": ROUTE_CORRIDOR, "assignment_id": assignment_id}, nearby]
    clauses += [{"_id": {"$in": held[i : i + IN_BATCH]}} for i in range(0, len(held), IN_BATCH)]
    projection = {"name": 1, "kind": 1, "geometry": 1, "tolerance_m": 1, "assignment_id": 1}
    found = Geofence._get_collection().find({"active": True, "$or": clauses}, projection)
    # Only this run's corridor: a held one of another run cannot be, but be sure.
    return [
        zone
        for zone in found
        if zone["kind"] != ROUTE_CORRIDOR or zone.get("assignment_id") == assignment_id
    ]


def _sides(zone: dict, *, plane: LocalPlane, xs, ys, accuracy) -> np.ndarray:
    """INSIDE, OUTSIDE or UNDECIDED for each fix against one geofence."""
    polygon = plane.to_plane(shape(zone["geometry"]))
    shapely.prepare(polygon)
    points = shapely.points(xs, ys)
    inside = shapely.covers(polygon, points)
    band = 0.0 if zone["kind"] == ROUTE_CORRIDOR else float(zone.get("tolerance_m") or 0.0)
    decided = shapely.distance(polygon.boundary, points) > accuracy + band
    return np.where(decided, np.where(inside, INSIDE, OUTSIDE), UNDECIDED)


def _weigh(state: _State, side: int, fix: _Fix) -> tuple[str, datetime, float, float] | None:
    """Move `state` on by one fix; the event it confirms as (type, at, lat, lng)."""
    state.last_at = fix.at
    if side == UNDECIDED:
        return None
    if side == INSIDE:
        state.forget_outside()
        if state.inside:
            return None
        state.inside = True
        return (ENTER, fix.at, fix.lat, fix.lng)
    if not state.inside:
        return None
    if state.outside_fixes == 0:
        state.outside_since, state.outside_lat, state.outside_lng = fix.at, fix.lat, fix.lng
    state.outside_fixes += 1
    lasted = (fix.at - state.outside_since).total_seconds()
    if state.outside_fixes >= settings.GEOFENCE_EXIT_FIXES or (
        state.outside_fixes >= 2 and lasted >= settings.GEOFENCE_EXIT_SECONDS
    ):
        event = (EXIT, state.outside_since, state.outside_lat, state.outside_lng)
        state.inside = False
        state.forget_outside()
        return event
    return None


def _state_update(state: _State, *, driver_id: int, assignment_id: int, now: datetime):
    key = {"driver_id": driver_id, "geofence_id": state.geofence_id}
    values = {
        "assignment_id": assignment_id,
        "inside": state.inside,
        "outside_fixes": state.outside_fixes,
        "outside_since": state.outside_since,
        "outside_lat": state.outside_lat,
        "outside_lng": state.outside_lng,
        "last_at": state.last_at,
        "updated_at": now,
    }
    return UpdateOne(key, {"$set": values}, upsert=True)


def process_fixes(*, assignment_id: int, driver_id: int, fixes: list[dict]) -> list[dict]:
    """Weigh a run's fresh fixes (dicts with `lat`, `lng`, `recorded_at` and optionally
    `accuracy_m`) against its geofences, store the states and the enter/exit events they
    confirm (returned, oldest first), then notify and announce as the module says."""
    batch = _fixes(fixes)
    if not batch:
        return []
    now = timezone.now()
    events: list[dict] = []
    zones: list[dict] = []
    with _driver_lock(driver_id):
        states = {
            doc["geofence_id"]: _State.from_document(doc)
            for doc in _states().find({"driver_id": driver_id, "assignment_id": assignment_id})
        }
        held = [state.geofence_id for state in states.values() if state.inside]
        zones = _candidates(assignment_id=assignment_id, fixes=batch, held=held)
        plane = LocalPlane(batch[0].lng, batch[0].lat)
        xy = np.array([plane.xy(fix.lng, fix.lat) for fix in batch])
        accuracy = np.array([fix.accuracy_m for fix in batch])
        writes = []
        for zone in zones:
            try:
                sides = _sides(zone, plane=plane, xs=xy[:, 0], ys=xy[:, 1], accuracy=accuracy)
            except (GEOSException, ValueError, TypeError, KeyError):
                # One unreadable geofence must not keep the others from being weighed.
                logger.exception("Geofence %s cannot be weighed", zone["_id"])
                continue
            state = states.get(zone["_id"]) or _State(geofence_id=zone["_id"])
            changed = False
            for fix, side in zip(batch, sides, strict=True):
                if state.last_at is not None and fix.at <= state.last_at:
                    continue  # weighed already (a retry racing its original)
                event = _weigh(state, int(side), fix)
                if event is not None:
                    changed = True
                    kind, at, lat, lng = event
                    events.append(
                        {
                            "_id": ObjectId(),
                            "geofence_id": zone["_id"],
                            "geofence_kind": zone["kind"],
                            "driver_id": driver_id,
                            "assignment_id": assignment_id,
                            "type": kind,
                            "at": at,
                            "confirmed_at": fix.at,
                            "location": {"type": "Point", "coordinates": [lng, lat]},
                            "received_at": now,
                            "incident_id": None,
                        }
                    )
            # A zone never entered needs no state: none reads as outside.
            if state.stored or changed:
                writes.append(
                    _state_update(state, driver_id=driver_id, assignment_id=assignment_id, now=now)
                )
        if writes:
            _states().bulk_write(writes, ordered=False)
        events.sort(key=lambda event: (event["confirmed_at"], event["at"]))
        if events:
            _events().insert_many(events, ordered=True)
    names = {zone["_id"]: zone["name"] for zone in zones}
    _notify_forbidden(events, names=names)
    _announce_corridor_exits(events)
    return events


def on_fixes_accepted(sender, *, assignment_id: int, driver_id: int, fixes: list[dict], **kwargs):
    """`fixes_accepted` receiver (connected in `TrackingConfig.ready`)."""
    process_fixes(assignment_id=assignment_id, driver_id=driver_id, fixes=fixes)


def _event_data(event: dict) -> dict:
    lng, lat = event["location"]["coordinates"]
    return {
        "event_id": str(event["_id"]),
        "geofence_id": str(event["geofence_id"]),
        "assignment_id": event["assignment_id"],
        "driver_id": event["driver_id"],
        "at": event["at"].isoformat(),
        "lat": lat,
        "lng": lng,
    }


def _notify_forbidden(events: list[dict], *, names: dict) -> None:
    entered = [e for e in events if e["type"] == ENTER and e["geofence_kind"] == FORBIDDEN]
    if not entered:
        return
    try:
        dispatchers = list(
            User.objects.filter(role__name=catalogue.DISPATCHER, is_active=True).values_list(
                "pk", flat=True
            )
        )
        for event in entered:
            for user_id in dispatchers:
                notification_send(
                    recipient_user_id=user_id,
                    kind="geofence.forbidden_entered",
                    title=_("Run #%(run)s entered a forbidden zone")
                    % {"run": event["assignment_id"]},
                    body=names.get(event["geofence_id"], ""),
                    data=_event_data(event),
                )
    except Exception:  # the events are stored; a lost alert is logged, never the request's
        logger.exception("Could not notify the dispatchers of a forbidden-zone entry")


def _announce_corridor_exits(events: list[dict]) -> None:
    for event in events:
        if event["type"] != EXIT or event["geofence_kind"] != ROUTE_CORRIDOR:
            continue
        lng, lat = event["location"]["coordinates"]
        for receiver, response in corridor_exited.send_robust(
            sender=GeofenceEvent,
            assignment_id=event["assignment_id"],
            driver_id=event["driver_id"],
            event_id=str(event["_id"]),
            at=event["at"],
            lat=lat,
            lng=lng,
        ):
            if isinstance(response, Exception):
                logger.error(
                    "corridor_exited receiver %r failed for run %s",
                    receiver,
                    event["assignment_id"],
                    exc_info=(type(response), response, response.__traceback__),
                )


# --- Route deviations (fleet rate-limits its incidents with these) ----------------------------


def corridor_exit_incidents_near(
    *, assignment_id: int, at: datetime, within: timedelta
) -> list[int]:
    """Incident ids linked to exits from the run's corridor less than `within` away from
    `at` (either side: offline batches arrive out of order). The caller checks they exist:
    a link is written before its incident's transaction commits."""
    return [
        doc["incident_id"]
        for doc in _events().find(
            {
                "assignment_id": assignment_id,
                "type": EXIT,
                "geofence_kind": ROUTE_CORRIDOR,
                "at": {"$gt": at - within, "$lt": at + within},
                "incident_id": {"$ne": None},
            },
            {"incident_id": 1},
        )
    ]


def event_link_incident(*, event_id: str, incident_id: int) -> None:
    _events().update_one({"_id": ObjectId(event_id)}, {"$set": {"incident_id": incident_id}})


# --- Reads and purging -----------------------------------------------------------------------


def event_counts_since(*, geofence_ids: list, since: datetime) -> dict:
    """Each geofence's events at or after `since`: {id: {"count", "last"}}, in one
    aggregation whatever the number of geofences (those without events are left out)."""
    if not geofence_ids:
        return {}
    found = GeofenceEvent.objects(geofence_id__in=geofence_ids, at__gte=since).aggregate(
        [{"$group": {"_id": "$geofence_id", "count": {"$sum": 1}, "last": {"$max": "$at"}}}]
    )
    return {row["_id"]: {"count": row["count"], "last": row["last"]} for row in found}


def event_list_for(
    *,
    geofence: Geofence,
    type: str | None = None,
    driver_id: int | None = None,
    assignment_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
):
    """A geofence's events, `since` included and `until` excluded (by `at`)."""
    found = GeofenceEvent.objects(geofence_id=geofence.pk)
    if type:
        found = found(type=type)
    if driver_id is not None:
        found = found(driver_id=driver_id)
    if assignment_id is not None:
        found = found(assignment_id=assignment_id)
    if since is not None:
        found = found(at__gte=since)
    if until is not None:
        found = found(at__lt=until)
    return found


def events_delete_for(*, assignment_id: int) -> int:
    """Purge a deleted run's events and geofence states; returns how many events went."""
    _states().delete_many({"assignment_id": assignment_id})
    return _events().delete_many({"assignment_id": assignment_id}).deleted_count
