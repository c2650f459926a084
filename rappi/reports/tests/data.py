"""Rows written straight into the tables, with the timestamps a test chooses: report
tests need a past the services (which stamp "now") cannot make. Each helper writes one
row the way the services would leave it."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.db import connection

from fleet.models import Assignment, AssignmentStatus, Incident, IncidentOrigin
from fleet.tests.factories import VehicleFactory, driver_user
from identity.tests.factories import UserFactory
from orders.models import Destination, Invoice, Order, Payment, Rating
from orders.tests.factories import CustomerFactory

LIMA_OFFSET = "-05:00"


def at(text: str) -> datetime:
    """`at("2026-11-03 23:30")`: a Lima wall-clock time (no DST in Lima) as an aware time."""
    return datetime.fromisoformat(f"{text.replace(' ', 'T')}{LIMA_OFFSET}").astimezone(UTC)


def staff(role: str = "dispatcher", **kwargs):
    return UserFactory(role_name=role, **kwargs)


def customer(**kwargs):
    return CustomerFactory(**kwargs)


def order(
    customer,
    *,
    created: str,
    status: str = "pending",
    level: str = "standard",
    district: str = "Cercado",
    total: str = "20.00",
    delivered: str | None = None,
    drops: list[dict] | None = None,
) -> Order:
    """An order created at Lima time `created`, with `drops` (each: district, status,
    delivered, subtotal) or one pending drop-off."""
    row = Order.objects.create(
        customer=customer,
        status=status,
        service_level=level,
        origin_line="Plaza de Armas",
        origin_district=district,
        origin_lat=Decimal("-16.398800"),
        origin_lng=Decimal("-71.536900"),
        legs_total=Decimal(total),
        total=Decimal(total),
        delivered_at=at(delivered) if delivered else None,
    )
    Order.objects.filter(pk=row.pk).update(created_at=at(created))
    for sequence, drop in enumerate(drops or [{}], start=1):
        Destination.objects.create(
            order=row,
            sequence=sequence,
            line="Av. Lambramani 325",
            district=drop.get("district", "Cercado"),
            lat=Decimal("-16.421000"),
            lng=Decimal("-71.521700"),
            recipient_name="Marta Ccama",
            recipient_phone="+51 959 111 222",
            weight_kg=Decimal("2.000"),
            subtotal=Decimal(drop.get("subtotal", total)),
            status=drop.get("status", "pending"),
            delivered_at=at(drop["delivered"]) if drop.get("delivered") else None,
            failure_reason="Nadie en casa" if drop.get("status") == "failed" else "",
        )
    row.refresh_from_db()
    return row


def payment(
    order: Order,
    *,
    amount: str,
    status: str = "paid",
    paid: str | None = None,
    provider: str = "culqi",
    needs_refund: bool = False,
) -> Payment:
    return Payment.objects.create(
        order=order,
        amount=Decimal(amount),
        status=status,
        provider=provider,
        paid_at=at(paid) if paid else None,
        needs_refund=needs_refund,
    )


def invoice(order: Order, *, amount: str, issued: str, number: str) -> Invoice:
    return Invoice.objects.create(
        order=order,
        number=number,
        ruc="20123456789",
        business_name="Comercial Misti SAC",
        amount=Decimal(amount),
        issued_at=at(issued),
    )


def driver(**kwargs):
    """A driver record (with its login)."""
    _user, record = driver_user(**kwargs)
    return record


def run(
    driver,
    orders: list[Order],
    *,
    status: str = AssignmentStatus.FINISHED,
    started: str | None = None,
    finished: str | None = None,
    created: str | None = None,
) -> Assignment:
    row = Assignment.objects.create(
        driver=driver,
        vehicle=VehicleFactory(),
        status=status,
        started_at=at(started) if started else None,
        finished_at=at(finished) if finished else None,
    )
    row.orders.set(orders)
    if created:
        Assignment.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


def incident(
    run: Assignment, *, created: str, type: str = "traffic", severity: int = 2
) -> Incident:
    row = Incident.objects.create(
        assignment=run, type=type, severity=severity, origin=IncidentOrigin.DRIVER
    )
    Incident.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


def rating(
    order: Order, *, score: int, driver_id: int | None = None, created: str | None = None
) -> Rating:
    row = Rating.objects.create(order=order, score=score, driver_id=driver_id)
    if created:
        Rating.objects.filter(pk=row.pk).update(created_at=at(created))
    return row


BULK_DISTRICTS = ("Cercado", "Yanahuara", "Cayma", "Miraflores")


def fresh_planner_statistics() -> None:
    """ANALYZE after a bulk load, as production's autovacuum would soon do. Without it a
    worker's planner may keep statistics from when these tables were nearly empty and pick
    nested loops that made a 1,000-order report take over a minute in the parallel suite
    (under a second alone). ANALYZE counts the rows this test's transaction inserted."""
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def bulk_orders(
    n: int,
    *,
    first_day: str = "2026-11-01",
    days: int = 30,
    customers: int = 5,
    drops: int = 1,
    per_run: int | None = None,
    drivers: int = 3,
):
    """`n` orders spread over `days` Lima days from `first_day` (among `customers` new
    customers), each with `drops` drop-offs and one paid payment; every other one delivered
    (three hours after its creation). With `per_run`, the delivered ones were carried by
    finished runs of `per_run` orders each (started an hour after their first order was
    created), shared among `drivers` new drivers. Bulk inserts, so a query-count test can
    compare 10 orders with 1,000."""
    owners = [customer() for _ in range(customers)]
    start = at(f"{first_day} 08:00")
    orders = []
    for i in range(n):
        created = start + timedelta(days=i % days, minutes=(i // days) % 600)
        delivered = created + timedelta(hours=3) if i % 2 == 0 else None
        orders.append(
            Order(
                customer=owners[i % customers],
                status="delivered" if delivered else "pending",
                service_level=("standard", "express", "urgent")[i % 3],
                origin_line="Plaza de Armas",
                origin_district=BULK_DISTRICTS[i % len(BULK_DISTRICTS)],
                origin_lat=Decimal("-16.398800"),
                origin_lng=Decimal("-71.536900"),
                legs_total=Decimal("20.00"),
                total=Decimal("20.00"),
                created_at=created,
                delivered_at=delivered,
            )
        )
    orders = Order.objects.bulk_create(orders)
    Destination.objects.bulk_create(
        Destination(
            order=row,
            sequence=sequence,
            line="Av. Lambramani 325",
            district=BULK_DISTRICTS[(i + 1) % len(BULK_DISTRICTS)],
            lat=Decimal("-16.421000"),
            lng=Decimal("-71.521700"),
            recipient_name="Marta Ccama",
            recipient_phone="+51 959 111 222",
            weight_kg=Decimal("2.000"),
            subtotal=row.total,
            status="delivered" if row.delivered_at else "pending",
            delivered_at=row.delivered_at,
        )
        for i, row in enumerate(orders)
        for sequence in range(1, drops + 1)
    )
    Payment.objects.bulk_create(
        Payment(
            order=row,
            amount=row.total,
            status="paid",
            provider="mercadopago",
            paid_at=row.created_at + timedelta(minutes=5),
            created_at=row.created_at,
        )
        for row in orders
    )
    if per_run:
        _bulk_runs([row for row in orders if row.delivered_at], per_run, drivers)
    return orders


def _bulk_runs(carried: list[Order], per_run: int, drivers: int) -> None:
    crew = [(driver(), VehicleFactory()) for _ in range(drivers)]
    groups = [carried[i : i + per_run] for i in range(0, len(carried), per_run)]
    runs = Assignment.objects.bulk_create(
        Assignment(
            driver=crew[i % drivers][0],
            vehicle=crew[i % drivers][1],
            status=AssignmentStatus.FINISHED,
            created_at=min(row.created_at for row in group),
            started_at=min(row.created_at for row in group) + timedelta(hours=1),
            finished_at=max(row.delivered_at for row in group if row.delivered_at),
        )
        for i, group in enumerate(groups)
    )
    Assignment.orders.through.objects.bulk_create(
        Assignment.orders.through(assignment_id=run.pk, order_id=row.pk)
        for run, group in zip(runs, groups, strict=True)
        for row in group
    )


# --- Runs in bulk, and MongoDB documents (operations and documents reports) -----------------

_bulk_batches = iter(range(10**6))


def bulk_live_runs(n: int, *, status: str = AssignmentStatus.IN_PROGRESS) -> list[Assignment]:
    """`n` runs of `status`, each with its own new busy driver and vehicle (a driver and a
    vehicle have one live run at most), started an hour ago. Bulk inserts."""
    from fleet.models import Driver, Vehicle
    from identity.models import Role, User

    batch = next(_bulk_batches)
    role = Role.objects.get(name="driver")
    users = User.objects.bulk_create(
        User(
            email=f"bulk{batch}-driver{i}@example.pe",
            full_name=f"Conductor {batch}-{i}",
            role=role,
            password="!",
        )
        for i in range(n)
    )
    drivers = Driver.objects.bulk_create(Driver(user=user, availability="busy") for user in users)
    vehicles = Vehicle.objects.bulk_create(
        Vehicle(
            plate=f"Z{batch % 10}{i // 1000 % 10}-{i % 1000:03d}",
            capacity_kg=Decimal("900"),
            length_cm=Decimal("250"),
            width_cm=Decimal("150"),
            height_cm=Decimal("140"),
        )
        for i in range(n)
    )
    started = datetime.now(UTC) - timedelta(hours=1)
    return Assignment.objects.bulk_create(
        Assignment(
            driver=driver,
            vehicle=vehicle,
            status=status,
            started_at=started if status != AssignmentStatus.ASSIGNED else None,
        )
        for driver, vehicle in zip(drivers, vehicles, strict=True)
    )


def _moment(value: str | datetime) -> datetime:
    return at(value) if isinstance(value, str) else value


def position(run: Assignment, *, recorded: str | datetime, lat=-16.4, lng=-71.53):
    """The driver's last position (tracking's one document per driver), from `run`."""
    from tracking.documents import DriverPosition

    when = _moment(recorded)
    return DriverPosition(
        driver_id=run.driver_id,
        assignment_id=run.pk,
        vehicle_plate=run.vehicle.plate,
        location=[lng, lat],
        recorded_at=when,
        received_at=when,
    ).save()


def fixes(run: Assignment, points: list[tuple[float, float, str | datetime]]) -> None:
    """Stored GPS fixes of `run`: (lat, lng, recorded) each."""
    from tracking.documents import GpsPing

    GpsPing._get_collection().insert_many(
        {
            "driver_id": run.driver_id,
            "assignment_id": run.pk,
            "vehicle_plate": run.vehicle.plate,
            "location": {"type": "Point", "coordinates": [lng, lat]},
            "recorded_at": _moment(recorded),
            "received_at": _moment(recorded),
        }
        for lat, lng, recorded in points
    )


def evidence(
    *,
    kind: str = "photo",
    sizes: tuple[int, ...] = (1000,),
    created: str | datetime,
    incident: Incident | None = None,
    destination_id: int | None = None,
    run: Assignment | None = None,
    count: int = 1,
) -> None:
    """`count` evidence records of `kind`, each with files of `sizes` bytes (the records
    only: no bytes in GridFS), for an incident (of its run) or a drop-off of `run`."""
    from bson import ObjectId

    from tracking.documents import Evidence

    assignment_id = run.pk if run else incident.assignment_id if incident else None
    records = [
        {
            "kind": kind,
            "incident_id": incident.pk if incident else None,
            "destination_id": destination_id,
            "assignment_id": assignment_id,
            "uploaded_by": 1,
            "created_at": _moment(created),
            "files": [
                {
                    "file_id": ObjectId(),
                    "filename": f"{kind}-{i}.jpg",
                    "content_type": "image/jpeg",
                    "size": size,
                    "sha256": "0" * 64,
                }
                for i, size in enumerate(sizes)
            ],
        }
        for _ in range(count)
    ]
    # MongoEngine leaves unset fields out of the document; so do these.
    _insert(Evidence, [{k: v for k, v in record.items() if v is not None} for record in records])


def _insert(document, rows: list[dict]) -> None:
    # In batches: the in-memory test server slows down with the size of one insert.
    collection = document._get_collection()
    for start in range(0, len(rows), 100):
        collection.insert_many(rows[start : start + 100])


def notifications(
    *,
    kind: str,
    created: str | datetime,
    read: str | datetime | None = None,
    count: int = 1,
    recipient_user_id: int = 1,
) -> None:
    """`count` notifications of `kind` created at `created`, read at `read` (or unread)."""
    from identity.documents import Notification

    row = {
        "recipient_user_id": recipient_user_id,
        "kind": kind,
        "title": "Aviso",
        "body": "",
        "data": {},
        "created_at": _moment(created),
        **({"read_at": _moment(read)} if read is not None else {}),
    }
    _insert(Notification, [dict(row) for _ in range(count)])
