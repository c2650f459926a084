"""PostgreSQL connections load timestamps with psycopg's own loader, to the values
Django's loader gives, and bind parameters on the server so statements get prepared."""

import datetime
import inspect

import pytest
from django.db import connection
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg import pq
from psycopg.pq import Format

from orders.models import Order
from orders.tests.factories import CustomerFactory, make_order
from rappi.postgres import TIMESTAMPTZ_OID, UtcTimestamptzLoader

pytestmark = pytest.mark.django_db

INSTANTS = (
    "2026-12-05 13:00:01.123456+00",
    "2026-12-05 08:00:00-05",  # an offset other than the session's
    "2026-03-29 01:30:00+01",
    "0001-01-01 00:00:00+00",
    "9999-12-31 23:59:59.999999+00",
    "2024-02-29 23:59:59.5+00",
)
QUERY = "SELECT " + ", ".join(f"'{instant}'::timestamptz" for instant in INSTANTS)


def _loaded(*, django_loader: bool) -> tuple:
    with connection.cursor() as cursor:
        if django_loader:
            register_tzloader(connection.timezone, cursor.cursor)
        cursor.execute(QUERY)
        return cursor.fetchone()


def test_timestamps_load_as_djangos_loader_loads_them():
    ours, djangos = _loaded(django_loader=False), _loaded(django_loader=True)

    assert ours == djangos
    assert [value.tzinfo for value in ours] == [datetime.UTC] * len(INSTANTS)
    assert ours[0] == datetime.datetime(2026, 12, 5, 13, 0, 1, 123456, tzinfo=datetime.UTC)
    assert ours[1] == datetime.datetime(2026, 12, 5, 13, 0, tzinfo=datetime.UTC)


def test_the_connection_uses_psycopgs_compiled_loader():
    connection.ensure_connection()
    adapters = connection.connection.adapters
    assert adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is UtcTimestamptzLoader

    with connection.cursor() as cursor:
        # Django's create_cursor found the connection's time zone: no loader of its own.
        assert cursor.cursor.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT) is (
            UtcTimestamptzLoader
        )
    loader = UtcTimestamptzLoader(TIMESTAMPTZ_OID, connection.connection)
    if pq.__impl__ != "python":
        assert not inspect.isfunction(getattr(loader.load, "__func__", loader.load))


def test_model_timestamps_round_trip(admin):
    order = make_order(customer=CustomerFactory(), by=admin)
    stored = Order.objects.values_list("created_at", "updated_at").get(pk=order.pk)

    assert stored == (order.created_at, order.updated_at)
    assert stored[0].tzinfo is datetime.UTC


def test_statements_run_repeatedly_are_prepared():
    assert connection.features.uses_server_side_binding
    connection.ensure_connection()
    with connection.cursor() as cursor:
        statement = "SELECT count(*) FROM orders_order WHERE id > %s AND 'prepared?' <> %s"
        for _ in range(3):
            cursor.execute(statement, [0, "no"])
            cursor.fetchone()
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            ["%'prepared?'%"],
        )
        assert cursor.fetchone()[0] == 1
