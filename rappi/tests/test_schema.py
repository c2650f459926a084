"""The OpenAPI schema is valid and describes every API route with its error bodies."""

import pytest
from drf_spectacular.generators import SchemaGenerator
from drf_spectacular.validation import validate_schema

from rappi.tests.test_auth_required import PUBLIC_PATHS, ROUTES


@pytest.fixture(scope="module")
def schema():
    return SchemaGenerator().get_schema(request=None, public=True)


def _operation(schema, path, method):
    """The schema's operation for a sample path (`/api/v1/users/1` ~ `/api/v1/users/{id}`)."""
    candidates = sorted(
        (p for p in schema["paths"] if _matches(p, path)), key=lambda p: p.count("{")
    )
    found = [schema["paths"][p][method] for p in candidates if method in schema["paths"][p]]
    return found[0] if found else None


def _matches(template: str, path: str) -> bool:
    left, right = template.rstrip("/").split("/"), path.rstrip("/").split("/")
    return len(left) == len(right) and all(
        a == b or a.startswith("{") for a, b in zip(left, right, strict=True)
    )


def test_the_schema_is_valid_openapi(schema):
    validate_schema(schema)


def test_every_api_route_is_in_the_schema_with_its_errors(schema):
    for path, method in ROUTES:
        if path.endswith("/mercadopago"):
            continue
        operation = _operation(schema, path, method)
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
