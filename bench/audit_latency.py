"""What the audit log costs a request: latency of a cheap authenticated endpoint
(`GET /api/v1/auth/me`, PostgreSQL/SQLite only) served by gunicorn with audit off, with
audit on, and with audit on while MongoDB is unreachable, side by side, as ratios.

    .venv/bin/python bench/audit_latency.py [--requests 400] [--concurrency 4] [--rounds 3]

With no DATABASE_URL / MONGODB_URI it runs on the embedded defaults in a throwaway
VAR_DIR (a SQLite file and a local mongoeco server it starts); with them, against those
servers. It also checks that no record was lost: every request of the audited runs must
be in MongoDB, the unreachable run's after replaying its spool (`manage.py audit_spool
--replay`). Run by hand, not by the test suite; compare ratios, not absolute figures
(mongoeco is slow and the load generator shares the machine)."""

import argparse
import http.client
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
EMAIL, PASSWORD = "bench-admin@rappi.pe", "bench-Pass-12345"
ENDPOINT = "/api/v1/auth/me"
UNREACHABLE = "audit on, MongoDB unreachable"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _connects(port: int) -> bool:
    socket.create_connection(("127.0.0.1", port), 1).close()
    return True


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except OSError:
            pass
        if time.monotonic() > deadline:
            sys.exit(f"{what} did not come up")
        time.sleep(0.2)


def manage(env: dict, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter and manage.py
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


class Server:
    """gunicorn with the project's config, on its own port."""

    def __init__(self, env: dict, port: int):
        self.port = port
        self.process = subprocess.Popen(  # noqa: S603 - our own gunicorn
            [GUNICORN, "rappi.wsgi:application", "-c", "gunicorn.conf.py"],
            cwd=ROOT,
            env={**env, "PORT": str(port), "HOST": "127.0.0.1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: self.get("/healthz")[0] == 200, 30, "gunicorn")

    def request(self, method: str, path: str, body: dict | None = None, token: str = ""):
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        connection.request(method, path, json.dumps(body) if body else None, headers)
        response = connection.getresponse()
        data = response.read()
        connection.close()
        return response.status, data

    def get(self, path: str):
        return self.request("GET", path)

    def stop(self) -> None:
        # TERM: a graceful stop, so each worker's exit hook flushes its audit queue.
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=60)


def hammer(port: int, token: str, total: int, concurrency: int) -> list[float]:
    """`total` GETs over `concurrency` keep-alive connections; latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    share = [
        total // concurrency + (1 if i < total % concurrency else 0) for i in range(concurrency)
    ]

    def run(count: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        for _ in range(count):
            started = time.perf_counter()
            connection.request("GET", ENDPOINT, headers={"Authorization": f"Bearer {token}"})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            if response.status != 200:
                sys.exit(f"{ENDPOINT} answered {response.status}")
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=run, args=(count,)) for count in share]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def run_scenario(env: dict, args) -> list[float]:
    server = Server(env, free_port())
    try:
        status, body = server.request(
            "POST", "/api/v1/auth/login", {"email": EMAIL, "password": PASSWORD}
        )
        if status != 200:
            sys.exit(f"login answered {status}: {body[:200]!r}")
        token = json.loads(body)["access"]
        hammer(server.port, token, args.warmup, args.concurrency)
        return hammer(server.port, token, args.requests, args.concurrency)
    finally:
        server.stop()


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(fraction * len(ordered) + 0.999999) - 1)]


def count_records(env: dict) -> int:
    script = (
        "from audit.documents import AuditEvent; print(AuditEvent.objects(kind='request').count())"
    )
    return int(manage(env, "shell", "-c", script).strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--warmup", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="Keep the throwaway VAR_DIR")
    args = parser.parse_args()

    var_dir = Path(tempfile.mkdtemp(prefix="rappi-bench-"))
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rappi.settings.local",
        "VAR_DIR": str(var_dir),
        "THROTTLE_USER": "off",
        "THROTTLE_ANON": "off",
        "THROTTLE_LOGIN_IP": "off",
        "THROTTLE_LOGIN_ACCOUNT": "off",
        "LOG_LEVEL": "WARNING",
    }
    mongo = None
    if not env.get("MONGODB_URI"):
        mongo_port = free_port()
        mongo = subprocess.Popen(  # noqa: S603 - our own interpreter
            [
                PYTHON,
                "-m",
                "rappi.localmongo",
                "--path",
                str(var_dir / "mongo.sqlite3"),
                "--port",
                str(mongo_port),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        env["MONGODB_URI"] = f"mongodb://127.0.0.1:{mongo_port}/rappi?directConnection=true"
        wait_until(
            lambda: _connects(mongo_port),
            30,
            "local MongoDB-compatible server",
        )
    try:
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "ensure_indexes")
        manage(
            env,
            "shell",
            "-c",
            "from identity.models import User; from identity import services as s\n"
            "s.roles_seed()\n"
            f"User.objects.filter(email={EMAIL!r}).exists() or s.user_create(email={EMAIL!r}, "
            f"password={PASSWORD!r}, full_name='Bench', role='admin', by=None)",
        )
        unreachable = f"mongodb://127.0.0.1:{free_port()}/rappi?directConnection=true"
        scenarios = {
            "audit off": {"AUDIT_ENABLED": "false"},
            "audit on": {"AUDIT_ENABLED": "true"},
            UNREACHABLE: {"AUDIT_ENABLED": "true", "MONGODB_URI": unreachable},
        }
        spool_dirs = {name: var_dir / f"spool-{n}" for n, name in enumerate(scenarios)}
        pooled: dict[str, list[float]] = {name: [] for name in scenarios}
        rounds: list[dict[str, list[float]]] = []
        # Rounds in rotating order: drift from other load on the machine hits every
        # scenario alike, and each round gives its own ratios.
        for number in range(args.rounds):
            names = list(scenarios)
            names = names[number % len(names) :] + names[: number % len(names)]
            this_round = {}
            for name in names:
                spool = str(spool_dirs[name])
                scenario_env = {**env, **scenarios[name], "AUDIT_SPOOL_DIR": spool}
                this_round[name] = run_scenario(scenario_env, args)
                pooled[name] += this_round[name]
            rounds.append(this_round)
            print(f"  round {number + 1}/{args.rounds} done", file=sys.stderr)

        print(
            f"\n{args.rounds} rounds x {args.requests} x GET {ENDPOINT}, "
            f"{args.concurrency} connections, gunicorn {env.get('WEB_CONCURRENCY', '2')} workers"
        )
        print(f"{'scenario':32} {'mean':>8} {'p50':>8} {'p95':>8} {'p99':>8}  (ms, all rounds)")
        for name, latencies in pooled.items():
            print(
                f"{name:32} {statistics.mean(latencies):8.2f} {percentile(latencies, 0.5):8.2f} "
                f"{percentile(latencies, 0.95):8.2f} {percentile(latencies, 0.99):8.2f}"
            )
        base = pooled["audit off"]
        for name in list(scenarios)[1:]:
            per_round = [percentile(r[name], 0.5) / percentile(r["audit off"], 0.5) for r in rounds]
            print(
                f"ratio {name} / audit off: "
                f"p50 {percentile(pooled[name], 0.5) / percentile(base, 0.5):.2f}, "
                f"p95 {percentile(pooled[name], 0.95) / percentile(base, 0.95):.2f}, "
                f"mean {statistics.mean(pooled[name]) / statistics.mean(base):.2f} "
                f"(p50 per round: {', '.join(f'{r:.2f}' for r in per_round)})"
            )

        # Nothing lost: each audited scenario's records are in MongoDB, or in its spool
        # (everything while MongoDB is unreachable; with mongoeco, also what a worker
        # could not write before its shutdown deadline) and in MongoDB once replayed.
        made = args.rounds * (1 + args.warmup + args.requests)  # the sign-in too
        written = count_records(env)
        spooled = {}
        for name in ("audit on", UNREACHABLE):
            spool_env = {**env, "AUDIT_SPOOL_DIR": str(spool_dirs[name])}
            report = manage(spool_env, "audit_spool").strip().splitlines()[0]
            spooled[name] = int(report.rsplit(",", 1)[1].split()[0])
            manage(spool_env, "audit_spool", "--replay")
        total = count_records(env)
        print(
            f"records: {2 * made} audited requests; {written} written by the workers, "
            f"{spooled['audit on']} + {spooled[UNREACHABLE]} spooled (audit on, unreachable); "
            f"{total} in MongoDB after replaying the spools"
        )
    finally:
        if mongo is not None:
            mongo.send_signal(signal.SIGTERM)
            mongo.wait(timeout=30)
        if not args.keep:
            shutil.rmtree(var_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
