"""Query parameters are taken as the schema declares them: an integer is a whole number
within 64 bits, a typed parameter that is present has a value, and a parameter the
endpoint does not document is a 400 naming the ones it does. Endpoints come from the URL
resolver and their parameters from the OpenAPI schema, never from a hand-kept list."""

import gc
import re

import pytest
from django.http import QueryDict
from django.urls import resolve
from django_filters import NumberFilter
from drf_spectacular.generators import SchemaGenerator

from orders.filters import OrderFilter
from rappi.api import filters as filters_module
from rappi.api.filters import INT64_MAX, IntegerFilter, filterset_param_names
from rappi.testing.routes import api_routes, schema_operation
from tracking import geofences
from tracking.tests.factories import run_in_progress

pytestmark = pytest.mark.django_db

SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
HUGE = "99999999999999999999999"
PATTERN_SAMPLES = {"status_code": "404", "since": "2026-11-01", "until": "2026-11-30"}
SQUARE = {
    "type": "Polygon",
    "coordinates": [
        [[-71.6, -16.5], [-71.5, -16.5], [-71.5, -16.4], [-71.6, -16.4], [-71.6, -16.5]]
    ],
}


def _query_params(operation) -> list[dict]:
    return [p for p in operation.get("parameters", []) if p["in"] == "query"]


def _get_operations_with_params():
    return [
        (path, operation)
        for path, operations in sorted(SCHEMA["paths"].items())
        if (operation := operations.get("get")) and _query_params(operation)
    ]


def _param_cases(select):
    return [
        pytest.param(path, param["name"], id=f"{path}?{param['name']}")
        for path, operation in _get_operations_with_params()
        for param in _query_params(operation)
        if select(param["schema"])
    ]


def _is_typed(schema: dict) -> bool:
    """Anything but free text: a number, a boolean, a choice, an instant, a pattern."""
    return schema.get("type") in ("integer", "number", "boolean", "array") or any(
        key in schema for key in ("enum", "format", "pattern")
    )


def _is_numeric(schema: dict) -> bool:
    return schema.get("type") in ("integer", "number")


def _valid_sample(param: dict) -> str:
    schema = param["schema"]
    if schema.get("type") == "array":
        schema = schema["items"]
    if "enum" in schema:
        return str(schema["enum"][0])
    kind = schema.get("type")
    if kind == "boolean":
        return "true"
    if kind == "integer":
        return str(schema.get("minimum", 1))
    if kind == "number":
        low = schema.get("minimum", 0)
        return str((low + schema.get("maximum", low + 2)) / 2)
    if schema.get("format") == "date-time":
        return "2026-01-02T03:04:05Z"
    if "pattern" in schema:
        return PATTERN_SAMPLES[param["name"]]
    return "x"


@pytest.fixture
def concrete(admin):
    """A path template → a URL naming rows that exist, so a lookup never answers first."""
    run = run_in_progress(admin)["run"]
    zone = geofences.geofence_create(name="Zone", kind="delivery_zone", geometry=SQUARE)

    def fill(template: str) -> str:
        url = template.replace("{assignment_id}", str(run.pk))
        url = url.replace("{customer_id}", str(run.orders.get().customer_id))
        url = re.sub(r"(/geofences/)\{id\}", rf"\g<1>{zone.pk}", url)
        url = re.sub(r"(/orders/)\{id\}", rf"\g<1>{run.orders.get().pk}", url)
        assert "{" not in url, f"no sample row for {template}"
        return url

    return fill


def _with_required(path: str, query: dict) -> dict:
    """`query` plus a valid value for each other parameter the operation requires."""
    required = {
        p["name"]: _valid_sample(p)
        for p in _query_params(SCHEMA["paths"][path]["get"])
        if p.get("required") and p["name"] not in query
    }
    return {**required, **query}


def _field_errors(response) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "invalid"
    return error["details"]["fields"]


# --- Item: huge numbers ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "name"), _param_cases(_is_numeric))
@pytest.mark.parametrize("value", [HUGE, str(INT64_MAX + 1), "1e400", "-1e400"])
def test_a_huge_number_in_any_numeric_parameter_is_400(admin_api, concrete, path, name, value):
    response = admin_api.get(concrete(path), _with_required(path, {name: value}))
    assert name in _field_errors(response)


def test_a_huge_status_code_in_the_audit_filter_is_400(admin_api):
    assert "status_code" in _field_errors(admin_api.get(f"/api/v1/audit/events?status_code={HUGE}"))


def test_the_largest_64_bit_id_is_a_valid_filter_that_finds_nothing(admin_api):
    response = admin_api.get(f"/api/v1/orders/?customer_id={INT64_MAX}")
    assert response.status_code == 200, response.content
    assert response.json()["count"] == 0


def _filtersets():
    """Every FilterSet an API view uses, found through the URL resolver."""
    found = {}
    for path, _method in api_routes():
        cls = getattr(resolve(path).func, "cls", None)
        filterset = getattr(cls, "filterset_class", None)
        if filterset is not None:
            found[filterset.__name__] = filterset
    assert {"OrderFilter", "AssignmentFilter", "IncidentFilter", "UserFilter"} <= set(found)
    return sorted(found.items())


def _numeric_filters():
    return [
        pytest.param(filterset, name, id=f"{filterset_name}.{name}")
        for filterset_name, filterset in _filtersets()
        for name, declared in filterset.base_filters.items()
        if isinstance(declared, NumberFilter | IntegerFilter)
    ]


@pytest.mark.parametrize(("filterset", "name"), _numeric_filters())
def test_every_numeric_filter_is_a_bounded_integer_filter(filterset, name):
    declared = filterset.base_filters[name]
    assert isinstance(declared, IntegerFilter), f"{name} is a {type(declared).__name__}"
    assert declared.extra["max_value"] <= INT64_MAX


@pytest.mark.parametrize(("filterset", "name"), _numeric_filters())
def test_numeric_filters_refuse_what_sqlite_cannot_bind_before_any_query(
    filterset, name, django_assert_num_queries
):
    # SQLite (the embedded default) raises OverflowError binding an int above 2**63 - 1;
    # the form refuses it first, whatever the database.
    none = filterset._meta.model.objects.none()
    largest = filterset.base_filters[name].extra["max_value"]
    with django_assert_num_queries(0):
        too_big = filterset(data={name: str(INT64_MAX + 1)}, queryset=none)
        assert not too_big.is_valid()
        assert name in too_big.errors
        assert filterset(data={name: str(largest)}, queryset=none).is_valid()


def test_integer_filters_are_declared_as_bounded_integers_in_the_schema():
    params = {
        p["name"]: p["schema"] for p in SCHEMA["paths"]["/api/v1/orders/"]["get"]["parameters"]
    }
    assert params["customer_id"] == {
        "type": "integer",
        "format": "int64",
        "minimum": 1,
        "maximum": INT64_MAX,
    }


@pytest.mark.parametrize("value", [HUGE, str(INT64_MAX + 1)])
@pytest.mark.parametrize("name", ["page", "page_size"])
def test_a_huge_page_or_page_size_is_400(admin_api, value, name):
    assert name in _field_errors(admin_api.get(f"/api/v1/users/?{name}={value}"))


# --- Item: empty values ---------------------------------------------------------------------


@pytest.mark.parametrize(("path", "name"), _param_cases(_is_typed))
def test_an_empty_typed_parameter_is_400(admin_api, concrete, path, name):
    response = admin_api.get(concrete(path), _with_required(path, {name: ""}))
    assert name in _field_errors(response)


@pytest.mark.parametrize(
    "url",
    [
        "/api/v1/assignments/?driver_id=",
        "/api/v1/users/?is_active=",
        "/api/v1/audit/events?status_code=",
        "/api/v1/orders/?status=",
        "/api/v1/vehicles/?status=",
        "/api/v1/tracking/drivers/nearby?lat=1&lng=1&limit=",
        "/api/v1/notifications/?unread=",
    ],
)
def test_examples_of_empty_values_that_used_to_be_ignored(admin_api, url):
    name = url.rsplit("&", 1)[-1].split("?")[-1].rstrip("=")
    assert name in _field_errors(admin_api.get(url))


@pytest.mark.parametrize("path", ["/api/v1/users/", "/api/v1/orders/", "/api/v1/notifications/"])
def test_an_empty_search_means_no_search(admin_api, path):
    response = admin_api.get(path, {"search": ""})
    assert response.status_code == 200, response.content


# --- Item: unknown parameters ---------------------------------------------------------------

ALLOWED = re.compile(
    r"^Unknown parameter\. (?:Allowed: (?P<names>.+)\.|This endpoint takes none\.)$"
)
GET_PATHS = sorted({path for path, method in api_routes() if method == "get"})


def _allowed_in(message: str) -> set[str]:
    match = ALLOWED.match(message)
    assert match, message
    return set(match["names"].split(", ")) if match["names"] else set()


@pytest.mark.parametrize("path", GET_PATHS)
def test_an_unknown_parameter_on_any_get_route_is_400_naming_the_documented_ones(admin_api, path):
    fields = _field_errors(admin_api.get(path, {"bogus": "1"}))
    assert set(fields) == {"bogus"}
    documented = {p["name"] for p in _query_params(schema_operation(SCHEMA, path, "get"))}
    assert _allowed_in(fields["bogus"][0]) == documented


@pytest.mark.parametrize(("path", "name"), _param_cases(lambda schema: True))
def test_every_documented_parameter_is_accepted(admin_api, concrete, path, name):
    param = next(p for p in _query_params(SCHEMA["paths"][path]["get"]) if p["name"] == name)
    response = admin_api.get(concrete(path), _with_required(path, {name: _valid_sample(param)}))
    assert response.status_code in (200, 404), response.content


def test_an_ignored_filter_no_longer_looks_like_no_orders(admin_api):
    fields = _field_errors(admin_api.get("/api/v1/orders/?delivered_after=2026-12-01T00:00:00Z"))
    assert fields == {
        "delivered_after": [
            "Unknown parameter. Allowed: created_after, created_before, customer, customer_id, "
            "district, ordering, page, page_size, scheduled_after, scheduled_before, search, "
            "service_level, status."
        ]
    }


def test_an_endpoint_without_parameters_says_it_takes_none(admin_api):
    fields = _field_errors(admin_api.get("/api/v1/auth/me?verbose=1"))
    assert fields == {"verbose": ["Unknown parameter. This endpoint takes none."]}


def test_a_command_refuses_unknown_parameters_too(admin_api):
    response = admin_api.post("/api/v1/orders/quote?dry_run=1", {}, format="json")
    assert set(_field_errors(response)) == {"dry_run"}


def test_a_signed_out_request_is_401_before_its_parameters_are_looked_at(api):
    response = api.get("/api/v1/users/?bogus=1")
    assert response.status_code == 401


def test_a_method_the_route_lacks_is_405_whatever_its_parameters(admin_api):
    response = admin_api.get("/api/v1/orders/quote?bogus=1")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"


def _api_view_classes():
    from django.urls import get_resolver

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if hasattr(pattern, "url_patterns"):
                yield from walk(pattern.url_patterns, route)
            else:
                view = getattr(pattern.callback, "cls", None)
                if view is not None and route.startswith("api/v1/"):
                    yield route, view

    return sorted(
        {
            (view.__module__, view.__name__): (route, view)
            for route, view in walk(get_resolver().url_patterns)
        }.values(),
        key=lambda item: item[0],
    )


def test_every_api_view_refuses_undocumented_parameters_but_the_providers_webhook():
    # A view setting its own permission_classes would otherwise drop the check unnoticed.
    from rappi.api.permissions import DeclaredQueryParameters

    unchecked = [
        view.__name__
        for _route, view in _api_view_classes()
        if DeclaredQueryParameters not in view.permission_classes
    ]
    assert unchecked == ["MercadoPagoWebhookView"]


def test_public_sign_in_commands_refuse_undocumented_parameters(api):
    response = api.post(
        "/api/v1/auth/login?next=/admin/",
        {"email": "nobody@example.pe", "password": "x"},
        format="json",
    )
    assert response.status_code == 400
    assert "next" in response.json()["error"]["details"]["fields"]


@pytest.mark.parametrize(
    "url",
    ["/api/v1/users/?search=a%00b", "/api/v1/drivers/?search=%00", "/api/v1/orders/?district=x%00"],
)
def test_a_nul_character_in_a_query_parameter_is_400_not_500(admin_api, url):
    response = admin_api.get(url)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


class _ReadKeys(QueryDict):
    """A query string of one unrelated parameter (an empty one would be replaced) that
    notes which parameters are looked up in it."""

    def __init__(self):
        self.read = set()
        super().__init__("unrelated=1", mutable=True)
        self.read.clear()

    def get(self, key, default=None):
        self.read.add(key)
        return super().get(key, default)

    def getlist(self, key, default=None):
        self.read.add(key)
        return super().getlist(key, default)

    def __contains__(self, key):
        self.read.add(key)
        return super().__contains__(key)


@pytest.mark.parametrize(("name", "filterset"), _filtersets())
def test_the_parameters_a_filterset_reads_are_the_ones_that_bring_it_in(name, filterset):
    # A request naming none of `filterset_param_names` skips the FilterSet
    # (`FilterBackend`): each parameter its form reads must be among them.
    data = _ReadKeys()
    assert filterset(data=data, queryset=filterset._meta.model.objects.none()).is_valid()
    assert data.read == filterset_param_names(filterset)


def test_a_plain_list_builds_no_filterset_and_a_filtered_one_does(admin_api, monkeypatch):
    built = []
    real_init = OrderFilter.__init__

    def counted(self, *args, **kwargs):
        built.append(kwargs.get("data"))
        real_init(self, *args, **kwargs)

    monkeypatch.setattr(OrderFilter, "__init__", counted)
    plain = admin_api.get("/api/v1/orders/", {"page_size": 5, "ordering": "-created_at"})
    assert plain.status_code == 200, plain.content
    assert built == []

    filtered = admin_api.get("/api/v1/orders/", {"status": "delivered", "page_size": 5})
    assert filtered.status_code == 200, filtered.content
    assert len(built) == 1
    assert filtered.json()["count"] == 0


def test_the_parameter_names_of_a_filterset_made_per_request_are_not_kept():
    # DjangoFilterBackend builds a new class per request for a view's `filterset_fields`.
    before = len(filters_module._PARAM_NAMES)
    made = type("Made", (OrderFilter,), {})
    assert filterset_param_names(made) == filterset_param_names(OrderFilter)
    assert len(filters_module._PARAM_NAMES) == before + 1
    del made
    gc.collect()
    assert len(filters_module._PARAM_NAMES) == before
