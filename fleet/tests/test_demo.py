"""The demo data lets a dispatcher dispatch on any day of the week."""

import pytest
from django.core.management import call_command

from fleet import restriction, services
from fleet.models import Assignment, Driver
from identity.models import User
from orders.models import Order, OrderStatus
from tracking.documents import Evidence

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
    assert waiting
    assert zones
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
    assert driver.availability == "available"
    assert driver.vehicle.plate == "V2B-456"
    for order in Order.objects.filter(status=OrderStatus.PENDING, notes__startswith="[demo]"):
        run = services.assignment_create(
            orders=[order], driver=driver, vehicle=driver.vehicle, by=dispatcher
        )
        services.assignment_cancel(assignment=run, reason="demo check")
        driver.refresh_from_db()


def test_the_demo_has_four_weeks_of_finished_business_for_the_reports():
    """The reports over the console's default period (the last 30 Lima days) show a past:
    orders, payments, runs, incidents and ratings on the 28 days before today, none today."""
    from datetime import datetime, time, timedelta
    from zoneinfo import ZoneInfo

    from django.utils import timezone

    from fleet.models import Assignment, Incident
    from orders.models import Destination, Invoice, OrderEvent, Payment, Rating
    from rappi.reports import registry

    call_command("seed_demo", verbosity=0)
    lima = ZoneInfo("America/Lima")
    today = timezone.localtime(timezone.now(), lima).date()
    midnight = datetime.combine(today, time.min, tzinfo=lima)
    history = Order.objects.filter(notes="[demo] history")
    assert 120 <= history.count() <= 200
    days = {
        timezone.localtime(t, lima).date() for t in history.values_list("created_at", flat=True)
    }
    assert min(days) == today - timedelta(days=28)
    assert max(days) == today - timedelta(days=1)
    per_day = [
        timezone.localtime(t, lima).weekday() for t in history.values_list("created_at", flat=True)
    ]
    weekdays = sum(1 for d in per_day if d < 5) / 20
    weekends = sum(1 for d in per_day if d >= 5) / 8
    assert weekdays > 2 * weekends
    # All done and dusted before today: today's demo figures are the demo's own.
    assert set(history.values_list("status", flat=True)) == {"delivered", "cancelled"}
    assert set(history.values_list("service_level", flat=True)) == {"standard", "express", "urgent"}
    drops = Destination.objects.filter(order__in=history)
    assert len(set(drops.values_list("district", flat=True))) >= 5
    assert drops.filter(status="failed").exists()
    assert drops.filter(status="delivered").exists()
    paid = Payment.objects.filter(order__in=history, status="paid")
    assert set(paid.values_list("provider", flat=True)) == {"simulated", "manual"}
    assert paid.count() > 0.8 * history.count()
    assert Invoice.objects.filter(order__in=history).count() >= 10
    runs = Assignment.objects.filter(orders__in=history).distinct()
    assert set(runs.values_list("status", flat=True)) == {"finished"}
    assert set(runs.values_list("driver__user__email", flat=True)) == {
        "driver1@rappi.pe",
        "driver2@rappi.pe",
        "driver3@rappi.pe",
    }
    incidents = Incident.objects.filter(assignment__in=runs)
    assert len(set(incidents.values_list("type", flat=True))) >= 4
    assert len(set(incidents.values_list("severity", flat=True))) >= 3
    ratings = Rating.objects.filter(order__in=history)
    assert ratings.count() >= 10
    assert not ratings.filter(driver_id=None).exists()
    for stamps in (
        history.values_list("delivered_at", flat=True),
        drops.values_list("delivered_at", flat=True),
        paid.values_list("paid_at", flat=True),
        runs.values_list("finished_at", flat=True),
        incidents.values_list("created_at", flat=True),
        ratings.values_list("created_at", flat=True),
        OrderEvent.objects.filter(order__in=history).values_list("at", flat=True),
    ):
        assert all(t is None or t < midnight for t in stamps)

    registry.load_all()
    sales = registry.compute("sales", {}).data
    busy_days = [b for b in sales["buckets"] if b["orders_created"] and b["payments_paid"]]
    assert len(busy_days) >= 25
    sla = {
        row["service_level"]: row
        for row in registry.compute("sla", {}).data["totals"]["by_service_level"]
    }
    # Standard mostly on time, express less, urgent sometimes late.
    shares = [float(sla[level]["on_time_share"]) for level in ("standard", "express", "urgent")]
    assert shares[0] >= 0.9
    assert shares == sorted(shares, reverse=True)
    assert sla["urgent"]["late"] > 0
    assert sla["urgent"]["on_time"] > sla["urgent"]["late"]


def test_the_demo_history_is_the_same_at_every_seed():
    call_command("seed_demo", verbosity=0)
    history = Order.objects.filter(notes="[demo] history")

    def figures():
        return list(history.order_by("created_at").values_list("created_at", "total", "status"))

    before = figures()
    call_command("seed_demo", verbosity=0)  # idempotent: nothing added
    assert figures() == before
    call_command("seed_demo", "--reset", verbosity=0)  # rebuilt alike (fixed random seed)
    assert figures() == before


def test_the_seed_leaves_planner_statistics_for_what_it_loaded():
    """A planner that believes the loaded tables empty picks nested loops that took a
    report over the demo month minutes; the seed ends with ANALYZE."""
    from django.db import connection

    call_command("seed_demo", verbosity=0)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, reltuples FROM pg_class WHERE relname IN "
            "('orders_order', 'orders_destination', 'fleet_assignment', "
            "'fleet_assignment_orders')"
        )
        estimated = dict(cursor.fetchall())
    assert len(estimated) == 4
    assert all(rows > 0 for rows in estimated.values()), estimated


def test_reseeding_with_reset_deletes_the_demo_runs_with_their_documents(
    django_capture_on_commit_callbacks,
):
    call_command("seed_demo", verbosity=0)
    under_way = Assignment.objects.get(orders__notes="[demo] for run in progress")
    assert Evidence.objects(assignment_id=under_way.pk).count() == 1  # its incident's photo
    with django_capture_on_commit_callbacks(execute=True):
        call_command("seed_demo", "--reset", verbosity=0)
    assert not Assignment.objects.filter(pk=under_way.pk).exists()
    assert Evidence.objects(assignment_id=under_way.pk).count() == 0
    assert not Assignment.objects.filter(orders__isnull=True).exists()
