"""Arequipa demo: customers with addresses and orders in the states this app reaches on
its own (pending payment, pending, paid by each route, invoiced, cancelled). The fleet
demo puts the orders tagged "for run" in runs (assigned, in transit, delivered with
proofs and rated, run cancelled). Idempotent: demo orders are tagged in their notes;
`--reset` deletes and recreates them. The orders of the four weeks before today (tagged
HISTORY_TAG) are the fleet demo's, written and reset with their runs."""

from datetime import timedelta
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from identity.models import User
from orders import services
from orders.models import Customer, Invoice, Order, Payment, Rating

TAG = "[demo]"
HISTORY_TAG = f"{TAG} history"
PLAZA = {
    "line": "Portal de San Agustín 111, Plaza de Armas",
    "district": "Cercado",
    "lat": Decimal("-16.398800"),
    "lng": Decimal("-71.536900"),
}
# Pickups outside the historic centre for the orders left waiting for a dispatcher: with
# every stop outside the restriction zone, any vehicle may take them on any weekday.
WORKSHOP = {
    "line": "Av. Emmel 120",
    "district": "Yanahuara",
    "lat": Decimal("-16.386700"),
    "lng": Decimal("-71.543200"),
}
BAKERY = {
    "line": "Av. Parra 215",
    "district": "Cercado",
    "lat": Decimal("-16.409200"),
    "lng": Decimal("-71.540100"),
}

ADDRESSES = {
    "customer1@rappi.pe": [
        ("Casa", "Calle Jerusalén 402", "Cercado", "-16.395500", "-71.535800"),
        ("Oficina", "Av. Ejército 710", "Yanahuara", "-16.389100", "-71.545600"),
    ],
    "customer2@rappi.pe": [
        ("Taller", "Av. Emmel 120", "Yanahuara", "-16.386700", "-71.543200"),
    ],
}
WALK_IN = [
    ("Panadería Misti EIRL", "ventas@panaderiamisti.pe", "+51 54 201 333", "20100070970"),
    ("Jorge Huamán", "jorge.huaman@correo.pe", "+51 958 111 222", ""),
]
DROPS = [
    (
        "Av. Lambramani 325",
        "José Luis Bustamante y Rivero",
        "-16.421000",
        "-71.521700",
        "Marta Ccama",
    ),
    ("Calle Mercaderes 212", "Cercado", "-16.399600", "-71.533800", "Luis Apaza"),
    ("Av. Arequipa 501", "Cayma", "-16.377400", "-71.548900", "Sofía Pari"),
    ("Av. Kennedy 1800", "Paucarpata", "-16.423200", "-71.510900", "Hugo Condori"),
]


def _destination(index: int, weight: str, dims=None) -> dict:
    line, district, lat, lng, recipient = DROPS[index % len(DROPS)]
    package = {"weight_kg": Decimal(weight), "description": "Caja"}
    if dims:
        package.update(
            length_cm=Decimal(dims[0]), width_cm=Decimal(dims[1]), height_cm=Decimal(dims[2])
        )
    return {
        "line": line,
        "district": district,
        "lat": Decimal(lat),
        "lng": Decimal(lng),
        "recipient_name": recipient,
        "recipient_phone": "+51 959 000 000",
        "package": package,
    }


def _order(
    key: str,
    customer: Customer,
    by: User,
    drops: list[dict],
    level="standard",
    origin: dict = PLAZA,
) -> Order:
    return services.order_create(
        by=by,
        customer=customer,
        origin=origin,
        destinations=drops,
        service_level=level,
        scheduled_for=timezone.now() + timedelta(days=1),
        notes=f"{TAG} {key}",
    )


@transaction.atomic
def seed(*, reset: bool, stdout) -> None:
    demo = Order.objects.filter(notes__startswith=TAG).exclude(notes=HISTORY_TAG)
    if reset:
        Rating.objects.filter(order__in=demo).delete()
        Invoice.objects.filter(order__in=demo).delete()
        Payment.objects.filter(order__in=demo).delete()
        demo.delete()
    if demo.exists():
        stdout.write("orders: demo data already present")
        return
    customers = {}
    for email, addresses in ADDRESSES.items():
        user = User.objects.get(email=email)
        customer = services.customer_link_user(user=user)
        customers[email] = customer
        if not customer.addresses.exists():
            for label, line, district, lat, lng in addresses:
                services.address_create(
                    customer=customer,
                    label=label,
                    line=line,
                    district=district,
                    lat=Decimal(lat),
                    lng=Decimal(lng),
                )
    for name, email, phone, tax_id in WALK_IN:
        Customer.objects.get_or_create(
            email=email, defaults={"full_name": name, "phone": phone, "tax_id": tax_id}
        )
    lucia = customers["customer1@rappi.pe"]
    textiles = customers["customer2@rappi.pe"]
    lucia_user, textiles_user = lucia.user, textiles.user
    # Both sign in.
    assert lucia_user is not None
    assert textiles_user is not None
    dispatcher = User.objects.get(email="dispatcher@rappi.pe")

    # Waiting for the customer's payment: two drops, one bulky.
    _order(
        "awaiting payment",
        lucia,
        lucia_user,
        [_destination(0, "2.5"), _destination(1, "1.2", ("60", "40", "40"))],
    )

    # Paid through the simulated provider, invoiced; waits for a dispatcher.
    paid = _order(
        "paid online",
        textiles,
        textiles_user,
        [_destination(2, "12"), _destination(3, "4")],
        "express",
        origin=WORKSHOP,
    )
    payment = services.payment_checkout(order=paid, by=textiles_user)
    services.payment_simulate(payment=payment, outcome="approved")
    services.invoice_create(
        order=paid, ruc="20100070970", business_name="Textiles Yanahuara SAC", by=textiles_user
    )

    # Created by staff for a walk-in customer, paid in cash.
    walk_in = Customer.objects.get(email="ventas@panaderiamisti.pe")
    cash = _order(
        "paid in cash", walk_in, dispatcher, [_destination(3, "8")], "urgent", origin=BAKERY
    )
    services.order_adjust_price(
        order=cash, amount=Decimal("-3.00"), reason="Cliente frecuente", by=dispatcher
    )
    cash.refresh_from_db()
    services.payment_record_manual(
        order=cash, amount=cash.total, reference="Caja 0042", by=dispatcher
    )

    # Cancelled before payment.
    cancelled = _order("cancelled", lucia, lucia_user, [_destination(2, "3")])
    services.order_cancel(order=cancelled, reason="Cambio de planes", by=lucia_user)

    # Ready for dispatch: the fleet demo puts these in runs (one assigned, one under way).
    for key in ("for run assigned", "for run in progress"):
        _order(key, textiles, dispatcher, [_destination(3, "6"), _destination(0, "2")])

    # Paid by the customer: the fleet demo delivers it in a finished run (with proofs), and
    # the customer rates it.
    delivered = _order(
        "for run delivered", lucia, lucia_user, [_destination(0, "1"), _destination(2, "2")]
    )
    payment = services.payment_checkout(order=delivered, by=lucia_user)
    services.payment_simulate(payment=payment, outcome="approved")
    # Paid by the customer: the fleet demo puts it in a run and cancels the run before it
    # starts, so it is pending again, ready for a dispatcher.
    again = _order(
        "for run cancelled", textiles, dispatcher, [_destination(2, "5")], origin=WORKSHOP
    )
    services.payment_record_manual(
        order=again, amount=again.total, reference="Caja 0043", by=dispatcher
    )
    stdout.write(f"orders: {Customer.objects.count()} customers, {demo.count()} demo orders")
