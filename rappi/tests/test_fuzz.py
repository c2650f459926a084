"""Property-based fuzzing of the whole API from its own OpenAPI schema (schemathesis):
whatever a client sends, the answer is never a 500, its status is one the schema
documents, and its body matches the documented schema (error bodies included)."""

import json
import os

import pytest
import requests
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.renderers import OpenApiJsonRenderer
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from identity.tests.factories import tokens_for

# As clients see it: through the JSON renderer (Decimal bounds become numbers).
_document = json.loads(OpenApiJsonRenderer().render(SchemaGenerator().get_schema(public=True)))
schema = schemathesis.openapi.from_dict(_document)
schema.app = get_wsgi_application()

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture
def admin_headers(db, admin):
    # Requests go through the WSGI handler, whose request signals would close the test's
    # database connection (and its transaction) after every call.
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield {"Authorization": f"Bearer {tokens_for(admin)['access']}"}
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.mark.django_db
@schema.parametrize()
@settings(
    # CI replays the same examples every run; FUZZ_EXAMPLES=500 explores afresh.
    max_examples=int(os.environ.get("FUZZ_EXAMPLES", "25")),
    derandomize="FUZZ_EXAMPLES" not in os.environ,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)
def test_the_api_answers_every_generated_request_as_documented(case, admin_headers):
    case.call_and_validate(headers=admin_headers, checks=CHECKS)


def _answer(status: int, body: dict) -> schemathesis.Response:
    return schemathesis.Response(
        status_code=status,
        headers={"content-type": ["application/json"]},
        content=json.dumps(body).encode(),
        request=requests.Request("GET", "http://testserver/").prepare(),
        elapsed=0.0,
        verify=True,
    )


def test_the_body_check_judges_every_documented_error():
    """Schemathesis skips the body check for a response documented without a schema: every
    error status of every operation must name the error body, so a wrong one fails."""
    error = {"error": {"code": "illegal_transition", "message": "No.", "details": {}}}
    unchecked = []
    for result in schema.get_all_operations():
        operation = result.ok()
        for status in operation.definition.raw["responses"]:
            if status.startswith("2"):
                continue
            operation.validate_response(_answer(int(status), error))
            try:
                operation.validate_response(_answer(int(status), {"detail": "No."}))
            except (AssertionError, FailureGroup):
                continue
            unchecked.append(f"{operation.method.upper()} {operation.path} {status}")
    assert not unchecked, unchecked
