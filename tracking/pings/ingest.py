"""GPS fixes of runs: the ingest (`pings_ingest`) of the fixes one request carries, and
the purge of a run's fixes. Runs are known here by id only: the API checks that the caller
is the driver of the run in progress and passes its driver, plate and start.

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
- a fix older than the run's latest stored one is late: kept for the track, but it neither
  moves the driver's last position nor is weighed against the geofences.

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
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from pymongo import DESCENDING
from pymongo.errors import BulkWriteError

from rappi.mongo import DUPLICATE_KEY
from rappi.routing import Point, haversine_m
from tracking import heads
from tracking.documents import driver_client_key, fix_key
from tracking.errors import BatchTooLargeError
from tracking.pings.store import driver_positions, gps_pings, in_chunks

logger = logging.getLogger(__name__)


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

    def as_dict(self) -> dict:
        """The fix as `tracking.events.weigh` takes it."""
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
    """Instants and client ids the driver already stored that the batch may repeat, looked
    up by the two keys that refuse repeats (`GpsPing`): the `_id`s of the batch's span of
    instants (one driver's keys sort by instant: same prefix, 13-digit milliseconds until
    the year 2286) and the `driver_client` keys of its client ids."""
    span = {"$gte": fix_key(driver_id, fixes[0].recorded_at)}
    span["$lte"] = fix_key(driver_id, fixes[-1].recorded_at)
    client_keys = sorted({driver_client_key(driver_id, f.client_id) for f in fixes if f.client_id})
    queries: list[list[dict[str, Any]]] = [[{"_id": span}]] + [
        [{"driver_client": {"$in": chunk}}] for chunk in in_chunks(client_keys)
    ]
    if len(queries) > 1:  # the span and the first chunk of keys in one query
        queries = [queries[0] + queries[1], *queries[2:]]
    times, ids = set(), set()
    for clauses in queries:
        # `driver_id` too: with fixes sharded by driver, the query goes to one shard.
        query = {"driver_id": driver_id, "$or": clauses}
        for doc in gps_pings().find(query, {"_id": 0, "recorded_at": 1, "client_id": 1}):
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
    doc = gps_pings().find_one(
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


def _stored_document(fix: Fix, *, run: dict, received_at: datetime) -> dict:
    """The fix as `gps_pings` keeps it: with the keys its unique indexes refuse repeats by."""
    driver_id = run["driver_id"]
    doc = {"_id": fix_key(driver_id, fix.recorded_at)}
    doc.update(_fix_document(fix, run=run, received_at=received_at))
    if fix.client_id:
        doc["driver_client"] = driver_client_key(driver_id, fix.client_id)
    return doc


def _insert_documents(docs: list[dict]) -> set[int]:
    """Store the documents in one unordered insert; the positions of those a unique index
    refused (already stored)."""
    if not docs:
        return set()
    try:
        gps_pings().insert_many(docs, ordered=False)
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
    docs = [_stored_document(fix, run=run, received_at=received_at) for fix in fixes]
    return {fixes[position].index for position in _insert_documents(docs)}


def _position_time(head: dict | None) -> datetime | None:
    """Device time of the driver's last position in its head (None: no position yet)."""
    if head is None or "location" not in head:
        return None
    return to_millis(head["recorded_at"].replace(tzinfo=head["recorded_at"].tzinfo or UTC))


def _run_fix(head: dict | None, assignment_id: int) -> Fix | None:
    """The run's latest fix as the driver's head has it: its position, when that is the
    run's. Every fresh fix of the run moves it, so it is the run's latest stored one."""
    recorded_at = _position_time(head)
    if head is None or recorded_at is None or head.get("assignment_id") != assignment_id:
        return None
    fix = Fix.from_document(head)
    fix.recorded_at = recorded_at
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
) -> tuple[list[Fix], dict[int, str]] | dict[int, str]:
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
    docs = [_stored_document(fix, run=run, received_at=received_at) for fix in accepted]
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
    for chunk in in_chunks(unwanted):
        gps_pings().delete_many({"_id": {"$in": chunk}})
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
                fixes=[fix.as_dict() for fix in moves],
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
    and the geofence states the fresh ones lead to (`tracking.events`, called directly:
    its events are published once the head is written). `generations`: the geofences'
    (zones, corridor) as `selectors.ping_run_for` reads them with the run; read here if
    not given.

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
    # weighing them: its fixes are duplicates now, yet newer than the driver's position.
    # Those side effects are repeated for them (geofence states skip fixes already weighed).
    since = _position_time(head)
    if since is not None:
        resent = [fix for fix in resent if fix.recorded_at > since]
    late = len(accepted) - len(fresh)
    if fresh or resent:
        moves = sorted(fresh + resent, key=lambda fix: (fix.recorded_at, fix.index))
        taken = _move_position(head, moves, run=run, received_at=now, generations=generations)
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
    deleted = gps_pings().delete_many({"assignment_id": assignment_id}).deleted_count
    driver_positions().delete_many({"assignment_id": assignment_id})
    return deleted
