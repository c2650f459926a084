"""Arequipa fleet demo: vehicles with local plates, the demo drivers' records, and runs
with their routes for the orders demo's orders tagged "for run": one finished (both
drops delivered with photo proofs and a signature, rated), one cancelled before it
started, one assigned and one under way (with an incident and its photo, and a GPS track
that strays off its corridor once, hence a route deviation); and the four weeks of finished
business before today that the reports chart (`seed_past_four_weeks`). Idempotent."""

import io
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from functools import partial
from itertools import pairwise
from typing import Any

from django.db import transaction
from django.utils import timezone
from PIL import Image, ImageDraw

from fleet import restriction, services
from fleet.models import (
    Assignment,
    AssignmentStatus,
    Driver,
    Incident,
    IncidentOrigin,
    IncidentType,
    Route,
    Stop,
    StopKind,
    StopStatus,
    Vehicle,
    VehicleStatus,
)
from identity.models import User
from orders import demo as order_demo
from orders import pricing
from orders import services as order_services
from orders.models import (
    Customer,
    Destination,
    DestinationStatus,
    Invoice,
    Order,
    OrderEvent,
    OrderEventType,
    OrderStatus,
    Payment,
    PaymentStatus,
    Rating,
)
from orders.payment_providers import SimulatedProvider
from orders.timeline import actor_role_of, money_str
from rappi.routing import OfflineRouter, Point, bearing_deg, haversine_m, optimise_order
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
        _delete_past_four_weeks()
        # The orders demo has just deleted its orders: their runs go too.
        services.assignments_delete(assignments=Assignment.objects.filter(orders__isnull=True))
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
    if not Order.objects.filter(notes=HISTORY_TAG).exists():
        seed_past_four_weeks()
    stdout.write(
        f"fleet: {Vehicle.objects.count()} vehicles, {Driver.objects.count()} drivers, "
        f"{Assignment.objects.count()} runs "
        f"({Order.objects.filter(notes=HISTORY_TAG).count()} orders of the last four weeks)"
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
    assert order.customer.user is not None  # the demo's delivered order is a login's
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


# --- Four weeks of history for the reports ------------------------------------------------------

HISTORY_TAG = order_demo.HISTORY_TAG
HISTORY_DAYS = 28
HISTORY_SEED = 2026  # fixed: every seed writes the same history (relative to today)
SPARE_PLATE = "V5E-348"  # kept out of the centre on Fridays, when no driver's own van is
TEXTILES, PANADERIA, WALK_IN = "customer2@rappi.pe", *(e for _, e, *_ in order_demo.WALK_IN)

# Who orders, how often (weights); the walk-in customers always through a dispatcher, the
# customers with a login mostly by themselves.
CUSTOMER_MIX = {"customer1@rappi.pe": 30, TEXTILES: 35, PANADERIA: 25, WALK_IN: 10}
BY_THEMSELVES = 0.85
INVOICED = 0.6
INVOICE_TO = {  # RUC and name, as the demo's invoice and walk-in customer have them
    TEXTILES: ("20100070970", "Textiles Yanahuara SAC"),
    PANADERIA: (order_demo.WALK_IN[0][3], order_demo.WALK_IN[0][0]),
}
LEVEL_MIX = {"standard": 50, "express": 30, "urgent": 20}
# When orders come in (Lima hours, weights), and how many a day.
ORDER_HOURS = {
    "weekday": {8: 2, 9: 4, 10: 5, 11: 5, 12: 3, 13: 3, 14: 4, 15: 4, 16: 3, 17: 2},
    "saturday": {9: 2, 10: 3, 11: 3, 12: 2, 13: 1},
    "sunday": {10: 1, 11: 2, 12: 1},
}
ORDERS_A_DAY = {"weekday": (5, 9), "saturday": (2, 4), "sunday": (1, 2)}
PACKAGE_KG = ["0.5", "1", "1.5", "2", "2.5", "3", "4", "5", "7", "10", "15"]
# Per service level: orders a run takes (one of these at random) and its most drop-offs,
# minutes from ready to assigned and from assigned to started, and the share of runs held
# up past the target (spread evenly over the weeks, so each level's on-time share is
# about the same whatever the day the demo is seeded).
RUN_SIZES = {"standard": (1, 2, 2, 3), "express": (1, 1, 2), "urgent": (1,)}
RUN_DROPS = {"standard": 6, "express": 3, "urgent": 3}
DISPATCH_WAIT = {"standard": (15, 90), "express": (8, 35), "urgent": (3, 10)}
START_DELAY = {"standard": (5, 20), "express": (4, 15), "urgent": (2, 8)}
HELD_UP = {"standard": 0.06, "express": 0.15, "urgent": 0.3}
# How long a dispatcher holds a ready order for others to share its run.
BATCH_WINDOW = {"standard": 120, "express": 40, "urgent": 0}
# The pace: the offline router's time slowed by the city's traffic (a range of factors),
# and the minutes spent at each pickup and door; an urgent run goes straight there.
TRAFFIC = {"standard": (1.5, 2.4), "express": (1.3, 1.8), "urgent": (1.2, 1.7)}
AT_THE_DOOR = {"standard": (4, 12), "express": (3, 8), "urgent": (3, 6)}
# Trouble (cancellations, declined cards, hold-ups, failed drop-offs, incidents) stops two
# days before today: yesterday is a quiet day, so the overview's last 24 hours stay the
# demo's own.
CANCELLED = 0.07
DECLINED = 0.08
FAILED_DROP = 0.04
MISHAP = 0.05
RATED = 0.4
CUSTOMER_CANCEL_REASONS = ["Cambio de planes", "Ya no lo necesito", "Pedido duplicado"]
STAFF_CANCEL_REASONS = ["Cliente canceló por teléfono", "El cliente recogerá en tienda"]
FAILURE_REASONS = ["Nadie en casa", "Dirección no encontrada", "El destinatario rechazó el paquete"]
HOLD_UPS = [  # why a late run fell behind, when its driver reported it
    (IncidentType.TRAFFIC, "Congestión en el puente Bolognesi"),
    (IncidentType.TRAFFIC, "Desvío por obras en la Av. Ejército"),
    (IncidentType.WEATHER, "Lluvia intensa en la Variante de Uchumayo"),
    (IncidentType.OTHER, "Llanta pinchada, cambiada en ruta"),
]
MISHAPS = [  # (type, notes, severity staff set, or None for the type's own)
    (IncidentType.CUSTOMER_ABSENT, "El destinatario tardó 20 minutos en salir", None),
    (IncidentType.WRONG_ADDRESS, "Número de casa equivocado; el cliente lo corrigió", None),
    (IncidentType.DAMAGED_PACKAGE, "Caja abollada en el traslado", None),
    (IncidentType.DAMAGED_PACKAGE, "Paquete mojado: el cliente pide reposición", 5),
]
SCORES = {"on_time": (5, 5, 5, 4, 4, 3), "late": (4, 3, 3, 2), "failed": (3, 2)}
COMMENTS = {
    5: ["Muy puntual", "Excelente servicio", ""],
    4: ["Todo bien", ""],
    3: ["Llegó algo tarde", ""],
    2: ["Llegó tarde y sin aviso", "Un paquete no se entregó"],
}
T = OrderEventType


def seed_past_four_weeks(*, now: datetime | None = None) -> int:
    """The 28 Lima days before today as the reports chart them: about 160 orders of the
    demo customers (more on weekdays), most paid (simulated checkout, cash or transfer),
    some invoiced, delivered in finished runs of the demo drivers, a few drop-offs failed
    and orders cancelled, with incidents and ratings. Nothing lands on today. Returns the
    number of orders written.

    Written with bulk inserts, with their past timestamps, not through the services: the
    services stamp "now", notify the users, store photo proofs and take about a second an
    order, far too slow for a seed that `make run` and the tests call. The rows are those
    the services leave (statuses, totals priced at their time, routes and stops, each
    order's timeline); the MongoDB side (proof photos, GPS tracks, notifications) is not
    written for the past."""
    now = now or timezone.now()
    history = _History(today=timezone.localtime(now, restriction.LIMA).date())
    for back in range(HISTORY_DAYS, 0, -1):
        history.add_day(history.today - timedelta(days=back), quiet=back == 1)
    history.save()
    return len(history.orders)


def _delete_past_four_weeks() -> None:
    """The history's orders and runs with all they hold. It wrote nothing to MongoDB, so
    there is nothing to purge there (a purge per run would cost seconds)."""
    past = Order.objects.filter(notes=HISTORY_TAG)
    services.assignments_delete(
        assignments=Assignment.objects.filter(orders__in=past), purge_documents=False
    )
    Rating.objects.filter(order__in=past).delete()
    Invoice.objects.filter(order__in=past).delete()
    Payment.objects.filter(order__in=past).delete()
    past.delete()


def _lima(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute, second), tzinfo=restriction.LIMA)


def _point(lat, lng) -> Point:
    return Point(lat=float(lat), lng=float(lng))


def _paid_data(payment: Payment, **more) -> dict:
    """A payment as the timeline's `paid` and `payment_declined` events hold it."""
    return {
        "payment_id": payment.pk,
        "amount": money_str(payment.amount),
        "currency": payment.currency,
        "provider": payment.provider,
        **more,
    }


@dataclass
class _Past:
    """An order of the past while it is being written."""

    order: Order
    drops: list[Destination]
    customer_user: User | None
    paid_at: datetime | None = None
    ready: datetime | None = None  # paid, or carried on account: ready for a run
    open_drops: int = 0
    late: bool = False
    failed: bool = False


def _ready_at(past: _Past) -> datetime:
    """When an order handed to dispatch became ready (only ready ones are)."""
    assert past.ready is not None
    return past.ready


@dataclass
class _Event:
    order: Order
    at: datetime
    type: str
    by: User | None
    destination: Destination | None = None
    from_status: str = ""
    to_status: str = ""
    data: dict | Callable[[], dict] = field(default_factory=dict)  # callable: needs ids


class _History:
    """Builds the rows in memory, day by day; `save` writes each table with one bulk
    insert, in the order the foreign keys need, and the timelines (whose data names ids)
    last."""

    def __init__(self, *, today: date):
        self.rng = random.Random(HISTORY_SEED)  # noqa: S311 - demo data, not secrets
        self.today = today
        self.tariff = order_services.tariff_get()
        self.targets = self.tariff.target_minutes()
        self.router = OfflineRouter()  # no network for the past, and the same every time
        self.dispatcher = User.objects.get(email="dispatcher@rappi.pe")
        self.customers = {
            c.email: c
            for c in Customer.objects.select_related("user").filter(email__in=list(CUSTOMER_MIX))
        }
        self.drivers = list(
            Driver.objects.select_related("user", "vehicle")
            .filter(user__email__in=[email for email, *_ in DRIVERS])
            .order_by("user__email")
        )
        self.spare = Vehicle.objects.get(plate=SPARE_PLATE)
        plaza, workshop, bakery = order_demo.PLAZA, order_demo.WORKSHOP, order_demo.BAKERY
        lucia = [
            {"line": line, "district": district, "lat": Decimal(lat), "lng": Decimal(lng)}
            for _label, line, district, lat, lng in order_demo.ADDRESSES["customer1@rappi.pe"]
        ]
        self.origins: dict[str, list[dict[str, Any]]] = {
            "customer1@rappi.pe": [plaza, plaza, *lucia],
            TEXTILES: [workshop],
            PANADERIA: [bakery],
            WALK_IN: [plaza],
        }
        # Drop-offs: the demo's (three times as likely) and its customers' own places.
        customer_places = [(place, "Lucía Fernández") for place in lucia] + [
            (workshop, "Textiles Yanahuara SAC"),
            (bakery, "Panadería Misti"),
        ]
        self.places = [*order_demo.DROPS] * 3 + [
            (p["line"], p["district"], str(p["lat"]), str(p["lng"]), name)
            for p, name in customer_places
        ]
        self.orders: list[Order] = []
        self.destinations: list[Destination] = []
        self.payments: list[Payment] = []
        self.invoices: list[Invoice] = []
        self.runs: list[Assignment] = []
        self.run_orders: list = []
        self.routes: list[Route] = []
        self.stops: list[Stop] = []
        self.incidents: list[Incident] = []
        self.ratings: list[Rating] = []
        self.events: list[_Event] = []
        self.cash_receipts = 100
        self.hold_up_due = dict.fromkeys(HELD_UP, 0.0)

    def _minutes(self, low: int, high: int) -> timedelta:
        return timedelta(minutes=self.rng.randint(low, high), seconds=self.rng.randrange(60))

    def _event(self, order: Order, at: datetime, type: str, by: User | None, **more) -> None:
        self.events.append(_Event(order=order, at=at, type=type, by=by, **more))

    # --- A day: its orders, their payments, the runs that carry them --------------------------

    def add_day(self, day: date, *, quiet: bool) -> None:
        kind = {5: "saturday", 6: "sunday"}.get(day.weekday(), "weekday")
        hours = ORDER_HOURS[kind]
        if quiet:  # early enough for every run to be done well before midnight
            hours = {hour: weight for hour, weight in hours.items() if hour < 15}
        rng = self.rng
        count = rng.randint(*ORDERS_A_DAY[kind])
        times = sorted(
            _lima(day, hour, rng.randrange(60), rng.randrange(60))
            for hour in rng.choices(list(hours), weights=list(hours.values()), k=count)
        )
        pasts = [self._order(at, quiet=quiet) for at in times]
        self._dispatch([past for past in pasts if past.ready], quiet=quiet)

    def _order(self, created: datetime, *, quiet: bool) -> _Past:
        rng = self.rng
        email = rng.choices(list(CUSTOMER_MIX), weights=list(CUSTOMER_MIX.values()))[0]
        customer = self.customers[email]
        by = customer.user if customer.user and rng.random() < BY_THEMSELVES else self.dispatcher
        origin = rng.choice(self.origins[email])
        level = rng.choices(list(LEVEL_MIX), weights=list(LEVEL_MIX.values()))[0]
        wanted = rng.choices((1, 2, 3), weights=(60, 30, 10))[0]
        places: list[tuple] = []
        for place in rng.sample(self.places, len(self.places)):
            if place[0] != origin["line"] and place[0] not in {p[0] for p in places}:
                places.append(place)
            if len(places) == wanted:
                break
        packages = [self._package() for _ in places]
        quote = pricing.quote(
            tariff=self.tariff,
            origin=_point(origin["lat"], origin["lng"]),
            destinations=[
                (_point(place[2], place[3]), package)
                for place, package in zip(places, packages, strict=True)
            ],
            service_level=level,
            at=created,
            router=self.router,
        )
        discount = email == PANADERIA and rng.random() < 0.3
        adjustment = Decimal("-3.00") if discount else Decimal("0.00")
        order = Order(
            customer=customer,
            status=OrderStatus.PENDING if by.is_staff_member else OrderStatus.PENDING_PAYMENT,
            service_level=level,
            origin_line=origin["line"],
            origin_district=origin["district"],
            origin_lat=origin["lat"],
            origin_lng=origin["lng"],
            notes=HISTORY_TAG,
            legs_total=quote.legs_total,
            price_adjustment=adjustment,
            adjustment_reason="Cliente frecuente" if discount else "",
            adjusted_by=self.dispatcher if discount else None,
            total=pricing.order_total(quote.legs_total, adjustment),
            currency=quote.currency,
            created_by=by,
            created_at=created,
        )
        drops = [
            Destination(
                order=order,
                sequence=sequence,
                line=line,
                district=district,
                lat=Decimal(lat),
                lng=Decimal(lng),
                recipient_name=name,
                recipient_phone="+51 959 000 000",
                weight_kg=package.weight_kg,
                length_cm=package.length_cm,
                width_cm=package.width_cm,
                height_cm=package.height_cm,
                description="Caja",
                distance_km=leg.distance_km,
                duration_min=leg.duration_min,
                chargeable_weight_kg=leg.chargeable_weight_kg,
                subtotal=leg.total,
            )
            for sequence, ((line, district, lat, lng, name), package, leg) in enumerate(
                zip(places, packages, quote.legs, strict=True), start=1
            )
        ]
        self.orders.append(order)
        self.destinations += drops
        past = _Past(order=order, drops=drops, customer_user=customer.user)
        self._event(
            order,
            created,
            T.CREATED,
            by,
            to_status=order.status,
            data={
                "total": money_str(quote.legs_total),
                "currency": order.currency,
                "service_level": level,
                "destinations": len(drops),
            },
        )
        if discount:
            self._event(
                order,
                created + timedelta(seconds=30),
                T.PRICE_ADJUSTED,
                self.dispatcher,
                data={
                    "amount": money_str(adjustment),
                    "reason": order.adjustment_reason,
                    "from_total": money_str(quote.legs_total),
                    "to_total": money_str(order.total),
                    "currency": order.currency,
                },
            )
        if order.status == OrderStatus.PENDING_PAYMENT:
            self._pay_online(past, created, by, quiet=quiet)
        else:
            self._pay_at_the_counter(past, created, quiet=quiet)
        if past.paid_at and email in INVOICE_TO and rng.random() < INVOICED:
            ruc, name = INVOICE_TO[email]
            self.invoices.append(
                Invoice(
                    order=order,
                    number=f"past-{len(self.invoices)}",  # numbered from its id once saved
                    ruc=ruc,
                    business_name=name,
                    amount=order.total,
                    currency=order.currency,
                    issued_at=past.paid_at + self._minutes(2, 40),
                    created_by=by,
                )
            )
        return past

    def _package(self) -> pricing.Package:
        weight = Decimal(self.rng.choice(PACKAGE_KG))
        if self.rng.random() < 0.1:  # a bulky one
            return pricing.Package(weight, Decimal("60"), Decimal("40"), Decimal("40"))
        return pricing.Package(weight, None, None, None)

    def _payment(self, order: Order, *, at: datetime, by: User, **fields) -> Payment:
        payment = Payment(
            order=order, amount=order.total, currency=order.currency, created_by=by, **fields
        )
        payment.created_at = at
        self.payments.append(payment)
        return payment

    def _pay_online(self, past: _Past, created: datetime, by: User, *, quiet: bool) -> None:
        """The customer's own order: paid through the simulated checkout (now and then
        after a declined card), or cancelled before paying."""
        order, rng = past.order, self.rng
        clock = created + self._minutes(1, 6)
        if not quiet and rng.random() < DECLINED:
            declined = self._payment(
                order, at=clock, by=by, provider="simulated", status=PaymentStatus.FAILED
            )
            clock += self._minutes(1, 3)
            self._event(order, clock, T.PAYMENT_DECLINED, None, data=partial(_paid_data, declined))
            clock += self._minutes(2, 8)
        if not quiet and rng.random() < CANCELLED:
            reason = rng.choice(CUSTOMER_CANCEL_REASONS)
            self._cancel(past, clock + self._minutes(5, 60), by=by, reason=reason)
            return
        past.paid_at = past.ready = clock + self._minutes(1, 5)
        checkout = self._payment(
            order,
            at=clock,
            by=by,
            provider="simulated",
            status=PaymentStatus.PAID,
            paid_at=past.paid_at,
        )
        # The provider's confirmation: the system's doing, whoever pressed "pay".
        self._event(
            order,
            past.paid_at,
            T.PAID,
            None,
            from_status=OrderStatus.PENDING_PAYMENT,
            to_status=OrderStatus.PENDING,
            data=partial(_paid_data, checkout),
        )
        order.status = OrderStatus.PENDING

    def _pay_at_the_counter(self, past: _Past, created: datetime, *, quiet: bool) -> None:
        """A staff order, pending from the start: paid in cash or by transfer, carried
        on account (unpaid), or cancelled by phone before it went out."""
        order, rng = past.order, self.rng
        if not quiet and rng.random() < CANCELLED:
            reason = rng.choice(STAFF_CANCEL_REASONS)
            self._cancel(past, created + self._minutes(10, 90), by=self.dispatcher, reason=reason)
            return
        if rng.random() < 0.2:
            past.ready = created + self._minutes(1, 3)
            return
        self.cash_receipts += 1
        reference = (
            f"Caja {self.cash_receipts:04d}"
            if rng.random() < 0.7
            else f"Transferencia BCP {rng.randint(100000, 999999)}"
        )
        past.paid_at = past.ready = created + self._minutes(2, 5)
        payment = self._payment(
            order,
            at=past.paid_at,
            by=self.dispatcher,
            provider="manual",
            status=PaymentStatus.PAID,
            paid_at=past.paid_at,
            reference=reference,
        )
        # A staff order is pending already: paid, no change of status.
        self._event(
            order,
            past.paid_at,
            T.PAID,
            self.dispatcher,
            data=partial(_paid_data, payment, reference=reference),
        )

    def _cancel(self, past: _Past, at: datetime, *, by: User, reason: str) -> None:
        order = past.order
        self._event(
            order,
            at,
            T.CANCELLED,
            by,
            from_status=order.status,
            to_status=OrderStatus.CANCELLED,
            data=lambda: {
                "reason": reason,
                "failed_destination_ids": sorted(drop.pk for drop in past.drops),
            },
        )
        order.status = OrderStatus.CANCELLED
        order.cancel_reason = reason
        order.cancelled_at = at
        for drop in past.drops:
            drop.status = DestinationStatus.FAILED
            drop.failure_reason = reason

    def _dispatch(self, ready: list[_Past], *, quiet: bool) -> None:
        """The day's orders in runs of one service level each, as a dispatcher groups
        them: urgent ones alone, the others with those ready soon after."""
        batches: list[list[_Past]] = []
        open_batches: dict[str, tuple[int, list[_Past]]] = {}
        for past in sorted(ready, key=_ready_at):
            level = past.order.service_level
            size, batch = open_batches.get(level, (0, []))
            if (
                len(batch) >= size
                or _ready_at(past) - _ready_at(batch[0]) > timedelta(minutes=BATCH_WINDOW[level])
                or sum(len(p.drops) for p in batch) + len(past.drops) > RUN_DROPS[level]
            ):
                size, batch = self.rng.choice(RUN_SIZES[level]), []
                open_batches[level] = (size, batch)
                batches.append(batch)
            batch.append(past)
        free_at: dict[int, datetime] = {}
        for batch in sorted(batches, key=lambda b: _ready_at(b[-1])):
            self._run(batch, free_at, quiet=quiet)

    def _run(self, batch: list[_Past], free_at: dict, *, quiet: bool) -> None:
        """A run for `batch`, by the driver free first (the motorcycle takes only small
        parcels), assigned when the driver is back from the previous one."""
        rng = self.rng
        level = batch[0].order.service_level
        due = _ready_at(batch[-1]) + self._minutes(*DISPATCH_WAIT[level])
        light = all(d.weight_kg <= 5 and d.length_cm is None for p in batch for d in p.drops)
        drivers = [
            d for d in self.drivers if light or (d.vehicle and d.vehicle.type != "motorcycle")
        ]
        driver = min(drivers, key=lambda d: (max(free_at.get(d.pk, due), due), rng.random()))
        assigned = max(due, free_at.get(driver.pk, due) + self._minutes(3, 12))
        started = assigned + self._minutes(*START_DELAY[level])
        # A plate kept out of the historic centre that day (where most pickups are) stays
        # in the yard and the spare van goes instead.
        vehicle = driver.vehicle
        assert vehicle is not None  # every demo driver has one
        if restriction.is_restricted(plate=vehicle.plate, day=restriction.local_day(assigned)):
            vehicle = self.spare
        run = Assignment(
            driver=driver,
            vehicle=vehicle,
            status=AssignmentStatus.FINISHED,
            started_at=started,
            created_by=self.dispatcher,
        )
        run.created_at = assigned
        self.runs.append(run)

        def on_the_run() -> dict:
            return {
                "assignment_id": run.pk,
                "driver_id": driver.pk,
                "driver_name": driver.user.full_name,
                "vehicle_id": vehicle.pk,
                "vehicle_plate": vehicle.plate,
            }

        for past in batch:
            order = past.order
            self.run_orders.append(Assignment.orders.through(assignment=run, order=order))
            self._event(
                order,
                assigned,
                T.ASSIGNED,
                self.dispatcher,
                from_status=OrderStatus.PENDING,
                to_status=OrderStatus.ASSIGNED,
                data=on_the_run,
            )
            self._event(
                order,
                started,
                T.RUN_STARTED,
                driver.user,
                from_status=OrderStatus.ASSIGNED,
                to_status=OrderStatus.IN_TRANSIT,
                data=lambda: {"assignment_id": run.pk},
            )
            order.status = OrderStatus.IN_TRANSIT
            past.open_drops = len(past.drops)
        held_up = not quiet and self._held_up(level)
        self._drive(run, batch, assigned=assigned, held_up=held_up, quiet=quiet)
        free_at[driver.pk] = run.finished_at
        for past in batch:
            self._rate(past, run)

    def _held_up(self, level: str) -> bool:
        """About one run in 1 / HELD_UP[level], at uneven intervals."""
        self.hold_up_due[level] += HELD_UP[level]
        if self.hold_up_due[level] < self.rng.uniform(0.5, 1.5):
            return False
        self.hold_up_due[level] -= 1
        return True

    def _drive(
        self, run: Assignment, batch: list[_Past], *, assigned, held_up: bool, quiet: bool
    ) -> None:
        """The run's route (its pickups, then the drop-offs in the optimiser's order) and
        each stop's time: the offline router's pace slowed by the city's traffic, a few
        minutes at each door, and for a run held up a delay before its first drop-off
        that puts it past its service level's target."""
        rng = self.rng
        level = batch[0].order.service_level
        pickups = list({(p.order.origin_lat, p.order.origin_lng): p.order for p in batch}.items())
        drops = [(past, drop) for past in batch for drop in past.drops]
        visit = optimise_order(
            [_point(*pickups[-1][0]), *(_point(drop.lat, drop.lng) for _, drop in drops)],
            start=0,
            router=self.router,
        )
        drops = [drops[i - 1] for i in visit if i != 0]
        planned = self.router.route(
            [_point(*key) for key, _ in pickups] + [_point(d.lat, d.lng) for _, d in drops]
        )
        route = Route(
            assignment=run,
            geometry=planned.geometry,
            distance_m=planned.distance_m,
            duration_s=planned.duration_s,
            provider=self.router.name,
        )
        route.created_at = assigned
        self.routes.append(route)

        def drive(leg) -> timedelta:
            slower = rng.uniform(*TRAFFIC[level])
            return timedelta(seconds=leg.duration_s * slower) + self._minutes(*AT_THE_DOOR[level])

        started = run.started_at
        assert started is not None  # set by _run
        clock = started + self._minutes(*AT_THE_DOOR[level])  # loading at the first
        for leg in planned.legs[: len(pickups) - 1]:
            clock += drive(leg)
        times = []
        for index, leg in enumerate(planned.legs[len(pickups) - 1 :]):
            clock += drive(leg)
            if index == 0 and held_up:
                target = self.targets[level]
                behind = started + timedelta(
                    minutes=target + rng.randint(5, max(10, target * 35 // 100))
                )
                if clock < behind:
                    if rng.random() < 0.5:
                        kind, notes = rng.choice(HOLD_UPS)
                        self._incident(run, kind, notes, at=clock + (behind - clock) / 3)
                    clock = behind
            times.append(clock)
        for (past, drop), at in zip(drops, times, strict=True):
            fails = not quiet and rng.random() < FAILED_DROP
            self._settle(run, past, drop, at=at, fails=fails)
        run.finished_at = times[-1]
        if not quiet and not held_up and rng.random() < MISHAP:
            kind, notes, severity = rng.choice(MISHAPS)
            by = self.dispatcher if severity else run.driver.user
            self._incident(run, kind, notes, at=rng.choice(times), by=by, severity=severity)
        # The stops as the run left them; the ETAs as planned when it was assigned.
        visited: dict[tuple, datetime] = {}
        for (past, _drop), at in zip(drops, times, strict=True):
            key = (past.order.origin_lat, past.order.origin_lng)
            visited.setdefault(key, at)  # a pickup is made at its first drop-off done
        stops = [
            {"kind": StopKind.PICKUP, "lat": key[0], "lng": key[1], "order": order}
            | {"destination": None, "status": StopStatus.VISITED, "visited_at": visited[key]}
            for key, order in pickups
        ] + [
            {"kind": StopKind.DELIVERY, "lat": drop.lat, "lng": drop.lng, "order": past.order}
            | {"destination": drop, "visited_at": at, "status": _STOP_AFTER[drop.status]}
            for (past, drop), at in zip(drops, times, strict=True)
        ]
        eta = assigned
        for sequence, stop in enumerate(stops, start=1):
            if sequence > 1:
                eta += timedelta(seconds=planned.legs[sequence - 2].duration_s)
            self.stops.append(Stop(route=route, sequence=sequence, eta=eta, **stop))

    def _settle(self, run: Assignment, past: _Past, drop: Destination, *, at, fails) -> None:
        """A drop-off delivered or failed (the failure reported as an incident); its order
        closes with its last one: delivered if any was, else cancelled."""
        driver_user = run.driver.user
        data = {"received_by": drop.recipient_name}
        incident = None
        if fails:
            drop.status = DestinationStatus.FAILED
            drop.failure_reason = self.rng.choice(FAILURE_REASONS)
            incident = self._incident(run, IncidentType.FAILED_DELIVERY, drop.failure_reason, at=at)
            data = {"reason": drop.failure_reason}
            past.failed = True
        else:
            drop.status = DestinationStatus.DELIVERED
            drop.delivered_at = at
            drop.received_by = drop.recipient_name
            target = self.targets[past.order.service_level]
            past.late = past.late or at - run.started_at > timedelta(minutes=target)
        past.open_drops -= 1
        closing = {}
        if past.open_drops == 0:
            delivered = any(d.status == DestinationStatus.DELIVERED for d in past.drops)
            closed = OrderStatus.DELIVERED if delivered else OrderStatus.CANCELLED
            closing = {"from_status": OrderStatus.IN_TRANSIT, "to_status": closed}
            past.order.status = closed
            if delivered:
                past.order.delivered_at = at
        self._event(
            past.order,
            at,
            T.FAILED if fails else T.DELIVERED,
            driver_user,
            destination=drop,
            data=lambda: {
                "assignment_id": run.pk,
                "destination_id": drop.pk,
                "sequence": drop.sequence,
                **data,
                **({"incident_id": incident.pk} if incident else {}),
            },
            **closing,
        )

    def _incident(self, run, kind, notes, *, at, by=None, severity=None) -> Incident:
        by = by or run.driver.user
        incident = Incident(
            assignment=run,
            type=kind,
            severity=severity or Incident.DEFAULT_SEVERITY[kind],
            origin=IncidentOrigin.STAFF if by.is_staff_member else IncidentOrigin.DRIVER,
            notes=notes,
            reported_by=by,
        )
        incident.created_at = at
        self.incidents.append(incident)
        return incident

    def _rate(self, past: _Past, run: Assignment) -> None:
        """Some customers with a login rate a delivered order, within hours (and before
        today)."""
        order, rng = past.order, self.rng
        if order.status != OrderStatus.DELIVERED or past.customer_user is None:
            return
        assert order.delivered_at is not None  # set with the status
        if rng.random() >= RATED:
            return
        at = order.delivered_at + self._minutes(15, 600)
        if at >= _lima(self.today, 0):
            return
        score = rng.choice(SCORES["failed" if past.failed else "late" if past.late else "on_time"])
        comment = rng.choice(COMMENTS[score])
        rating = Rating(order=order, driver_id=run.driver_id, score=score, comment=comment)
        rating.created_at = at
        self.ratings.append(rating)
        self._event(
            order,
            at,
            T.RATED,
            past.customer_user,
            data=lambda: {"rating_id": rating.pk, "score": score, "comment": comment},
        )

    # --- Writing it ---------------------------------------------------------------------------

    def save(self) -> None:
        Order.objects.bulk_create(self.orders)
        Destination.objects.bulk_create(self.destinations)
        Payment.objects.bulk_create(self.payments)
        # The simulated provider names a checkout after our id, as payment_checkout does.
        provider = SimulatedProvider()
        simulated = [p for p in self.payments if p.provider == provider.name]
        for payment in simulated:
            payment.external_id = f"sim-{payment.pk}"
            payment.checkout_url = provider.checkout_url(payment_id=payment.pk)
            if payment.status == PaymentStatus.PAID:
                payment.provider_payment_id = payment.external_id
        Payment.objects.bulk_update(
            simulated, ["external_id", "checkout_url", "provider_payment_id"]
        )
        Invoice.objects.bulk_create(self.invoices)
        for invoice in self.invoices:
            invoice.number = f"{Invoice.SERIES}-{invoice.pk:08d}"
        Invoice.objects.bulk_update(self.invoices, ["number"])
        Assignment.objects.bulk_create(self.runs)
        Assignment.orders.through.objects.bulk_create(self.run_orders)
        Route.objects.bulk_create(self.routes)
        Stop.objects.bulk_create(self.stops)
        Incident.objects.bulk_create(self.incidents)
        Rating.objects.bulk_create(self.ratings)
        # In time order, so a timeline read by (at, id) lists them as they happened.
        OrderEvent.objects.bulk_create(
            OrderEvent(
                order=event.order,
                destination=event.destination,
                type=event.type,
                from_status=event.from_status,
                to_status=event.to_status,
                actor=event.by,
                actor_role=actor_role_of(event.by),
                data=event.data() if callable(event.data) else event.data,
                at=event.at,
            )
            for event in sorted(self.events, key=lambda e: e.at)
        )
        # Its customers, drivers and vehicles were there before it.
        since = _lima(self.today - timedelta(days=HISTORY_DAYS + 14), 9)
        for rows in (
            Customer.objects.filter(pk__in=[c.pk for c in self.customers.values()]),
            Driver.objects.filter(pk__in=[d.pk for d in self.drivers]),
            Vehicle.objects.filter(plate__in=[plate for plate, *_ in VEHICLES]),
        ):
            rows.filter(created_at__gt=since).update(created_at=since)


_STOP_AFTER: dict[str, StopStatus] = {
    DestinationStatus.DELIVERED: StopStatus.VISITED,
    DestinationStatus.FAILED: StopStatus.SKIPPED,
}
