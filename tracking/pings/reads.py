"""GPS fixes of runs as they are read: a run's track (as fixes, a simplified trail, or
numbers), its last fix, and the drivers' last positions (by driver or run, recent ones,
near a point). Each read is one MongoDB query or aggregation whatever the number of fixes."""

import math
from datetime import datetime

from django.conf import settings
from pymongo import ASCENDING, DESCENDING

from rappi.routing import EARTH_RADIUS_M, Point, haversine_m
from tracking.pings.store import driver_positions, gps_pings, in_chunks


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
    cursor = gps_pings().find(query, {"_id": 0}).sort("recorded_at", ASCENDING).limit(limit)
    return [fix_output(doc) for doc in cursor]


def last_fix_for(*, assignment_id: int) -> dict | None:
    """The run's stored fix with the latest device time."""
    return gps_pings().find_one(
        {"assignment_id": assignment_id}, {"_id": 0}, sort=[("recorded_at", DESCENDING)]
    )


def trail_for(
    *, assignment_id: int, tolerance_m: float = 5, max_points: int = 2000
) -> list[list[float]]:
    """The run's fixes in recorded-time order as GeoJSON [lng, lat] positions, simplified
    for a map (`simplified_trail`). One MongoDB query, the coordinates only."""
    cursor = (
        gps_pings()
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
    cos_mid: float | dict[str, list[object]] = 1.0
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
    found = next(iter(gps_pings().aggregate(pipeline)), None)
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
    for chunk in in_chunks(sorted(set(ids))):
        # A head with geofence states but no fix yet (`events.process_fixes`) is no position.
        query = {key: {"$in": chunk}, "location": {"$exists": True}}
        for doc in driver_positions().find(
            query, {"_id": 0, "version": 0, "geofences": 0, "geofences_run": 0}
        ):
            found[doc[key]] = doc
    return found


def positions_since(*, since: datetime) -> dict:
    """Drivers whose last position was recorded at `since` or later, and the runs those
    positions came from: one aggregation over the last positions (one per driver), never
    over the fixes."""
    rows = list(
        driver_positions().aggregate(
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
    for doc in driver_positions().find(
        query, {"_id": 0, "version": 0, "geofences": 0, "geofences_run": 0}
    ):
        doc_lng, doc_lat = doc["location"]["coordinates"]
        distance = haversine_m(centre, Point(lat=doc_lat, lng=doc_lng))
        if distance <= radius_m:
            near.append({**doc, "distance_m": distance})
    near.sort(key=lambda doc: (doc["distance_m"], doc["driver_id"]))
    return near[:limit]
