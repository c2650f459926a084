"""Test setup shared by every app: a real MongoDB-compatible server for the session
(MONGODB_URI when it names a real MongoDB, else an in-memory mongoeco server started
here), emptied after each test; PostgreSQL comes from DATABASE_URL (see `make test`)."""

import os

import pytest
from django.utils import translation
from pytest_django.plugin import pytest_collection_modifyitems as _database_order
from rest_framework.test import APIClient

from rappi import mongo
from rappi.localmongo import LocalMongoServer
from rappi.testing import browser


@pytest.fixture(scope="session", autouse=True)
def mongo_test_database():
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    external_uri = os.environ.get("MONGODB_URI")
    server = None
    if external_uri:
        uri = external_uri
    else:
        server = LocalMongoServer()
        uri = server.start()
    db_name = f"rappi_test_{worker}"
    mongo.connect(uri, db=db_name)
    mongo.ensure_indexes()
    yield {"uri": uri, "db": db_name}
    if external_uri:
        mongo.get_db().client.drop_database(db_name)
    mongo.connect(uri, db=db_name)  # drop pooled sockets before the server goes
    if server is not None:
        server.stop()


@pytest.fixture(autouse=True)
def _language_reset():
    """A console request without a language cookie switches the test's thread to Spanish
    (the console's default); the next test starts in the project's default again."""
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _empty_mongo_collections(mongo_test_database):
    """Each test starts with empty collections; indexes stay, so they are exercised."""
    yield
    db = mongo.get_db()
    for name in db.list_collection_names():
        if not name.startswith("system."):
            db[name].delete_many({})


@pytest.fixture(autouse=True)
def _geofence_cache_reset():
    """The geofences a process keeps in memory (tracking.geofences) go with the databases
    each test empties."""
    from tracking import geofences

    geofences._weighing_cache.clear()
    yield
    geofences._weighing_cache.clear()


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_for():
    """`client_for(user)` → an APIClient signed in as `user` through a real session."""
    from identity.tests.factories import signed_in_client

    return signed_in_client


# --- Personas ----------
# One user for each seeded role, and their clients. A test needing a variant (a custom
# role, a driver on a run, a customer with orders) builds it from the factories.


@pytest.fixture
def admin():
    """A user with the seeded `admin` role (every permission)."""
    from identity.tests.factories import UserFactory

    return UserFactory(role_name="admin")


@pytest.fixture
def dispatcher():
    """A user with the seeded `dispatcher` role: the staff member most tests act as."""
    from identity.tests.factories import UserFactory

    return UserFactory(role_name="dispatcher")


@pytest.fixture
def driver():
    """A `driver` login with its driver record (`driver.driver_profile`), no vehicle."""
    from fleet.tests.factories import driver_user

    user, _record = driver_user()
    return user


@pytest.fixture
def customer():
    """A `customer` login with its customer record (`customer.customer_profile`)."""
    from orders.tests.factories import customer_user

    user, _record = customer_user()
    return user


# Their API clients, each signed in through a real session (`client_for`).


@pytest.fixture
def admin_api(client_for, admin):
    return client_for(admin)


@pytest.fixture
def dispatcher_api(client_for, dispatcher):
    return client_for(dispatcher)


@pytest.fixture
def driver_api(client_for, driver):
    return client_for(driver)


@pytest.fixture
def customer_api(client_for, customer):
    return client_for(customer)


@pytest.fixture
def console(dispatcher):
    """The console signed in as the dispatcher, in English."""
    from rappi.testing.console import console_client

    return console_client(dispatcher)


@pytest.fixture
def admin_site(dispatcher):
    """Django's admin signed in as the dispatcher, in English."""
    from django.test import Client

    client = Client(headers={"accept-language": "en"})
    client.force_login(dispatcher)
    return client


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright drives the system Chromium (`make test` installs it)."""
    # Playwright's sync API keeps an event loop running in the main thread from its first
    # test on; the ORM calls tests make between page actions are still synchronous. Tests
    # that start a Django subprocess leave this variable out of its environment.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    return {
        **browser_type_launch_args,
        "executable_path": browser.CHROMIUM,
        "args": browser.CHROMIUM_ARGS,
    }


@pytest.fixture
def live_db(transactional_db):
    """For tests against `live_server` (browser tests): committed data its thread can see,
    with the roles the migrations seed (a transactional test's flush removes them)."""
    from identity.services import roles_seed

    roles_seed()


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items):
    """Run pytest-django's ordering again, last: tests that flush the database
    (transactional and browser tests) after the others. pytest-django sorts first, and
    pytest's regrouping of session-parametrized tests (Playwright's `browser_name`) would
    otherwise move flushing tests among the rest, which then miss the seeded roles."""
    _database_order(items)
