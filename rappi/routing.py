"""Routing: distances, durations and geometries between points, and the visiting order
of a run's stops.

Two providers share one interface. `OfflineRouter` (the default) needs no service: the
great-circle distance times a detour factor (streets are not straight), driven at an
average speed. `OsrmRouter` asks an OSRM server (OSRM_URL) and turns every way it can
fail into `RoutingUnavailableError` (503), so callers handle one error. `get_router()`
picks one from the settings at call time.

`optimise_order` orders stops as an open path from a fixed start: nearest neighbour,
then 2-opt, never worse than the order it was given.
"""

import json
import logging
import math
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.client import HTTPException
from itertools import pairwise
from typing import Any, Protocol
from urllib.parse import urlencode

from django.conf import settings
from django.utils.translation import gettext_lazy as _

from rappi.errors import DomainError

logger = logging.getLogger(__name__)

EARTH_RADIUS_M = 6_371_008.8  # IUGG mean radius
# A route with its full geometry across a city is tens of kilobytes; far larger is not one.
_MAX_BODY_BYTES = 20_000_000
# 2-opt accepts a move only when it saves more than this, so float noise cannot make it
# cycle between two orders of the same length.
_MIN_GAIN_M = 1e-6


@dataclass(frozen=True)
class Point:
    lat: float
    lng: float


@dataclass(frozen=True)
class Leg:
    distance_m: float
    duration_s: float


@dataclass(frozen=True)
class Route:
    geometry: dict  # GeoJSON LineString: {"type": "LineString", "coordinates": [[lng, lat], ...]}
    distance_m: float
    duration_s: float
    legs: list[Leg]  # one per consecutive pair of points


class RoutingUnavailableError(DomainError):
    code, http_status = "routing_unavailable", 503
    default_message = _("The routing service cannot be reached; try again later.")


class RoutingProvider(Protocol):
    name: str

    def leg(self, origin: Point, destination: Point) -> Leg: ...

    def matrix(self, points: list[Point]) -> list[list[Leg]]:
        """matrix[i][j] is the leg from points[i] to points[j]; the diagonal is zero."""
        ...

    def route(self, points: list[Point]) -> Route:
        """The route through `points` (at least two) in the given order."""
        ...


def haversine_m(a: Point, b: Point) -> float:
    """Great-circle distance in metres (no detour factor)."""
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    d_phi = phi_b - phi_a
    d_lambda = math.radians(b.lng - a.lng)
    h = math.sin(d_phi / 2) ** 2 + math.cos(phi_a) * math.cos(phi_b) * math.sin(d_lambda / 2) ** 2
    # Rounding can push h a hair past 1 for antipodal points; asin would then fail.
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(min(1.0, h)))


def bearing_deg(a: Point, b: Point) -> float:
    """The initial compass bearing from `a` to `b`, degrees clockwise from north [0, 360)."""
    phi_a, phi_b = math.radians(a.lat), math.radians(b.lat)
    delta = math.radians(b.lng - a.lng)
    y = math.sin(delta) * math.cos(phi_b)
    x = math.cos(phi_a) * math.sin(phi_b) - math.sin(phi_a) * math.cos(phi_b) * math.cos(delta)
    return math.degrees(math.atan2(y, x)) % 360


def _require_two(points: list[Point]) -> None:
    if len(points) < 2:
        raise ValueError(f"a route needs at least two points, got {len(points)}")


def _line_string(points: list[Point]) -> dict:
    return {"type": "LineString", "coordinates": [[p.lng, p.lat] for p in points]}


class OfflineRouter:
    """Great-circle distance times ROUTING_DETOUR_FACTOR at ROUTING_AVERAGE_SPEED_KMH."""

    name = "offline"

    def leg(self, origin: Point, destination: Point) -> Leg:
        distance_m = haversine_m(origin, destination) * float(settings.ROUTING_DETOUR_FACTOR)
        speed_m_s = float(settings.ROUTING_AVERAGE_SPEED_KMH) * 1000 / 3600
        return Leg(distance_m=distance_m, duration_s=distance_m / speed_m_s)

    def matrix(self, points: list[Point]) -> list[list[Leg]]:
        return [[self.leg(a, b) for b in points] for a in points]

    def route(self, points: list[Point]) -> Route:
        _require_two(points)
        legs = [self.leg(a, b) for a, b in pairwise(points)]
        return Route(
            geometry=_line_string(points),
            distance_m=sum(leg.distance_m for leg in legs),
            duration_s=sum(leg.duration_s for leg in legs),
            legs=legs,
        )


class _BadAnswer(Exception):
    """OSRM gave no usable answer (network, status, body or shape)."""


def _finite(value: Any, what: str) -> float:
    # bool is an int to Python but never a number here; NaN/inf would poison every sum.
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise _BadAnswer(f"{what} is not a finite number: {value!r}")
    return float(value)


def _length(value: Any, what: str) -> float:
    value = _finite(value, what)
    if value < 0:
        raise _BadAnswer(f"{what} is negative: {value!r}")
    return value


def _object(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _BadAnswer(f"{what} is not a JSON object")
    return value


def _list(value: Any, what: str, *, length: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        raise _BadAnswer(f"{what} is not a list")
    if length is not None and len(value) != length:
        raise _BadAnswer(f"{what} has {len(value)} items, expected {length}")
    return value


def _parse_route(body: dict[str, Any], *, points: int) -> Route:
    routes = _list(body.get("routes"), "routes")
    if not routes:
        raise _BadAnswer("no routes")
    best = _object(routes[0], "the route")
    legs = []
    for raw in _list(best.get("legs"), "legs", length=points - 1):
        raw = _object(raw, "a leg")
        legs.append(
            Leg(
                distance_m=_length(raw.get("distance"), "a leg distance"),
                duration_s=_length(raw.get("duration"), "a leg duration"),
            )
        )
    geometry = _object(best.get("geometry"), "the geometry")
    if geometry.get("type") != "LineString":
        raise _BadAnswer("the geometry is not a LineString")
    coordinates = []
    for position in _list(geometry.get("coordinates"), "the geometry coordinates"):
        # GeoJSON allows a third number (altitude); a route only needs the first two.
        position = _list(position, "a geometry position")
        if len(position) < 2:
            raise _BadAnswer("a geometry position has fewer than two numbers")
        coordinates.append(
            [_finite(position[0], "a longitude"), _finite(position[1], "a latitude")]
        )
    return Route(
        geometry={"type": "LineString", "coordinates": coordinates},
        distance_m=_length(best.get("distance"), "the route distance"),
        duration_s=_length(best.get("duration"), "the route duration"),
        legs=legs,
    )


def _parse_table(body: dict[str, Any], *, points: int) -> list[list[Leg]]:
    # OSRM answers null for a pair it cannot connect; a matrix with holes can be neither
    # ordered nor priced, so it counts as no answer (the null fails _length).
    distances = _list(body.get("distances"), "distances", length=points)
    durations = _list(body.get("durations"), "durations", length=points)
    matrix = []
    for i in range(points):
        distance_row = _list(distances[i], "a distances row", length=points)
        duration_row = _list(durations[i], "a durations row", length=points)
        matrix.append(
            [
                # The diagonal is zero by contract, whatever snapping did to it.
                Leg(0.0, 0.0)
                if i == j
                else Leg(
                    distance_m=_length(distance_row[j], f"distance {i}->{j}"),
                    duration_s=_length(duration_row[j], f"duration {i}->{j}"),
                )
                for j in range(points)
            ]
        )
    return matrix


class OsrmRouter:
    """An OSRM server's `route` and `table` services (driving profile)."""

    name = "osrm"

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = float(timeout_s)

    def leg(self, origin: Point, destination: Point) -> Leg:
        route = self.route([origin, destination])
        return Leg(distance_m=route.distance_m, duration_s=route.duration_s)

    def matrix(self, points: list[Point]) -> list[list[Leg]]:
        if len(points) < 2:
            return [[Leg(0.0, 0.0)] for _ in points]  # nothing to ask the server
        try:
            body = self._fetch("table", points, {"annotations": "distance,duration"})
            return _parse_table(body, points=len(points))
        except _BadAnswer as exc:
            raise self._unavailable(exc) from None

    def route(self, points: list[Point]) -> Route:
        _require_two(points)
        query = {"overview": "full", "geometries": "geojson", "steps": "false"}
        try:
            return _parse_route(self._fetch("route", points, query), points=len(points))
        except _BadAnswer as exc:
            raise self._unavailable(exc) from None

    def _fetch(self, service: str, points: list[Point], query: dict[str, str]) -> dict[str, Any]:
        """GET {base}/{service}/v1/driving/{lng,lat;...}?{query}: the body when code is Ok."""
        # OSRM wants lng,lat; six decimals is about 0.1 m, finer than any GPS fix.
        coordinates = ";".join(f"{p.lng:.6f},{p.lat:.6f}" for p in points)
        url = f"{self.base_url}/{service}/v1/driving/{coordinates}?{urlencode(query)}"
        if not url.lower().startswith(("http://", "https://")):
            # urllib would also open file:// and ftp:// URLs.
            raise _BadAnswer(f"OSRM_URL must be http(s): {self.base_url!r}")
        headers = {"Accept": "application/json"}
        request = urllib.request.Request(url, headers=headers)  # noqa: S310 (scheme checked)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:  # noqa: S310
                status = response.status
                raw = response.read(_MAX_BODY_BYTES + 1)
        except urllib.error.HTTPError as exc:
            exc.close()
            raise _BadAnswer(f"HTTP {exc.code}") from None
        # OSError covers URLError, refused connections, timeouts and resets; HTTPException a
        # broken HTTP exchange; ValueError a URL urllib cannot parse.
        except (OSError, HTTPException, ValueError) as exc:
            raise _BadAnswer(f"{type(exc).__name__}: {exc}") from None
        if status != 200:
            raise _BadAnswer(f"HTTP {status}")
        if len(raw) > _MAX_BODY_BYTES:
            raise _BadAnswer("the body is too large")
        try:
            body = _object(json.loads(raw), "the body")
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError
            raise _BadAnswer(f"malformed JSON: {exc}") from None
        if body.get("code") != "Ok":
            raise _BadAnswer(f"code {body.get('code')!r}: {body.get('message', '')}")
        return body

    def _unavailable(self, exc: _BadAnswer) -> RoutingUnavailableError:
        # The cause goes to the log, not to API clients: it may name internal hosts.
        logger.warning("OSRM at %s unavailable: %s", self.base_url, exc)
        return RoutingUnavailableError(provider=self.name)


def get_router() -> RoutingProvider:
    """OSRM when OSRM_URL is set, else the offline estimate; read at call time."""
    if settings.OSRM_URL:
        return OsrmRouter(settings.OSRM_URL, settings.EXTERNAL_HTTP_TIMEOUT_S)
    return OfflineRouter()


def _path_length(order: list[int], dist: list[list[float]]) -> float:
    return sum(dist[a][b] for a, b in pairwise(order))


def _nearest_neighbour(start: int, dist: list[list[float]]) -> list[int]:
    order = [start]
    left = [i for i in range(len(dist)) if i != start]
    while left:
        here = order[-1]
        # min() keeps the first of equals, so ties go to the lowest index: deterministic.
        nearest = min(left, key=lambda j: dist[here][j])
        left.remove(nearest)
        order.append(nearest)
    return order


def _two_opt(order: list[int], dist: list[list[float]]) -> list[int]:
    """Reverse segments order[i..k] (never the start) while one shortens the open path.

    OSRM matrices are not symmetric (one-way streets), so a reversed segment is priced
    by its edges walked backwards, not assumed equal to its forward length.
    """
    order = list(order)
    n = len(order)
    while True:
        # forward[i]: length of order[0..i]; backward[i]: the same edges walked backwards.
        forward = [0.0] * n
        backward = [0.0] * n
        for i in range(1, n):
            forward[i] = forward[i - 1] + dist[order[i - 1]][order[i]]
            backward[i] = backward[i - 1] + dist[order[i]][order[i - 1]]
        best_gain, best_move = _MIN_GAIN_M, None
        for i in range(1, n - 1):
            before = order[i - 1]
            for k in range(i + 1, n):
                after = order[k + 1] if k + 1 < n else None
                old = dist[before][order[i]] + forward[k] - forward[i]
                new = dist[before][order[k]] + backward[k] - backward[i]
                if after is not None:
                    old += dist[order[k]][after]
                    new += dist[order[i]][after]
                if old - new > best_gain:
                    best_gain, best_move = old - new, (i, k)
        if best_move is None:
            return order
        i, k = best_move
        order[i : k + 1] = reversed(order[i : k + 1])


def optimise_order(
    points: list[Point], *, start: int = 0, router: RoutingProvider | None = None
) -> list[int]:
    """The visiting order of `points` (indices) as an open path beginning at `start`.

    Nearest neighbour over the router's distances, improved by 2-opt; the given order
    (with `start` moved first) is improved the same way and the shorter of the two wins,
    so the result is never longer than the input. Deterministic for the same input.
    """
    n = len(points)
    if n == 0:
        return []
    if not 0 <= start < n:
        raise ValueError(f"start {start} is not an index into {n} points")
    given = [start, *(i for i in range(n) if i != start)]
    if n < 3:
        return given  # one or two points: only one order, no need to ask the router
    legs = (router or get_router()).matrix(points)
    dist = [[leg.distance_m for leg in row] for row in legs]
    greedy = _two_opt(_nearest_neighbour(start, dist), dist)
    improved_given = _two_opt(given, dist)
    # The given order wins only when clearly shorter, so a float-level tie cannot flip
    # the answer between two equally long orders.
    if _path_length(improved_given, dist) < _path_length(greedy, dist) - _MIN_GAIN_M:
        return improved_given
    return greedy
