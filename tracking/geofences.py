"""Geofences: the corridor around a run's route (one per run, replaced with its route),
the zones staff draw (delivery zones, forbidden areas, vehicle-restriction zones) with
their validation, and the reads other apps rely on. Runs and routes are known by id only.

Geometry is done with shapely in a local metric plane (`LocalPlane`), so buffers and
clearances are in metres; stored polygons are GeoJSON with [lng, lat] positions, read as
straight edges in lng/lat (what shapely does). The server's own geo queries only narrow
the candidates: whether a point is inside is decided here, the same on MongoDB and on the
test server.
"""

import math
import re
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import cast

import shapely
from bson import ObjectId
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from pymongo.errors import WriteError
from shapely.geometry import LineString, Polygon, mapping, shape
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry
from shapely.geometry.polygon import orient
from shapely.validation import explain_validity

from rappi.errors import NotFoundError
from rappi.routing import EARTH_RADIUS_M
from tracking.documents import Geofence
from tracking.errors import GeofenceManagedError, InvalidGeofenceError
from tracking.models import ZONES_SCOPE, GeofenceGeneration
from tracking.pings import search_box

ROUTE_CORRIDOR = "route_corridor"
DELIVERY_ZONE = "delivery_zone"
FORBIDDEN = "forbidden"
VEHICLE_RESTRICTION = "vehicle_restriction"
# The kinds staff draw; corridors follow their run's route and are written only by it.
ZONE_KINDS = (DELIVERY_ZONE, FORBIDDEN, VEHICLE_RESTRICTION)

# A corridor's outline may sit this much inside the exact buffer: it keeps a long OSRM
# geometry's corridor to a few hundred vertices.
_CORRIDOR_SIMPLIFY_M = 1.0
# Stored positions are snapped to 1e-7 degrees (about 1 cm), keeping the polygon valid.
_GRID_DEGREES = 1e-7


class LocalPlane:
    """An equirectangular projection around a reference position: x metres east, y metres
    north. Over a city its scale error is a fraction of a percent, and being affine in
    lng/lat it maps straight lines to straight lines both ways."""

    def __init__(self, lng: float, lat: float) -> None:
        self.origin = (lng, lat)
        metres_per_degree = EARTH_RADIUS_M * math.pi / 180
        self.scale = (metres_per_degree * math.cos(math.radians(lat)), metres_per_degree)

    @classmethod
    def around(cls, geometry: BaseGeometry) -> "LocalPlane":
        centre = geometry.envelope.centroid
        return cls(centre.x, centre.y)

    def xy(self, lng: float, lat: float) -> tuple[float, float]:
        return ((lng - self.origin[0]) * self.scale[0], (lat - self.origin[1]) * self.scale[1])

    def lnglat(self, x: float, y: float) -> tuple[float, float]:
        return (x / self.scale[0] + self.origin[0], y / self.scale[1] + self.origin[1])

    def to_plane(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda c: (c - self.origin) * self.scale)

    def to_lnglat(self, geometry: BaseGeometry) -> BaseGeometry:
        return shapely.transform(geometry, lambda c: c / self.scale + self.origin)


def polygon_geojson(polygon: Polygon) -> dict:
    """A shapely polygon as a GeoJSON Polygon (exterior counter-clockwise, holes clockwise,
    as RFC 7946 asks), with lists rather than tuples so it stores as arrays."""
    polygon = orient(polygon, sign=1.0)
    return {
        "type": "Polygon",
        "coordinates": [
            [list(position) for position in ring] for ring in mapping(polygon)["coordinates"]
        ],
    }


def corridor_polygon(line: dict, *, tolerance_m: float) -> dict | None:
    """Everything within `tolerance_m` of a GeoJSON LineString, as a GeoJSON Polygon; None
    for a line of fewer than two positions."""
    positions = line.get("coordinates") or []
    if len(positions) < 2:
        return None
    path = LineString([position[:2] for position in positions])
    plane = LocalPlane.around(path)
    area = plane.to_plane(path).buffer(tolerance_m).simplify(_CORRIDOR_SIMPLIFY_M)
    # The stubs say BaseGeometry: a line's buffer, simplified keeping its topology, is one
    # polygon.
    corridor = cast(Polygon, shapely.set_precision(plane.to_lnglat(area), _GRID_DEGREES))
    return polygon_geojson(corridor)


def corridor_replace(
    *, assignment_id: int, route_id: int, line: dict, tolerance_m: float | None = None
) -> Geofence | None:
    """Make the corridor of run `assignment_id` the one around its new route `line`,
    replacing the previous one in place (same id, so enter/exit history stays on one
    geofence). A route of fewer than two positions leaves the run without a corridor."""
    tolerance_m = settings.ROUTE_CORRIDOR_TOLERANCE_M if tolerance_m is None else tolerance_m
    polygon = corridor_polygon(line, tolerance_m=tolerance_m)
    if polygon is None:
        corridor_delete_for(assignment_id=assignment_id)
        return None
    now = timezone.now()
    corridor = Geofence(
        name=f"Run #{assignment_id} route corridor",
        kind=ROUTE_CORRIDOR,
        geometry=polygon,
        active=True,
        route_id=route_id,
        assignment_id=assignment_id,
        tolerance_m=tolerance_m,
        created_at=now,
        updated_at=now,
    )
    corridor.validate()
    Geofence._get_collection().replace_one(
        {"kind": ROUTE_CORRIDOR, "assignment_id": assignment_id}, corridor.to_mongo(), upsert=True
    )
    GeofenceGeneration.bump(assignment_id)
    return corridor_for(assignment_id=assignment_id)


def corridor_for(*, assignment_id: int) -> Geofence | None:
    return Geofence.objects(kind=ROUTE_CORRIDOR, assignment_id=assignment_id).first()


def corridor_delete_for(*, assignment_id: int) -> int:
    """Remove run `assignment_id`'s corridor (its route is gone); returns how many went."""
    deleted = Geofence.objects(kind=ROUTE_CORRIDOR, assignment_id=assignment_id).delete()
    GeofenceGeneration.bump(assignment_id)
    return deleted


def active_zones(*, kind: str) -> list[Geofence]:
    """The active geofences of one kind (a handful: restriction zones, forbidden areas)."""
    return list(Geofence.objects(kind=kind, active=True).order_by("name"))


def zone_shape(geofence: Geofence) -> Polygon:
    """A geofence's polygon in lng/lat, holes included."""
    # The stubs say BaseGeometry: the geometry is a GeoJSON Polygon (a PolygonField).
    return cast(Polygon, shape(geofence.geometry))


def restriction_zone_ensure(*, name: str, geometry: dict, reset: bool = False) -> Geofence:
    """The active `vehicle_restriction` zone called `name`, created with `geometry` if
    missing; with `reset` an existing one gets `geometry` back and is reactivated."""
    zone = Geofence.objects(kind=VEHICLE_RESTRICTION, name=name).first()
    if zone is None:
        zone = Geofence(name=name, kind=VEHICLE_RESTRICTION)
    elif not reset:
        return zone
    zone.geometry, zone.active, zone.updated_at = geometry, True, timezone.now()
    zone.save()
    return zone


# --- Zones staff draw ------------------------------------------------------------------------

# Bounds that keep a zone a city-scale area: small enough that straight lng/lat edges (how
# shapely reads them) and great-circle edges (how MongoDB does) stay within metres.
MAX_RINGS = 50
MAX_POSITIONS = 10_000
MAX_SPAN_DEGREES = 5.0
# Candidates are asked of the server around a point with this margin, then checked here.
_PREFILTER_MARGIN_M = 100.0
# What a corridor takes from its route.
_MANAGED = ("kind", "geometry", "tolerance_m")


def position_error(position) -> str | None:
    """Why `position` is not a [longitude, latitude] pair in range; None when it is."""
    if (
        not isinstance(position, list | tuple)
        or len(position) != 2
        or not all(
            isinstance(value, int | float) and not isinstance(value, bool) for value in position
        )
        # An int is finite however long (and math.isfinite cannot take 10**400).
        or not all(math.isfinite(value) for value in position if isinstance(value, float))
    ):
        return _("must be [longitude, latitude], two numbers")
    lng, lat = position
    if not -180 <= lng <= 180:
        return _("longitude %(lng)s is outside -180..180") % {"lng": lng}
    if not -90 <= lat <= 90:
        return _("latitude %(lat)s is outside -90..90") % {"lat": lat}
    return None


_FAULT_AT = re.compile(r"^(?P<reason>[^\[]*)\[(?P<x>\S+) (?P<y>\S+)\]")


def polygon_fault(polygon: Polygon) -> dict | None:
    """Why shapely finds `polygon` invalid, and where when it says (`lat`/`lng`, else
    None); `crossing` for an outline that crosses itself. None for a valid polygon."""
    if polygon.is_valid:
        return None
    explained = explain_validity(polygon)
    found = _FAULT_AT.match(explained)
    if found is None:
        return {"reason": explained, "lat": None, "lng": None, "crossing": False}
    reason = found["reason"].strip()
    return {
        "reason": reason,
        "lat": float(found["y"]),
        "lng": float(found["x"]),
        "crossing": "self-intersection" in reason.lower(),
    }


def polygon_errors(geometry) -> list[str]:
    """What keeps `geometry` from being a geofence (empty when nothing does): a GeoJSON
    Polygon whose rings (the outline, then any holes) are closed, have at least 4 positions
    [lng, lat] in range, and which is valid as a whole: no self-intersection, holes inside
    the outline (shapely's `is_valid`, explained by `explain_validity`)."""
    if not isinstance(geometry, dict) or geometry.get("type") != "Polygon":
        return [_('Must be a GeoJSON object of type "Polygon".')]
    rings = geometry.get("coordinates")
    if not isinstance(rings, list) or not rings:
        return [_("`coordinates` must be a non-empty list of linear rings.")]
    if len(rings) > MAX_RINGS:
        return [_("At most %(max)d rings.") % {"max": MAX_RINGS}]
    if sum(len(ring) for ring in rings if isinstance(ring, list)) > MAX_POSITIONS:
        return [_("At most %(max)d positions in all.") % {"max": MAX_POSITIONS}]
    errors = []
    for r, ring in enumerate(rings):
        if not isinstance(ring, list):
            errors.append(_("Ring %(ring)d must be a list of positions.") % {"ring": r})
            continue
        if len(ring) < 4:
            errors.append(
                _("Ring %(ring)d has %(count)d position(s); a closed ring needs at least 4.")
                % {"ring": r, "count": len(ring)}
            )
        problem = next(
            ((p, error) for p, position in enumerate(ring) if (error := position_error(position))),
            None,
        )
        if problem is not None:
            errors.append(
                _("Ring %(ring)d, position %(position)d: %(error)s.")
                % {"ring": r, "position": problem[0], "error": problem[1]}
            )
        elif ring and list(ring[0]) != list(ring[-1]):
            errors.append(
                _("Ring %(ring)d is not closed: its last position must repeat its first.")
                % {"ring": r}
            )
    if errors:
        return errors
    polygon = Polygon(rings[0], rings[1:])
    fault = polygon_fault(polygon)
    if fault is not None and fault["crossing"]:
        return [_("The outline crosses itself near %(lat).5f, %(lng).5f.") % fault]
    if fault is not None:
        return [_("Not a valid polygon: %(reason)s.") % {"reason": explain_validity(polygon)}]
    west, south, east, north = polygon.bounds
    if east - west > MAX_SPAN_DEGREES or north - south > MAX_SPAN_DEGREES:
        return [_("A geofence spans at most %(max)s degrees each way.") % {"max": MAX_SPAN_DEGREES}]
    return []


def clean_polygon(geometry) -> dict:
    """`geometry` checked (InvalidGeofenceError) and stored the RFC 7946 way: outline
    counter-clockwise, holes clockwise."""
    errors = polygon_errors(geometry)
    if errors:
        raise InvalidGeofenceError(fields={"geometry": errors})
    rings = geometry["coordinates"]
    return polygon_geojson(Polygon(rings[0], rings[1:]))


def _store(geofence: Geofence, changes: dict | None = None) -> Geofence:
    """Insert a new geofence, or `$set` only the `changes` of an existing one (so a
    concurrent re-plan's corridor geometry is never written back over)."""
    geofence.validate()
    collection = Geofence._get_collection()
    doc = geofence.to_mongo()
    try:
        if geofence.pk is None:
            geofence.pk = collection.insert_one(doc).inserted_id
        else:
            fields = {Geofence._fields[name].db_field for name in changes or {}}
            collection.update_one(
                {"_id": geofence.pk}, {"$set": {key: doc.get(key) for key in fields}}
            )
    except WriteError as error:
        # A server with stricter geometry rules than ours (MongoDB's 2dsphere index).
        raise InvalidGeofenceError(
            fields={"geometry": [_("Refused by the database: %(reason)s") % {"reason": error}]}
        ) from error
    GeofenceGeneration.bump(geofence.scope())
    return geofence


def geofence_create(
    *,
    name: str,
    kind: str,
    geometry: dict,
    active: bool = True,
    tolerance_m: float | None = None,
) -> Geofence:
    """A zone staff draw (not a corridor: those come with their run's route)."""
    if kind not in ZONE_KINDS:
        raise InvalidGeofenceError(fields={"kind": [_("Route corridors come with their route.")]})
    now = timezone.now()
    return _store(
        Geofence(
            name=name,
            kind=kind,
            geometry=clean_polygon(geometry),
            active=active,
            tolerance_m=tolerance_m,
            created_at=now,
            updated_at=now,
        )
    )


def geofence_update(*, geofence: Geofence, **changes) -> Geofence:
    """Change `name`, `kind`, `geometry`, `active` or `tolerance_m`. A route corridor's
    outline, kind and tolerance follow its route (409 `geofence_managed`)."""
    if geofence.kind == ROUTE_CORRIDOR:
        # A full update may send them back unchanged.
        changes = {
            field: value
            for field, value in changes.items()
            if field not in _MANAGED or value != getattr(geofence, field)
        }
        managed = sorted(field for field in changes if field in _MANAGED)
        if managed:
            raise GeofenceManagedError(geofence_id=str(geofence.pk), fields=managed)
    elif "kind" in changes and changes["kind"] not in ZONE_KINDS:
        raise InvalidGeofenceError(fields={"kind": [_("Route corridors come with their route.")]})
    if "geometry" in changes:
        changes["geometry"] = clean_polygon(changes["geometry"])
    changes["updated_at"] = timezone.now()
    for field, value in changes.items():
        setattr(geofence, field, value)
    return _store(geofence, changes)


def geofence_deactivate(*, geofence: Geofence) -> Geofence:
    """Soft delete: the geofence stays, with its events, but no longer counts."""
    if not geofence.active:
        return geofence
    return geofence_update(geofence=geofence, active=False)


def geofence_list(*, kind: str | None = None, active: bool | None = None):
    """Every geofence (staff only: the API checks), optionally of one kind or state."""
    found = Geofence.objects
    if kind:
        found = found(kind=kind)
    if active is not None:
        found = found(active=active)
    return found


def geofence_get(*, pk: str) -> Geofence:
    found = Geofence.objects(pk=ObjectId(pk)).first() if ObjectId.is_valid(pk) else None
    if found is None:
        raise NotFoundError()
    return found


def geofences_containing(*, lat: float, lng: float, kind: str | None = None) -> list[Geofence]:
    """The active geofences whose polygon holds (lat, lng), its border included, by kind
    and name. The server narrows to those near the point; shapely decides."""
    query: dict = {"active": True}
    if kind:
        query["kind"] = kind
    box = search_box(lat=lat, lng=lng, radius_m=_PREFILTER_MARGIN_M)
    if box is not None:
        query["geometry"] = {"$geoIntersects": {"$geometry": box}}
    point = ShapelyPoint(lng, lat)
    found = [zone for zone in Geofence.objects(__raw__=query) if zone_shape(zone).covers(point)]
    return sorted(found, key=lambda zone: (zone.kind, zone.name, str(zone.pk)))


def zone_ensure(*, kind: str, name: str, geometry: dict, reset: bool = False) -> Geofence:
    """The zone of `kind` called `name`, drawn with `geometry` if missing; with `reset` an
    existing one gets `geometry` back and is reactivated (seeding)."""
    zone = Geofence.objects(kind=kind, name=name).first()
    if zone is None:
        return geofence_create(name=name, kind=kind, geometry=geometry)
    if not reset:
        return zone
    return geofence_update(geofence=zone, geometry=geometry, active=True)


# --- What a batch of fixes is weighed against (tracking.events) ------------------------------

# A generous widening of a geofence's lng/lat bounds for the prefilter: its edges are read
# straight here, but a great-circle edge bulges poleward (by under 0.03° for the widest
# zone allowed), and the prefilter may keep more than it must, never less.
_BOUNDS_MARGIN_DEGREES = 0.002
# Runs whose corridor a process keeps (a few KB each without the GeoJSON: the polygon only),
# the least recently weighed going first.
_CORRIDORS_CACHED = 256
# Whatever the generations say, what a process keeps is read again after this long: a
# generation the writer failed to move (its transaction rolled back, an older release
# during a deploy) leaves a stale copy for at most a minute.
CACHE_MAX_AGE_S = 60.0
_clock = time.monotonic


@dataclass(frozen=True)
class WeighedZone:
    """An active geofence as `tracking.events` weighs it: the stored fields it needs, its
    polygon in lng/lat, and bounds (west, south, east, north) widened for the prefilter."""

    doc: dict
    shape: Polygon | None  # None: unreadable (logged when weighed, as before)
    bounds: tuple[float, float, float, float]

    @classmethod
    def of(cls, doc: dict) -> "WeighedZone":
        # The GeoJSON lists weigh ten times the polygon made of them: not kept.
        geometry = doc.pop("geometry", None)
        try:
            polygon = cast(Polygon, shape(geometry))  # a stored GeoJSON Polygon
            west, south, east, north = polygon.bounds
        except Exception:  # weighed (and logged) as unreadable, never fails the others
            return cls(doc=doc, shape=None, bounds=(-180.0, -90.0, 180.0, 90.0))
        bulge = math.degrees(math.radians(east - west) ** 2 / 16) + _BOUNDS_MARGIN_DEGREES
        return cls(
            doc=doc,
            shape=polygon,
            bounds=(west - bulge, south - bulge, east + bulge, north + bulge),
        )

    def near(self, box: tuple[float, float, float, float] | None) -> bool:
        if box is None:
            return True
        west, south, east, north = self.bounds
        return not (east < box[0] or west > box[2] or north < box[1] or south > box[3])


_WEIGHED_FIELDS = {"name": 1, "kind": 1, "geometry": 1, "tolerance_m": 1, "assignment_id": 1}


class _WeighingCache:
    """Per process: the active zones (by the zones' generation) and the corridors of the
    runs seen lately (each by its run's generation), each with when it was read. A
    generation that differs from the cached one, or a copy older than CACHE_MAX_AGE_S,
    reloads that part: one MongoDB query."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.clear()

    def clear(self) -> None:
        # (generation, read at, zones) and, by run, (generation, read at, corridor).
        self.zones: tuple[int | None, float, list[WeighedZone]] = (None, 0.0, [])
        self.corridors: OrderedDict[int, tuple[int | None, float, WeighedZone | None]] = (
            OrderedDict()
        )

    def active_zones(self, generation: int) -> list[WeighedZone]:
        cached_generation, read_at, zones = self.zones
        now = _clock()
        if cached_generation == generation and now - read_at < CACHE_MAX_AGE_S:
            return zones
        found = Geofence._get_collection().find(
            {"active": True, "kind": {"$in": list(ZONE_KINDS)}}, _WEIGHED_FIELDS
        )
        zones = [WeighedZone.of(doc) for doc in found]
        with self.lock:
            self.zones = (generation, now, zones)
        return zones

    def corridor(self, assignment_id: int, generation: int) -> WeighedZone | None:
        now = _clock()
        with self.lock:
            cached = self.corridors.get(assignment_id)
            if cached is not None and cached[0] == generation and now - cached[1] < CACHE_MAX_AGE_S:
                self.corridors.move_to_end(assignment_id)
                return cached[2]
        doc = Geofence._get_collection().find_one(
            {"kind": ROUTE_CORRIDOR, "assignment_id": assignment_id, "active": True},
            _WEIGHED_FIELDS,
        )
        corridor = WeighedZone.of(doc) if doc is not None else None
        with self.lock:
            self.corridors[assignment_id] = (generation, now, corridor)
            self.corridors.move_to_end(assignment_id)
            while len(self.corridors) > _CORRIDORS_CACHED:
                self.corridors.popitem(last=False)
        return corridor


_weighing_cache = _WeighingCache()


def generations_for(*, assignment_id: int) -> tuple[int, int]:
    """(zones, the run's corridor) generations, for callers that did not read them with
    the run (`selectors.ping_run_for` does): one query."""
    found = dict(
        GeofenceGeneration.objects.filter(scope__in=[ZONES_SCOPE, assignment_id]).values_list(
            "scope", "generation"
        )
    )
    return found.get(ZONES_SCOPE, 0), found.get(assignment_id, 0)


def weighing_zones(
    *,
    assignment_id: int,
    generations: tuple[int | None, int | None],
    box: tuple[float, float, float, float] | None,
    held: set,
) -> list[WeighedZone]:
    """The run's active corridor, the active zones whose bounds meet `box` (west, south,
    east, north; None: all), and the active zones in `held` wherever they are. Read from
    this process's cache, valid while `generations` (zones, corridor) are those cached: no
    MongoDB query then. A superset of what the server's own geo query would find; the
    caller decides inside or outside exactly."""
    zones_generation, corridor_generation = generations
    found = [
        zone
        for zone in _weighing_cache.active_zones(zones_generation or 0)
        if zone.doc["_id"] in held or zone.near(box)
    ]
    corridor = _weighing_cache.corridor(assignment_id, corridor_generation or 0)
    return [corridor, *found] if corridor is not None else found
