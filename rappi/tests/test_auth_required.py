"""Every route under /api/v1/ refuses a request without a valid token, except the public
ones docs/api.md names. Routes are found by walking the URL resolver, not listed by hand."""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, resolve

PUBLIC_PATHS = {
    "/api/v1/auth/register",
    "/api/v1/auth/login",
    "/api/v1/auth/refresh",
    "/api/v1/payments/webhooks/mercadopago",
}
GROUP = re.compile(r"\(\?P<(?P<name>\w+)>(?P<regex>[^)]*)\)")
CONVERTER = re.compile(r"<(?:(?P<conv>\w+):)?(?P<name>\w+)>")


def _sample_value(regex: str) -> str:
    """An id the group accepts: a relational id, else a MongoDB one."""
    return next((v for v in ("1", "0" * 24) if re.fullmatch(regex, v)), "1")


def _sample(pattern: str) -> str:
    pattern = GROUP.sub(lambda m: _sample_value(m["regex"]), pattern)
    pattern = CONVERTER.sub("1", pattern)
    return pattern.replace("^", "").replace("$", "").replace("/?", "").replace("\\.", ".")


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + _sample(str(entry.pattern)))
        elif isinstance(entry, URLPattern):
            yield "/" + prefix + _sample(str(entry.pattern)), entry.callback


def _methods(callback) -> list[str]:
    if getattr(callback, "actions", None):  # a viewset route: method -> action
        return sorted(callback.actions)
    cls = getattr(callback, "cls", None) or getattr(callback, "view_class", None)
    return sorted(m for m in ("get", "post", "put", "patch", "delete") if hasattr(cls, m))


def api_routes():
    routes = []
    for path, callback in _walk(get_resolver().url_patterns):
        if not path.startswith("/api/v1/") or "(?" in path:
            continue
        assert resolve(path).func is callback, f"sample URL {path} resolves elsewhere"
        routes.extend((path.rstrip("/"), method) for method in _methods(callback))
    return routes


ROUTES = api_routes()


def test_the_walk_finds_the_api():
    assert len(ROUTES) >= 25
    assert ("/api/v1/auth/me", "get") in ROUTES
    assert ("/api/v1/roles/1/permissions", "put") in ROUTES


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method"), [r for r in ROUTES if r[0] not in PUBLIC_PATHS])
@pytest.mark.parametrize(
    ("authorization", "code"),
    [
        (None, "not_authenticated"),
        ("Bearer not-a-jwt", "token_invalid"),
        ("Token abc", "token_invalid"),
    ],
    ids=["no-token", "malformed-jwt", "wrong-scheme"],
)
def test_route_requires_a_valid_token(api, path, method, authorization, code):
    if authorization:
        api.credentials(HTTP_AUTHORIZATION=authorization)
    response = getattr(api, method)(path, {}, format="json")
    assert response.status_code == 401, response.content
    assert response.json()["error"]["code"] == code
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(p for p, _m in ROUTES if p in PUBLIC_PATHS))
def test_public_route_does_not_ask_for_a_token(api, path):
    response = api.post(path, {}, format="json")
    # Validation, or the webhook's own signature check; never a token demand.
    assert response.status_code in (400, 401)
    assert response.json()["error"]["code"] in ("invalid", "invalid_signature")
