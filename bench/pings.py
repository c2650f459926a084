"""Ping ingest throughput: fixes per second through the running app (gunicorn), for
one-fix requests and for 100-fix batches, next to the raw `insert_many` rate of the same
MongoDB from the same machine (the ceiling), with the ratios.

    .venv/bin/python bench/pings.py [--seconds 10] [--clients 4] [--memory]

With no DATABASE_URL and no MONGODB_URI it runs the embedded defaults of `make run` in a
throwaway directory: a SQLite file and a local MongoDB-compatible server (mongoeco, its
SQLite-file engine; `--memory` for its in-memory one). DATABASE_URL must name a scratch
database (it is migrated and gets the benchmark's users); with MONGODB_URI the benchmark
works in its own database `rappi_bench_<pid>`, dropped at the end. Every phase starts
from empty ping collections, so none pays for the rows of another.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from support import Environment, free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
PASSWORD = "bench-Passw0rd!"  # noqa: S105 - a throwaway account
PLAZA = (-16.3988, -71.5369)
BATCH = 100


def prepare() -> dict:
    """Schema, indexes, and a driver with a run in progress; the driver's credentials."""
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("ensure_indexes", verbosity=0)

    from fleet import services as fleet
    from identity import catalogue
    from identity import services as identity
    from orders import services as orders
    from orders.models import Customer

    admin = identity.user_create(
        email="bench-admin@rappi.pe",
        password=PASSWORD,
        full_name="Bench Admin",
        role=catalogue.ADMIN,
        by=None,
    )
    driver = fleet.driver_create(
        by=admin,
        email="bench-driver@rappi.pe",
        full_name="Bench Driver",
        password=PASSWORD,
        vehicle=fleet.vehicle_create(
            plate="BEN-100", capacity_kg=500, length_cm=200, width_cm=150, height_cm=150
        ),
    )
    customer = Customer.objects.create(full_name="Bench Customer", email="bench-c@rappi.pe")
    place = {"line": "Plaza de Armas", "district": "Cercado", "lat": PLAZA[0], "lng": PLAZA[1]}
    order = orders.order_create(
        by=admin,
        customer=customer,
        origin=place,
        destinations=[
            {
                **place,
                "lat": -16.4210,
                "lng": -71.5217,
                "recipient_name": "Marta Ccama",
                "recipient_phone": "+51 959 111 222",
                "package": {"weight_kg": 2},
            }
        ],
        service_level="standard",
    )
    assert driver.vehicle is not None
    run = fleet.assignment_create(orders=[order], driver=driver, vehicle=driver.vehicle, by=admin)
    fleet.assignment_start(assignment=run, by=admin)
    return {"email": "bench-driver@rappi.pe", "assignment_id": run.pk}


class Clock:
    """Distinct, increasing device times near now, shared by every client thread."""

    def __init__(self) -> None:
        self._last = 0.0
        self._lock = threading.Lock()

    def next(self) -> str:
        with self._lock:
            self._last = max(time.time(), self._last + 0.001)
            return datetime.fromtimestamp(self._last, UTC).isoformat(timespec="milliseconds")


def fix_batch(clock: Clock, size: int, serial: str) -> list[dict]:
    # A phone standing at the Plaza: GPS jitter within its accuracy, so every fix passes.
    return [
        {
            "lat": PLAZA[0] + (i % 7) * 0.00001,
            "lng": PLAZA[1],
            "recorded_at": clock.next(),
            "accuracy_m": 8,
            "speed_kmh": 0,
            "client_id": f"{serial}-{i}",
        }
        for i in range(size)
    ]


def load(*, port, token, assignment_id, batch, seconds, clients) -> dict:
    """`clients` threads post fixes for `seconds`; counts, latency, accepted fixes/s."""
    clock = Clock()
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    counts = {"accepted": 0, "requests": 0, "errors": 0}
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        sent = 0
        while time.monotonic() < deadline:
            fixes = fix_batch(clock, batch, f"{batch}-{number}-{sent}")
            body = (
                {"assignment_id": assignment_id, **fixes[0]}
                if batch == 1
                else {"assignment_id": assignment_id, "pings": fixes}
            )
            started = time.perf_counter()
            connection.request("POST", "/api/v1/tracking/pings", json.dumps(body), headers)
            response = connection.getresponse()
            answer = response.read()
            elapsed = time.perf_counter() - started
            sent += 1
            with lock:
                counts["requests"] += 1
                latencies.append(elapsed)
                if response.status == 202:
                    counts["accepted"] += json.loads(answer)["accepted"]
                else:
                    counts["errors"] += 1

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    return {
        **counts,
        "seconds": elapsed,
        "fixes_per_s": counts["accepted"] / elapsed,
        "p50_ms": statistics.median(latencies) * 1000 if latencies else None,
        "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 1 else None,
    }


def raw_insert_rate(*, seconds, clients) -> dict:
    """`insert_many` of 100-fix documents straight into a scratch collection that has the
    same indexes as `gps_pings`, from `clients` threads: what the database itself takes."""
    from pymongo import MongoClient

    from tracking.documents import GpsPing

    client = MongoClient[dict[str, Any]](
        os.environ["MONGODB_URI"], tz_aware=True, socketTimeoutMS=300000
    )
    database = client.get_default_database()
    source = database[GpsPing._get_collection_name()]
    scratch = database["bench_raw_pings"]
    scratch.drop()
    for index in source.list_indexes():
        if index["name"] == "_id_":
            continue
        options = {k: v for k, v in index.items() if k not in {"key", "v", "ns"}}
        scratch.create_index(list(index["key"].items()), **options)
    deadline = time.monotonic() + seconds
    latencies: list[float] = []
    inserted = [0]
    lock = threading.Lock()

    def writer(number: int) -> None:
        sent, start = 0, datetime.now(UTC)
        while time.monotonic() < deadline:
            now = datetime.now(UTC)
            docs = [
                {
                    "driver_id": number + 1,  # one driver per writer, as in the app phases
                    "assignment_id": 1,
                    "vehicle_plate": "BEN-100",
                    "location": {"type": "Point", "coordinates": [PLAZA[1], PLAZA[0]]},
                    "recorded_at": start + timedelta(milliseconds=sent * BATCH + i),
                    "received_at": now,
                    "speed_kmh": 0.0,
                    "heading": None,
                    "accuracy_m": 8.0,
                    "client_id": f"raw-{number}-{sent}-{i}",
                }
                for i in range(BATCH)
            ]
            started = time.perf_counter()
            scratch.insert_many(docs, ordered=False)
            with lock:
                latencies.append(time.perf_counter() - started)
                inserted[0] += len(docs)
            sent += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(clients)]
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    scratch.drop()
    client.close()
    return {
        "accepted": inserted[0],
        "requests": len(latencies),
        "errors": 0,
        "seconds": elapsed,
        "fixes_per_s": inserted[0] / elapsed,
        "p50_ms": statistics.median(latencies) * 1000,
        "p95_ms": statistics.quantiles(latencies, n=20)[-1] * 1000 if len(latencies) > 1 else None,
    }


def empty_ping_collections() -> None:
    from tracking.documents import DriverPosition, GpsPing

    GpsPing._get_collection().delete_many({})
    DriverPosition._get_collection().delete_many({})


def login(port: int, email: str) -> str:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    body = json.dumps({"email": email, "password": PASSWORD})
    connection.request("POST", "/api/v1/auth/login", body, {"Content-Type": "application/json"})
    response = connection.getresponse()
    answer = json.loads(response.read())
    if response.status != 200:
        sys.exit(f"login failed: {response.status} {answer}")
    return answer["access"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10, help="length of each phase")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    parser.add_argument("--memory", action="store_true", help="mongoeco's in-memory engine")
    args = parser.parse_args()

    # The load comes from one account: no per-user throttle.
    environment = Environment("pings", memory=args.memory, settings={"THROTTLE_USER": "off"})
    try:
        environment.wait_for_mongo()
        run = prepare()
        port = free_port()
        environment.serve(port=port, workers=args.workers, threads=args.threads)
        token = login(port, run["email"])
        results = {}
        for label, batch in (("1 fix per request", 1), (f"{BATCH} fixes per request", BATCH)):
            empty_ping_collections()
            results[label] = load(
                port=port,
                token=token,
                assignment_id=run["assignment_id"],
                batch=batch,
                seconds=args.seconds,
                clients=args.clients,
            )
        results[f"raw insert_many ({BATCH})"] = raw_insert_rate(
            seconds=args.seconds, clients=args.clients
        )
    finally:
        environment.stop()

    print(
        f"\nPing ingest: {environment.mongo_kind}; {environment.sql_kind}; audit log "
        f"{environment.audit}; gunicorn "
        f"{args.workers}x{args.threads}; {args.clients} clients; {args.seconds:g} s per phase\n"
    )
    print(
        f"{'':28}{'requests':>9}{'errors':>7}{'fixes':>8}{'fixes/s':>10}{'p50 ms':>9}{'p95 ms':>9}"
    )
    for label, r in results.items():
        p95 = f"{r['p95_ms']:9.1f}" if r["p95_ms"] is not None else f"{'-':>9}"
        print(
            f"{label:28}{r['requests']:9d}{r['errors']:7d}{r['accepted']:8d}"
            f"{r['fixes_per_s']:10.1f}{r['p50_ms']:9.1f}{p95}"
        )
    raw = results[f"raw insert_many ({BATCH})"]["fixes_per_s"]
    single = results["1 fix per request"]["fixes_per_s"]
    batched = results[f"{BATCH} fixes per request"]["fixes_per_s"]
    print(
        f"\nratios: single / raw = {single / raw:.1%}   batch / raw = {batched / raw:.1%}   "
        f"batch / single = {batched / single:.1f}x"
    )


if __name__ == "__main__":
    main()
