"""Enter and exit events of the geofences a run passes (docs/domain.md, Tracking and geofences).

Each batch of fresh fixes of a run in progress (weighed by the ping ingest as it moves the
driver's position, or by a direct call to `process_fixes`) is weighed against the
geofences that matter to the run: its route corridor and the active delivery, forbidden
and vehicle-restriction zones. Against one geofence a fix is

- *inside* or *outside* only when its whole accuracy circle lies on that side of the
  border, widened by the zone's `tolerance_m` (not a corridor's: there it is the width
  already drawn round the route);
- *undecided* otherwise, and then it changes nothing: jitter at a border cannot flap.

Per (driver, geofence), for the driver's current run, a state keeps whether the driver is
confirmed inside and the outside fixes counted towards leaving:

- the first inside fix is an `enter`, at once (a forbidden zone alerts without delay; the
  whole accuracy circle was inside, and exits are what jitter would fake);
- GEOFENCE_EXIT_FIXES consecutive outside fixes, or outside fixes spanning
  GEOFENCE_EXIT_SECONDS, whichever comes first, make an `exit`, dated at the first of
  them; an inside fix in between starts the count again;
- a driver never seen inside a geofence during the run is outside it, silently: a run that
  has not reached its corridor yet (on its way to the first pickup) has not left it.

The states live in the driver's head document (`DriverPosition`), which a batch reads
once and writes once on the condition that its `version` has not changed since
(compare-and-set); a batch that loses re-reads it and weighs again. The geofences come
from a per-process cache (`geofences.weighing_zones`). Only after the write succeeded are
the events inserted (one `insert_many`), dispatchers notified of forbidden-zone entries,
corridor exits announced with `corridor_exited` and the states that changed copied to
`geofence_states`, each step on its own (a failure is logged): an event is never emitted
twice. A batch of a run whose driver's head already holds a later run's states and a
newer position is not weighed at all (`pings.ingest._move_position`).
"""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import shapely
from bson import ObjectId
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from pymongo import UpdateOne
from pymongo.errors import BulkWriteError
from shapely.errors import GEOSException

from identity import catalogue
from identity.models import User
from identity.services import notification_send
from rappi.mongo import DUPLICATE_KEY
from rappi.routing import Point, haversine_m
from tracking import geofences, heads
from tracking.documents import Geofence, GeofenceEvent, GeofenceState
from tracking.geofences import FORBIDDEN, ROUTE_CORRIDOR, LocalPlane
from tracking.models import GeofenceGeneration
from tracking.pings import search_box
from tracking.signals import corridor_exited

logger = logging.getLogger(__name__)

ENTER, EXIT = "enter", "exit"
INSIDE, UNDECIDED, OUTSIDE = 1, 0, -1
# Geofences are looked for round the fixes with this margin, then checked here.
_PREFILTER_MARGIN_M = 100.0


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

    def document(self) -> dict:
        return {
            "geofence_id": self.geofence_id,
            "inside": self.inside,
            "outside_fixes": self.outside_fixes,
            "outside_since": self.outside_since,
            "outside_lat": self.outside_lat,
            "outside_lng": self.outside_lng,
            "last_at": self.last_at,
        }

    def standing(self) -> tuple:
        """What a change of is worth copying to `geofence_states` (not `last_at`)."""
        return (
            self.inside,
            self.outside_fixes,
            self.outside_since,
            self.outside_lat,
            self.outside_lng,
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


def _box_round(fixes: list[_Fix]) -> tuple[float, float, float, float] | None:
    """(west, south, east, north) holding every fix with the prefilter's margin."""
    lats, lngs = [fix.lat for fix in fixes], [fix.lng for fix in fixes]
    centre = Point(lat=(min(lats) + max(lats)) / 2, lng=(min(lngs) + max(lngs)) / 2)
    radius = max(haversine_m(centre, Point(lat=fix.lat, lng=fix.lng)) for fix in fixes)
    box = search_box(lat=centre.lat, lng=centre.lng, radius_m=radius + _PREFILTER_MARGIN_M)
    if box is None:
        return None
    ring = box["coordinates"][0]
    return (
        min(p[0] for p in ring),
        min(p[1] for p in ring),
        max(p[0] for p in ring),
        max(p[1] for p in ring),
    )


def _sides(zone: geofences.WeighedZone, *, plane: LocalPlane, xs, ys, accuracy) -> np.ndarray:
    """INSIDE, OUTSIDE or UNDECIDED for each fix against one geofence."""
    if zone.shape is None:
        raise ValueError("unreadable geometry")
    polygon = plane.to_plane(zone.shape)
    shapely.prepare(polygon)
    points = shapely.points(xs, ys)
    inside = shapely.covers(polygon, points)
    doc = zone.doc
    band = 0.0 if doc["kind"] == ROUTE_CORRIDOR else float(doc.get("tolerance_m") or 0.0)
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
    since, lat, lng = state.outside_since, state.outside_lat, state.outside_lng
    # Set together with the first outside fix, cleared with the count.
    assert since is not None
    assert lat is not None
    assert lng is not None
    lasted = (fix.at - since).total_seconds()
    if state.outside_fixes >= settings.GEOFENCE_EXIT_FIXES or (
        state.outside_fixes >= 2 and lasted >= settings.GEOFENCE_EXIT_SECONDS
    ):
        event = (EXIT, since, lat, lng)
        state.inside = False
        state.forget_outside()
        return event
    return None


@dataclass
class Weighing:
    """What weighing a batch against the head's states gives: the states to keep in the
    head, those whose standing changed, and the events, oldest first."""

    driver_id: int
    assignment_id: int
    now: datetime
    states: list[_State] = field(default_factory=list)
    changed: list[_State] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    names: dict = field(default_factory=dict)

    def head_fields(self) -> dict:
        """The head's fields that hold the run's states."""
        return {
            "geofences_run": self.assignment_id,
            "geofences": [state.document() for state in self.states],
        }


def head_states(head: dict | None, *, assignment_id: int) -> dict[ObjectId, _State]:
    """The run's states in the driver's head (none when they are another run's)."""
    if not head or head.get("geofences_run") != assignment_id:
        return {}
    states = [_State.from_document(doc) for doc in head.get("geofences") or []]
    return {state.geofence_id: state for state in states}


def weigh(
    *,
    assignment_id: int,
    driver_id: int,
    fixes: list[dict],
    head: dict | None,
    generations: tuple[int | None, int | None],
    now: datetime,
) -> Weighing:
    """Weigh fresh fixes (dicts with `lat`, `lng`, `recorded_at` and optionally
    `accuracy_m`) against the run's geofences from the states in `head`; nothing is
    written here."""
    batch = _fixes(fixes)
    states = head_states(head, assignment_id=assignment_id)
    result = Weighing(driver_id=driver_id, assignment_id=assignment_id, now=now)
    if not batch:
        result.states = list(states.values())
        return result
    held = {state.geofence_id for state in states.values() if state.inside}
    zones = geofences.weighing_zones(
        assignment_id=assignment_id, generations=generations, box=_box_round(batch), held=held
    )
    plane = LocalPlane(batch[0].lng, batch[0].lat)
    xy = np.array([plane.xy(fix.lng, fix.lat) for fix in batch])
    accuracy = np.array([fix.accuracy_m for fix in batch])
    for zone in zones:
        doc = zone.doc
        result.names[doc["_id"]] = doc.get("name") or ""
        try:
            sides = _sides(zone, plane=plane, xs=xy[:, 0], ys=xy[:, 1], accuracy=accuracy)
        except (GEOSException, ValueError, TypeError, KeyError):
            # One unreadable geofence must not keep the others from being weighed.
            logger.exception("Geofence %s cannot be weighed", doc["_id"])
            continue
        state = states.get(doc["_id"]) or _State(geofence_id=doc["_id"])
        before = state.standing()
        emitted = False
        for fix, side in zip(batch, sides, strict=True):
            if state.last_at is not None and fix.at <= state.last_at:
                continue  # weighed already (a retry racing its original)
            event = _weigh(state, int(side), fix)
            if event is not None:
                emitted = True
                kind, at, lat, lng = event
                result.events.append(
                    {
                        "_id": ObjectId(),
                        "geofence_id": doc["_id"],
                        "geofence_kind": doc["kind"],
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
        if state.stored or emitted:
            states[doc["_id"]] = state
            if emitted or state.standing() != before:
                result.changed.append(state)
    result.states = list(states.values())
    result.events.sort(key=lambda event: (event["confirmed_at"], event["at"]))
    return result


def _copy_states(weighing: Weighing) -> None:
    """The states whose standing changed, to `geofence_states`. A copy written later than a
    newer one of the same run (two batches racing) leaves that one be."""
    if not weighing.changed:
        return
    writes = []
    for state in weighing.changed:
        key = {"driver_id": weighing.driver_id, "geofence_id": state.geofence_id}
        older = {
            "$or": [
                {"assignment_id": {"$ne": weighing.assignment_id}},
                {"last_at": {"$lt": state.last_at}},
            ]
        }
        values = {
            **state.document(),
            "assignment_id": weighing.assignment_id,
            "updated_at": weighing.now,
        }
        writes.append(UpdateOne({**key, **older}, {"$set": values}, upsert=True))
    try:
        _states().bulk_write(writes, ordered=False)
    except BulkWriteError as error:
        # The upsert of a copy already newer clashes with the unique key: left as it is.
        if any(e.get("code") != DUPLICATE_KEY for e in error.details.get("writeErrors", [])):
            raise


def publish(weighing: Weighing) -> None:
    """After the head took the weighing: store its events, notify and announce, then copy
    the changed states. Each step on its own: whatever fails is logged, never the
    request's (the head has moved on, so a retry would not publish them again), and the
    alerts come before the copy, which is for reading only."""
    if weighing.events:
        try:
            _events().insert_many(weighing.events, ordered=True)
        except Exception:
            logger.exception(
                "Could not store %d geofence events of run %s",
                len(weighing.events),
                weighing.assignment_id,
            )
    _notify_forbidden(weighing.events, names=weighing.names)
    _announce_corridor_exits(weighing.events)
    try:
        _copy_states(weighing)
    except Exception:
        logger.exception("Could not copy the geofence states of run %s", weighing.assignment_id)


def process_fixes(
    *,
    assignment_id: int,
    driver_id: int,
    fixes: list[dict],
    generations: tuple[int | None, int | None] | None = None,
) -> list[dict]:
    """Weigh a run's fresh fixes (dicts with `lat`, `lng`, `recorded_at` and optionally
    `accuracy_m`) against its geofences, keep the states in the driver's head and store
    the enter/exit events they confirm (returned, oldest first), then notify and announce
    as the module says. The ping ingest does the same as it moves the driver's position
    (`pings.pings_ingest`); this is for fixes that are not stored (demo, tests)."""
    if not fixes:
        return []
    if generations is None:
        generations = geofences.generations_for(assignment_id=assignment_id)
    now = timezone.now()
    head = heads.read(driver_id)
    for _attempt in range(heads.MAX_ATTEMPTS):
        weighing = weigh(
            assignment_id=assignment_id,
            driver_id=driver_id,
            fixes=fixes,
            head=head,
            generations=generations,
            now=now,
        )
        if not weighing.states and not head_states(head, assignment_id=assignment_id):
            return []  # never inside anything: nothing to keep
        fields = weighing.head_fields()
        if not (head or {}).get("received_at"):
            fields["received_at"] = now  # what the retention (TTL) index expires it by
        written, head = heads.write(driver_id, head=head, fields=fields)
        if written:
            break
    else:
        raise heads.HeadContendedError(driver_id)
    publish(weighing)
    return weighing.events


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
    ordering: str = "-at",
):
    """A geofence's events, `since` included and `until` excluded (by `at`), by `at`
    (`ordering`: "at" oldest first, "-at" newest first) and then by id the same way."""
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
    return found.order_by(ordering, ordering.replace("at", "id"))


def events_delete_for(*, assignment_id: int) -> int:
    """Purge a deleted run's events and geofence states (their copies, and those in the
    head of its driver); returns how many events went."""
    heads.forget_states(assignment_id=assignment_id)
    _states().delete_many({"assignment_id": assignment_id})
    deleted = _events().delete_many({"assignment_id": assignment_id}).deleted_count
    # The generation of its corridor (gone already) need not be kept either.
    GeofenceGeneration.objects.filter(scope=assignment_id).delete()
    return deleted
