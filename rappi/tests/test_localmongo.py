"""The local MongoDB-compatible server of `make run` and the tests: it refuses every
repeated `_id`, and inserting does not compare the new document with every stored one."""

import pytest
from bson import ObjectId
from mongoeco.engines import memory, sqlite
from pymongo import MongoClient
from pymongo.errors import BulkWriteError, DuplicateKeyError

from rappi.localmongo import LocalMongoServer


@pytest.fixture(params=["memory", "sqlite"])
def engine(request, tmp_path):
    """(collection on a server of the test's own, the engine module it runs)."""
    path = str(tmp_path / "mongo.sqlite3") if request.param == "sqlite" else None
    server = LocalMongoServer(path=path)
    client = MongoClient(server.start(), directConnection=True)
    try:
        yield client.probe.documents, memory if path is None else sqlite
    finally:
        client.close()
        server.stop()


@pytest.mark.parametrize(
    ("first", "again"),
    [
        ("driver-7:1796470000000", "driver-7:1796470000000"),
        (ObjectId("6751c0ffee0000000000abcd"), ObjectId("6751c0ffee0000000000abcd")),
        (1, 1.0),  # equal numbers of other types are the same key, as on MongoDB
        ({"run": 3, "at": 2}, {"run": 3.0, "at": 2}),
    ],
)
def test_a_repeated_id_is_refused_alone_and_in_a_batch(engine, first, again):
    documents, _module = engine
    documents.insert_one({"_id": first, "n": 1})

    with pytest.raises(DuplicateKeyError):
        documents.insert_one({"_id": again, "n": 2})
    with pytest.raises(BulkWriteError) as refused:
        documents.insert_many([{"_id": "new", "n": 3}, {"_id": again, "n": 4}], ordered=False)

    assert [error["code"] for error in refused.value.details["writeErrors"]] == [11000]
    assert sorted(document["n"] for document in documents.find()) == [1, 3]


def test_inserting_compares_no_stored_id_whatever_the_collection_holds(engine, monkeypatch):
    documents, module = engine
    documents.insert_many([{"_id": f"fix-{n}"} for n in range(300)])
    compared = []
    real = module.bson_equality_key

    def counted(value):
        compared.append(value)
        return real(value)

    monkeypatch.setattr(module, "bson_equality_key", counted)
    documents.insert_one({"_id": "fix-300"})
    documents.insert_one({"n": 1})  # an ObjectId given by the client
    documents.insert_many([{"_id": "fix-301"}, {"_id": "fix-302"}])

    assert documents.count_documents({}) == 304
    assert len(compared) < 10, f"{len(compared)} ids compared for 4 inserts"
