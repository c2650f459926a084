"""GPS fixes of runs: ingest and reads. Runs are known here by id only: the API checks
that the caller is the driver of the run in progress and passes its driver, plate and
start.

Ingest (`pings_ingest`) of the fixes one request carries:

- each fix is checked on its own: coordinates in range and not (0, 0), device time at
  most GPS_CLOCK_SKEW_S ahead of ours and not before the run's start (same allowance),
  accuracy no worse than GPS_MAX_ACCURACY_M, speed not negative and heading a compass
  bearing, 0 ≤ heading < 360 (-1 for either means unknown, as iOS sends it);
- the others are taken in recorded-time order: a fix whose `client_id` or instant the
  driver already sent (stored, or earlier in the batch) is a duplicate; one implying more
  than GPS_MAX_SPEED_KMH from the previous accepted fix of the run (the stored one just
  before it counts) is impossible. Both accuracy radii are given to the fix first, so
  jitter of a standing phone is never "speed";
- accepted fixes go in one unordered `insert_many`; a unique-index clash there (a retry
  racing its original) is a duplicate too;
- a fix older than the run's latest stored one is late: kept for the track, but it moves
  neither the driver's last position nor reaches `fixes_accepted` receivers.

What it costs: the driver's head (`tracking.heads`: its last position, which is the run's
latest fix, and its geofence states) is read once. When every fix is newer than that
fix — the common case — nothing stored can repeat them but what a unique index reports,
so the checks above are made in memory and the fixes stored in one insert. So are fixes
at most OVERTAKEN_WITHIN older than it (the phone's requests in flight overtaking each
other): checked against that fix, which follows them, and stored as late. Otherwise
(older late fixes, retries, a speed too high) they are checked against the stored fixes,
so those answers are exactly the full check's. Then the head is written
once, on the condition that no other request wrote it meanwhile: the position and the
geofence states the fresh fixes lead to (`tracking.events`). No lock is taken.

Fresh fixes the head cannot take are stored only and counted late: those a concurrent
request of the driver overtook with newer ones, those of a run whose driver has started
the next one meanwhile, and all of them when the head kept changing (logged). Weighing
that fails is logged: the position still moves, the geofence states stay as they were.
"""

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bson import ObjectId
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from pymongo import ASCENDING, DESCENDING
from pymongo.errors import BulkWriteError

from rappi.errors import DomainError
from rappi.routing import EARTH_RADIUS_M, Point, haversine_m
from tracking import heads
from tracking.documents import DriverPosition, GpsPing
from tracking.signals import fixes_accepted

logger = logging.getLogger(__name__)

IN_BATCH = 400  # $in lists stay this short (mongoeco's SQLite engine rejects ~500+)
DUPLICATE_KEY = 11000

# Rejection reasons, as the API reports them.
OUT_OF_RANGE = "out_of_range"
NULL_ISLAND = "null_island"
FUTURE = "future"
BEFORE_RUN_START = "before_run_start"
INACCURATE = "inaccurate"
DUPLICATE = "duplicate"
IMPOSSIBLE_SPEED = "impossible_speed"
INVALID_SPEED = "invalid_speed"
INVALID_HEADING = "invalid_heading"
REASONS = (
    OUT_OF_RANGE,
    NULL_ISLAND,
    FUTURE,
    BEFORE_RUN_START,
    INACCURATE,
    INVALID_SPEED,
    INVALID_HEADING,
    DUPLICATE,
    IMPOSSIBLE_SPEED,
)
UNKNOWN = -1  # what phones send for a speed or course they do not know
# Fixes at most this much older than the run's latest were overtaken by the phone's own
# requests in flight (concurrent uploads, a retry racing the next fix): they are checked
# against the latest fix, which follows them, rather than looked up among the stored ones.
OVERTAKEN_WITHIN = timedelta(seconds=60)


class BatchTooLargeError(DomainError):
    code, http_status = "payload_too_large", 413
    default_message = gettext_lazy("Too many fixes in one request.")


def check_batch_size(size: int) -> None:
    """413 for a request carrying more fixes than GPS_BATCH_MAX_FIXES."""
    if size > settings.GPS_BATCH_MAX_FIXES:
        limit = settings.GPS_BATCH_MAX_FIXES
        raise BatchTooLargeError(
            _("Send at most %(limit)d fixes per request.") % {"limit": limit},
            limit=limit,
            received=size,
        )


def to_millis(when: datetime) -> datetime:
    """UTC, cut to the millisecond BSON stores, so what is compared is what is kept."""
    when = when.astimezone(UTC)
    return when.replace(microsecond=when.microsecond // 1000 * 1000)


@dataclass
class Fix:
    """One fix as sent (`index` is its place in the request; -1 for a stored one)."""

    index: int
    lat: float
    lng: float
    recorded_at: datetime
    accuracy_m: float | None = None
    speed_kmh: float | None = None
    heading: float | None = None
    client_id: str | None = None

    def __post_init__(self) -> None:
        self.recorded_at = to_millis(self.recorded_at)
        # Phones report -1 for an unknown speed or course (iOS); keep them as unknown.
        # Any other value out of range is refused (`_problem`), not guessed at.
        if self.speed_kmh == UNKNOWN:
            self.speed_kmh = None
        if self.heading == UNKNOWN:
            self.heading = None

    @classmethod
    def from_document(cls, doc: dict) -> "Fix":
        lng, lat = doc["location"]["coordinates"]
        return cls(
            index=-1,
            lat=lat,
            lng=lng,
            recorded_at=doc["recorded_at"],
            accuracy_m=doc.get("accuracy_m"),
        )

    @property
    def point(self) -> Point:
        return Point(lat=self.lat, lng=self.lng)

    def as_signal(self) -> dict:
        return {
            "lat": self.lat,
            "lng": self.lng,
            "recorded_at": self.recorded_at,
            "accuracy_m": self.accuracy_m,
            "speed_kmh": self.speed_kmh,
            "heading": self.heading,
        }


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    late: int = 0
    rejected: list[dict] = field(default_factory=list)  # [{index, reason}] by index


def _chunks(values: list, size: int = IN_BATCH) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _pings():
    return GpsPing._get_collection()


def _positions():
    return DriverPosition._get_collection()


# --- Ingest -----------------------------------------------------------------------------------


def _problem(fix: Fix, *, now: datetime, started_at: datetime) -> str | None:
    """What is wrong with a fix on its own, if anything."""
    if not (-90 <= fix.lat <= 90 and -180 <= fix.lng <= 180):
        return OUT_OF_RANGE
    if fix.lat == 0 and fix.lng == 0:
        return NULL_ISLAND  # what a phone sends before it has a position
    skew = timedelta(seconds=settings.GPS_CLOCK_SKEW_S)
    if fix.recorded_at > now + skew:
        return FUTURE
    if fix.recorded_at < started_at - skew:
        return BEFORE_RUN_START
    # A negative accuracy is how phones say the position is not valid at all.
    if fix.accuracy_m is not None and not 0 <= fix.accuracy_m <= settings.GPS_MAX_ACCURACY_M:
        return INACCURATE
    if fix.speed_kmh is not None and fix.speed_kmh < 0:
        return INVALID_SPEED
    if fix.heading is not None and not 0 <= fix.heading < 360:
        return INVALID_HEADING
    return None


def implied_speed_kmh(previous: Fix, fix: Fix) -> float:
    """The least speed that takes a vehicle from `previous` to `fix`: the distance less
    both accuracy radii (either position may be off by that much), over the time between."""
    seconds = abs((fix.recorded_at - previous.recorded_at).total_seconds())
    metres = haversine_m(previous.point, fix.point)
    metres -= (previous.accuracy_m or 0) + (fix.accuracy_m or 0)
    if metres <= 0:
        return 0.0
    if seconds == 0:
        return math.inf
    return metres / seconds * 3.6


def _stored_keys(driver_id: int, fixes: list[Fix]) -> tuple[set[datetime], set[str]]:
    """Instants and client ids the driver already stored that the batch may repeat."""
    instants = {"recorded_at": {"$gte": fixes[0].recorded_at, "$lte": fixes[-1].recorded_at}}
    client_ids = sorted({fix.client_id for fix in fixes if fix.client_id})
    queries = [[instants]] + [[{"client_id": {"$in": chunk}}] for chunk in _chunks(client_ids)]
    if len(queries) > 1:  # the range and the first chunk of ids in one query
        queries = [queries[0] + queries[1], *queries[2:]]
    times, ids = set(), set()
    for clauses in queries:
        for doc in _pings().find(
            {"driver_id": driver_id, "$or": clauses}, {"_id": 0, "recorded_at": 1, "client_id": 1}
        ):
            times.add(doc["recorded_at"])
            if doc.get("client_id"):
                ids.add(doc["client_id"])
    return times, ids


def _stored_fix(
    assignment_id: int, *, before: datetime | None = None, excluding: list | None = None
) -> Fix | None:
    """The run's latest stored fix, or its latest one before `before` (leaving out the
    documents of ids `excluding`)."""
    query: dict = {"assignment_id": assignment_id}
    if before is not None:
        query["recorded_at"] = {"$lt": before}
    if excluding:
        query["_id"] = {"$nin": excluding}
    doc = _pings().find_one(
        query,
        {"_id": 0, "location": 1, "recorded_at": 1, "accuracy_m": 1},
        sort=[("recorded_at", DESCENDING)],
    )
    return Fix.from_document(doc) if doc else None


def _fix_document(fix: Fix, *, run: dict, received_at: datetime) -> dict:
    doc = {
        **run,
        "location": {"type": "Point", "coordinates": [fix.lng, fix.lat]},
        "recorded_at": fix.recorded_at,
        "received_at": received_at,
        "speed_kmh": fix.speed_kmh,
        "heading": fix.heading,
        "accuracy_m": fix.accuracy_m,
    }
    if fix.client_id:
        doc["client_id"] = fix.client_id  # absent, not null: the unique index skips it
    return doc


def _insert_documents(docs: list[dict]) -> set[int]:
    """Store the documents in one unordered insert; the positions of those a unique index
    refused (already stored)."""
    if not docs:
        return set()
    try:
        _pings().insert_many(docs, ordered=False)
    except BulkWriteError as error:
        errors = error.details.get("writeErrors", [])
        if any(e.get("code") != DUPLICATE_KEY for e in errors) or error.details.get(
            "writeConcernErrors"
        ):
            raise
        return {e["index"] for e in errors}
    return set()


def _insert(fixes: list[Fix], *, run: dict, received_at: datetime) -> set[int]:
    """Store the fixes in one unordered insert; the indexes of those a unique index
    refused (already stored by a concurrent retry)."""
    docs = [_fix_document(fix, run=run, received_at=received_at) for fix in fixes]
    return {fixes[position].index for position in _insert_documents(docs)}


def _position_time(head: dict | None) -> datetime | None:
    """Device time of the driver's last position in its head (None: no position yet)."""
    if head is None or "location" not in head:
        return None
    return to_millis(head["recorded_at"].replace(tzinfo=head["recorded_at"].tzinfo or UTC))


def _run_fix(head: dict | None, assignment_id: int) -> Fix | None:
    """The run's latest fix as the driver's head has it: its position, when that is the
    run's. Every fresh fix of the run moves it, so it is the run's latest stored one."""
    if _position_time(head) is None or head.get("assignment_id") != assignment_id:
        return None
    fix = Fix.from_document(head)
    fix.recorded_at = _position_time(head)
    return fix


def _check_in_order(
    candidates: list[Fix],
    *,
    previous: Fix | None,
    seen_at: set[datetime],
    seen_ids: set[str],
    latest: Fix | None = None,
    stored_at: set[datetime] | frozenset = frozenset(),
) -> tuple[list[Fix], dict[int, str], list[Fix]]:
    """The fixes in recorded-time order: a repeat of an instant or client id in `seen_at`
    / `seen_ids` (or earlier in the batch) is a duplicate, one too fast from the fix
    before it (`previous`, then each accepted one; `latest`, the run's latest stored fix,
    when it comes between) is impossible. (accepted, rejected by index, duplicates of an
    instant in `stored_at`: the very fix sent again.)"""
    rejected: dict[int, str] = {}
    accepted: list[Fix] = []
    resent: list[Fix] = []
    for fix in candidates:
        if fix.recorded_at in seen_at or (fix.client_id and fix.client_id in seen_ids):
            rejected[fix.index] = DUPLICATE
            if fix.recorded_at in stored_at:
                resent.append(fix)
            continue
        # The run's latest stored fix may precede this one more closely than the batch's.
        if (
            latest is not None
            and latest.recorded_at < fix.recorded_at
            and (previous is None or previous.recorded_at < latest.recorded_at)
        ):
            previous = latest
        if previous is not None and implied_speed_kmh(previous, fix) > settings.GPS_MAX_SPEED_KMH:
            rejected[fix.index] = IMPOSSIBLE_SPEED
            continue
        seen_at.add(fix.recorded_at)
        if fix.client_id:
            seen_ids.add(fix.client_id)
        accepted.append(fix)
        previous = fix
    return accepted, rejected, resent


def _accept_new(
    candidates: list[Fix],
    *,
    previous: Fix | None,
    run: dict,
    received_at: datetime,
    following: Fix | None = None,
) -> tuple[list[Fix], dict[int, str]] | dict[int, ObjectId]:
    """The common case: every fix newer than the run's latest (`previous`, from the head),
    so none can repeat a stored one unless a unique index says so. Checked in memory and
    stored in one insert: (accepted, rejected by index). When the insert found some stored
    already (a retry), or a fix was too fast from the one before, the ids of the documents
    it did store, by fix index: the caller checks the batch against the stored fixes
    instead, as for any other batch."""
    accepted, rejected, _resent = _check_in_order(
        candidates, previous=previous, seen_at=set(), seen_ids=set()
    )
    # Fixes a moment older than the head's (`following`) must also be reachable from it.
    too_fast = bool(
        following is not None
        and accepted
        and implied_speed_kmh(accepted[-1], following) > settings.GPS_MAX_SPEED_KMH
    )
    docs = [_fix_document(fix, run=run, received_at=received_at) for fix in accepted]
    refused = _insert_documents(docs)
    # A fix too far from the head's may repeat, or follow, one a request stored and died
    # before writing the head: only the stored fixes tell (`_accept_checked`).
    if not refused and not too_fast and IMPOSSIBLE_SPEED not in rejected.values():
        return accepted, rejected
    return {
        fix.index: doc["_id"]
        for position, (fix, doc) in enumerate(zip(accepted, docs, strict=True))
        if position not in refused
    }


def _accept_checked(
    candidates: list[Fix], *, run: dict, received_at: datetime, mine: dict | None = None
) -> tuple[list[Fix], dict[int, str], list[Fix], Fix | None]:
    """Any batch, checked against the stored fixes (a few queries over them): (accepted,
    rejected by index, duplicates of a stored instant, the run's latest stored fix).
    `mine`: documents this request stored already (`_accept_new`), by fix index; they
    count as not stored, and are kept if accepted, taken back if not. (Never deleted and
    stored again: a concurrent request may have found them stored.)"""
    driver_id, assignment_id = run["driver_id"], run["assignment_id"]
    mine = mine or {}
    seen_at, seen_ids = _stored_keys(driver_id, candidates)
    if mine:  # the unique indexes let no other document have their instants or ids
        seen_at -= {fix.recorded_at for fix in candidates if fix.index in mine}
        seen_ids -= {fix.client_id for fix in candidates if fix.index in mine}
    stored_at = set(seen_at)
    mine_ids = list(mine.values())
    latest = _stored_fix(assignment_id, excluding=mine_ids)
    previous = latest
    if latest is not None and latest.recorded_at >= candidates[0].recorded_at:
        previous = _stored_fix(assignment_id, before=candidates[0].recorded_at, excluding=mine_ids)
    accepted, rejected, resent = _check_in_order(
        candidates,
        previous=previous,
        latest=latest,
        seen_at=seen_at,
        seen_ids=seen_ids,
        stored_at=stored_at,
    )
    refused = _insert(
        [fix for fix in accepted if fix.index not in mine], run=run, received_at=received_at
    )
    for index in refused:
        rejected[index] = DUPLICATE
    kept = {fix.index for fix in accepted}
    unwanted = [doc_id for index, doc_id in mine.items() if index not in kept]
    for chunk in _chunks(unwanted):
        _pings().delete_many({"_id": {"$in": chunk}})
    accepted = [fix for fix in accepted if fix.index not in rejected]
    return accepted, rejected, resent, latest


def _move_position(
    head: dict | None,
    moves: list[Fix],
    *,
    run: dict,
    received_at: datetime,
    generations: tuple[int | None, int | None] | None,
) -> list[Fix]:
    """Weigh `moves` (fresh fixes, oldest first) against the run's geofences and write the
    driver's head once: the position moved to the newest of them unless a newer one is
    there, the geofence states, a new version (compare-and-set on the one read). When
    another request wrote first, the fixes still newer than the run's fix in the head are
    weighed again from it. Then the events are published; returns the fixes taken (the
    others are stored only: the caller counts them late)."""
    # Imported here: both import this module.
    from tracking import events, geofences

    driver_id, assignment_id = run["driver_id"], run["assignment_id"]
    for _attempt in range(heads.MAX_ATTEMPTS):
        latest = _run_fix(head, assignment_id)
        if latest is not None:
            moves = [fix for fix in moves if fix.recorded_at > latest.recorded_at]
        if not moves:
            return []
        since = _position_time(head)
        other_run = (head or {}).get("geofences_run")
        if (
            other_run not in (None, assignment_id)
            and since is not None
            and moves[-1].recorded_at <= since
        ):
            # Fixes of a run the driver's next one has overtaken (its states are in the
            # head now): weighed from nothing they would enter again, and wipe its states.
            return []
        weighing = None
        fields = {}
        try:
            if generations is None:
                generations = geofences.generations_for(assignment_id=assignment_id)
            weighing = events.weigh(
                assignment_id=assignment_id,
                driver_id=driver_id,
                fixes=[fix.as_signal() for fix in moves],
                head=head,
                generations=generations,
                now=received_at,
            )
            fields = weighing.head_fields()
        except Exception:
            # The position still moves, the states stay as they are: a failure here must
            # neither freeze the driver on the map nor fail every retry the same way.
            logger.exception("Could not weigh %d fixes of run %s", len(moves), assignment_id)
        if since is None or moves[-1].recorded_at > since:
            position = _fix_document(moves[-1], run=run, received_at=received_at)
            position.pop("client_id", None)
            fields.update(position)
        if not fields:
            return moves
        written, head = heads.write(driver_id, head=head, fields=fields)
        if written:
            if weighing is not None:
                events.publish(weighing)
            return moves
    # The fixes are stored; what the head misses, the next request's fixes bring.
    logger.warning(
        "Driver %s's head kept changing: %d fixes of run %s stored only",
        driver_id,
        len(moves),
        assignment_id,
    )
    return []


def _announce(fixes: list[Fix], *, run: dict) -> None:
    """Tell the receivers; one that fails is logged (Django logs its traceback too) and
    never fails the request: the fixes are stored already."""
    for receiver, response in fixes_accepted.send_robust(
        sender=GpsPing, fixes=[fix.as_signal() for fix in fixes], **run
    ):
        if isinstance(response, Exception):
            logger.warning(
                "fixes_accepted receiver %s failed for run %s (%d fixes): %r",
                getattr(receiver, "__qualname__", receiver),
                run["assignment_id"],
                len(fixes),
                response,
            )


def pings_ingest(
    *,
    assignment_id: int,
    driver_id: int,
    vehicle_plate: str,
    started_at: datetime,
    fixes: list[Fix],
    now: datetime | None = None,
    generations: tuple[int | None, int | None] | None = None,
) -> IngestResult:
    """Filter, dedupe and store the fixes of one request for a run in progress (see the
    module's docstring); the driver's head takes the newest accepted fix as its position
    and the geofence states the fresh ones lead to (`tracking.events`), and
    `fixes_accepted` receivers get those fresh fixes. `generations`: the geofences' (zones,
    corridor) as `selectors.ping_run_for` reads them with the run; read here if not given.

    The common case (every fix newer than the run's latest, which the driver's head holds)
    costs three MongoDB commands whatever the batch: the head read, the insert, the head
    write. Others (late fixes, retries) are checked against the stored fixes."""
    now = now or timezone.now()
    run = {"driver_id": driver_id, "assignment_id": assignment_id, "vehicle_plate": vehicle_plate}
    rejected: dict[int, str] = {}
    candidates = []
    for fix in fixes:
        problem = _problem(fix, now=now, started_at=started_at)
        if problem:
            rejected[fix.index] = problem
        else:
            candidates.append(fix)
    candidates.sort(key=lambda fix: (fix.recorded_at, fix.index))

    accepted: list[Fix] = []
    resent: list[Fix] = []
    latest = None
    head = None
    if candidates:
        head = heads.read(driver_id)
        latest = _run_fix(head, assignment_id)
        since = latest.recorded_at if latest is not None else _position_time(head)
        new = None
        if since is None or candidates[0].recorded_at > since:
            new = _accept_new(candidates, previous=latest, run=run, received_at=now)
        elif (
            latest is not None
            and candidates[-1].recorded_at < latest.recorded_at
            and latest.recorded_at - candidates[0].recorded_at <= OVERTAKEN_WITHIN
        ):
            # Overtaken by the phone's own newer request a moment ago: checked against
            # the head's fix, which follows them, and stored as late without a query.
            new = _accept_new(candidates, previous=None, following=latest, run=run, received_at=now)
        if isinstance(new, tuple):
            accepted, checked = new
        else:
            accepted, checked, resent, latest = _accept_checked(
                candidates, run=run, received_at=now, mine=new
            )
        rejected.update(checked)

    fresh = [fix for fix in accepted if latest is None or fix.recorded_at > latest.recorded_at]
    # A retry of a request that stored its fixes but died before moving the position or
    # announcing them: its fixes are duplicates now, yet newer than the driver's position.
    # Those side effects are repeated for them (geofence states skip fixes already weighed).
    since = _position_time(head)
    if since is not None:
        resent = [fix for fix in resent if fix.recorded_at > since]
    late = len(accepted) - len(fresh)
    if fresh or resent:
        moves = sorted(fresh + resent, key=lambda fix: (fix.recorded_at, fix.index))
        taken = _move_position(head, moves, run=run, received_at=now, generations=generations)
        if taken:
            _announce(taken, run=run)
        # Fresh fixes a newer request overtook (or the head never took) are late after all.
        taken_indexes = {fix.index for fix in taken}
        late += sum(1 for fix in fresh if fix.index not in taken_indexes)
    return IngestResult(
        accepted=len(accepted),
        duplicates=sum(1 for reason in rejected.values() if reason == DUPLICATE),
        late=late,
        rejected=[{"index": index, "reason": rejected[index]} for index in sorted(rejected)],
    )


def pings_delete_for(*, assignment_id: int) -> int:
    """Purge a deleted run's fixes, and the last position that came from it."""
    deleted = _pings().delete_many({"assignment_id": assignment_id}).deleted_count
    _positions().delete_many({"assignment_id": assignment_id})
    return deleted


# --- Reads ------------------------------------------------------------------------------------


def fix_output(doc: dict, *, now: datetime | None = None) -> dict:
    """A stored fix or position as the API shows it; `age_s` when `now` is given."""
    lng, lat = doc["location"]["coordinates"]
    out = {
        "lat": lat,
        "lng": lng,
        "recorded_at": doc["recorded_at"],
        "received_at": doc.get("received_at"),
        "speed_kmh": doc.get("speed_kmh"),
        "heading": doc.get("heading"),
        "accuracy_m": doc.get("accuracy_m"),
    }
    if now is not None:
        age = max(0.0, (now - doc["recorded_at"]).total_seconds())
        out["age_s"] = round(age, 3)
        out["stale"] = age > settings.GPS_STALE_AFTER_S
    return out


def track_for(
    *,
    assignment_id: int,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int,
) -> list[dict]:
    """A run's fixes in recorded-time order, `since` included, `until` excluded."""
    query: dict = {"assignment_id": assignment_id}
    window = {}
    if since is not None:
        window["$gte"] = since
    if until is not None:
        window["$lt"] = until
    if window:
        query["recorded_at"] = window
    cursor = _pings().find(query, {"_id": 0}).sort("recorded_at", ASCENDING).limit(limit)
    return [fix_output(doc) for doc in cursor]


def last_fix_for(*, assignment_id: int) -> dict | None:
    """The run's stored fix with the latest device time."""
    return _pings().find_one(
        {"assignment_id": assignment_id}, {"_id": 0}, sort=[("recorded_at", DESCENDING)]
    )


def trail_for(
    *, assignment_id: int, tolerance_m: float = 5, max_points: int = 2000
) -> list[list[float]]:
    """The run's fixes in recorded-time order as GeoJSON [lng, lat] positions, simplified
    for a map (`simplified_trail`). One MongoDB query, the coordinates only."""
    cursor = (
        _pings()
        .find({"assignment_id": assignment_id}, {"_id": 0, "location.coordinates": 1})
        .sort("recorded_at", ASCENDING)
    )
    positions = [list(doc["location"]["coordinates"][:2]) for doc in cursor]
    return simplified_trail(positions, tolerance_m=tolerance_m, max_points=max_points)


def simplified_trail(
    positions: list[list[float]], *, tolerance_m: float = 5, max_points: int = 2000
) -> list[list[float]]:
    """[lng, lat] positions simplified by Douglas-Peucker in a local metric plane: no
    position left out is more than `tolerance_m` from the line kept, and the first and the
    last always stay (as they were given). A line that still has more than `max_points`
    is simplified again with a tolerance twice as large, until it fits."""
    if len(positions) < 3:
        return positions
    # Imported here: geofences imports this module (search_box).
    from shapely.geometry import LineString

    from tracking.geofences import LocalPlane

    path = LineString(positions)
    plane = LocalPlane.around(path)
    flat = plane.to_plane(path)
    tolerance = max(float(tolerance_m), 0.0)
    while True:
        kept = list(flat.simplify(tolerance, preserve_topology=False).coords)
        if len(kept) <= max(max_points, 2) or tolerance > 1e7:
            break
        tolerance = tolerance * 2 if tolerance > 0 else 1.0
    if len(kept) < 2:  # nothing left of it: the ends still are
        return [positions[0], positions[-1]]
    trail = [list(plane.lnglat(x, y)) for x, y in kept]
    # The ends are the fixes themselves, not their round trip through the plane.
    trail[0], trail[-1] = positions[0], positions[-1]
    return trail


def _steps() -> list[dict]:
    """MongoDB stages giving each fix `step`: metres from the previous fix (`prev_lat`,
    `prev_lng`), on the plane tangent at their mid-latitude. Over the metres-to-kilometres
    steps of a GPS track that equals the great-circle distance to well under a millimetre,
    and it needs only arithmetic ($cos is not in every MongoDB-compatible server): the
    cosine of the mid-latitude is its Taylor series to the 8th power in Horner form (within
    5e-7 of the cosine up to ±60°)."""
    radians = math.pi / 180
    x2 = "$x2"
    cos_mid = 1.0
    for n in (8, 6, 4, 2):  # 1 - x²/2·(1 - x²/12·(1 - x²/30·(1 - x²/56)))
        cos_mid = {"$subtract": [1, {"$multiply": [x2, 1 / (n * (n - 1)), cos_mid]}]}
    return [
        {
            "$set": {
                "x2": {"$pow": [{"$multiply": [{"$add": ["$lat", "$prev_lat"]}, radians / 2]}, 2]},
                "north": {"$subtract": ["$lat", "$prev_lat"]},
                "east": {"$subtract": ["$lng", "$prev_lng"]},
            }
        },
        {
            "$set": {
                "step": {
                    "$multiply": [
                        {
                            "$sqrt": {
                                "$add": [
                                    {"$pow": [{"$multiply": ["$east", cos_mid]}, 2]},
                                    {"$multiply": ["$north", "$north"]},
                                ]
                            }
                        },
                        EARTH_RADIUS_M * radians,
                    ]
                }
            }
        },
    ]


def track_stats(*, assignment_id: int) -> dict:
    """Fix count, length of the track in recorded-time order, its duration and average
    speed: one aggregation, whatever the number of fixes."""
    pipeline = [
        {"$match": {"assignment_id": assignment_id}},
        {
            "$project": {
                "_id": 0,
                "recorded_at": 1,
                "lng": {"$arrayElemAt": ["$location.coordinates", 0]},
                "lat": {"$arrayElemAt": ["$location.coordinates", 1]},
            }
        },
        {
            "$setWindowFields": {
                "sortBy": {"recorded_at": 1},
                "output": {
                    "prev_lat": {"$shift": {"output": "$lat", "by": -1, "default": None}},
                    "prev_lng": {"$shift": {"output": "$lng", "by": -1, "default": None}},
                },
            }
        },
        # The first fix has no previous one: its step is null, which $sum leaves out.
        *_steps(),
        {
            "$group": {
                "_id": None,
                "pings": {"$sum": 1},
                "distance": {"$sum": "$step"},
                "first_at": {"$min": "$recorded_at"},
                "last_at": {"$max": "$recorded_at"},
            }
        },
    ]
    found = next(iter(_pings().aggregate(pipeline)), None)
    if found is None:
        return {
            "pings": 0,
            "distance_m": 0.0,
            "duration_s": 0.0,
            "avg_speed_kmh": None,
            "first_at": None,
            "last_at": None,
        }
    distance = float(found["distance"])
    duration = (found["last_at"] - found["first_at"]).total_seconds()
    return {
        "pings": found["pings"],
        "distance_m": round(distance, 1),
        "duration_s": duration,
        "avg_speed_kmh": round(distance / duration * 3.6, 2) if duration > 0 else None,
        "first_at": found["first_at"],
        "last_at": found["last_at"],
    }


def positions_for(
    *, driver_ids: list[int] | None = None, assignment_ids: list[int] | None = None
) -> dict[int, dict]:
    """Last positions by driver id (of these drivers) or by run id (of these runs)."""
    key = "driver_id" if driver_ids is not None else "assignment_id"
    ids = driver_ids if driver_ids is not None else assignment_ids or []
    found = {}
    for chunk in _chunks(sorted(set(ids))):
        # A head with geofence states but no fix yet (`events.process_fixes`) is no position.
        query = {key: {"$in": chunk}, "location": {"$exists": True}}
        for doc in _positions().find(
            query, {"_id": 0, "version": 0, "geofences": 0, "geofences_run": 0}
        ):
            found[doc[key]] = doc
    return found


def positions_since(*, since: datetime) -> dict:
    """Drivers whose last position was recorded at `since` or later, and the runs those
    positions came from: one aggregation over the last positions (one per driver), never
    over the fixes."""
    rows = list(
        _positions().aggregate(
            [
                {"$match": {"recorded_at": {"$gte": since}}},
                {
                    "$group": {
                        "_id": None,
                        "drivers": {"$sum": 1},
                        "assignment_ids": {"$addToSet": "$assignment_id"},
                    }
                },
            ]
        )
    )
    if not rows:
        return {"drivers": 0, "assignment_ids": []}
    return {"drivers": rows[0]["drivers"], "assignment_ids": sorted(rows[0]["assignment_ids"])}


_METRES_PER_DEGREE = EARTH_RADIUS_M * math.pi / 180
_EDGE_POINTS = 8  # per side: polygon edges are great-circle arcs, parallels are not


def search_box(*, lat: float, lng: float, radius_m: float) -> dict | None:
    """A GeoJSON polygon holding every point within `radius_m` of (lat, lng), a little
    larger to be safe; None where a box does not work (near a pole, across the
    antimeridian) and the caller must look without one."""
    margin = radius_m * 1.02 + 10
    d_lat = margin / _METRES_PER_DEGREE
    south, north = lat - d_lat, lat + d_lat
    if south < -85 or north > 85:
        return None
    d_lng = margin / (_METRES_PER_DEGREE * math.cos(math.radians(max(abs(south), abs(north)))))
    west, east = lng - d_lng, lng + d_lng
    if west < -180 or east > 180:
        return None
    steps = [i / _EDGE_POINTS for i in range(_EDGE_POINTS + 1)]
    ring = (
        [[west + (east - west) * t, south] for t in steps]
        + [[east - (east - west) * t, north] for t in steps]
        + [[west, south]]
    )
    return {"type": "Polygon", "coordinates": [ring]}


def positions_near(
    *, lat: float, lng: float, radius_m: float, since: datetime, limit: int
) -> list[dict]:
    """Last positions recorded since `since` within `radius_m` great-circle metres of
    (lat, lng), nearest first, each with its `distance_m`. The server only narrows to a
    box: its own distances are not metres everywhere."""
    query: dict = {"recorded_at": {"$gte": since}}
    box = search_box(lat=lat, lng=lng, radius_m=radius_m)
    if box is not None:
        query["location"] = {"$geoWithin": {"$geometry": box}}
    centre = Point(lat=lat, lng=lng)
    near = []
    for doc in _positions().find(
        query, {"_id": 0, "version": 0, "geofences": 0, "geofences_run": 0}
    ):
        doc_lng, doc_lat = doc["location"]["coordinates"]
        distance = haversine_m(centre, Point(lat=doc_lat, lng=doc_lng))
        if distance <= radius_m:
            near.append({**doc, "distance_m": distance})
    near.sort(key=lambda doc: (doc["distance_m"], doc["driver_id"]))
    return near[:limit]
