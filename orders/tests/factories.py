from decimal import Decimal
from typing import Any

import factory

from identity.tests.factories import UserFactory
from orders import services
from orders.models import Customer


class CustomerFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Customer

    full_name = factory.Faker("name", locale="es")
    email = factory.Sequence(lambda n: f"customer{n}@example.pe")
    phone = "+51 959 000 000"


def customer_user(**kwargs):
    """A `customer` login with its customer record (linked by the role signal)."""
    user = UserFactory(role_name="customer", **kwargs)
    return user, services.customer_link_user(user=user)


ORIGIN: dict[str, Any] = {
    "line": "Plaza de Armas",
    "district": "Cercado",
    "lat": Decimal("-16.3988"),
    "lng": Decimal("-71.5369"),
}


def drop(lat="-16.4210", lng="-71.5217", weight="2.0", district="Cercado", **package) -> dict:
    return {
        "line": "Av. Lambramani 325",
        "district": district,
        "lat": Decimal(lat),
        "lng": Decimal(lng),
        "recipient_name": "Marta Ccama",
        "recipient_phone": "+51 959 111 222",
        "package": {"weight_kg": Decimal(weight), "description": "Caja", **package},
    }


def make_order(*, customer, by, drops=None, level="standard", **extra):
    return services.order_create(
        by=by,
        customer=customer,
        origin=ORIGIN,
        destinations=drops or [drop()],
        service_level=level,
        **extra,
    )


def order_body(**overrides) -> dict:
    body = {
        "origin": {
            "line": "Plaza de Armas",
            "district": "Cercado",
            "lat": -16.3988,
            "lng": -71.5369,
        },
        "destinations": [
            {
                "line": "Av. Lambramani 325",
                "district": "José Luis Bustamante y Rivero",
                "lat": -16.421,
                "lng": -71.5217,
                "recipient_name": "Marta Ccama",
                "recipient_phone": "+51 959 111 222",
                "package": {"weight_kg": "2.5", "description": "Caja"},
            },
            {
                "line": "Av. Ejército 710",
                "district": "Yanahuara",
                "lat": -16.3891,
                "lng": -71.5456,
                "recipient_name": "Luis Apaza",
                "recipient_phone": "+51 959 333 444",
                "package": {
                    "weight_kg": "1",
                    "length_cm": "60",
                    "width_cm": "40",
                    "height_cm": "40",
                },
            },
        ],
        "service_level": "standard",
    }
    body.update(overrides)
    return body
