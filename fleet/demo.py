"""Arequipa fleet demo: vehicles with local plates, the demo drivers' records, and runs
with their routes for the orders demo's orders tagged "for run": one finished (both
drops delivered with photo proofs and a signature, rated), one cancelled before it
started, one assigned and one under way (with an incident and its photo, and a GPS track
that strays off its corridor once, hence a route deviation). Idempotent."""

import io
import math
from datetime import timedelta
from decimal import Decimal
from functools import partial
from itertools import pairwise

from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from fleet import restriction, services
from fleet.models import Assignment, Driver, Vehicle, VehicleStatus
from identity.models import User
from orders import services as order_services
from orders.models import Order, OrderStatus
from rappi.routing import Point, bearing_deg, haversine_m
from tracking import pings

# No two operational plates share a restricted weekday. A run takes the first allowed of
# them after its own (`_allowed_vehicle`): the spare van comes before driver3's, which
# stays free for a dispatcher whatever the day.
VEHICLES = [
    ("V1A-123", "van", "900", "250", "150", "140", VehicleStatus.OPERATIONAL),
    ("M3C-781", "motorcycle", "40", "50", "40", "40", VehicleStatus.OPERATIONAL),
    ("V5E-348", "van", "800", "240", "150", "130", VehicleStatus.OPERATIONAL),
    ("V2B-456", "van", "1200", "300", "170", "160", VehicleStatus.OPERATIONAL),
    ("T4D-902", "truck", "3500", "420", "200", "200", VehicleStatus.MAINTENANCE),
]
DRIVERS = [
    ("driver1@rappi.pe", "Q12345678", "V1A-123"),
    ("driver2@rappi.pe", "Q87654321", "M3C-781"),
    # Free, with the big van: ready for a dispatcher's next run.
    ("driver3@rappi.pe", "Q11223344", "V2B-456"),
]


@transaction.atomic
def seed(*, reset: bool, stdout) -> None:
    if reset:
        # The orders demo has just deleted its orders: their runs go too.
        for run in Assignment.objects.filter(orders__isnull=True):
            run_id = run.pk
            run.delete()
            transaction.on_commit(partial(services.run_documents_purge, assignment_id=run_id))
        Driver.objects.filter(user__email__in=[e for e, *_ in DRIVERS]).update(
            availability="available"
        )
    for plate, kind, capacity, length, width, height, status in VEHICLES:
        if not Vehicle.objects.filter(plate=plate).exists():
            services.vehicle_create(
                plate=plate,
                type=kind,
                capacity_kg=Decimal(capacity),
                length_cm=Decimal(length),
                width_cm=Decimal(width),
                height_cm=Decimal(height),
                status=status,
            )
    for email, licence, plate in DRIVERS:
        driver = services.driver_link_user(user=User.objects.get(email=email))
        if reset or not driver.licence_number:
            services.driver_update(
                driver=driver, licence_number=licence, vehicle=Vehicle.objects.get(plate=plate)
            )
    _seed_runs()
    stdout.write(
        f"fleet: {Vehicle.objects.count()} vehicles, {Driver.objects.count()} drivers, "
        f"{Assignment.objects.count()} runs"
    )


def _seed_runs() -> None:
    dispatcher = User.objects.get(email="dispatcher@rappi.pe")
    # Sequential on purpose: driver1 finishes a run before setting off on the next one.
    plans = [
        ("[demo] for run delivered", "driver1@rappi.pe", "V1A-123", _deliver_all),
        ("[demo] for run cancelled", "driver2@rappi.pe", "M3C-781", _cancel),
        ("[demo] for run assigned", "driver2@rappi.pe", "M3C-781", None),
        ("[demo] for run in progress", "driver1@rappi.pe", "V1A-123", _start_with_incident),
    ]
    for notes, email, plate, then in plans:
        order = Order.objects.filter(notes=notes, status=OrderStatus.PENDING).first()
        driver = Driver.objects.get(user__email=email)
        if order is None or driver.availability != "available":
            continue  # already in a run (seeded before)
        if notes.endswith("cancelled") and Assignment.objects.filter(orders=order).exists():
            continue  # its run was cancelled at an earlier seed: it waits for a dispatcher
        started = then in (_deliver_all, _start_with_incident)
        vehicle = _allowed_vehicle(plate, order, started=started)
        if vehicle is None:
            continue  # every plate is kept out of the centre or on the road: no such run
        run = services.assignment_create(
            orders=[order], driver=driver, vehicle=vehicle, by=dispatcher
        )
        if then is not None:
            then(run, dispatcher)


def _photo(text: str, color: str) -> tuple[str, bytes]:
    image = Image.new("RGB", (800, 600), color)
    ImageDraw.Draw(image).text((40, 40), text, fill="white")
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return f"{text.lower().replace(' ', '-')}.jpg", out.getvalue()


def _deliver_all(run: Assignment, dispatcher: User) -> None:
    driver_user = run.driver.user
    services.assignment_start(assignment=run, by=driver_user)
    order = run.orders.get()
    for index, destination in enumerate(order.destinations.order_by("sequence")):
        services.destination_deliver(
            assignment=run,
            destination_id=destination.pk,
            received_by=destination.recipient_name,
            photo=_photo(f"Entrega {destination.sequence}", "darkgreen"),
            signature=_photo("Firma", "black") if index == 0 else None,
            lat=float(destination.lat),
            lng=float(destination.lng),
            by=driver_user,
        )
    order.refresh_from_db()
    order_services.rating_create(
        order=order, score=5, comment="Muy puntual", by=order.customer.user
    )


def _cancel(run: Assignment, dispatcher: User) -> None:
    services.assignment_cancel(assignment=run, reason="Vehículo reasignado", by=dispatcher)


def _start_with_incident(run: Assignment, dispatcher: User) -> None:
    driver_user = run.driver.user
    services.assignment_start(assignment=run, by=driver_user)
    # After the commit, when the run's corridor exists (it is written on commit too).
    transaction.on_commit(partial(_seed_track, run.pk))
    incident = services.incident_report(
        assignment=run, type="traffic", notes="Desvío por obras en la Av. Ejército", by=driver_user
    )
    services.incident_evidence_add(
        incident=incident, kind="photo", uploads=[_photo("Obras", "darkorange")], by=driver_user
    )


def _allowed_vehicle(plate: str, order: Order, *, started: bool) -> Vehicle | None:
    """The planned vehicle, or else another operational one, on no other live run, whose
    plate may enter the historic centre on the order's day, and today too for a run
    started at once (the demo pickups are at the Plaza de Armas). Two days rule out at
    most two plates and the other live run one more: one of the four is left."""
    days = {restriction.service_day(order.scheduled_for)}
    if started:
        days.add(restriction.service_day(None))
    spares = [p for p, *_, status in VEHICLES if status == VehicleStatus.OPERATIONAL and p != plate]
    on_the_road = set(
        Assignment.objects.filter(status__in=Assignment.ACTIVE).values_list(
            "vehicle__plate", flat=True
        )
    )
    allowed = next(
        (
            p
            for p in [plate, *spares]
            if p not in on_the_road
            and not any(restriction.is_restricted(plate=p, day=day) for day in days)
        ),
        None,
    )
    return Vehicle.objects.get(plate=allowed) if allowed else None


# --- The running run's GPS track -----------------------------------------------------------------

TRACK_STEP_M = 120  # between fixes, at about 30 km/h every 15 s
TRACK_STRAY = (7, 11)  # fixes (by position) taken about 350 m off the route: a detour


def _seed_track(run_id: int) -> None:
    """Twenty-odd minutes of fixes along the route of the run under way, with one stretch
    off its corridor, through the real ingest (filters, events, deviation incident)."""
    run = Assignment.objects.select_related("driver", "vehicle", "route").get(pk=run_id)
    points = _along(run.route.geometry["coordinates"], step_m=TRACK_STEP_M)
    if len(points) < 2:
        return
    started = timezone.now() - timedelta(seconds=15 * (len(points) + 4))
    Assignment.objects.filter(pk=run_id).update(started_at=started)
    fixes = []
    for index, (lat, lng) in enumerate(points):
        if TRACK_STRAY[0] <= index < TRACK_STRAY[1]:
            lat += 0.0032  # about 350 m north of the route
        # Facing the next point (the last one keeps the way it came).
        here, ahead = (points[index], points[index + 1]) if index + 1 < len(points) else points[-2:]
        heading = bearing_deg(Point(lat=here[0], lng=here[1]), Point(lat=ahead[0], lng=ahead[1]))
        fixes.append(
            pings.Fix(
                index=index,
                lat=lat,
                lng=lng,
                recorded_at=started + timedelta(seconds=15 * (index + 1)),
                accuracy_m=8.0,
                speed_kmh=28.0,
                heading=round(heading, 1),
                client_id=f"demo-{run_id}-{index}",
            )
        )
    pings.pings_ingest(
        assignment_id=run.pk,
        driver_id=run.driver_id,
        vehicle_plate=run.vehicle.plate,
        started_at=started,
        fixes=fixes,
    )


def _along(coordinates: list, *, step_m: float) -> list[tuple[float, float]]:
    """(lat, lng) points every `step_m` metres along a GeoJSON LineString."""
    points = []
    for (lng1, lat1), (lng2, lat2) in pairwise(coordinates):
        length = haversine_m(Point(lat=lat1, lng=lng1), Point(lat=lat2, lng=lng2))
        steps = max(1, math.ceil(length / step_m))
        points += [
            (lat1 + (lat2 - lat1) * k / steps, lng1 + (lng2 - lng1) * k / steps)
            for k in range(steps)
        ]
    if coordinates:
        points.append((coordinates[-1][1], coordinates[-1][0]))
    return points
