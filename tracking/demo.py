"""Arequipa tracking demo: the vehicle-restriction zone of the historic centre, a few
blocks around the Plaza de Armas (-16.3988, -71.5369); rough delivery zones for four
districts (Cercado, Yanahuara, Cayma, José Luis Bustamante y Rivero) that hold the demo
addresses of their district; and a forbidden zone round the San Camilo market, whose
streets are closed to delivery vans. Idempotent by kind and name; `--reset` restores
their outlines and reactivates them.

Enter/exit events come from fixes: `tracking.events.process_fixes(assignment_id=…,
driver_id=…, fixes=[{lat, lng, recorded_at, accuracy_m}, …])` weighs a seeded run's
track against these zones and its corridor, as the ping API does."""

from tracking import geofences
from tracking.documents import Geofence

HISTORIC_CENTRE = "Centro histórico de Arequipa"
# [lng, lat], counter-clockwise: about two blocks each way from the Plaza de Armas.
HISTORIC_CENTRE_RING = [
    [-71.5400, -16.4016],
    [-71.5338, -16.4018],
    [-71.5330, -16.3990],
    [-71.5336, -16.3958],
    [-71.5398, -16.3960],
    [-71.5406, -16.3988],
    [-71.5400, -16.4016],
]


def seed_geofences(*, reset: bool = False) -> list[Geofence]:
    zone = geofences.restriction_zone_ensure(
        name=HISTORIC_CENTRE,
        geometry={"type": "Polygon", "coordinates": [HISTORIC_CENTRE_RING]},
        reset=reset,
    )
    return [zone]


# [lng, lat] outlines, counter-clockwise; neighbouring districts share their edges.
DELIVERY_ZONES = {
    "Cercado": [
        [-71.5400, -16.4150],
        [-71.5150, -16.4150],
        [-71.5120, -16.4000],
        [-71.5170, -16.3850],
        [-71.5400, -16.3850],
        [-71.5400, -16.4150],
    ],
    "Yanahuara": [
        [-71.5600, -16.3950],
        [-71.5400, -16.3950],
        [-71.5400, -16.3800],
        [-71.5520, -16.3780],
        [-71.5600, -16.3850],
        [-71.5600, -16.3950],
    ],
    "Cayma": [
        [-71.5650, -16.3800],
        [-71.5520, -16.3780],
        [-71.5400, -16.3800],
        [-71.5350, -16.3550],
        [-71.5600, -16.3500],
        [-71.5650, -16.3800],
    ],
    "José Luis Bustamante y Rivero": [
        [-71.5450, -16.4400],
        [-71.5150, -16.4400],
        [-71.5150, -16.4150],
        [-71.5400, -16.4150],
        [-71.5450, -16.4250],
        [-71.5450, -16.4400],
    ],
}
FORBIDDEN_ZONE = "Mercado San Camilo (closed to delivery vans)"
FORBIDDEN_RING = [
    [-71.5345, -16.4040],
    [-71.5316, -16.4042],
    [-71.5314, -16.4018],
    [-71.5343, -16.4016],
    [-71.5345, -16.4040],
]


def _polygon(ring: list[list[float]]) -> dict:
    return {"type": "Polygon", "coordinates": [ring]}


def seed_zones(*, reset: bool = False) -> list[Geofence]:
    """The district delivery zones and the forbidden zone."""
    zones = [
        geofences.zone_ensure(
            kind=geofences.DELIVERY_ZONE,
            name=f"Delivery zone {district}",
            geometry=_polygon(ring),
            reset=reset,
        )
        for district, ring in DELIVERY_ZONES.items()
    ]
    zones.append(
        geofences.zone_ensure(
            kind=geofences.FORBIDDEN,
            name=FORBIDDEN_ZONE,
            geometry=_polygon(FORBIDDEN_RING),
            reset=reset,
        )
    )
    return zones


def seed(*, reset: bool, stdout) -> None:
    restricted = seed_geofences(reset=reset)
    zones = seed_zones(reset=reset)
    stdout.write(
        f"tracking: {len(restricted)} vehicle-restriction zone(s), "
        f"{len(zones) - 1} delivery zone(s), 1 forbidden zone"
    )
