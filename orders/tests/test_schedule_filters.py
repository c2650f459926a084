"""`GET /api/v1/orders/?scheduled_after=&scheduled_before=`: ISO 8601 instants over
`scheduled_for`, `after` inclusive and `before` exclusive, in the schema and checked."""

from datetime import UTC, datetime
from urllib.parse import quote

import pytest
from drf_spectacular.generators import SchemaGenerator

from identity.tests.factories import UserFactory
from orders.models import Order
from orders.tests.factories import CustomerFactory, make_order

pytestmark = pytest.mark.django_db

URL = "/api/v1/orders/"
NOON = datetime(2030, 6, 1, 17, 0, tzinfo=UTC)  # 12:00 in Lima


@pytest.fixture
def orders():
    """Orders scheduled just before, at and just after noon (Lima), and one unscheduled."""
    by = UserFactory(role_name="dispatcher")
    made = {}
    for name, when in [
        ("before", datetime(2030, 6, 1, 16, 59, 59, 999000, tzinfo=UTC)),
        ("at", NOON),
        ("after", datetime(2030, 6, 1, 17, 0, 0, 1000, tzinfo=UTC)),
        ("unscheduled", None),
    ]:
        order = make_order(customer=CustomerFactory(), by=by)
        Order.objects.filter(pk=order.pk).update(scheduled_for=when)
        made[name] = order.pk
    return made


def ids(dispatcher_api, query: str) -> set[int]:
    response = dispatcher_api.get(f"{URL}?{query}")
    assert response.status_code == 200, response.content
    return {o["id"] for o in response.json()["results"]}


def test_scheduled_after_includes_the_instant_itself(dispatcher_api, orders):
    assert ids(dispatcher_api, "scheduled_after=2030-06-01T17:00:00Z") == {
        orders["at"],
        orders["after"],
    }


def test_scheduled_before_excludes_the_instant_itself(dispatcher_api, orders):
    assert ids(dispatcher_api, "scheduled_before=2030-06-01T17:00:00Z") == {orders["before"]}


def test_both_make_a_window_and_offsets_are_read_as_instants(dispatcher_api, orders):
    window = f"scheduled_after={quote('2030-06-01T12:00:00-05:00')}" + (
        f"&scheduled_before={quote('2030-06-01T12:00:00.001-05:00')}"
    )
    assert ids(dispatcher_api, window) == {orders["at"]}
    # An unscheduled order is scheduled at no time, so no window holds it.
    assert orders["unscheduled"] not in ids(dispatcher_api, "scheduled_after=2000-01-01T00:00:00Z")
    assert orders["unscheduled"] not in ids(dispatcher_api, "scheduled_before=2100-01-01T00:00:00Z")


@pytest.mark.parametrize("name", ["scheduled_after", "scheduled_before"])
@pytest.mark.parametrize(
    "value", ["tomorrow", "2030-13-01T00:00:00Z", "", "0001-01-01T00:00:00+05:00"]
)
def test_a_bad_instant_is_400_naming_the_parameter(dispatcher_api, name, value):
    response = dispatcher_api.get(f"{URL}?{name}={quote(value)}")
    assert response.status_code == 400, response.content
    body = response.json()["error"]
    assert body["code"] == "invalid"
    assert list(body["details"]["fields"]) == [name]


def test_the_schedule_filters_are_documented():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    params = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/api/v1/orders/"]["get"]["parameters"]
        if p["in"] == "query"
    }
    assert params["scheduled_after"] == {"type": "string", "format": "date-time"}
    assert params["scheduled_before"] == {"type": "string", "format": "date-time"}
