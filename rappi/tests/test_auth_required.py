"""Every route under /api/v1/ refuses a request without a valid token, except the public
ones docs/api.md names. Routes are found by walking the URL resolver, not listed by hand."""

import pytest

from rappi.testing.routes import PUBLIC_PATHS, api_routes

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
