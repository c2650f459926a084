"""The order page's map: the pickup, the drop-offs (numbered as on the page, coloured by
their run stop once in a run), the run's route and the driver's last fix while the order
is on its way, read through the API's order tracking selector; its region refreshes
(`?part=map`) while the order is in transit, at the same number of queries whatever the
number of drop-offs; the edit forms' maps that place a drop-off."""

import json
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from identity.tests.factories import RoleFactory, UserFactory
from orders.models import Order, OrderStatus
from orders.tests.factories import CustomerFactory, drop, make_order
from orders.tests.helpers import on_its_way
from rappi.testing.console import console_client
from tracking.tests.factories import record_fix

pytestmark = pytest.mark.django_db


def url(order) -> str:
    return f"/console/orders/{order.pk}/"


def scenes(response) -> dict[str, dict]:
    """The scenes in a page by map id, as map.js reads them."""
    page = response.content.decode()
    found = re.findall(r'data-map-scene="([^"]+)" data-scene="([^"]*)"', page)
    return {map_id: json.loads(_unescape(raw)) for map_id, raw in found}


def _unescape(text: str) -> str:
    for escaped, plain in (("&quot;", '"'), ("&#x27;", "'"), ("&lt;", "<"), ("&gt;", ">")):
        text = text.replace(escaped, plain)
    return text.replace("&amp;", "&")


def test_an_order_not_in_a_run_shows_its_pickup_and_numbered_drop_offs(console, dispatcher):
    order = make_order(
        customer=CustomerFactory(), by=dispatcher, drops=[drop(), drop(district="Yanahuara")]
    )
    response = console.get(url(order))
    assert response.status_code == 200
    page = response.content.decode()
    assert "map-placeholder" not in page
    assert 'id="order-map" data-map' in page
    scene = scenes(response)["order-map"]
    assert "lines" not in scene
    assert "stops" not in scene
    origin, first, second = scene["markers"]
    assert origin["kind"] == "origin"
    assert (origin["lat"], origin["lng"]) == (-16.3988, -71.5369)
    assert origin["label"] == "Pickup: Plaza de Armas, Cercado"
    assert [first["kind"], first["text"], second["text"]] == ["dropoff", "1", "2"]
    assert second["label"] == "Drop-off 2: Av. Lambramani 325, Yanahuara — Pending"
    # Nothing moves: the region does not refresh; the legend names what is drawn.
    assert 'id="order-live" class="order-live">' in page
    assert "map-marker--dropoff" in page
    assert "Route of the run" not in page
    assert "Driver's last fix" not in page


def test_an_order_on_its_way_shows_the_route_its_stops_and_the_driver(
    console, dispatcher, django_capture_on_commit_callbacks
):
    order, run = on_its_way(dispatcher, django_capture_on_commit_callbacks)
    record_fix(run, -16.405, -71.53, heading=90)
    response = console.get(url(order))
    page = response.content.decode()
    scene = scenes(response)["order-map"]
    [route] = scene["lines"]
    assert route["kind"] == "route"
    assert len(route["coordinates"]) >= 2
    assert route["url"] == f"/console/runs/{run.pk}/"
    assert route["label"] == f"Route of run #{run.pk}"
    # The drop-offs as the run's stops, numbered as on the page (the pickup is its marker).
    assert [(s["lat"], s["lng"]) for s in scene["stops"]] == [
        (-16.41, -71.5217),
        (-16.416, -71.5177),
    ]
    assert [(s["sequence"], s["status"], s["kind"]) for s in scene["stops"]] == [
        (1, "pending", "delivery"),
        (2, "pending", "delivery"),
    ]
    assert scene["stops"][0]["label"].startswith("Drop-off 1: Av. Lambramani 325")
    origin, driver = scene["markers"]
    assert origin["kind"] == "origin"
    assert driver == {
        "lat": -16.405,
        "lng": -71.53,
        "kind": "vehicle",
        "label": driver["label"],
        "text": "ABC-123",
        "heading": 90,
        "stale": False,
    }
    assert driver["label"].startswith("Ana Ruta · ABC-123 · ")
    assert f'hx-get="/console/orders/{order.pk}/?part=map" hx-trigger="every 10s"' in page
    assert "On its way with Ana Ruta (ABC-123): last fix" in page
    assert "Route of the run" in page
    assert "Driver's last fix" in page


def test_a_silent_driver_is_greyed_with_the_age_of_its_fix(
    console, dispatcher, django_capture_on_commit_callbacks
):
    order, run = on_its_way(dispatcher, django_capture_on_commit_callbacks)
    record_fix(run, -16.405, -71.53, seconds_ago=15 * 60)
    response = console.get(url(order))
    driver = scenes(response)["order-map"]["markers"][-1]
    assert driver["stale"] is True
    assert driver["text"] == "ABC-123 · 15 min ago"
    assert "badge-silent" in response.content.decode()


def test_the_refreshed_region_moves_the_driver(
    console, dispatcher, django_capture_on_commit_callbacks
):
    order, run = on_its_way(dispatcher, django_capture_on_commit_callbacks)
    record_fix(run, -16.405, -71.53, seconds_ago=30)
    record_fix(run, -16.407, -71.531, seconds_ago=1)
    response = console.get(url(order) + "?part=map", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    page = response.content.decode()
    assert page.lstrip().startswith('<div id="order-live"')
    assert "<html" not in page
    driver = scenes(response)["order-map"]["markers"][-1]
    assert (driver["lat"], driver["lng"]) == (-16.407, -71.531)


def test_once_delivered_the_driver_is_gone_and_the_refresh_stops(
    console, dispatcher, django_capture_on_commit_callbacks
):
    order, run = on_its_way(dispatcher, django_capture_on_commit_callbacks)
    record_fix(run, -16.405, -71.53)
    Order.objects.filter(pk=order.pk).update(status=OrderStatus.DELIVERED)
    response = console.get(url(order) + "?part=map", HTTP_HX_REQUEST="true")
    page = response.content.decode()
    assert "hx-trigger" not in page
    scene = scenes(response)["order-map"]
    assert [m["kind"] for m in scene["markers"]] == ["origin"]
    assert scene["lines"]


def test_a_role_that_may_not_read_tracking_sees_the_addresses_only(
    dispatcher, django_capture_on_commit_callbacks
):
    order, run = on_its_way(dispatcher, django_capture_on_commit_callbacks)
    record_fix(run, -16.405, -71.53)
    reader = console_client(UserFactory(role=RoleFactory(grants=["orders:read"])))
    response = reader.get(url(order))
    scene = scenes(response)["order-map"]
    assert "lines" not in scene
    assert "stops" not in scene
    assert [m["kind"] for m in scene["markers"]] == ["origin", "dropoff", "dropoff"]
    assert "hx-trigger" not in response.content.decode()


def test_an_order_out_of_reach_is_the_404_page_for_the_map_too(console):
    assert console.get("/console/orders/999999/").status_code == 404
    response = console.get("/console/orders/999999/?part=map", HTTP_HX_REQUEST="true")
    assert response.status_code == 404


def _queries(client, path, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path, **headers).status_code == 200
    return len(captured)


def test_the_page_and_its_map_cost_the_same_queries_for_one_or_ten_drop_offs(
    console, dispatcher, django_assert_max_num_queries, django_capture_on_commit_callbacks
):
    small, small_run = on_its_way(dispatcher, django_capture_on_commit_callbacks, drops=1)
    big, big_run = on_its_way(
        dispatcher, django_capture_on_commit_callbacks, drops=10, plate="BIG-010"
    )
    record_fix(small_run, -16.405, -71.53)
    record_fix(big_run, -16.405, -71.53)
    for path, headers in [("", {}), ("?part=map", {"HTTP_HX_REQUEST": "true"})]:
        one = _queries(console, url(small) + path, **headers)
        with django_assert_max_num_queries(one):
            response = console.get(url(big) + path, **headers)
        assert len(scenes(response)["order-map"]["stops"]) == 10
    assert one <= 10  # the map's region alone


def test_each_editable_drop_off_and_the_new_one_are_placed_by_clicking_a_map(console, dispatcher):
    order = make_order(customer=CustomerFactory(), by=dispatcher, drops=[drop(), drop()])
    page = console.get(url(order)).content.decode()
    for destination in order.destinations.all():
        pk = destination.pk
        assert f'id="drop-map-{pk}"' in page
        assert f'data-map-pick="#d{pk}_lat,#d{pk}_lng"' in page
        assert f'id="d{pk}_lat"' in page  # still typable
        assert f'id="d{pk}_lng"' in page
    assert 'data-map-pick="#add_lat,#add_lng"' in page
    found = scenes(console.get(url(order)))
    assert found[f"drop-map-{order.destinations.first().pk}"]["fit"] is False  # the pin's view
    assert "fit" not in found["add-map"]  # fits the pickup and drop-offs


def test_an_order_that_can_no_longer_change_has_no_map_to_place_drop_offs(
    console, dispatcher, django_capture_on_commit_callbacks
):
    order, _run = on_its_way(dispatcher, django_capture_on_commit_callbacks)
    page = console.get(url(order)).content.decode()
    assert "data-map-pick" not in page
    assert 'id="order-map"' in page
