"""Tracking's test data: runs in progress and their fixes (through the real ingest), zones
(through the geofence service, so the weighing cache hears of them), enter/exit events,
and the bytes of evidence uploads. Places are in Arequipa, round one route due north."""

import io
import math
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import factory
from django.utils import timezone
from PIL import ExifTags, Image

from fleet import services as fleet_services
from fleet.models import Assignment
from fleet.tests.factories import VehicleFactory, driver_user
from orders.tests.factories import customer_user, make_order
from tracking import geofences, pings
from tracking.documents import Geofence, GeofenceEvent

# Plaza de Armas, Arequipa; 0.0001° of latitude is about 11 m.
LAT, LNG = -16.3988, -71.5369
# A 1.1 km route due north along the Plaza's meridian, ending there. Zones are placed in
# metres east and north of its middle, MID_LAT.
MID_LAT = -16.4038
NORTH_LINE = {"type": "LineString", "coordinates": [[LNG, -16.4088], [LNG, LAT]]}
METRES_PER_DEGREE_LAT = 6_371_008.8 * math.pi / 180
METRES_PER_DEGREE_LNG = METRES_PER_DEGREE_LAT * math.cos(math.radians(-MID_LAT))


# --- Runs and their fixes ------------------------------------------------------------------------


def run_in_progress(by, *, start: bool = True, plate: str | None = None) -> dict:
    """A run of a new driver carrying one order, started an hour ago (so fixes of the last
    hour belong to it) unless `start` is false: {"run", "user" (the driver's login),
    "driver"}. `by`: the staff member who plans it."""
    user, driver = driver_user()
    _customer_user, customer = customer_user()
    order = make_order(customer=customer, by=by)
    vehicle = VehicleFactory(capacity_kg=Decimal("500"), **({"plate": plate} if plate else {}))
    run = fleet_services.assignment_create(orders=[order], driver=driver, vehicle=vehicle, by=by)
    if start:
        fleet_services.assignment_start(assignment=run, by=by)
        Assignment.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    return {"run": Assignment.objects.get(pk=run.pk), "user": user, "driver": driver}


class FixFactory(factory.Factory):
    """A fix as a phone sends it: at the Plaza, five seconds ago."""

    class Meta:
        model = pings.Fix

    index = 0
    lat = LAT
    lng = LNG
    recorded_at = factory.LazyFunction(lambda: timezone.now() - timedelta(seconds=5))


def ingest_fixes(
    fixes: list[pings.Fix],
    *,
    assignment_id: int,
    driver_id: int,
    started_at: datetime,
    vehicle_plate: str = "ABC-123",
    generations: tuple[int | None, int | None] | None = None,
) -> pings.IngestResult:
    """`fixes` through the real ingest as one request of a run known by ids, numbered in
    the order given."""
    return pings.pings_ingest(
        assignment_id=assignment_id,
        driver_id=driver_id,
        vehicle_plate=vehicle_plate,
        started_at=started_at,
        fixes=[replace(fix, index=index) for index, fix in enumerate(fixes)],
        generations=generations,
    )


def record_fixes(run: Assignment, fixes: list[pings.Fix]) -> pings.IngestResult:
    """`fixes` of `run`'s phone, stored through the real ingest; every one accepted."""
    assert run.started_at is not None, "fixes are sent on a started run"
    result = ingest_fixes(
        fixes,
        assignment_id=run.pk,
        driver_id=run.driver_id,
        vehicle_plate=run.vehicle.plate,
        started_at=run.started_at,
    )
    assert result.accepted == len(fixes), result
    return result


def record_fix(run: Assignment, lat: float, lng: float, *, seconds_ago: float = 5, heading=None):
    """One fix of `run`'s phone, `seconds_ago`, stored through the real ingest."""
    recorded_at = timezone.now() - timedelta(seconds=seconds_ago)
    record_fixes(run, [FixFactory(lat=lat, lng=lng, recorded_at=recorded_at, heading=heading)])


# --- Geofences and their events ------------------------------------------------------------------


def ring(*, west_m: float, east_m: float, south_m: float = -500, north_m: float = 500) -> list:
    """A closed rectangle of [lng, lat] positions, in metres east and north of the route's
    middle."""
    west, east = (LNG + m / METRES_PER_DEGREE_LNG for m in (west_m, east_m))
    south, north = (MID_LAT + m / METRES_PER_DEGREE_LAT for m in (south_m, north_m))
    return [[west, south], [east, south], [east, north], [west, north], [west, south]]


class ZoneFactory(factory.Factory):
    """A zone staff draw, saved through `geofences.geofence_create`: by default a delivery
    zone from 200 m west to 200 m east of the route, 500 m north and south of its middle."""

    class Meta:
        model = Geofence

    class Params:
        west_m = -200
        east_m = 200

    name = "Zone"
    kind = geofences.DELIVERY_ZONE
    geometry = factory.LazyAttribute(
        lambda zone: {
            "type": "Polygon",
            "coordinates": [ring(west_m=zone.west_m, east_m=zone.east_m)],
        }
    )

    @classmethod
    def _create(cls, model_class, *args, **kwargs):
        return geofences.geofence_create(**kwargs)


class GeofenceEventFactory(factory.mongoengine.MongoEngineFactory):
    """An enter of `geofence` by driver 1 on run 7, confirmed by the fix that made it,
    stored as the ingest stores events (`at` is given by the test)."""

    class Meta:
        model = GeofenceEvent

    class Params:
        geofence = None

    geofence_id = factory.LazyAttribute(lambda event: event.geofence.pk)
    geofence_kind = factory.LazyAttribute(lambda event: event.geofence.kind)
    driver_id = 1
    assignment_id = 7
    type = "enter"
    at = factory.LazyFunction(lambda: datetime.now(UTC))
    confirmed_at = factory.SelfAttribute("at")
    location = factory.LazyFunction(lambda: {"type": "Point", "coordinates": [LNG, LAT]})
    received_at = factory.SelfAttribute("at")


# --- Evidence uploads ----------------------------------------------------------------------------

PDF_BYTES = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def image_bytes(image: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **params)
    return out.getvalue()


def small_jpeg(color: str = "green") -> bytes:
    return image_bytes(Image.new("RGB", (64, 48), color), "JPEG")


def camera_jpeg(size: tuple[int, int] = (4000, 3000)) -> bytes:
    """A landscape photo, left half red and right half blue, tagged orientation 6 (the
    camera was turned: show it rotated 90° clockwise) and carrying GPS, XMP, an ICC
    profile and a comment."""
    width, height = size
    image = Image.new("RGB", size, "blue")
    image.paste("red", (0, 0, width // 2, height))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCo"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps[ExifTags.GPS.GPSLatitudeRef] = "S"
    gps[ExifTags.GPS.GPSLatitude] = (16.0, 24.0, 33.0)
    gps[ExifTags.GPS.GPSLongitudeRef] = "W"
    gps[ExifTags.GPS.GPSLongitude] = (71.0, 32.0, 11.0)
    return image_bytes(
        image,
        "JPEG",
        exif=exif,
        xmp=b"<x:xmpmeta xmlns:x='adobe:ns:meta/'>secret-xmp</x:xmpmeta>",
        icc_profile=b"not-really-an-icc-profile",
        comment=b"secret-comment",
    )
