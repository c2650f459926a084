"""Who may open each console page, for every page the URL resolver knows (walked, not
listed): anonymous visitors are sent to the sign-in page, customers and drivers are
refused and signed out, and each staff role opens exactly the pages its grants allow —
a page outside them answers the 403 page, and its link is not in the navigation."""

import pytest
from django.test import Client
from django.urls import get_resolver, resolve

from identity.tests.factories import RoleFactory, UserFactory
from rappi.console.navigation import ENTRIES
from rappi.testing.routes import walk

pytestmark = pytest.mark.django_db

OPEN = {"/console/login/", "/console/logout/"}
READ_EVERYTHING = [f"{resource}:read" for resource in (
    "customers", "orders", "payments", "invoices", "vehicles", "drivers", "assignments",
    "routes", "incidents", "tracking", "geofences", "notifications", "audit", "reports",
    "ratings",
)]  # fmt: skip


def console_pages():
    pages = []
    for path, callback in walk(get_resolver().url_patterns):
        if not path.startswith("/console/") or path in OPEN or "(?" in path:
            continue
        assert resolve(path).func is callback, f"sample URL {path} resolves elsewhere"
        pages.append((path, callback))
    return pages


PAGES = console_pages()


def _method(path) -> str:
    """GET for pages, POST for commands (a page answering GET with 405, whoever asks)."""
    return "post" if Client().get(path).status_code == 405 else "get"


def _signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_walk_finds_the_console():
    paths = {path for path, _ in PAGES}
    assert {"/console/", "/console/orders/", "/console/runs/", "/console/drivers/"} <= paths


@pytest.mark.parametrize(("path", "callback"), PAGES, ids=[p for p, _ in PAGES])
def test_every_console_page_checks_who_asks(path, callback):
    assert hasattr(callback, "console_grant"), f"{path} is not a @console_page view"


@pytest.mark.parametrize(("path", "callback"), PAGES, ids=[p for p, _ in PAGES])
def test_anonymous_visitors_are_sent_to_sign_in(path, callback):
    client = Client()
    response = getattr(client, _method(path))(path)
    assert response.status_code == 302
    assert response["Location"].startswith("/console/login/?next=")


@pytest.mark.parametrize("role", ["customer", "driver"])
@pytest.mark.parametrize(("path", "callback"), PAGES, ids=[p for p, _ in PAGES])
def test_customers_and_drivers_are_refused_and_signed_out(path, callback, role):
    client = _signed_in(UserFactory(role_name=role))
    response = getattr(client, _method(path))(path)
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize(("path", "callback"), PAGES, ids=[p for p, _ in PAGES])
def test_a_staff_role_opens_a_page_exactly_when_it_holds_its_grant(path, callback):
    grant = callback.console_grant
    with_grant = _signed_in(UserFactory(role=RoleFactory(grants=READ_EVERYTHING)))
    method = _method(path)
    if grant is None:  # every staff member's page
        assert getattr(with_grant, method)(path).status_code != 403
        return
    resource, action = grant
    granted = READ_EVERYTHING + ([f"{resource}:{action}"] if action != "read" else [])
    allowed = _signed_in(UserFactory(role=RoleFactory(grants=granted)))
    assert getattr(allowed, method)(path).status_code != 403
    without = [g for g in granted if not g.startswith(f"{resource}:")] or ["ratings:read"]
    refused = _signed_in(UserFactory(role=RoleFactory(grants=without)))
    response = getattr(refused, method)(path)
    assert response.status_code == 403
    assert "console/403.html" in [template.name for template in response.templates]


def test_the_navigation_lists_only_what_the_role_may_read():
    orders_only = _signed_in(UserFactory(role=RoleFactory(grants=["orders:read"])))
    page = orders_only.get("/console/").content.decode()
    assert 'href="/console/orders/"' in page
    assert 'href="/console/runs/"' not in page
    assert 'href="/console/drivers/"' not in page
    everything = _signed_in(UserFactory(role_name="dispatcher")).get("/console/")
    for href in ("/console/orders/", "/console/runs/", "/console/incidents/"):
        assert f'href="{href}"' in everything.content.decode()


def test_every_navigation_entry_is_a_page():
    from django.urls import reverse

    for entry in ENTRIES:
        reverse(entry.url_name)  # NoReverseMatch fails the test
