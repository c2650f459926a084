"""The API's JSON renderer writes the bytes DRF's own renderer writes."""

import collections
import datetime
import decimal
import json
import math
import uuid

import pytest
from django.utils.translation import gettext_lazy
from rest_framework.exceptions import ErrorDetail
from rest_framework.renderers import JSONRenderer as DRFJSONRenderer

from orders.tests.factories import CustomerFactory, drop, make_order
from rappi.api.renderers import JSONRenderer

Row = collections.namedtuple("Row", "id name")

EVERY_KIND = {
    "aware": datetime.datetime(2026, 12, 5, 13, 0, 1, 123456, tzinfo=datetime.UTC),
    "naive": datetime.datetime(2026, 12, 5, 8, 0),  # noqa: DTZ001 - a naive one on purpose
    "lima": datetime.datetime(
        2026, 12, 5, 8, 0, tzinfo=datetime.timezone(datetime.timedelta(hours=-5))
    ),
    "day": datetime.date(2026, 1, 2),
    "time": datetime.time(1, 2, 3, 400000),
    "duration": datetime.timedelta(minutes=90),
    "price": decimal.Decimal("12.50"),
    "lazy": gettext_lazy("Not found."),
    "error": ErrorDetail("Give a value.", code="required"),
    "row": Row(7, "Ñuñoa"),
    "pair": (1, 2),
    "numbered": {1: "a", 2: [None, True, False, 1.5, -3]},
    "separators": "a\u2028b\u2029c",
    "text": 'Av. Ejército 101, "Yanahuara" \\ \n\t ☕',
    "id": uuid.UUID(int=5),
    "empty": {},
}


@pytest.mark.parametrize(
    "data",
    [EVERY_KIND, [EVERY_KIND, EVERY_KIND], [], {"count": 0, "results": []}, "plain", 3],
    ids=["every-kind", "list", "empty-list", "page", "string", "number"],
)
def test_the_bytes_are_drfs(data):
    assert JSONRenderer().render(data) == DRFJSONRenderer().render(data)


def test_what_orjson_refuses_is_rendered_as_drf_renders_it():
    huge = {"n": 2**70}
    assert (
        JSONRenderer().render(huge)
        == DRFJSONRenderer().render(huge)
        == b'{"n":1180591620717411303424}'
    )
    # Not JSON: DRF's renderer raised; orjson writes null (no input of ours takes them).
    with pytest.raises(ValueError, match="JSON compliant"):
        DRFJSONRenderer().render({"x": math.nan})
    assert JSONRenderer().render({"x": math.nan, "y": math.inf}) == b'{"x":null,"y":null}'


def test_a_generator_next_to_what_orjson_refuses_is_rendered_whole():
    data = {"rows": (n for n in [1, 2]), "n": 2**70}
    assert JSONRenderer().render(data) == b'{"rows":[1,2],"n":1180591620717411303424}'
    assert JSONRenderer().render({"rows": (n for n in [1, 2])}) == b'{"rows":[1,2]}'


class _AsciiRenderer(JSONRenderer):
    ensure_ascii = True


def test_a_renderer_configured_otherwise_is_drfs():
    assert _AsciiRenderer().render({"name": "Ñusta"}) == b'{"name":"\\u00d1usta"}'


def test_nothing_is_empty_and_an_indent_asked_for_is_drfs():
    assert JSONRenderer().render(None) == b""
    context = {"indent": 2}
    assert JSONRenderer().render(EVERY_KIND, renderer_context=context) == (
        DRFJSONRenderer().render(EVERY_KIND, renderer_context=context)
    )


@pytest.mark.django_db
def test_an_order_page_is_drfs_bytes(admin, admin_api):
    customer = CustomerFactory(full_name="Señora Ñusta \u2028")
    for _ in range(3):
        make_order(customer=customer, by=admin, drops=[drop(), drop(district="Cayma")])
    response = admin_api.get("/api/v1/orders/")
    assert response.status_code == 200, response.content
    assert json.loads(response.content)["count"] == 3
    assert response.content == DRFJSONRenderer().render(response.data)
