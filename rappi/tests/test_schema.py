"""The OpenAPI schema is valid and describes every API route with its error bodies, and
what it declares is what the API sends: a client generated from it can read every answer."""

import io
import json
import re

import pytest
import requests
import schemathesis
from django.conf import settings
from django.core.management import call_command
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.validation import validate_schema
from openapi_spec_validator import validate as validate_openapi
from schemathesis.core.failures import FailureGroup

from identity.models import User
from identity.tests.factories import UserFactory
from rappi.testing.routes import (
    METHODS,
    PUBLIC_PATHS,
    api_routes,
    path_matches,
    schema_operation,
)

JSON = "application/json"
ERROR_BODY = {JSON: {"schema": {"$ref": "#/components/schemas/Error"}}}
RELATIONAL_ID = {"type": "integer", "minimum": 1}
DOCUMENT_ID = {"type": "string", "pattern": "^[0-9a-f]{24}$"}


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


@pytest.fixture(scope="module")
def document(schema):
    """The schema as `/api/schema/?format=json` serves it (Decimal bounds become numbers)."""
    return json.loads(OpenApiJsonRenderer().render(schema))


def _operations(document):
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield path, method, item[method]


def test_the_schema_generates_without_a_warning(tmp_path):
    """drf-spectacular only warns when two serializers share a component name (one of
    them is then silently renamed, or shadowed): here a warning fails."""
    call_command(
        "spectacular",
        "--fail-on-warn",
        "--file",
        str(tmp_path / "schema.yml"),
        stdout=io.StringIO(),
    )


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_every_api_route_is_in_the_schema_with_its_errors(schema):
    for path, method in api_routes():
        if path.endswith("/mercadopago"):
            continue
        operation = schema_operation(schema, path, method)
        assert operation is not None, f"{method.upper()} {path} is missing from the schema"
        codes = set(operation["responses"])
        assert "429" in codes
        if path not in PUBLIC_PATHS:
            assert {"401", "403"} <= codes, f"{method.upper()} {path}"
            assert operation.get("security") != [{}]
        if method in ("post", "put", "patch"):
            assert "400" in codes, f"{method.upper()} {path}"
        error = operation["responses"]["429"]["content"]["application/json"]["schema"]
        assert error == {"$ref": "#/components/schemas/Error"}


def test_the_error_component_is_the_one_error_body(schema):
    error = schema["components"]["schemas"]["Error"]
    detail = schema["components"]["schemas"]["ErrorDetail"]
    assert error["required"] == ["error"]
    assert set(detail["properties"]) == {"code", "message", "details"}


def test_the_served_document_passes_openapi_spec_validator(document):
    validate_openapi(document)


def test_every_documented_response_has_a_body_a_client_can_read(document):
    """Every non-2xx answer is the one error body; every 2xx but 204 has a body."""
    missing = []
    for path, method, operation in _operations(document):
        for status, response in operation["responses"].items():
            where = f"{method.upper()} {path} {status}"
            if not status.startswith("2"):
                if response.get("content") != ERROR_BODY:
                    missing.append(where)
            elif status != "204" and not response.get("content"):
                missing.append(where)
    assert not missing, f"{len(missing)} responses without a readable body: {missing}"


def test_path_ids_are_typed(document):
    """Relational ids are positive integers, MongoDB ids 24 lowercase hex digits."""
    untyped = []
    for path, method, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["in"] != "path" or parameter["name"] == "ruc":
                continue
            if parameter["schema"] not in (RELATIONAL_ID, DOCUMENT_ID):
                untyped.append(f"{method.upper()} {path} {parameter['name']}")
    assert not untyped, untyped
    by_name = {
        (path, p["name"]): p["schema"]
        for path, _method, operation in _operations(document)
        for p in operation.get("parameters", [])
        if p["in"] == "path"
    }
    assert by_name[("/api/v1/users/{id}", "id")] == RELATIONAL_ID
    assert by_name[("/api/v1/orders/{order_id}/proofs", "order_id")] == RELATIONAL_ID
    assert by_name[("/api/v1/geofences/{id}", "id")] == DOCUMENT_ID
    assert by_name[("/api/v1/files/{file_id}", "file_id")] == DOCUMENT_ID
    assert by_name[("/api/v1/incidents/{id}/evidence/{evidence_id}", "evidence_id")] == DOCUMENT_ID


def test_paging_parameters_declare_their_bounds(document):
    lists = 0
    for path, _method, operation in _operations(document):
        query = {p["name"]: p["schema"] for p in operation.get("parameters", [])}
        if "page" not in query:
            continue
        lists += 1
        assert query["page"]["type"] == "integer", path
        assert query["page"]["minimum"] == 1, path
        assert query["page_size"]["minimum"] == 1, path
        assert query["page_size"]["maximum"] == settings.API_MAX_PAGE_SIZE, path
    assert lists >= 15


def test_the_file_download_declares_its_binary_types(document):
    content = document["paths"]["/api/v1/files/{file_id}"]["get"]["responses"]["200"]["content"]
    assert {"application/octet-stream", "image/jpeg", "application/pdf"} <= set(content)
    for media in content.values():
        assert media["schema"] == {"type": "string", "format": "binary"}


def test_computed_decimals_are_declared_as_the_strings_they_are_sent_as(document):
    order = document["components"]["schemas"]["OrderOutput"]["properties"]
    for name in ("total_weight_kg", "total_chargeable_weight_kg", "total_volume_cm3"):
        assert order[name]["type"] == "string", name
        assert order[name]["format"] == "decimal", name


# --- What is sent matches what is declared, on the demo data ------------------------------

PLACE = {"lat": "-16.3989", "lng": "-71.5370"}  # Arequipa, where the demo data lives
# Path parameters that name a row of another collection: harvested from earlier answers.
HARVESTED = {"customer_pk": "customer_id", "order_pk": "order_id"}
CANDIDATES = 2
DEMO_READERS = ["driver1@rappi.pe", "customer1@rappi.pe"]


def _harvest(body, seen: dict) -> None:
    if isinstance(body, dict):
        for key, value in body.items():
            named = key.endswith("_id") or key == "ruc"
            if named and isinstance(value, int | str) and value not in seen.setdefault(key, []):
                seen[key].append(value)
            _harvest(value, seen)
    elif isinstance(body, list):
        for item in body:
            _harvest(item, seen)


def _media_types(document, template: str) -> set[str]:
    """Media types the GET's successes are documented in."""
    responses = document["paths"][template]["get"]["responses"]
    return {t for status, r in responses.items() if status < "3" for t in r.get("content", {})}


def _as_schemathesis(response) -> schemathesis.Response:
    return schemathesis.Response(
        status_code=response.status_code,
        headers={name.lower(): [value] for name, value in response.headers.items()},
        content=response.content,
        request=requests.Request(
            "GET", f"http://testserver{response.request['PATH_INFO']}"
        ).prepare(),
        elapsed=0.0,
        verify=True,
    )


def _rows(body) -> list:
    return body.get("results", []) if isinstance(body, dict) else body


class _Reader:
    """GETs the API as one caller and checks every answer against the schema."""

    def __init__(self, document, client):
        self.document, self.client = document, client
        self.operations = schemathesis.openapi.from_dict(document)
        self.seen: dict[str, list] = {}
        self.answered: dict[str, set[int]] = {}
        self.mismatches: list[str] = []

    def get(self, template: str, url: str, query: dict | None = None, accept: str = ""):
        operation = self.document["paths"][template]["get"]
        if any(p["name"] == "page_size" for p in operation.get("parameters", [])):
            query = {"page_size": settings.API_MAX_PAGE_SIZE, **(query or {})}
        response = self.client.get(url, query, **({"HTTP_ACCEPT": accept} if accept else {}))
        self.answered.setdefault(template, set()).add(response.status_code)
        where = f"GET {url} {response.status_code}"
        documented = operation["responses"]
        content = documented.get(str(response.status_code), {}).get("content")
        media_type = response["Content-Type"].split(";")[0]
        if content is None or media_type not in content:
            self.mismatches.append(f"{where}: {media_type} answer not documented")
            return None
        if media_type != JSON:
            return None
        try:  # exactly the fuzz suite's check
            self.operations[template]["GET"].validate_response(_as_schemathesis(response))
        except (AssertionError, FailureGroup) as failure:
            self.mismatches.append(f"{where}: {failure}")
        body = response.json()
        _harvest(body, self.seen)
        return body

    def urls(self, template: str, prefix: str = ""):
        """Concrete URLs for the rest of a path template after the concrete `prefix`, a
        few candidates per parameter: an `{id}` from the collection just before it, any
        other from the ids read so far."""
        match = re.search(r"\{(\w+)\}", template)
        if match is None:
            yield prefix + template
            return
        head, name = template[: match.start()], match[1]
        if name == "id":
            collection = self.get(self._template_of(prefix + head), prefix + head) or []
            values = [row["id"] for row in _rows(collection)]
        else:
            values = self.seen.get(HARVESTED.get(name, name), [])
        for value in values[:CANDIDATES]:
            yield from self.urls(template[match.end() :], f"{prefix}{head}{value}")

    def _template_of(self, url: str) -> str:
        return next(t for t in self.document["paths"] if path_matches(t, url))


@pytest.mark.django_db
def test_reads_answer_what_the_schema_declares_on_the_demo_data(
    document, client_for, django_capture_on_commit_callbacks
):
    """Every GET, as staff and as a demo driver and customer (their own rows, their
    `/me`), on the demo data: each answer's status, media type and body as documented."""
    with django_capture_on_commit_callbacks(execute=True):  # the track, notifications
        call_command("seed_demo", stdout=io.StringIO())
    templates = [p for p, method, _ in _operations(document) if method == "get"]
    required = {
        template: {
            p["name"]
            for p in document["paths"][template]["get"].get("parameters", [])
            if p["in"] == "query" and p.get("required")
        }
        for template in templates
    }
    # Rows named by their own collection first; then those named from what was read.
    templates.sort(
        key=lambda t: (
            len(re.findall(r"\{(?!id\})", t)) + len(required[t] - set(PLACE)),
            t.count("{"),
        )
    )
    mismatches, answered = [], {}
    users = [UserFactory(role_name="admin"), *User.objects.filter(email__in=DEMO_READERS)]
    for user in users:
        reader = _Reader(document, client_for(user))
        for template in templates:
            query = {k: v for k, v in PLACE.items() if k in required[template]}
            missing = required[template] - set(PLACE) - set(reader.seen)
            if missing:
                continue  # nothing of the kind in this caller's scope
            query.update({k: reader.seen[k][0] for k in required[template] - set(PLACE)})
            # A client may ask for any media type a success is documented in.
            accepts = ["", *(t for t in _media_types(document, template) if t != JSON)]
            for url in reader.urls(template):
                for accept in accepts:
                    reader.get(template, url, query, accept)
                if template.endswith("/pings"):
                    reader.get(template, url, {"format": "geojson"})
        mismatches += [f"{user.email}: {m}" for m in reader.mismatches]
        for template, statuses in reader.answered.items():
            answered.setdefault(template, set()).update(statuses)
    assert len(users) == 1 + len(DEMO_READERS)
    assert not mismatches, "\n".join(mismatches)
    unread = [t for t in templates if 200 not in answered.get(t, set())]
    assert not unread, f"no 200 read for {unread}: the demo data or the candidates miss them"
