"""What the benchmarks share: free ports, waiting for a server, a throwaway PostgreSQL
cluster, another database on the same MongoDB."""

import http.client
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(check, *, what: str, timeout: float = 120) -> None:
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except Exception as error:
            last = error
        time.sleep(0.3)
    raise SystemExit(f"{what} did not come up: {last}")


class Postgres:
    """A throwaway cluster, as scripts/test.sh starts one for the tests."""

    def __init__(self) -> None:
        bin_dir = next(
            (
                d
                for d in sorted(Path("/usr/lib/postgresql").glob("*/bin"))
                if (d / "initdb").exists()
            ),
            None,
        )
        if bin_dir is None:
            raise SystemExit(
                "No PostgreSQL server binaries in /usr/lib/postgresql/*/bin: install the "
                "'postgresql' package, or set DATABASE_URL to a scratch database."
            )
        self.bin: Path = bin_dir
        self.dir = Path(tempfile.mkdtemp(prefix="rappi-bench-pg-"))
        self.port = free_port()
        self.started = False

    def _as_pg(self, *command: str | Path) -> list[str]:
        # initdb refuses to run as root: the cluster belongs to the postgres user then.
        args = [str(c) for c in command]
        return ["runuser", "-u", "postgres", "--", *args] if os.getuid() == 0 else args

    def start(self) -> str:
        if os.getuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "check": True}
        subprocess.run(  # noqa: S603 - the server's own binaries
            self._as_pg(
                self.bin / "initdb",
                "-D",
                self.dir / "data",
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-sync",
            ),
            **quiet,
        )
        # Durability off: a benchmark database is thrown away.
        options = (
            f"-k {self.dir} -p {self.port} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off"
        )
        subprocess.run(  # noqa: S603
            self._as_pg(
                self.bin / "pg_ctl",
                "-D",
                self.dir / "data",
                "-l",
                self.dir / "log",
                "-w",
                "-o",
                options,
                "start",
            ),
            **quiet,
        )
        self.started = True
        import psycopg

        with psycopg.connect(
            f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres", autocommit=True
        ) as connection:
            connection.execute("CREATE DATABASE rappi")
        return f"postgres://postgres@127.0.0.1:{self.port}/rappi"

    def stop(self) -> None:
        if self.started:
            subprocess.run(  # noqa: S603
                self._as_pg(
                    self.bin / "pg_ctl", "-D", self.dir / "data", "-m", "immediate", "stop"
                ),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    def stop_command(self) -> str:
        stop = " ".join(self._as_pg(self.bin / "pg_ctl", "-D", self.dir / "data", "stop"))
        return f"{stop} && rm -rf {self.dir}"


def with_database(uri: str, name: str) -> str:
    """The same server and options, another database (credentials still checked against
    the database they belong to)."""
    head, separator, query = uri.partition("?")
    scheme, _, rest = head.partition("://")
    hosts, _, database = rest.partition("/")
    if "@" in hosts and "authsource=" not in query.lower():
        query = "&".join(filter(None, [query, f"authSource={database or 'admin'}"]))
        separator = "?"
    return f"{scheme}://{hosts}/{name}{separator}{query}"


class Environment:
    """The app's databases (started here when not given) and its settings."""

    def __init__(self, name: str, *, memory: bool, settings: dict | None = None) -> None:
        self.workdir = Path(tempfile.mkdtemp(prefix=f"rappi-bench-{name}-"))
        self.processes: list[subprocess.Popen] = []
        self.drop_database = None
        env = dict(os.environ)
        env.update(
            DJANGO_SETTINGS_MODULE="rappi.settings.local",
            VAR_DIR=str(self.workdir),
            LOG_LEVEL="WARNING",
            CONN_MAX_AGE="60",
        )
        env.update(settings or {})
        if env.get("MONGODB_URI"):
            name = f"rappi_bench_{os.getpid()}"
            env["MONGODB_URI"] = with_database(env["MONGODB_URI"], name)
            self.drop_database = name
            self.mongo_kind = "MongoDB at MONGODB_URI"
        else:
            port = free_port()
            command = [PYTHON, "-m", "rappi.localmongo", "--port", str(port)]
            if not memory:
                command += ["--path", str(self.workdir / "mongo.sqlite3")]
            self.processes.append(self._spawn(command, env, "mongo.log"))
            env["MONGODB_URI"] = f"mongodb://127.0.0.1:{port}/rappi?directConnection=true"
            # mongoeco serves one request at a time: a slow batch must not look like an
            # outage to the app's heartbeat.
            env["MONGODB_TIMEOUT_MS"] = "30000"
            self.mongo_kind = "mongoeco, " + (
                "in-memory engine" if memory else "SQLite-file engine"
            )
        self.sql_kind = "PostgreSQL at DATABASE_URL" if env.get("DATABASE_URL") else "SQLite file"
        self.env = env
        self.audit = (
            "on"
            if env.get("AUDIT_ENABLED", "true").lower() in {"1", "true", "yes", "on"}
            else "off"
        )
        os.environ.update(env)
        # The app keeps its audit log; this process only sets the stage.
        os.environ["AUDIT_ENABLED"] = "false"

    def _spawn(self, command, env, log_name) -> subprocess.Popen:
        log = open(self.workdir / log_name, "wb")  # noqa: SIM115 - lives as long as the process
        return subprocess.Popen(  # noqa: S603 - our own interpreter and scripts
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def wait_for_mongo(self) -> None:
        from pymongo import MongoClient

        client = MongoClient[dict[str, Any]](self.env["MONGODB_URI"], serverSelectionTimeoutMS=1000)
        wait_until(lambda: client.admin.command("ping"), what="MongoDB")
        client.close()

    def serve(self, *, port: int, workers: int, threads: int) -> None:
        env = dict(self.env, HOST="127.0.0.1", PORT=str(port))
        env.update(WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads))
        command = [
            str(Path(PYTHON).with_name("gunicorn")),
            "rappi.wsgi:application",
            "-c",
            "gunicorn.conf.py",
        ]
        self.processes.append(self._spawn(command, env, "gunicorn.log"))

        def answers() -> bool:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", "/healthz")
            return connection.getresponse().status == 200

        wait_until(answers, what="gunicorn")

    def stop(self) -> None:
        for process in reversed(self.processes):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
        if self.drop_database:
            from pymongo import MongoClient

            MongoClient(self.env["MONGODB_URI"]).drop_database(self.drop_database)
        shutil.rmtree(self.workdir, ignore_errors=True)
