"""Vehicle restriction ("plaqueo"; docs/domain.md, Fleet and dispatch). On weekdays, by the
date in Lima, plates ending in two of the digits (Mon 0-1, Tue 2-3, Wed 4-5, Thu 6-7, Fri
8-9) may not have a pickup or drop-off inside an active `vehicle_restriction` geofence, and
their routes go around such zones; weekends are free.

Which day counts: an order is carried on its scheduled date when that is later than now,
else today. A run not yet started is checked against every day its orders are carried
on, a run under way against today. A point on a zone's border counts as inside.
"""

import heapq
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from itertools import pairwise
from zoneinfo import ZoneInfo

import shapely
from django.utils import formats, timezone
from django.utils.translation import gettext as _
from shapely.geometry import LineString, MultiPoint, Polygon
from shapely.geometry import Point as ShapelyPoint

from fleet.errors import RouteRestrictedError, VehicleRestrictedError
from orders.models import Destination, Order
from rappi.routing import Leg, Point
from tracking import geofences

LIMA = ZoneInfo("America/Lima")
# date.weekday(): Monday is 0. Saturday and Sunday restrict nothing.
RESTRICTED_DIGITS = {weekday: (2 * weekday, 2 * weekday + 1) for weekday in range(5)}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# Detours turn at corners this far outside a zone, so a route never grazes its border.
DETOUR_MARGIN_M = 25.0


# --- The rule --------------------------------------------------------------------------------


def local_day(when: datetime) -> date:
    return timezone.localtime(when, LIMA).date()


def service_day(scheduled_for: datetime | None, *, now: datetime | None = None) -> date:
    """The Lima date an order is carried on: its scheduled date when later, else today."""
    now = now or timezone.now()
    return local_day(scheduled_for if scheduled_for and scheduled_for > now else now)


def run_days(
    *, orders: Iterable[Order], in_progress: bool, now: datetime | None = None
) -> set[date]:
    """The days a run's route may be driven on: today once under way, else its orders'."""
    if in_progress:
        return {service_day(None, now=now)}
    return {service_day(order.scheduled_for, now=now) for order in orders}


def restricted_digits(day: date) -> tuple[int, ...]:
    return RESTRICTED_DIGITS.get(day.weekday(), ())


def plate_digit(plate: str) -> int:
    """The last digit of a plate (`ABC-123` → 3)."""
    return int(plate.strip()[-1])


def is_restricted(*, plate: str, day: date) -> bool:
    return plate_digit(plate) in restricted_digits(day)


# --- Zones -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Zone:
    id: str
    name: str
    shape: Polygon  # lng/lat

    def covers(self, *, lat, lng) -> bool:
        return self.shape.intersects(ShapelyPoint(float(lng), float(lat)))


def restriction_zones() -> list[Zone]:
    return [
        Zone(id=str(zone.pk), name=zone.name, shape=geofences.zone_shape(zone))
        for zone in geofences.active_zones(kind=geofences.VEHICLE_RESTRICTION)
    ]


def zones_closed_to(*, plate: str, days: Iterable[date]) -> list[Zone]:
    """The zones a vehicle must keep out of on any of `days` (MongoDB is asked only when
    its plate is restricted on one of them)."""
    if not any(is_restricted(plate=plate, day=day) for day in days):
        return []
    return restriction_zones()


def check_stops(
    *,
    plate: str,
    orders: list[Order],
    destinations: list[Destination],
    now: datetime | None = None,
    zones: list[Zone] | None = None,
) -> None:
    """409 `vehicle_restricted` when, on the day one of the orders is carried, the plate
    is restricted and that order's pickup or one of its drop-offs lies in an active zone.
    The zones are loaded when a plate is restricted, unless the caller has them already."""
    offending = []
    for order in orders:
        day = service_day(order.scheduled_for, now=now)
        if not is_restricted(plate=plate, day=day):
            continue
        if zones is None:
            zones = restriction_zones()
        stops = [("pickup", order.origin_lat, order.origin_lng, None)] + [
            ("delivery", d.lat, d.lng, d.pk) for d in destinations if d.order_id == order.pk
        ]
        for kind, lat, lng, destination_id in stops:
            for zone in zones:
                if zone.covers(lat=lat, lng=lng):
                    point = {
                        "kind": kind,
                        "order_id": order.pk,
                        "destination_id": destination_id,
                        "lat": float(lat),
                        "lng": float(lng),
                        "zone_id": zone.id,
                        "date": day.isoformat(),
                    }
                    offending.append((day, zone, point))
                    break
    if not offending:
        return
    day, zone, _point = offending[0]
    raise VehicleRestrictedError(
        _("Plate %(plate)s ends in %(digit)d: on %(weekday)s it may not stop inside %(zone)s.")
        % {
            "plate": plate,
            "digit": plate_digit(plate),
            "weekday": formats.date_format(day, "l"),
            "zone": zone.name,
        },
        plate=plate,
        digit=plate_digit(plate),
        weekday=WEEKDAYS[day.weekday()],
        date=day.isoformat(),
        zone_id=zone.id,
        zone_name=zone.name,
        points=[point for _day, _zone, point in offending],
    )


# --- Detours ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Path:
    """A route's stops with the detour waypoints between them; `stop_at[k]` is the index
    of stop k in `points`."""

    points: list[Point]
    stop_at: list[int]

    def stop_legs(self, legs: list[Leg]) -> list[Leg]:
        """The router's legs (one per pair of consecutive points) summed per pair of stops."""
        return [
            Leg(
                distance_m=sum(leg.distance_m for leg in legs[i:j]),
                duration_s=sum(leg.duration_s for leg in legs[i:j]),
            )
            for i, j in pairwise(self.stop_at)
        ]


class _Visibility:
    """Shortest ways round obstacles (zones in a metric plane): a visibility graph over the
    corners of every zone grown by DETOUR_MARGIN_M, searched with Dijkstra."""

    def __init__(self, obstacles: list[Polygon]) -> None:
        self.obstacles = obstacles
        for obstacle in obstacles:
            shapely.prepare(obstacle)
        corners = [
            corner
            for obstacle in obstacles
            # Two segments a quarter circle keep corners few; their chords stay outside.
            for corner in obstacle.buffer(DETOUR_MARGIN_M, quad_segs=2).exterior.coords[:-1]
        ]
        # A corner inside another zone is no way round.
        self.corners = [c for c in corners if not self.blocked(ShapelyPoint(c))]
        self._seen: dict[tuple[int, int], bool] = {}

    def blocked(self, geometry) -> bool:
        return any(obstacle.intersects(geometry) for obstacle in self.obstacles)

    def _clear(self, a, b) -> bool:
        return not self.blocked(LineString([a, b]))

    def _corner_sees(self, i: int, j: int) -> bool:
        key = (min(i, j), max(i, j))
        if key not in self._seen:
            self._seen[key] = self._clear(self.corners[i], self.corners[j])
        return self._seen[key]

    def way_round(self, a, b) -> list[tuple[float, float]] | None:
        """The corners to pass from a to b, in order; None when no way avoids the zones."""
        # Node 0 is a, node 1 is b, node k + 2 is corner k.
        nodes = [a, b, *self.corners]
        best = {0: 0.0}
        previous: dict[int, int] = {}
        queue = [(0.0, 0)]
        while queue:
            so_far, here = heapq.heappop(queue)
            if here == 1:
                path = []
                while here != 0:
                    here = previous[here]
                    path.append(nodes[here])
                return list(reversed(path[:-1]))  # from a's side, without a
            if so_far > best[here]:
                continue
            for there in range(1, len(nodes)):
                if there == here or not self._sees(here, there, nodes):
                    continue
                length = so_far + math.dist(nodes[here], nodes[there])
                if length < best.get(there, math.inf):
                    best[there], previous[there] = length, here
                    heapq.heappush(queue, (length, there))
        return None

    def _sees(self, i: int, j: int, nodes) -> bool:
        if i >= 2 and j >= 2:
            return self._corner_sees(i - 2, j - 2)
        return self._clear(nodes[i], nodes[j])


def plan_path(points: list[Point], zones: list[Zone]) -> Path:
    """The stops in order, with waypoints round any zone a straight leg between two stops
    would cross. A leg to or from a stop inside a zone stays straight: no detour avoids a
    zone the vehicle has to be in (refusing such stops is `check_stops`' job). 409
    `route_restricted` when a leg has no way round (a stop enclosed by a zone)."""
    if not zones or len(points) < 2:
        return Path(points=list(points), stop_at=list(range(len(points))))
    plane = geofences.LocalPlane.around(MultiPoint([(p.lng, p.lat) for p in points]))
    # A zone is a Polygon, and so is its projection.
    graph = _Visibility([plane.to_plane(zone.shape) for zone in zones])  # type: ignore[misc]
    result, stop_at = [points[0]], [0]
    for origin, target in pairwise(points):
        a, b = plane.xy(origin.lng, origin.lat), plane.xy(target.lng, target.lat)
        ends_inside = graph.blocked(ShapelyPoint(a)) or graph.blocked(ShapelyPoint(b))
        if not ends_inside and graph.blocked(LineString([a, b])):
            corners = graph.way_round(a, b)
            if corners is None:
                crossed = [z for z in zones if z.shape.intersects(_line(origin, target))]
                raise RouteRestrictedError(
                    origin={"lat": origin.lat, "lng": origin.lng},
                    target={"lat": target.lat, "lng": target.lng},
                    zone_ids=[zone.id for zone in crossed],
                    zone_names=[zone.name for zone in crossed],
                )
            for corner in corners:
                lng, lat = plane.lnglat(*corner)
                result.append(Point(lat=lat, lng=lng))
        result.append(target)
        stop_at.append(len(result) - 1)
    return Path(points=result, stop_at=stop_at)


def _line(origin: Point, target: Point) -> LineString:
    return LineString([(origin.lng, origin.lat), (target.lng, target.lat)])
