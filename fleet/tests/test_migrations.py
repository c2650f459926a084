"""Migration 0005 (one live run per vehicle and per driver) runs on a database the
earlier rules left with a vehicle or a driver on two live runs."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from fleet.models import Assignment, Driver
from fleet.tests.factories import VehicleFactory, driver_user
from orders.models import Order
from orders.tests.factories import customer_user, make_order

BEFORE = [("fleet", "0004_routes")]
AFTER = [("fleet", "0005_one_live_run_per_vehicle_and_driver")]


def _migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)


@pytest.fixture
def before_0005(live_db):
    _migrate(BEFORE)
    yield
    _migrate(list(MigrationExecutor(connection).loader.graph.leaf_nodes()))


def _run(driver, vehicle, status, user):
    customer_login, customer = customer_user()
    order = make_order(customer=customer, by=customer_login)
    Order.objects.filter(pk=order.pk).update(
        status="in_transit" if status == "in_progress" else "assigned"
    )
    run = Assignment.objects.create(driver=driver, vehicle=vehicle, status=status, created_by=user)
    run.orders.set([order])
    return run, order


def test_a_second_assigned_run_of_a_vehicle_is_cancelled_and_its_order_freed(before_0005):
    van = VehicleFactory()
    (user1, driver1), (_user2, driver2) = driver_user(), driver_user()
    Driver.objects.filter(pk__in=[driver1.pk, driver2.pk]).update(availability="busy")
    kept, _ = _run(driver1, van, "in_progress", user1)
    duplicate, order = _run(driver2, van, "assigned", user1)
    _migrate(AFTER)
    duplicate.refresh_from_db()
    assert Assignment.objects.get(pk=kept.pk).status == "in_progress"
    assert duplicate.status == "cancelled"
    assert duplicate.finished_at is not None
    assert Order.objects.get(pk=order.pk).status == "pending"
    assert Driver.objects.get(pk=driver2.pk).availability == "available"
    assert Driver.objects.get(pk=driver1.pk).availability == "busy"


def test_a_driver_on_two_assigned_runs_keeps_the_oldest(before_0005):
    (user, driver) = driver_user()
    first, _ = _run(driver, VehicleFactory(), "assigned", user)
    second, _ = _run(driver, VehicleFactory(), "assigned", user)
    _migrate(AFTER)
    assert Assignment.objects.get(pk=first.pk).status == "assigned"
    assert Assignment.objects.get(pk=second.pk).status == "cancelled"


def test_two_runs_under_way_on_one_vehicle_stop_the_migration_naming_them(before_0005):
    van = VehicleFactory()
    (user1, driver1), (_user2, driver2) = driver_user(), driver_user()
    _run(driver1, van, "in_progress", user1)
    second, _ = _run(driver2, van, "in_progress", user1)
    with pytest.raises(Exception, match=rf"under way.*\[{second.pk}\]"):
        _migrate(AFTER)
    Assignment.objects.filter(pk=second.pk).update(status="finished")  # as staff would
    _migrate(AFTER)
