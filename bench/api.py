"""What each hot API path costs, as a ratio to a trivial authenticated endpoint
(`GET /api/v1/auth/me`): requests per second and gunicorn worker CPU per request, in one
run, against the app served as `make run` serves it, on PostgreSQL.

    .venv/bin/python bench/api.py [--seconds 6] [--rounds 3] [--clients 8]

Paths: the order list (50 orders, the full representation), one order, an order created,
a one-fix GPS ping and a batch of 100 fixes (also in fixes per second). Without
DATABASE_URL it starts a throwaway PostgreSQL cluster (the server binaries must be
installed, as for `make test`); without MONGODB_URI a local MongoDB-compatible server in
memory. Audit on, throttles on at rates no client reaches (their bookkeeping is paid).
Phases run in rounds, in rotating order, so load from elsewhere on the machine hits each
alike; medians over the rounds. The load comes from this process: on a two-core machine
it competes with the server, so read the ratios, not the absolute figures.
"""

import argparse
import http.client
import json
import os
import statistics
import sys
import threading
import time
from pathlib import Path

from pings import PLAZA, Clock, empty_ping_collections, fix_batch, login, prepare
from support import Environment, Postgres, free_port

ORDERS = 200
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
BASELINE = "me"


def seed_orders(count: int) -> dict:
    """`count` orders of the benchmark customer, as the API would create them; the body
    `create` posts."""
    from identity.models import User
    from orders import services as orders
    from orders.models import Customer

    admin = User.objects.get(email="bench-admin@rappi.pe")
    customer = Customer.objects.get(email="bench-c@rappi.pe")
    place = {"line": "Plaza de Armas", "district": "Cercado", "lat": PLAZA[0], "lng": PLAZA[1]}
    destination = {
        "line": "Av. Lambramani 325",
        "district": "JLByR",
        "lat": -16.421,
        "lng": -71.5217,
        "recipient_name": "Marta Ccama",
        "recipient_phone": "+51 959 111 222",
        "package": {"weight_kg": 2.5},
    }
    first = None
    for _ in range(count):
        order = orders.order_create(
            by=admin,
            customer=customer,
            origin=place,
            destinations=[destination],
            service_level="standard",
        )
        first = first or order.pk
    body = {
        "customer_id": customer.pk,
        "origin": {**place, "lat": str(PLAZA[0]), "lng": str(PLAZA[1])},
        "destinations": [{**destination, "lat": "-16.421", "lng": "-71.5217"}],
        "service_level": "standard",
    }
    return {"order_id": first, "create_body": body}


class Phase:
    """One endpoint under load: what each client thread sends, and how to read the answer."""

    def __init__(self, name, method, path, *, token, body=None, status=200, fixes=0):
        self.name, self.method, self.path = name, method, path
        self.token, self.body, self.status, self.fixes = token, body, status, fixes

    def request_body(self, clock, serial, assignment_id):
        if self.fixes == 1:
            return json.dumps({"assignment_id": assignment_id, **fix_batch(clock, 1, serial)[0]})
        if self.fixes:
            pings = fix_batch(clock, self.fixes, serial)
            return json.dumps({"assignment_id": assignment_id, "pings": pings})
        return json.dumps(self.body) if self.body is not None else None


def _stat(entry: Path) -> list[str] | None:
    try:
        stat = (entry / "stat").read_text()
    except OSError:
        return None
    return stat[stat.rindex(")") + 2 :].split()


def _cpu(fields: list[str]) -> float:
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def worker_cpu_seconds(master_pid: int) -> float:
    """CPU (user + system) of the gunicorn master's children, its workers."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(entry)) and int(fields[1]) == master_pid:
            total += _cpu(fields)
    return total


def drain(master_pid: int, others: list[int], timeout: float = 120) -> None:
    """Wait until the workers and the other servers are idle: what one phase left queued
    (the audit writer's backlog, above all) must not slow the next one down."""

    def busy() -> float:
        own = sum(_cpu(f) for pid in others if (f := _stat(Path(f"/proc/{pid}"))))
        return worker_cpu_seconds(master_pid) + own

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        before = busy()
        time.sleep(0.5)
        if busy() - before < 0.05:
            return


def drive(phase: Phase, *, port, seconds, clients, clock, assignment_id, master_pid) -> dict:
    """`clients` keep-alive connections send `phase` for `seconds`; every status checked."""
    deadline = time.monotonic() + seconds
    counts = {"requests": 0, "errors": 0, "fixes": 0}
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client(number: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        headers = {"Authorization": f"Bearer {phase.token}", "Content-Type": "application/json"}
        sent = 0
        while time.monotonic() < deadline:
            body = phase.request_body(
                clock, f"{phase.name}-{number}-{sent}-{time.time()}", assignment_id
            )
            connection.request(phase.method, phase.path, body, headers)
            response = connection.getresponse()
            answer = response.read()
            sent += 1
            with lock:
                counts["requests"] += 1
                statuses[response.status] = statuses.get(response.status, 0) + 1
                if response.status != phase.status:
                    counts["errors"] += 1
                elif phase.fixes:
                    counts["fixes"] += json.loads(answer)["accepted"]

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    cpu_before = worker_cpu_seconds(master_pid)
    began = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - began
    cpu = worker_cpu_seconds(master_pid) - cpu_before
    return {
        "rps": counts["requests"] / elapsed,
        "cpu_ms": cpu / max(counts["requests"], 1) * 1000,
        "fixes_per_s": counts["fixes"] / elapsed,
        "errors": counts["errors"],
        "statuses": statuses,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6, help="length of each phase")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over every phase")
    parser.add_argument("--clients", type=int, default=8, help="concurrent connections")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers")
    parser.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker")
    args = parser.parse_args()

    postgres = None if os.environ.get("DATABASE_URL") else Postgres()
    if postgres is not None:
        os.environ["DATABASE_URL"] = postgres.start()
    raised = "100000/min"  # on, and out of the way of one account's load
    environment = Environment(
        "api",
        memory=True,
        settings={
            "THROTTLE_USER": raised,
            "THROTTLE_ANON": raised,
            "THROTTLE_LOGIN_IP": raised,
            "THROTTLE_LOGIN_ACCOUNT": raised,
        },
    )
    try:
        environment.wait_for_mongo()
        run = prepare()
        seeded = seed_orders(ORDERS)
        port = free_port()
        environment.serve(port=port, workers=args.workers, threads=args.threads)
        master_pid = environment.processes[-1].pid
        others = [process.pid for process in environment.processes[:-1]]
        admin = login(port, "bench-admin@rappi.pe")
        driver = login(port, run["email"])
        phases = [
            Phase(BASELINE, "GET", "/api/v1/auth/me", token=admin),
            Phase("list", "GET", "/api/v1/orders/?page_size=50", token=admin),
            Phase("detail", "GET", f"/api/v1/orders/{seeded['order_id']}", token=admin),
            Phase(
                "create",
                "POST",
                "/api/v1/orders/",
                token=admin,
                body=seeded["create_body"],
                status=201,
            ),
            Phase("ping", "POST", "/api/v1/tracking/pings", token=driver, status=202, fixes=1),
            Phase("batch", "POST", "/api/v1/tracking/pings", token=driver, status=202, fixes=100),
        ]
        clock = Clock()
        results: dict[str, list[dict]] = {phase.name: [] for phase in phases}

        def measure(phase: Phase, seconds: float) -> dict:
            if phase.fixes:
                # The stored fixes start from none each time: on the embedded server every
                # insert checks the unique indexes by scanning the collection.
                empty_ping_collections()
            drain(master_pid, others)
            return drive(
                phase,
                port=port,
                seconds=seconds,
                clients=args.clients,
                clock=clock,
                assignment_id=run["assignment_id"],
                master_pid=master_pid,
            )

        for phase in phases:  # warm every path (imports, connections, caches)
            measure(phase, 1)
        for round_number in range(args.rounds):
            shift = round_number % len(phases)
            for phase in phases[shift:] + phases[:shift]:
                results[phase.name].append(measure(phase, args.seconds))
    finally:
        environment.stop()
        if postgres is not None:
            postgres.stop()

    def med(name, key):
        return statistics.median(r[key] for r in results[name])

    base_rps, base_cpu = med(BASELINE, "rps"), med(BASELINE, "cpu_ms")
    print(
        f"\nAPI hot paths: PostgreSQL; {environment.mongo_kind}; audit {environment.audit}; "
        f"gunicorn {args.workers}x{args.threads}; {args.clients} connections; "
        f"{args.rounds} rounds of {args.seconds:g} s; medians\n"
    )
    header = ("req/s", 9), ("x me", 7), ("cpu ms/req", 12), ("x me", 7), ("fixes/s", 9)
    print(f"{'path':10}" + "".join(f"{title:>{width}}" for title, width in header) + "  errors")
    for name, runs in results.items():
        rps, cpu = med(name, "rps"), med(name, "cpu_ms")
        fixes = f"{med(name, 'fixes_per_s'):9.0f}" if name in ("ping", "batch") else f"{'':9}"
        errors = sum(r["errors"] for r in runs)
        print(
            f"{name:10}{rps:9.1f}{rps / base_rps:7.2f}{cpu:12.2f}{cpu / base_cpu:7.2f}"
            f"{fixes}{errors:8d}"
        )
    failed = {
        name: [r["statuses"] for r in runs]
        for name, runs in results.items()
        if any(r["errors"] for r in runs)
    }
    if failed:
        sys.exit(f"\nunexpected statuses: {failed}")


if __name__ == "__main__":
    main()
