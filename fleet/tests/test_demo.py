"""The demo data lets a dispatcher dispatch on any day of the week."""

import pytest
from django.core.management import call_command

from fleet import restriction, services
from fleet.models import Driver
from identity.models import User
from orders.models import Order, OrderStatus

pytestmark = pytest.mark.django_db


def _stops(order: Order) -> list[tuple]:
    return [(order.origin_lat, order.origin_lng)] + [
        (d.lat, d.lng) for d in order.destinations.all()
    ]


def test_no_demo_order_waiting_for_a_dispatcher_stops_inside_a_restriction_zone():
    # Outside every zone, no plate is restricted for them, whatever the weekday.
    call_command("seed_demo", verbosity=0)
    waiting = list(Order.objects.filter(status=OrderStatus.PENDING, notes__startswith="[demo]"))
    zones = restriction.restriction_zones()
    assert waiting and zones
    inside = [
        (order.notes, lat, lng)
        for order in waiting
        for lat, lng in _stops(order)
        if any(zone.covers(lat=lat, lng=lng) for zone in zones)
    ]
    assert inside == []


def test_the_free_demo_driver_takes_each_waiting_demo_order_with_its_own_van():
    call_command("seed_demo", verbosity=0)
    dispatcher = User.objects.get(email="dispatcher@rappi.pe")
    driver = Driver.objects.select_related("vehicle").get(user__email="driver3@rappi.pe")
    assert driver.availability == "available" and driver.vehicle.plate == "V2B-456"
    for order in Order.objects.filter(status=OrderStatus.PENDING, notes__startswith="[demo]"):
        run = services.assignment_create(
            orders=[order], driver=driver, vehicle=driver.vehicle, by=dispatcher
        )
        services.assignment_cancel(assignment=run, reason="demo check")
        driver.refresh_from_db()
