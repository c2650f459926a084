"""Reports at scale: a synthetic year of an operation loaded into PostgreSQL with bulk
inserts, then every registered report timed through `rappi.reports.registry.compute` (what
the API view calls), with the query plans of the slowest three.

    .venv/bin/python bench/reports.py [--orders 100000] [--repeat 20] [--only NAME] [--keep]

With no DATABASE_URL it starts a throwaway PostgreSQL cluster (the server binaries of
/usr/lib/postgresql/*/bin, as the `postgres` user when run as root, on a random port, its
socket in its temporary directory), stopped and removed at exit, failures included;
DATABASE_URL must name a scratch database (it is migrated and filled). With no MONGODB_URI
it starts a local MongoDB-compatible server (mongoeco, in-memory engine) holding the
Mongo side of the year; with MONGODB_URI it works in its own database
`rappi_bench_<pid>`, dropped at the end. `--keep` leaves both running and prints how to
reach and stop them; `--reuse`, given those two URLs, times that same year again after
applying any migration added since (a before/after of an index on identical data). The
data comes from a fixed seed: two runs load the same year, up to where "now" falls.
"""

import argparse
import contextlib
import hashlib
import itertools
import json
import math
import os
import pickle
import random
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pymongo import monitoring
from support import Postgres, free_port, wait_until, with_database

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PYTHON = sys.executable
LIMA = ZoneInfo("America/Lima")
SEED = 20261204
SLOW_MS = 1000  # the bar: every report under 1 s at p95
BASE_ORDERS = 100_000

# Arequipa's districts, with a rough centre and how much of the city's traffic they see.
DISTRICTS = [
    ("Cercado", -16.3988, -71.5369, 14),
    ("Yanahuara", -16.3880, -71.5450, 8),
    ("Cayma", -16.3700, -71.5480, 10),
    ("José Luis Bustamante y Rivero", -16.4250, -71.5250, 12),
    ("Paucarpata", -16.4280, -71.5050, 9),
    ("Cerro Colorado", -16.3700, -71.5800, 10),
    ("Miraflores", -16.3930, -71.5200, 6),
    ("Mariano Melgar", -16.4050, -71.5100, 6),
    ("Alto Selva Alegre", -16.3800, -71.5200, 6),
    ("Sachaca", -16.4250, -71.5650, 4),
    ("Socabaya", -16.4650, -71.5300, 5),
    ("Jacobo Hunter", -16.4400, -71.5550, 5),
    ("Tiabaya", -16.4450, -71.5900, 2),
    ("Sabandía", -16.4500, -71.4950, 1),
]
STREETS = [
    "Av. Ejército",
    "Av. Lambramani",
    "Calle Mercaderes",
    "Av. Arequipa",
    "Av. Kennedy",
    "Av. Emmel",
    "Av. Parra",
    "Calle Jerusalén",
    "Av. Dolores",
    "Av. Goyeneche",
    "Av. Aviación",
    "Calle San Juan de Dios",
]
FIRST = ["Marta", "Luis", "Sofía", "Hugo", "Rosa", "Jorge", "Ana", "Carlos", "Lucía", "Pedro"]
LAST = ["Ccama", "Apaza", "Pari", "Condori", "Huamán", "Quispe", "Mamani", "Flores", "Rojas"]
# Orders per Lima hour of the day: quiet nights, a morning and an afternoon peak.
HOURLY = [0.3, 0.2, 0.1, 0.1, 0.2, 0.5, 1.5, 3, 5, 6, 6, 6, 5, 5, 6, 6, 6, 5, 4, 3, 2, 1.5, 1, 0.6]
WEEKDAY = [1.0, 1.0, 1.0, 1.05, 1.15, 0.8, 0.45]  # Monday first
LEVELS = [("standard", 70, 110, 0.50), ("express", 22, 70, 0.50), ("urgent", 8, 42, 0.45)]
MULTIPLIER = {"standard": 1.0, "express": 1.5, "urgent": 2.0}
INCIDENT_TYPES = [
    ("traffic", 30, 2),
    ("weather", 5, 2),
    ("wrong_address", 15, 3),
    ("customer_absent", 20, 3),
    ("damaged_package", 6, 4),
    ("route_deviation", 14, 4),
    ("forced_finish", 2, 3),
    ("failed_delivery", 6, 3),
    ("other", 2, 3),
]
NOTIFY_CUSTOMER = ["destination.delivered", "destination.failed", "payment.confirmed"]
NOTIFY_DRIVER = ["run.assigned", "run.started", "incident.reported"]


# --- the databases ------------------------------------------------------------------------


class Mongo:
    """mongoeco in memory, started by this script and handed its documents at start, or
    MONGODB_URI (then a database of our own)."""

    def __init__(self, workdir: Path, *, reuse: bool = False) -> None:
        self.workdir = workdir
        self.process: subprocess.Popen | None = None
        self.drop_database = None
        self.reused = reuse
        uri = os.environ.get("MONGODB_URI")
        self.uri: str
        if reuse:
            assert uri, "--reuse needs MONGODB_URI (main checks)"
            self.uri = uri
            self.kind = "MongoDB at MONGODB_URI, as loaded before"
        elif uri:
            self.drop_database = f"rappi_bench_{os.getpid()}"
            self.uri = with_database(uri, self.drop_database)
            self.kind = "MongoDB at MONGODB_URI"
        else:
            self.port = free_port()
            self.uri = f"mongodb://127.0.0.1:{self.port}/rappi?directConnection=true"
            self.kind = (
                "mongoeco (in-memory engine) — not MongoDB: its figures say little about MongoDB"
            )

    @property
    def is_mongoeco(self) -> bool:
        if self.reused:
            from pymongo import MongoClient

            with MongoClient[dict[str, Any]](self.uri, serverSelectionTimeoutMS=5000) as client:
                return client.admin.command("buildInfo").get("gitVersion") == "mongoeco"
        return self.drop_database is None

    def start(self) -> None:
        """Start mongoeco (empty) when no MONGODB_URI was given."""
        if self.reused or not self.is_mongoeco:
            return
        from pymongo import MongoClient

        log = open(self.workdir / "mongo.log", "wb")  # noqa: SIM115 - lives with the process
        self.process = subprocess.Popen(  # noqa: S603 - this script
            [PYTHON, __file__, "--serve-mongo", str(self.port), "--preload", str(self.preload)],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = MongoClient[dict[str, Any]](self.uri, serverSelectionTimeoutMS=1000)
        wait_until(lambda: client.admin.command("ping"), what="mongoeco")
        client.close()

    @property
    def preload(self) -> Path:
        return self.workdir / "mongo-preload.pickle"

    def load(self, documents: dict[str, list[dict]]) -> None:
        """Insert `documents` (collection name → documents) into the app's database."""
        if self.is_mongoeco:
            # mongoeco's wire server inserts the documents of an insert command one at a
            # time, each after a scan of the collection (a load over the wire grows with
            # the square of its size), and answers nothing else meanwhile, so clients
            # give up on it. Its own insert_many does not scan: the server process reads
            # the documents from a file and inserts them itself.
            with open(self.preload, "wb") as file:
                pickle.dump(documents, file, protocol=pickle.HIGHEST_PROTOCOL)
            done = self.preload.with_suffix(".done")
            assert self.process is not None  # started in start()
            os.kill(self.process.pid, signal.SIGUSR1)
            wait_until(done.exists, what="the mongoeco load", timeout=1800)
            failure = done.read_text()
            if failure:
                raise SystemExit(f"mongoeco load failed: {failure}")
            return
        from pymongo import MongoClient

        client = MongoClient[dict[str, Any]](self.uri, tz_aware=True)
        database = client.get_default_database()
        for name, docs in documents.items():
            for start in range(0, len(docs), 5000):
                database[name].insert_many(docs[start : start + 5000], ordered=False)
        client.close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
        if self.drop_database:
            from pymongo import MongoClient

            MongoClient(self.uri).drop_database(self.drop_database)


def serve_mongo(port: int, preload: str) -> None:
    """The `--serve-mongo` process: mongoeco in memory until TERM; on USR1 it inserts the
    documents of `preload` itself, then writes `<preload>.done` (empty, or the error)."""
    import asyncio
    import traceback

    from mongoeco import AsyncMongoClient
    from mongoeco.engines.memory import MemoryEngine
    from mongoeco.wire.proxy import AsyncMongoEcoProxyServer

    async def load(client) -> None:
        error = ""
        try:
            with open(preload, "rb") as file:
                documents = pickle.load(file)  # noqa: S301 - written by the benchmark
            for name, docs in documents.items():
                started = time.perf_counter()
                for start in range(0, len(docs), 5000):
                    await client["rappi"][name].insert_many(docs[start : start + 5000])
                print(f"{name}: {len(docs)} in {time.perf_counter() - started:.1f} s", flush=True)
        except Exception:
            error = traceback.format_exc()
        Path(preload).with_suffix(".done").write_text(error)

    async def main() -> None:
        engine = MemoryEngine()
        client = AsyncMongoClient(engine)
        server = AsyncMongoEcoProxyServer(client=client, host="127.0.0.1", port=port)
        await engine.connect()
        await server.start()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        tasks = set()
        loop.add_signal_handler(signal.SIGUSR1, lambda: tasks.add(loop.create_task(load(client))))
        print(f"serving on {port}", flush=True)
        await stop.wait()
        await server.close()

    asyncio.run(main())


# --- the synthetic year ------------------------------------------------------------------


def money(value: float) -> Decimal:
    return Decimal(f"{value:.2f}")


def coordinate(value: float) -> Decimal:
    return Decimal(f"{value:.6f}")


def without_key(row: dict, key: str = "id") -> dict:
    return {name: value for name, value in row.items() if name != key}


def km_between(a: tuple[float, float], b: tuple[float, float]) -> float:
    lat1, lng1, lat2, lng2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lng2 - lng1) / 2) ** 2
    )
    return 2 * 6371 * math.asin(math.sqrt(h))


class Year:
    """The rows of a year of the operation, as dicts of model attributes, with ids assigned
    here so that every foreign key is known before anything is written."""

    def __init__(self, *, orders: int, now: datetime, roles: dict[str, int]) -> None:
        self.rng = random.Random(SEED)  # noqa: S311 - reproducible data, not secrets
        self.now = now
        self.scale = orders / BASE_ORDERS
        self.n_orders = orders
        self.n_drivers = max(4, round(40 * self.scale))
        self.n_vehicles = max(2, round(20 * self.scale))
        self.n_customers = max(60, round(2000 * self.scale))
        self.n_incidents = round(5000 * self.scale)
        self.roles = roles
        self.today = now.astimezone(LIMA).date()
        self.first_day = self.today - timedelta(days=364)
        self.rows: dict[str, list[dict]] = {}
        self.mongo: dict[str, list[dict]] = {}

    # The order of these steps matters: each uses the ids the previous ones made.
    def build(self) -> None:
        self._people()
        self._fleet()
        self._orders()
        self._runs()
        self._money()
        self._incidents()
        self._mongo()

    def _add(self, table: str, row: dict) -> dict:
        rows = self.rows.setdefault(table, [])
        row.setdefault("id", len(rows) + 1)
        rows.append(row)
        return row

    def _place(self, district_index: int | None = None) -> dict:
        rng = self.rng
        if district_index is None:
            district_index = rng.choices(range(len(DISTRICTS)), [d[3] for d in DISTRICTS])[0]
        name, lat, lng, _weight = DISTRICTS[district_index]
        return {
            "line": f"{rng.choice(STREETS)} {rng.randint(100, 2400)}",
            "district": name,
            "lat": lat + rng.uniform(-0.008, 0.008),
            "lng": lng + rng.uniform(-0.008, 0.008),
        }

    def _name(self) -> str:
        return f"{self.rng.choice(FIRST)} {self.rng.choice(LAST)} {self.rng.choice(LAST)}"

    def _user(self, *, email: str, full_name: str, role: str, created_at: datetime) -> dict:
        return self._add(
            "user",
            {
                "email": email,
                "full_name": full_name,
                "phone": "",
                "role_id": self.roles[role],
                "is_active": True,
                "created_at": created_at,
                "updated_at": created_at,
                "password": "!bench-no-login",
                "last_login": None,
            },
        )

    def _people(self) -> None:
        rng, start = self.rng, self.start
        self.admin = self._user(
            email="bench-admin@rappi.pe",
            full_name="Bench Admin",
            role="admin",
            created_at=start - timedelta(days=400),
        )
        self.dispatcher = self._user(
            email="bench-dispatcher@rappi.pe",
            full_name="Bench Dispatcher",
            role="dispatcher",
            created_at=start - timedelta(days=400),
        )
        self.customers, self.places = [], []
        for n in range(self.n_customers):
            created = start - timedelta(days=rng.uniform(0, 400))
            name = self._name()
            email = f"cliente{n + 1}@bench.rappi.pe"
            user = None
            if rng.random() < 0.3:
                user = self._user(email=email, full_name=name, role="customer", created_at=created)
            company = rng.random() < 0.25
            customer = self._add(
                "customer",
                {
                    "user_id": user["id"] if user else None,
                    "full_name": f"{name} EIRL" if company else name,
                    "email": email,
                    "phone": f"+51 9{rng.randint(10, 99)} {rng.randint(100, 999)} 000",
                    "tax_id": f"20{rng.randint(10**8, 10**9 - 1)}" if company else "",
                    "is_active": True,
                    "created_at": created,
                    "updated_at": created,
                },
            )
            addresses = []
            for i in range(rng.choice([1, 1, 1, 2, 2, 3])):
                place = self._place()
                addresses.append(place)
                self._add(
                    "address",
                    {
                        "customer_id": customer["id"],
                        "label": ["Casa", "Oficina", "Almacén"][i],
                        "line": place["line"],
                        "district": place["district"],
                        "lat": coordinate(place["lat"]),
                        "lng": coordinate(place["lng"]),
                        "is_primary": i == 0,
                        "created_at": created,
                    },
                )
            self.customers.append(customer)
            self.places.append(addresses)
        # A few big shippers and a long tail: top customers mean something.
        self.customer_weights = [1 / (rank + 1) ** 0.9 for rank in range(self.n_customers)]

    def _fleet(self) -> None:
        rng, start = self.rng, self.start
        kinds = [("motorcycle", 40, 40), ("car", 150, 100), ("van", 800, 200), ("truck", 3000, 400)]
        self.vehicles = []
        for n in range(self.n_vehicles):
            kind, capacity, length = kinds[min(n * 4 // self.n_vehicles, 3) if n % 3 else 2]
            self.vehicles.append(
                self._add(
                    "vehicle",
                    {
                        "plate": f"V{n:02d}-{100 + n:03d}",
                        "type": kind,
                        "capacity_kg": Decimal(capacity),
                        "length_cm": Decimal(length),
                        "width_cm": Decimal(length // 2 + 20),
                        "height_cm": Decimal(length // 2 + 20),
                        "status": "operational",
                        "is_active": True,
                        "created_at": start - timedelta(days=500),
                        "updated_at": start - timedelta(days=500),
                    },
                )
            )
        self.drivers = []
        for n in range(self.n_drivers):
            created = start - timedelta(days=rng.uniform(30, 600))
            name = self._name()
            user = self._user(
                email=f"conductor{n + 1}@bench.rappi.pe",
                full_name=name,
                role="driver",
                created_at=created,
            )
            self.drivers.append(
                self._add(
                    "driver",
                    {
                        "user_id": user["id"],
                        "licence_number": f"Q{40000000 + n}",
                        "phone": f"+51 95{n % 10} 000 {n:03d}",
                        "availability": "available",
                        "vehicle_id": self.vehicles[n % self.n_vehicles]["id"],
                        "is_active": True,
                        "created_at": created,
                        "updated_at": created,
                    },
                )
            )
        # Part-timers, regulars and a few who take more than their share.
        self.driver_weights = [rng.choice([0.4, 1, 1, 1, 1.6]) for _ in self.drivers]

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, datetime.min.time(), tzinfo=LIMA)

    def _order_times(self) -> list[datetime]:
        rng, days = self.rng, [self.first_day + timedelta(days=i) for i in range(365)]
        # Busier as the year goes on, quieter on Sundays.
        weights = [(0.7 + 0.6 * i / 364) * WEEKDAY[day.weekday()] for i, day in enumerate(days)]
        picked_days = rng.choices(days, weights, k=self.n_orders)
        hours = rng.choices(range(24), HOURLY, k=self.n_orders)
        times = []
        for day, hour in zip(picked_days, hours, strict=True):
            moment = datetime(
                day.year,
                day.month,
                day.day,
                hour,
                rng.randrange(60),
                rng.randrange(60),
                rng.randrange(1_000_000),
                tzinfo=LIMA,
            )
            if moment > self.now - timedelta(minutes=2):
                moment -= timedelta(days=1)
            times.append(moment.astimezone(UTC))
        times.sort()
        return times

    def _orders(self) -> None:
        rng = self.rng
        level_names = [lvl[0] for lvl in LEVELS]
        level_weights = [lvl[1] for lvl in LEVELS]
        cumulative = []
        total = 0.0
        for weight in self.customer_weights:
            total += weight
            cumulative.append(total)
        self.orders, self.order_drops = [], []
        for created in self._order_times():
            customer_index = min(
                bisect_left(cumulative, rng.random() * total), self.n_customers - 1
            )
            customer = self.customers[customer_index]
            origin = (
                rng.choice(self.places[customer_index]) if rng.random() < 0.85 else self._place()
            )
            level = rng.choices(level_names, level_weights)[0]
            local_hour = created.astimezone(LIMA).hour
            night = local_hour >= 22 or local_hour < 6
            order = self._add(
                "order",
                {
                    "customer_id": customer["id"],
                    "status": "",
                    "service_level": level,
                    "scheduled_for": None,
                    "origin_line": origin["line"],
                    "origin_district": origin["district"],
                    "origin_lat": coordinate(origin["lat"]),
                    "origin_lng": coordinate(origin["lng"]),
                    "notes": "",
                    "price_adjustment": Decimal("0.00"),
                    "adjustment_reason": "",
                    "adjusted_by_id": None,
                    "currency": "PEN",
                    "cancel_reason": "",
                    "cancelled_at": None,
                    "created_by_id": customer["user_id"] or self.dispatcher["id"],
                    "created_at": created,
                    "updated_at": created,
                },
            )
            drops, legs = [], Decimal("0.00")
            count = rng.choices([1, 2, 3, 4, 5], [32, 22, 20, 14, 12])[0]  # mean 2.52
            for sequence in range(1, count + 1):
                place = self._place()
                km = km_between((origin["lat"], origin["lng"]), (place["lat"], place["lng"])) * 1.3
                minutes = km / 25 * 60
                weight = round(rng.lognormvariate(1.0, 0.8) + 0.2, 3)
                subtotal = max(8.0, 5 + 1.2 * km + 0.15 * minutes + 0.5 * weight)
                subtotal *= MULTIPLIER[level] * (1.25 if night else 1.0)
                drop = self._add(
                    "destination",
                    {
                        "order_id": order["id"],
                        "sequence": sequence,
                        "line": place["line"],
                        "district": place["district"],
                        "lat": coordinate(place["lat"]),
                        "lng": coordinate(place["lng"]),
                        "recipient_name": self._name(),
                        "recipient_phone": "+51 959 000 000",
                        "weight_kg": Decimal(f"{weight:.3f}"),
                        "length_cm": None,
                        "width_cm": None,
                        "height_cm": None,
                        "description": "Caja",
                        "distance_km": Decimal(f"{km:.3f}"),
                        "duration_min": Decimal(f"{minutes:.2f}"),
                        "chargeable_weight_kg": Decimal(f"{weight:.3f}"),
                        "subtotal": money(subtotal),
                        "status": "pending",
                        "delivered_at": None,
                        "received_by": "",
                        "failure_reason": "",
                    },
                )
                legs += drop["subtotal"]
                drops.append(drop)
            order["legs_total"] = order["total"] = legs
            self.orders.append(order)
            self.order_drops.append(drops)

    def _event(
        self,
        order: dict,
        type_: str,
        at: datetime,
        *,
        to: str = "",
        actor=None,
        role: str = "system",
        destination=None,
        data=None,
    ) -> None:
        previous = order.get("_status", "")
        self._add(
            "event",
            {
                "order_id": order["id"],
                "destination_id": destination["id"] if destination else None,
                "type": type_,
                "from_status": previous if to else "",
                "to_status": to,
                "actor_id": actor,
                "actor_role": role,
                "data": data or {},
                "at": at,
            },
        )
        if to:
            order["_status"] = to

    def _pay(self, order: dict) -> datetime:
        """The order's payment rows up to its settlement; returns when it was paid."""
        rng, created = self.rng, order["created_at"]
        checkout = None
        if rng.random() < 0.74:
            checkout = self._add(
                "payment",
                {
                    "order_id": order["id"],
                    "amount": order["total"],
                    "status": "paid",
                    "provider": "mercadopago",
                    "external_id": f"pref-{order['id']}",
                    "checkout_url": f"https://www.mercadopago.com.pe/checkout/v1/redirect?pref_id=pref-{order['id']}",
                    "provider_payment_id": f"{7_000_000_000 + order['id'] * 3}",
                    "checkout_id": None,
                    "reference": "",
                    "needs_refund": False,
                    "created_by_id": None,
                    "created_at": created + timedelta(seconds=rng.uniform(10, 120)),
                },
            )
            paid_at = checkout["created_at"] + timedelta(minutes=rng.uniform(1, 15))
            if rng.random() < 0.08:  # a card declined before the one that paid
                self._add(
                    "payment",
                    {
                        **without_key(checkout),
                        "status": "failed",
                        "provider_payment_id": f"{7_000_000_001 + order['id'] * 3}",
                        "checkout_id": checkout["id"],
                        "checkout_url": "",
                        "paid_at": None,
                        "created_at": paid_at - timedelta(minutes=1),
                    },
                )
            if rng.random() < 0.003:  # approved too late: money to return
                self._add(
                    "payment",
                    {
                        **without_key(checkout),
                        "status": "failed",
                        "needs_refund": True,
                        "provider_payment_id": f"{7_000_000_002 + order['id'] * 3}",
                        "checkout_id": checkout["id"],
                        "checkout_url": "",
                        "paid_at": paid_at + timedelta(minutes=3),
                        "created_at": paid_at + timedelta(minutes=3),
                    },
                )
            checkout["paid_at"] = paid_at
        else:
            paid_at = created + timedelta(minutes=rng.uniform(5, 120))
            checkout = self._add(
                "payment",
                {
                    "order_id": order["id"],
                    "amount": order["total"],
                    "status": "paid",
                    "provider": "manual",
                    "external_id": "",
                    "checkout_url": "",
                    "provider_payment_id": "",
                    "checkout_id": None,
                    "reference": rng.choice(["Efectivo", "Yape", "Transferencia BCP", "Plin"]),
                    "needs_refund": False,
                    "paid_at": paid_at,
                    "created_by_id": self.dispatcher["id"],
                    "created_at": paid_at,
                },
            )
        order["_payment"] = checkout
        self._event(order, "paid", paid_at, to="pending", data={"payment_id": checkout["id"]})
        return paid_at

    def _runs(self) -> None:
        """Orders into runs, in time order: each run goes to a free driver (a busy one when
        none is free), starts, and delivers its drop-offs after minutes drawn per service
        level; runs still going at `now` stay in progress (or assigned)."""
        rng, now = self.rng, self.now
        for order in self.orders:
            by_customer = order["created_by_id"] != self.dispatcher["id"]
            self._event(
                order,
                "created",
                order["created_at"],
                to="pending_payment",
                actor=order["created_by_id"],
                role="customer" if by_customer else "staff",
            )
        dispatchable = []
        for order, drops in zip(self.orders, self.order_drops, strict=True):
            age = now - order["created_at"]
            fate = rng.random()
            if age < timedelta(minutes=40):
                if fate < 0.45:
                    self._pending_checkout(order)
                else:
                    self._pay(order)
                continue
            if fate < 0.015:
                self._pending_checkout(order)  # never paid: the overview's unpaid warning
                continue
            if fate < 0.05:
                self._cancel_before_run(order)
                continue
            dispatchable.append((self._pay(order), order, drops))
        dispatchable.sort(key=lambda item: item[0])
        self.free_at = [self.start - timedelta(days=1)] * self.n_drivers
        self.live_vehicles: set[int] = set()
        self.runs: list[dict] = []
        index = 0
        while index < len(dispatchable):
            size = rng.choices([1, 2, 3, 4, 5, 6], [16, 22, 24, 18, 12, 8])[0]
            group = dispatchable[index : index + size]
            index += size
            ready = group[-1][0] + timedelta(minutes=rng.uniform(5, 20))
            if ready > now:
                for _paid, order, _drops in group:
                    order["status"] = "pending"
                continue
            if rng.random() < 0.02:
                self._cancelled_run(group, ready)
                ready += timedelta(minutes=rng.uniform(10, 40))
                if ready > now:
                    for _paid, order, _drops in group:
                        order["status"] = "pending"
                    continue
            self._run(group, ready)
        for order in self.orders:
            order["status"] = order["status"] or order.get("_status")

    def _pending_checkout(self, order: dict) -> None:
        self._add(
            "payment",
            {
                "order_id": order["id"],
                "amount": order["total"],
                "status": "pending",
                "provider": "mercadopago",
                "external_id": f"pref-{order['id']}",
                "checkout_url": f"https://www.mercadopago.com.pe/checkout/v1/redirect?pref_id=pref-{order['id']}",
                "provider_payment_id": "",
                "checkout_id": None,
                "reference": "",
                "needs_refund": False,
                "paid_at": None,
                "created_by_id": None,
                "created_at": order["created_at"] + timedelta(seconds=30),
            },
        )
        order["status"] = "pending_payment"

    def _cancel_before_run(self, order: dict) -> None:
        rng = self.rng
        at = order["created_at"] + timedelta(minutes=rng.uniform(10, 360))
        if rng.random() < 0.5:
            paid_at = self._pay(order)
            at = max(at, paid_at + timedelta(minutes=5))
            order["_payment"]["status"] = "refunded"
        else:
            self._add(
                "payment",
                {
                    "order_id": order["id"],
                    "amount": order["total"],
                    "status": "failed",
                    "provider": "mercadopago",
                    "external_id": f"pref-{order['id']}",
                    "checkout_url": "",
                    "provider_payment_id": "",
                    "checkout_id": None,
                    "reference": "",
                    "needs_refund": False,
                    "paid_at": None,
                    "created_by_id": None,
                    "created_at": order["created_at"] + timedelta(seconds=30),
                },
            )
        at = min(at, self.now - timedelta(minutes=1))
        order.update(
            status="cancelled",
            cancelled_at=at,
            updated_at=at,
            cancel_reason=rng.choice(["Cliente desistió", "Dirección fuera de zona", "Duplicado"]),
        )
        self._event(
            order, "cancelled", at, to="cancelled", actor=self.dispatcher["id"], role="staff"
        )

    def _pick_driver(self, ready: datetime) -> int:
        free = [d for d in range(self.n_drivers) if self.free_at[d] <= ready]
        if free:
            return self.rng.choices(free, [self.driver_weights[d] for d in free])[0]
        return min(range(self.n_drivers), key=self.free_at.__getitem__)

    def _cancelled_run(self, group, ready: datetime) -> None:
        rng = self.rng
        driver = rng.randrange(self.n_drivers)
        cancelled = ready + timedelta(minutes=rng.uniform(5, 30))
        run = self._add(
            "assignment",
            {
                "driver_id": self.drivers[driver]["id"],
                "vehicle_id": self.drivers[driver]["vehicle_id"],
                "status": "cancelled",
                "started_at": None,
                "finished_at": None,
                "cancel_reason": "Vehículo en mantenimiento",
                "created_by_id": self.dispatcher["id"],
                "created_at": ready,
                "updated_at": cancelled,
            },
        )
        for _paid, order, _drops in group:
            self._add("assignment_order", {"assignment_id": run["id"], "order_id": order["id"]})
            self._event(
                order,
                "assigned",
                ready,
                to="assigned",
                actor=self.dispatcher["id"],
                role="staff",
                data={"assignment_id": run["id"]},
            )
            self._event(
                order,
                "unassigned",
                cancelled,
                to="pending",
                actor=self.dispatcher["id"],
                role="staff",
                data={"assignment_id": run["id"]},
            )
        self._route(run, group, started=None, kind="cancelled")

    def _run(self, group, ready: datetime) -> None:
        rng, now = self.rng, self.now
        driver = self._pick_driver(ready)
        created = max(ready, self.free_at[driver] - timedelta(minutes=rng.uniform(0, 30)))
        start = max(created, self.free_at[driver]) + timedelta(minutes=rng.uniform(5, 25))
        hour = start.astimezone(LIMA).hour
        traffic = 1.2 if hour in (7, 8, 17, 18, 19) else 1.0
        outcomes = []  # (minutes, order, drop, delivered)
        levels = {name: (median, sigma) for name, _w, median, sigma in LEVELS}
        for _paid, order, drops in group:
            median, sigma = levels[order["service_level"]]
            for drop in drops:
                minutes = max(8.0, rng.lognormvariate(math.log(median * traffic), sigma))
                outcomes.append((minutes, order, drop, rng.random() >= 0.04))
        outcomes.sort(key=lambda item: item[0])
        finish = start + timedelta(minutes=outcomes[-1][0] + rng.uniform(5, 20))
        status = "finished"
        vehicle_id = self.drivers[driver]["vehicle_id"]
        if finish > now:
            status = "in_progress" if start <= now else "assigned"
            if vehicle_id in self.live_vehicles:
                spare = [v["id"] for v in self.vehicles if v["id"] not in self.live_vehicles]
                if not spare or self.free_at[driver] > now:
                    for _paid, order, _drops in group:
                        order["status"] = "pending"
                    return
                vehicle_id = spare[0]
            if self.free_at[driver] > now:  # the driver is still on a live run
                for _paid, order, _drops in group:
                    order["status"] = "pending"
                return
            self.live_vehicles.add(vehicle_id)
            self.drivers[driver]["availability"] = "busy"
        self.free_at[driver] = finish
        run = self._add(
            "assignment",
            {
                "driver_id": self.drivers[driver]["id"],
                "vehicle_id": vehicle_id,
                "status": status,
                "started_at": start if status != "assigned" else None,
                "finished_at": finish if status == "finished" else None,
                "cancel_reason": "",
                "created_by_id": self.dispatcher["id"],
                "created_at": created,
                "updated_at": min(finish, now),
                "_driver_index": driver,
                "_orders": [order for _paid, order, _drops in group],
            },
        )
        self.runs.append(run)
        driver_user = self.drivers[driver]["user_id"]
        for _paid, order, _drops in group:
            self._add("assignment_order", {"assignment_id": run["id"], "order_id": order["id"]})
            order["_run"] = run
            self._event(
                order,
                "assigned",
                created,
                to="assigned",
                actor=self.dispatcher["id"],
                role="staff",
                data={"assignment_id": run["id"]},
            )
            if status != "assigned":
                self._event(
                    order,
                    "run_started",
                    start,
                    to="in_transit",
                    actor=driver_user,
                    role="driver",
                    data={"assignment_id": run["id"]},
                )
        left = {order["id"]: len(drops) for _paid, order, drops in group}
        outcome_of: dict = {}
        for minutes, order, drop, delivered in outcomes:
            at = start + timedelta(minutes=minutes)
            if status == "assigned" or at > now:
                continue
            left[order["id"]] -= 1
            drop["status"] = "delivered" if delivered else "failed"
            outcome_of.setdefault(order["id"], []).append(delivered)
            if delivered:
                drop["delivered_at"] = at
                drop["received_by"] = drop["recipient_name"]
            else:
                drop["failure_reason"] = rng.choice(["Cliente ausente", "Dirección incorrecta"])
            to = ""
            if not left[order["id"]]:
                to = "delivered" if any(outcome_of[order["id"]]) else "cancelled"
                if to == "delivered":
                    order["delivered_at"] = at
                if to == "cancelled":
                    order.update(cancelled_at=at, cancel_reason="Ninguna entrega fue posible")
                order["updated_at"] = at
                order["_closed_at"] = at
            self._event(
                order,
                "delivered" if delivered else "failed",
                at,
                to=to,
                actor=driver_user,
                role="driver",
                destination=drop,
                data={"assignment_id": run["id"]},
            )
        run["_start"] = start
        run["_finish"] = finish
        self._route(run, group, started=start if status != "assigned" else None, kind=status)

    def _route(self, run: dict, group, *, started, kind: str) -> None:
        rng = self.rng
        stops, seen, points = [], set(), []
        for _paid, order, _drops in group:
            key = (order["origin_lat"], order["origin_lng"])
            if key in seen:
                continue
            seen.add(key)
            made = kind in ("finished", "in_progress")
            stops.append(
                {
                    "kind": "pickup",
                    "lat": order["origin_lat"],
                    "lng": order["origin_lng"],
                    "status": "visited"
                    if made
                    else ("skipped" if kind == "cancelled" else "pending"),
                    "order_id": order["id"],
                    "destination_id": None,
                    "visited_at": (
                        min(started + timedelta(minutes=rng.uniform(2, 8)), self.now)
                        if made
                        else None
                    ),
                }
            )
        drops = [drop for _paid, _order, ds in group for drop in ds]
        drops.sort(key=lambda d: (d["status"] == "pending", d["delivered_at"] or run["updated_at"]))
        for drop in drops:
            stop_status = {"delivered": "visited", "failed": "skipped"}.get(
                drop["status"], "pending"
            )
            if kind == "cancelled":
                stop_status = "skipped"
            stops.append(
                {
                    "kind": "delivery",
                    "lat": drop["lat"],
                    "lng": drop["lng"],
                    "status": stop_status,
                    "order_id": drop["order_id"],
                    "destination_id": drop["id"],
                    "visited_at": drop["delivered_at"],
                }
            )
        km = 0.0
        for a, b in itertools.pairwise(stops):
            km += km_between((float(a["lat"]), float(a["lng"])), (float(b["lat"]), float(b["lng"])))
        km *= 1.3
        points = [[float(s["lng"]), float(s["lat"])] for s in stops]
        route = self._add(
            "route",
            {
                "assignment_id": run["id"],
                "geometry": {"type": "LineString", "coordinates": points},
                "distance_m": round(km * 1000, 1),
                "duration_s": round(km / 25 * 3600, 1),
                "provider": "offline",
                "created_at": run["created_at"],
            },
        )
        eta = started or run["created_at"]
        for sequence, stop in enumerate(stops, start=1):
            eta += timedelta(minutes=rng.uniform(5, 25))
            self._add("stop", {"route_id": route["id"], "sequence": sequence, "eta": eta, **stop})
        run["_route"] = route
        run["_points"] = [(float(s["lat"]), float(s["lng"])) for s in stops]

    def _money(self) -> None:
        """Invoices, ratings and refunds after the fact."""
        rng, now = self.rng, self.now
        invoices = []
        for order in self.orders:
            payment = order.get("_payment")
            if payment is None or payment["status"] != "paid":
                continue
            if order["status"] == "cancelled" and rng.random() < 0.6:
                payment["status"] = "refunded"  # nothing could be delivered
                continue
            if order["status"] == "delivered" and rng.random() < 0.005:
                payment["status"] = "refunded"  # a complaint, money returned
                continue
            if rng.random() < 0.31:
                issued = min(payment["paid_at"] + timedelta(hours=rng.uniform(0, 48)), now)
                invoices.append((issued, order))
        invoices.sort(key=lambda item: item[0])
        for number, (issued, order) in enumerate(invoices, start=1):
            customer = self.customers[order["customer_id"] - 1]
            self._add(
                "invoice",
                {
                    "order_id": order["id"],
                    "number": f"F001-{number:08d}",
                    "ruc": customer["tax_id"] or f"10{40000000 + customer['id']:08d}1"[:11],
                    "business_name": customer["full_name"],
                    "amount": order["total"],
                    "currency": "PEN",
                    "issued_at": issued,
                    "created_by_id": self.dispatcher["id"],
                },
            )
        targets = {"standard": 240, "express": 120, "urgent": 60}
        for order, drops in zip(self.orders, self.order_drops, strict=True):
            if order["status"] != "delivered" or rng.random() >= 0.4:
                continue
            run = order["_run"]
            closed = order["_closed_at"]
            late = any(
                d["delivered_at"]
                and (d["delivered_at"] - run["started_at"]).total_seconds() / 60
                > targets[order["service_level"]]
                for d in drops
            )
            weights = [10, 15, 25, 30, 20] if late else [2, 3, 10, 30, 55]
            at = closed + timedelta(minutes=rng.uniform(10, 2880))
            if at > now:
                continue
            rating = self._add(
                "rating",
                {
                    "order_id": order["id"],
                    "driver_id": run["driver_id"],
                    "score": rng.choices([1, 2, 3, 4, 5], weights)[0],
                    "comment": "",
                    "created_at": at,
                },
            )
            self._event(
                order,
                "rated",
                at,
                actor=self.customers[order["customer_id"] - 1]["user_id"],
                role="customer",
                data={"rating_id": rating["id"]},
            )

    def _incidents(self) -> None:
        rng = self.rng
        started = [run for run in self.runs if run["started_at"] is not None]
        types = [t for t, _w, _s in INCIDENT_TYPES]
        weights = [w for _t, w, _s in INCIDENT_TYPES]
        severity = {t: s for t, _w, s in INCIDENT_TYPES}
        self.incidents = []
        for _ in range(self.n_incidents):
            run = rng.choice(started)
            end = run["finished_at"] or self.now
            at = run["started_at"] + (end - run["started_at"]) * rng.random()
            kind = rng.choices(types, weights)[0]
            level = min(5, max(1, severity[kind] + rng.choice([0, 0, 0, 0, 1, -1])))
            origin = (
                "system"
                if kind == "route_deviation"
                else "staff"
                if kind == "forced_finish"
                else ("driver" if rng.random() < 0.85 else "staff")
            )
            driver_user = self.drivers[run["_driver_index"]]["user_id"]
            position = kind == "route_deviation"
            place = self._place() if position else None
            self.incidents.append(
                self._add(
                    "incident",
                    {
                        "assignment_id": run["id"],
                        "type": kind,
                        "severity": level,
                        "origin": origin,
                        "notes": "",
                        "reported_by_id": driver_user
                        if origin == "driver"
                        else (self.dispatcher["id"] if origin == "staff" else None),
                        "lat": place["lat"] if place else None,
                        "lng": place["lng"] if place else None,
                        "created_at": at,
                        "updated_at": at,
                        "_driver_user": driver_user,
                    },
                )
            )

    def _mongo(self) -> None:
        """Evidence, notifications, one run's GPS track, positions of the runs in progress,
        geofences and their events."""
        from bson import ObjectId

        rng, now, scale = self.rng, self.now, self.scale
        evidence = []
        delivered = [
            (order, drop)
            for order, drops in zip(self.orders, self.order_drops, strict=True)
            if "_run" in order
            for drop in drops
            if drop["status"] == "delivered"
        ]
        for _ in range(round(2000 * scale * 0.75)):
            order, drop = rng.choice(delivered)
            run = order["_run"]
            evidence.append(
                self._evidence(
                    kind=rng.choice(["photo", "photo", "signature"]),
                    at=drop["delivered_at"],
                    by=self.drivers[run["_driver_index"]]["user_id"],
                    destination_id=drop["id"],
                    assignment_id=run["id"],
                    order_id=order["id"],
                    oid=ObjectId,
                )
            )
        for _ in range(round(2000 * scale * 0.25)):
            incident = rng.choice(self.incidents)
            evidence.append(
                self._evidence(
                    kind=rng.choice(["photo", "photo", "document"]),
                    at=incident["created_at"] + timedelta(minutes=rng.uniform(1, 30)),
                    by=incident["_driver_user"],
                    incident_id=incident["id"],
                    oid=ObjectId,
                )
            )
        customer_users = [c["user_id"] for c in self.customers if c["user_id"]]
        driver_users = [d["user_id"] for d in self.drivers]
        notifications = []
        span = (now - self.start).total_seconds()
        for _ in range(round(20000 * scale)):
            recent = rng.random() < 0.15
            at = now - timedelta(
                seconds=rng.uniform(0, 72 * 3600) if recent else rng.uniform(0, span)
            )
            to_driver = rng.random() < 0.35
            age_days = (now - at).total_seconds() / 86400
            read = rng.random() < (0.85 if age_days > 3 else 0.4)
            notifications.append(
                {
                    "recipient_user_id": rng.choice(driver_users if to_driver else customer_users),
                    "kind": rng.choice(NOTIFY_DRIVER if to_driver else NOTIFY_CUSTOMER),
                    "title": "Aviso",
                    "body": "",
                    "data": {"order_id": rng.randint(1, self.n_orders)},
                    "read_at": at + timedelta(minutes=rng.uniform(1, 600)) if read else None,
                    "created_at": at,
                }
            )
        notifications = [n for n in notifications if n["read_at"] is None or n["read_at"] <= now]
        self.mongo = {
            "evidence": evidence,
            "notifications": notifications,
            **self._tracking(ObjectId),
        }

    def _evidence(self, *, kind: str, at: datetime, by: int, oid, **owner) -> dict:
        rng = self.rng
        files = []
        for n in range(rng.choice([1, 1, 2, 3])):
            size = int(rng.lognormvariate(12.5, 0.8))
            files.append(
                {
                    "file_id": oid(),
                    "filename": f"{kind}-{n + 1}.jpg",
                    "content_type": "application/pdf" if kind == "document" else "image/jpeg",
                    "size": size,
                    "sha256": hashlib.sha256(f"{owner}{n}{size}".encode()).hexdigest(),
                }
            )
        return {
            "incident_id": None,
            "destination_id": None,
            "assignment_id": None,
            "order_id": None,
            **owner,
            "kind": kind,
            "files": files,
            "uploaded_by": by,
            "created_at": at,
            "note": "",
            "lat": None,
            "lng": None,
        }

    def _tracking(self, oid) -> dict:
        rng, now = self.rng, self.now
        recent = [
            run
            for run in self.runs
            if run["status"] == "finished" and now - run["finished_at"] < timedelta(days=60)
        ]
        self.busy_run = max(recent or self.runs, key=lambda run: (len(run["_orders"]), run["id"]))
        pings = []
        positions = []
        geofences = []
        events = []

        from tracking.documents import fix_key

        def fixes(run: dict, since: datetime, until: datetime, count: int) -> list[dict]:
            points = run["_points"] or [(-16.3988, -71.5369)]
            driver = self.drivers[run["_driver_index"]]
            plate = self.vehicles[run["vehicle_id"] - 1]["plate"]
            out = []
            for i in range(count):
                share = i / max(count - 1, 1)
                leg = min(int(share * (len(points) - 1)), max(len(points) - 2, 0))
                a, b = points[leg], points[min(leg + 1, len(points) - 1)]
                f = share * (len(points) - 1) - leg
                at = since + (until - since) * share
                at = at.replace(microsecond=(at.microsecond // 1000) * 1000)
                out.append(
                    {
                        # Keyed as the ingest keys a fix (`fix_key`), not an ObjectId.
                        "_id": fix_key(driver["id"], at),
                        "driver_id": driver["id"],
                        "assignment_id": run["id"],
                        "vehicle_plate": plate,
                        "location": {
                            "type": "Point",
                            "coordinates": [
                                a[1] + (b[1] - a[1]) * f + rng.uniform(-0.0001, 0.0001),
                                a[0] + (b[0] - a[0]) * f + rng.uniform(-0.0001, 0.0001),
                            ],
                        },
                        "recorded_at": at,
                        "received_at": at + timedelta(seconds=2),
                        "speed_kmh": rng.uniform(0, 45),
                        "heading": rng.uniform(0, 360),
                        "accuracy_m": rng.uniform(4, 20),
                        "client_id": None,
                    }
                )
            return out

        run = self.busy_run
        pings += fixes(run, run["started_at"], run["finished_at"], 2000)
        corridor = oid()
        geofences.append(
            self._fence(
                corridor, "route_corridor", f"Corridor of run {run['id']}", run, active=False
            )
        )
        for k in range(3):  # three excursions out of the corridor and back
            out_at = run["started_at"] + (run["finished_at"] - run["started_at"]) * (0.2 + 0.25 * k)
            for type_, at in (("exit", out_at), ("enter", out_at + timedelta(minutes=4))):
                events.append(
                    {
                        "geofence_id": corridor,
                        "geofence_kind": "route_corridor",
                        "driver_id": run["driver_id"],
                        "assignment_id": run["id"],
                        "type": type_,
                        "at": at,
                        "confirmed_at": at + timedelta(seconds=20),
                        "location": {"type": "Point", "coordinates": [-71.5369, -16.3988]},
                        "received_at": at + timedelta(seconds=22),
                        "incident_id": None,
                    }
                )
        for live in (r for r in self.runs if r["status"] == "in_progress"):
            since = max(live["started_at"], now - timedelta(minutes=15))
            track = fixes(live, since, now - timedelta(seconds=rng.uniform(5, 400)), 30)
            pings += track
            last = track[-1]
            positions.append({k: v for k, v in last.items() if k not in ("_id", "client_id")})
            geofences.append(
                self._fence(oid(), "route_corridor", f"Corridor of run {live['id']}", live)
            )
        from tracking import demo

        geofences.append(
            self._fence(
                oid(),
                "vehicle_restriction",
                demo.HISTORIC_CENTRE,
                None,
                ring=demo.HISTORIC_CENTRE_RING,
            )
        )
        for district, ring in demo.DELIVERY_ZONES.items():
            geofences.append(
                self._fence(oid(), "delivery_zone", f"Delivery zone {district}", None, ring=ring)
            )
        geofences.append(
            self._fence(oid(), "forbidden", demo.FORBIDDEN_ZONE, None, ring=demo.FORBIDDEN_RING)
        )
        self.positions = positions
        return {
            "gps_pings": pings,
            "driver_positions": positions,
            "geofences": geofences,
            "geofence_events": events,
        }

    def _fence(self, id_, kind: str, name: str, run, *, active=True, ring=None) -> dict:
        if ring is None:
            lat, lng = -16.3988, -71.5369
            ring = [
                [lng - 0.02, lat - 0.02],
                [lng + 0.02, lat - 0.02],
                [lng + 0.02, lat + 0.02],
                [lng - 0.02, lat + 0.02],
                [lng - 0.02, lat - 0.02],
            ]
        return {
            "_id": id_,
            "name": name,
            "kind": kind,
            "geometry": {"type": "Polygon", "coordinates": [ring]},
            "active": active,
            "order_id": None,
            "route_id": run["_route"]["id"] if run else None,
            "assignment_id": run["id"] if run else None,
            "tolerance_m": 80.0 if run else None,
            "created_at": run["created_at"] if run else self.start,
            "updated_at": run["created_at"] if run else self.start,
        }


# --- loading -------------------------------------------------------------------------------


def copy_rows(model, rows: list[dict], now: datetime) -> None:
    """COPY `rows` (dicts of attribute names) into `model`'s table; a column a row does not
    name gets the field's default (`auto_now` ones: now)."""
    from django.db import connection
    from django.db.models import JSONField
    from psycopg import sql

    fields = list(model._meta.concrete_fields)
    columns = [f.column for f in fields]
    plan = []
    for field in fields:
        default = None
        if field.has_default():
            default = field.get_default()
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            default = now
        plan.append((field.attname, default, isinstance(field, JSONField)))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(model._meta.db_table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
        for row in rows:
            values = []
            for attname, default, is_json in plan:
                value = row.get(attname, default)
                if is_json and value is not None:
                    value = json.dumps(value)
                values.append(value)
            copy.write_row(values)


def load_postgres(year: Year) -> list[tuple[str, int, float]]:
    from django.apps import apps
    from django.core.management.color import no_style
    from django.db import connection, transaction
    from django.db.models import Model

    from fleet.models import Assignment

    tables: list[tuple[str, type[Model]]] = [
        ("user", apps.get_model("identity", "User")),
        ("customer", apps.get_model("orders", "Customer")),
        ("address", apps.get_model("orders", "Address")),
        ("vehicle", apps.get_model("fleet", "Vehicle")),
        ("driver", apps.get_model("fleet", "Driver")),
        ("order", apps.get_model("orders", "Order")),
        ("destination", apps.get_model("orders", "Destination")),
        ("payment", apps.get_model("orders", "Payment")),
        ("invoice", apps.get_model("orders", "Invoice")),
        ("assignment", Assignment),
        ("assignment_order", Assignment.orders.through),
        ("route", apps.get_model("fleet", "Route")),
        ("stop", apps.get_model("fleet", "Stop")),
        ("incident", apps.get_model("fleet", "Incident")),
        ("rating", apps.get_model("orders", "Rating")),
        ("event", apps.get_model("orders", "OrderEvent")),
    ]
    done = []
    with transaction.atomic():
        for key, model in tables:
            rows = year.rows.get(key, [])
            started = time.perf_counter()
            copy_rows(model, rows, year.now)
            done.append((model._meta.db_table, len(rows), time.perf_counter() - started))
        with connection.cursor() as cursor:
            for statement in connection.ops.sequence_reset_sql(no_style(), [m for _k, m in tables]):
                cursor.execute(statement)
    return done


def prepare_database() -> dict[str, int]:
    """Migrations, the tariff row; the role ids by name."""
    from django.core.management import call_command

    from identity.models import Role
    from orders import services

    call_command("migrate", verbosity=0)
    services.tariff_get()
    return dict(Role.objects.values_list("name", "id"))


def vacuum_analyze() -> float:
    from django.db import connection

    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return time.perf_counter() - started


# --- timing ----------------------------------------------------------------------------------


_WIRE_FIELDS = {"lsid", "$db", "$clusterTime", "$readPreference", "txnNumber"}


class MongoCommands(monitoring.CommandListener):
    """The MongoDB commands sent while `capture()` is open (pymongo's command monitoring,
    registered before the app's client exists)."""

    IGNORED = {"ping", "hello", "isMaster", "endSessions"}

    def __init__(self) -> None:
        self.commands: list[dict] = []
        self.on = False
        monitoring.register(self)

    def started(self, event) -> None:
        if self.on and event.command_name not in self.IGNORED:
            self.commands.append({k: v for k, v in event.command.items() if k not in _WIRE_FIELDS})

    def succeeded(self, event) -> None:
        pass

    def failed(self, event) -> None:
        pass

    @contextlib.contextmanager
    def capture(self):
        self.commands = []
        self.on = True
        try:
            yield self.commands
        finally:
            self.on = False


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, math.ceil(fraction * len(ordered)) - 1)]


def report_cases(year_first: date, year_last: date, objects: dict) -> list[tuple]:
    """(label, name, params, object_id) for every registered report: over the year and the
    default period, or once for a report without a period."""
    from rappi.reports import registry

    cases = []
    registry.load_all()  # the reports register when their modules are imported
    reports = registry.REPORTS
    items = reports.items() if isinstance(reports, dict) else ((r.name, r) for r in reports)
    for name, report in items:
        object_id = objects.get(getattr(report, "object", None))
        query_fields = report.query().fields
        if "since" in query_fields:
            whole = {"since": year_first.isoformat(), "until": year_last.isoformat()}
            cases.append((name, "year", whole, object_id))
            cases.append((name, "default", {}, object_id))
        else:
            cases.append((name, "now", {}, object_id))
    return cases


def time_reports(cases, *, repeat: int, mongo: MongoCommands) -> list[dict]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from rappi.reports import registry

    results = []
    for name, period, params, object_id in cases:
        entry = {"name": name, "period": period, "params": params, "object_id": object_id}
        try:
            with CaptureQueriesContext(connection) as queries, mongo.capture() as commands:
                registry.compute(name, dict(params), object_id=object_id)
            entry["sql"] = [q["sql"] for q in queries.captured_queries]
            entry["sql_ms"] = sum(float(q["time"]) for q in queries.captured_queries) * 1000
            entry["mongo"] = list(commands)
            timings = []
            for _ in range(repeat):
                started = time.perf_counter()
                registry.compute(name, dict(params), object_id=object_id)
                timings.append((time.perf_counter() - started) * 1000)
        except Exception as error:  # a broken report is a line of the table, not the end
            entry["error"] = (
                f"{type(error).__name__}: {str(error).splitlines()[0][:160] if str(error) else ''}"
            )
            results.append(entry)
            print(f"  {name} [{period}]: ERROR {entry['error']}", flush=True)
            continue
        entry.update(
            p50=statistics.median(timings),
            p95=percentile(timings, 0.95),
            max=max(timings),
        )
        results.append(entry)
        print(
            f"  {name} [{period}]: p50 {entry['p50']:.1f} ms, p95 {entry['p95']:.1f} ms, "
            f"{len(entry['sql'])} SQL, {len(entry['mongo'])} Mongo",
            flush=True,
        )
    return results


def table(results: list[dict]) -> str:
    """Markdown, slowest p95 first; "SQL ms" is the time PostgreSQL took in the untimed
    call (the rest of a call is Python and MongoDB)."""
    lines = [
        "| report | period | p50 ms | p95 ms | max ms | SQL queries | SQL ms | Mongo commands | |",
        "|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    ok = sorted((r for r in results if "error" not in r), key=lambda r: -r["p95"])
    for r in ok:
        flag = f"**p95 > {SLOW_MS} ms**" if r["p95"] > SLOW_MS else ""
        lines.append(
            f"| {r['name']} | {r['period']} | {r['p50']:.1f} | {r['p95']:.1f} | {r['max']:.1f} "
            f"| {len(r['sql'])} | {r['sql_ms']:.1f} | {len(r['mongo'])} | {flag} |"
        )
    for r in results:
        if "error" in r:
            lines.append(
                f"| {r['name']} | {r['period']} | - | - | - | - | - | - | ERROR {r['error']} |"
            )
    return "\n".join(lines)


def explain(results: list[dict], count: int) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of every SQL query of the `count` slowest reports that
    send any (their slowest case), with the Mongo commands they sent as well."""
    from django.db import connection

    out = []
    seen = set()
    for r in sorted((r for r in results if "error" not in r and r["sql"]), key=lambda r: -r["p95"]):
        if r["name"] in seen:
            continue
        seen.add(r["name"])
        if len(seen) > count:
            break
        out.append(
            f"### {r['name']} ({r['period']}: p95 {r['p95']:.1f} ms, {len(r['sql'])} SQL queries"
            f", {len(r['mongo'])} Mongo commands)\n"
        )
        for number, query in enumerate(r["sql"], start=1):
            if not query.lstrip().upper().startswith(("SELECT", "WITH")):
                continue  # savepoints and the like have no plan
            with connection.cursor() as cursor:
                cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {query}")
                plan = "\n".join(row[0] for row in cursor.fetchall())
            out.append(f"Query {number}:\n```sql\n{query}\n```\n```\n{plan}\n```\n")
        for command in r["mongo"]:
            out.append(f"Mongo: `{json.dumps(command, default=str)[:600]}`\n")
    return "\n".join(out)


# --- main --------------------------------------------------------------------------------------


def freshen_positions(positions: list[dict]) -> int:
    """A last fix moments ago for three runs in progress out of four, so that "drivers with
    a fix in the window" means something however long the load took."""
    from django.utils import timezone

    from tracking.documents import DriverPosition, GpsPing, fix_key

    rng, now, fixes = random.Random(SEED + 1), timezone.now(), []  # noqa: S311
    for position in positions:
        if rng.random() < 0.75:
            at = now - timedelta(seconds=rng.uniform(5, 200))
            at = at.replace(microsecond=at.microsecond // 1000 * 1000)
            fixes.append({**position, "recorded_at": at, "received_at": at + timedelta(seconds=2)})
    if fixes:
        GpsPing._get_collection().insert_many(
            [
                {**fix, "_id": fix_key(fix["driver_id"], fix["recorded_at"]), "client_id": None}
                for fix in fixes
            ]
        )
    for fix in fixes:
        DriverPosition._get_collection().update_one(
            {"driver_id": fix["driver_id"]},
            {"$set": {k: fix[k] for k in ("recorded_at", "received_at", "location")}},
        )
    return len(fixes)


def machine() -> str:
    """What the figures were measured on."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SHOW server_version")
        version = cursor.fetchone()[0]
        cursor.execute("SHOW shared_buffers")
        buffers = cursor.fetchone()[0]
        cursor.execute("SHOW work_mem")
        work_mem = cursor.fetchone()[0]
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"PostgreSQL {version.split()[0]} (shared_buffers {buffers}, work_mem {work_mem}); "
        f"{os.cpu_count()} CPUs, load average {load} before timing.\n"
    )


def configure(database_url: str, mongo_uri: str, workdir: Path) -> None:
    """Production settings (DEBUG off), the app's own audit log off: nothing here is a request."""
    import secrets

    os.environ.update(
        DJANGO_SETTINGS_MODULE="rappi.settings.production",
        DATABASE_URL=database_url,
        MONGODB_URI=mongo_uri,
        SECRET_KEY=secrets.token_urlsafe(64),
        PAYMENT_PROVIDER="simulated",
        ALLOW_SIMULATED_PAYMENTS="true",
        AUDIT_ENABLED="false",
        LOG_LEVEL="WARNING",
        VAR_DIR=str(workdir),
        # mongoeco serves one command at a time: a slow one is not an outage.
        MONGODB_TIMEOUT_MS=os.environ.get("MONGODB_TIMEOUT_MS", "60000"),
    )


def load_year(args, *, postgres: "Postgres | None", mongo: Mongo) -> tuple:
    """Generate and load the year; (first day, last day, summary objects, live positions)."""
    from django.core.management import call_command
    from django.utils import timezone

    started = time.perf_counter()
    year = Year(orders=args.orders, now=timezone.now(), roles=prepare_database())
    year.build()
    generated = time.perf_counter() - started
    print(f"Year generated in {generated:.1f} s", flush=True)
    started = time.perf_counter()
    loaded = load_postgres(year)
    copied = time.perf_counter() - started
    analyzed = vacuum_analyze()
    started = time.perf_counter()
    mongo.start()
    call_command("ensure_indexes", verbosity=0)
    mongo.load(year.mongo)
    mongo_loaded = time.perf_counter() - started

    where = "throwaway cluster" if postgres else "at DATABASE_URL"
    print(f"\n## Load ({args.orders:,} orders; PostgreSQL {where}; {mongo.kind})\n")
    print("| table | rows | seconds |\n|---|---:|---:|")
    for name, rows, seconds in loaded:
        print(f"| {name} | {rows:,} | {seconds:.1f} |")
    rows = sum(r for _n, r, _s in loaded)
    print(f"| **PostgreSQL, all tables (COPY, FK checks at commit)** | {rows:,} | {copied:.1f} |")
    print(f"| VACUUM (ANALYZE) | | {analyzed:.1f} |")
    for name, docs in year.mongo.items():
        print(f"| mongo: {name} | {len(docs):,} | |")
    documents = sum(map(len, year.mongo.values()))
    print(f"| **MongoDB indexes and load** | {documents:,} | {mongo_loaded:.1f} |")
    print(f"\nGenerating the rows in Python took {generated:.1f} s.")
    counts = {c["id"]: 0 for c in year.customers}
    for order in year.orders:
        counts[order["customer_id"]] += 1
    objects = {"customer": max(counts, key=counts.__getitem__), "assignment": year.busy_run["id"]}
    return year.first_day, year.today, objects, year.positions


def loaded_year() -> tuple:
    """What `load_year` answers, read back from the databases a `--keep` run left (after
    applying any migration added since, and a fresh VACUUM ANALYZE)."""
    from django.db.models import Count, Min
    from django.utils import timezone

    from fleet.models import Assignment, AssignmentStatus
    from orders.models import Order
    from tracking.documents import DriverPosition

    prepare_database()
    print(f"VACUUM (ANALYZE) in {vacuum_analyze():.1f} s", flush=True)
    first = Order.objects.aggregate(first=Min("created_at"))["first"]
    if first is None:
        raise SystemExit("--reuse: DATABASE_URL holds no orders; load a year first (--keep).")
    first_day = timezone.localtime(first, LIMA).date()
    customer = Order.objects.values("customer_id").annotate(n=Count("id")).order_by("-n").first()
    assert customer is not None  # there are orders (checked above)
    run = (
        Assignment.objects.filter(status=AssignmentStatus.FINISHED)
        .annotate(n=Count("orders"))
        .order_by("-n", "-pk")
        .values_list("pk", flat=True)
        .first()
    )
    positions = list(DriverPosition._get_collection().find({}, {"_id": 0}))
    objects = {"customer": customer["customer_id"], "assignment": run}
    return first_day, first_day + timedelta(days=364), objects, positions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--orders",
        type=int,
        default=BASE_ORDERS,
        help="orders in the year; every other count scales with it",
    )
    parser.add_argument("--repeat", type=int, default=20, help="timed calls of each report")
    parser.add_argument("--only", action="append", metavar="NAME", help="time only this report")
    parser.add_argument("--keep", action="store_true", help="leave the databases running")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time the year already in DATABASE_URL and MONGODB_URI (left by --keep): "
        "migrate, analyze, time; nothing is loaded, stopped or dropped",
    )
    parser.add_argument("--explain", type=int, default=3, help="plans of the N slowest reports")
    parser.add_argument("--serve-mongo", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--preload", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_mongo:
        serve_mongo(args.serve_mongo, args.preload)
        return
    if args.reuse and not (os.environ.get("DATABASE_URL") and os.environ.get("MONGODB_URI")):
        parser.error("--reuse needs the DATABASE_URL and MONGODB_URI a --keep run printed")

    # TERM (and a second ^C) must still stop what was started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    workdir = Path(tempfile.mkdtemp(prefix="rappi-bench-reports-"))
    postgres = None if os.environ.get("DATABASE_URL") else Postgres()
    mongo = Mongo(workdir, reuse=args.reuse)
    kept = False
    try:
        began = time.perf_counter()
        database_url = postgres.start() if postgres else os.environ["DATABASE_URL"]
        configure(database_url, mongo.uri, workdir)
        commands = MongoCommands()  # before the app's client exists
        import django

        django.setup()
        if args.reuse:
            first_day, last_day, objects, positions = loaded_year()
        else:
            first_day, last_day, objects, positions = load_year(
                args, postgres=postgres, mongo=mongo
            )
        print(
            f"Summaries of customer {objects['customer']} (the one with most orders) and run "
            f"{objects['assignment']} (a finished run with the most orders, 2,000 GPS fixes)."
        )
        cases = report_cases(first_day, last_day, objects)
        if args.only:
            cases = [c for c in cases if c[0] in args.only]
        print(
            f"\n## Timing ({args.repeat} calls each after one untimed call; year = "
            f"{first_day} to {last_day}, default = the last 30 days)\n",
            flush=True,
        )
        fresh = freshen_positions(positions)
        print(f"{fresh} of {len(positions)} runs in progress sent a fix in the last minutes.")
        print(machine(), flush=True)
        results = time_reports(cases, repeat=args.repeat, mongo=commands)
        print()
        print(table(results))
        slow = [r for r in results if "error" not in r and r["p95"] > SLOW_MS]
        errors = [r for r in results if "error" in r]
        print(f"\n{len(slow)} case(s) over {SLOW_MS} ms at p95; {len(errors)} error(s).")
        if mongo.is_mongoeco:
            print("Mongo-backed figures come from mongoeco, not MongoDB: they time mongoeco.")
        if args.explain:
            print(f"\n## Plans of the {args.explain} slowest reports that query PostgreSQL\n")
            print(explain(results, args.explain))
        if args.keep and not args.reuse:
            kept = True
            print("\n## Kept (time the same year again: these two variables and --reuse)\n")
            print(f"DATABASE_URL={database_url}")
            print(f"MONGODB_URI={mongo.uri}")
            if postgres:
                print(f"stop PostgreSQL: {postgres.stop_command()}")
            if mongo.process:
                print(f"stop mongoeco: kill -TERM -{mongo.process.pid}")
        print(f"\nTotal {time.perf_counter() - began:.0f} s.")
    finally:
        with contextlib.suppress(Exception):
            from django.db import connections

            connections.close_all()
        if not kept:
            mongo.stop()
            if postgres:
                postgres.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
