"""What the Docker image runs, tested without a Docker engine: its requirements carry no
development-only package, its code starts without them, its entry point prepares the
databases and then runs the command, its health check follows PORT, its build context
leaves local state out, and the compose file has the shape the README promises."""

import os
import re
import secrets
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest
import yaml
from pymongo import MongoClient

from rappi.testing.net import free_port

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent

DEV_ONLY = ("mongoeco", "pytest", "schemathesis", "hypothesis", "factory", "ruff")
PRODUCTION_ENV = {
    "DJANGO_SETTINGS_MODULE": "rappi.settings.production",
    "SECRET_KEY": secrets.token_urlsafe(48),
    "ALLOWED_HOSTS": "rappi.example",
    "PAYMENT_PROVIDER": "simulated",
    "ALLOW_SIMULATED_PAYMENTS": "true",
}


def _clean_env(**extra) -> dict:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "PYTEST_"))}
    for name in ("DATABASE_URL", "MONGODB_URI", "SECRET_KEY", "JWT_SIGNING_KEY", "VAR_DIR"):
        keep.pop(name, None)
    return {**keep, **extra}


def _requirement_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-"):
            names.add(re.split(r"[\[=<>~!; ]", line, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_image_requirements_carry_no_development_only_package():
    runtime = _requirement_names(ROOT / "requirements.txt")
    assert not {name for name in runtime if name.startswith(DEV_ONLY)}, runtime
    assert "mongoeco" in _requirement_names(ROOT / "requirements-local.txt")
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert "pip install -r requirements.txt" in dockerfile
    assert "requirements-local" not in dockerfile
    assert "requirements-dev" not in dockerfile


def test_the_app_starts_and_passes_its_deploy_checks_without_development_packages(tmp_path):
    # Every development-only package is made unimportable, as in the image.
    script = textwrap.dedent(
        f"""
        import importlib.abc, sys
        BLOCKED = {DEV_ONLY!r}
        class Block(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0].startswith(BLOCKED):
                    raise ModuleNotFoundError(f"{{name}} is not in the image")
        sys.meta_path.insert(0, Block())
        import django
        django.setup()
        from django.core.management import call_command
        from django.urls import get_resolver
        get_resolver().url_patterns  # every URLconf and view module imports
        import rappi.wsgi  # noqa: F401
        call_command("check", "--deploy", "--fail-level", "WARNING")
        print("started")
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=_clean_env(
            **{
                **PRODUCTION_ENV,
                "VAR_DIR": str(tmp_path),
                "DATABASE_URL": "postgres://rappi@db.invalid:5432/rappi",
                "MONGODB_URI": "mongodb://mongo.invalid:27017/rappi",
                "PAYMENT_PROVIDER": "mercadopago",
                "ALLOW_SIMULATED_PAYMENTS": "false",
                "MP_ACCESS_TOKEN": "APP_USR-" + secrets.token_hex(24),
                "MP_WEBHOOK_SECRET": secrets.token_hex(32),
            }
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip().endswith("started")


@pytest.fixture
def scratch_postgres_url():
    """A database of its own on the suite's PostgreSQL server, dropped afterwards."""
    server_url = os.environ["DATABASE_URL"]
    name = f"rappi_entrypoint_{secrets.token_hex(4)}"
    admin_url = server_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_entrypoint_migrates_indexes_and_seeds_then_runs_the_command(
    scratch_postgres_url, mongo_test_database, tmp_path
):
    mongo_db = f"rappi_entrypoint_{secrets.token_hex(4)}"
    server = mongo_test_database["uri"].split("?")[0].rstrip("/")
    mongo_uri = f"{server}/{mongo_db}?directConnection=true"
    try:
        result = subprocess.run(
            ["docker/entrypoint.sh", "python", "-c", "print('the server would start here')"],
            cwd=ROOT,
            env=_clean_env(
                **PRODUCTION_ENV,
                # The image's `python` is the one with the requirements installed.
                PATH=f"{VENV_BIN}{os.pathsep}{os.environ['PATH']}",
                VAR_DIR=str(tmp_path),
                DATABASE_URL=scratch_postgres_url,
                MONGODB_URI=mongo_uri,
                SEED_DEMO="true",
            ),
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert result.stdout.strip().endswith("the server would start here")
        with psycopg.connect(scratch_postgres_url) as conn:
            users = conn.execute("SELECT count(*) FROM identity_user").fetchone()[0]
            applied = conn.execute("SELECT count(*) FROM django_migrations").fetchone()[0]
        assert users >= 7
        assert applied > 0
        db = MongoClient(mongo_uri, serverSelectionTimeoutMS=5000)[mongo_db]
        assert "gps_pings" in db.list_collection_names()
        assert any("2dsphere" in str(ix["key"]) for ix in db.geofences.list_indexes())
    finally:
        MongoClient(mongo_uri, serverSelectionTimeoutMS=5000).drop_database(mongo_db)


def _healthcheck(port: int) -> int:
    return subprocess.run(
        [sys.executable, "docker/healthcheck.py"],
        cwd=ROOT,
        env=_clean_env(PORT=str(port)),
        timeout=30,
    ).returncode


def test_the_health_check_asks_the_port_gunicorn_listens_on(live_server):
    port = int(live_server.url.rsplit(":", 1)[1])
    assert _healthcheck(port) == 0
    assert _healthcheck(free_port()) == 1
    assert '["python", "docker/healthcheck.py"]' in (ROOT / "Dockerfile").read_text()


def test_the_build_context_leaves_local_state_and_secrets_out():
    ignored = {
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".git", ".venv", "var", ".env"} <= ignored


def _compose_cli() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_the_compose_file_runs_the_app_on_its_databases():
    cli = _compose_cli()
    if cli is None:
        pytest.skip("no docker compose CLI here (make test installs Debian's docker-compose)")
    result = subprocess.run(
        [*cli, "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env=_clean_env(SECRET_KEY=secrets.token_urlsafe(48)),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    config = yaml.safe_load(result.stdout)
    services = config["services"]
    assert set(services) == {"db", "mongo", "app"}
    app = services["app"]
    assert app["depends_on"] == {
        "db": {"condition": "service_healthy"},
        "mongo": {"condition": "service_healthy"},
    }
    assert app["environment"]["DATABASE_URL"].startswith("postgres://rappi:")
    assert "@db:5432/rappi" in app["environment"]["DATABASE_URL"]
    assert app["environment"]["MONGODB_URI"] == "mongodb://mongo:27017/rappi"
    assert len(app["environment"]["SECRET_KEY"]) >= 32
    assert {"db", "mongo"} <= {name for name, svc in services.items() if "healthcheck" in svc}
    # Without a SECRET_KEY the file refuses to render instead of running with none.
    refused = subprocess.run(
        [*cli, "-f", "docker-compose.yml", "config"],
        cwd=ROOT,
        env=_clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode != 0
    assert "SECRET_KEY" in refused.stderr
