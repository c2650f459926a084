"""Pages carry a content security policy that allows only this site's own scripts and
styles, and the pages we serve (the admin, the API docs) run under it: no inline script
or style for the policy to block. API answers keep `nosniff`."""

from html.parser import HTMLParser

import pytest

from identity.tests.factories import UserFactory

pytestmark = pytest.mark.django_db

EXPECTED = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}


def policy_of(response) -> dict[str, list[str]]:
    header = response.headers.get("Content-Security-Policy")
    assert header, f"no Content-Security-Policy on {response.request['PATH_INFO']}"
    directives = {}
    for part in header.split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


class InlineCode(HTMLParser):
    """What a strict policy would block: <script> without src, <style> elements, style
    and on* attributes."""

    def __init__(self):
        super().__init__()
        self.found: list[str] = []
        self.script_sources: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            if attrs.get("src"):
                self.script_sources.append(attrs["src"])
            elif "nonce" not in attrs:
                self.found.append("inline <script>")
        if tag == "style" and "nonce" not in attrs:
            self.found.append("<style> element")
        self.found += [f"{name}= on <{tag}>" for name in attrs if name == "style"]
        self.found += [f"{name}= on <{tag}>" for name in attrs if name.startswith("on")]


def inline_code(response) -> InlineCode:
    parser = InlineCode()
    parser.feed(response.content.decode())
    return parser


def assert_strict_policy(response):
    policy = policy_of(response)
    for name, sources in EXPECTED.items():
        assert policy.get(name) == sources, (name, policy.get(name))
    assert policy["img-src"][:2] == ["'self'", "data:"]


@pytest.mark.parametrize("path", ["/admin/login/", "/", "/api/docs/"])
def test_pages_carry_the_policy(client, path):
    response = client.get(path)
    assert response.status_code == 200
    assert_strict_policy(response)


def test_the_admin_has_nothing_inline_for_the_policy_to_block(client):
    assert inline_code(client.get("/admin/login/")).found == []
    client.force_login(UserFactory(role_name="admin"))
    for path in ["/admin/", "/admin/identity/user/", "/admin/identity/user/add/"]:
        response = client.get(path)
        assert response.status_code == 200
        assert_strict_policy(response)
        assert inline_code(response).found == [], path


def test_the_api_docs_load_their_script_from_the_site_not_inline(client):
    page = client.get("/api/docs/")
    found = inline_code(page)
    assert found.found == []
    own = [src for src in found.script_sources if src.startswith("/api/docs/")]
    assert len(own) == 1
    script = client.get(own[0])
    assert script.status_code == 200
    assert script.headers["Content-Type"].startswith("application/javascript")
    assert b"SwaggerUIBundle(" in script.content
    assert b"/api/schema/" in script.content
    assert "no-store" in script.headers["Cache-Control"]  # it carries a CSRF token
    for src in found.script_sources:
        assert src.startswith("/"), src  # same origin: allowed by script-src 'self'


def test_the_api_docs_never_call_the_public_swagger_validator(client):
    page = client.get("/api/docs/")
    script = client.get(inline_code(page).script_sources[-1])
    assert b'"validatorUrl": null' in script.content


@pytest.mark.parametrize(
    "path", ["/api/v1/auth/me", "/api/v1/orders/", "/healthz", "/readyz", "/api/schema/"]
)
def test_json_answers_keep_nosniff(client, path):
    response = client.get(path, HTTP_ACCEPT="application/json")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_api_requests_skip_what_only_pages_need(client, settings):
    # Sessions, CSRF, messages, htmx and the page policy are for pages: an API answer
    # neither reads nor sets a cookie, and carries no page policy.
    client.cookies["sessionid"] = "not-read-by-the-api"
    response = client.get("/api/v1/orders/", headers={"Accept-Language": "es"})
    assert response.status_code == 401
    assert not response.cookies
    assert "Content-Security-Policy" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")
    # …yet what the API needs still runs: language, request id, security headers.
    assert response.headers["Content-Language"] == "es"
    assert response.headers["X-Request-ID"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_pages_keep_sessions_csrf_and_their_policy(client):
    page = client.get("/admin/login/")
    assert "Content-Security-Policy" in page.headers
    assert "csrftoken" in page.cookies
