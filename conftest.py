"""Test setup shared by every app: a real MongoDB-compatible server for the session
(MONGODB_URI when it names a real MongoDB, else an in-memory mongoeco server started
here), emptied after each test; PostgreSQL comes from DATABASE_URL (see `make test`)."""

import os

import pytest
from rest_framework.test import APIClient

from rappi import mongo
from rappi.localmongo import LocalMongoServer


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
def _empty_mongo_collections(mongo_test_database):
    """Each test starts with empty collections; indexes stay, so they are exercised."""
    yield
    db = mongo.get_db()
    for name in db.list_collection_names():
        if not name.startswith("system."):
            db[name].delete_many({})


@pytest.fixture
def api():
    return APIClient()


@pytest.fixture
def client_for():
    """`client_for(user)` → an APIClient signed in as `user` through a real session."""
    from identity.tests.factories import signed_in_client

    return signed_in_client
