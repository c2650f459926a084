"""Production settings refuse to start without strong secrets and pass check --deploy;
local settings make their own secret key once; the content security policy's image
sources follow the settings."""

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# The development key once committed in the local settings: public, so never a key.
OLD_DEVELOPMENT_KEY = "local-development-only-not-secret-0123456789-abcdefghijklmnop"
# Settings read here that the environment running the tests must not decide.
_OWN_VARIABLES = {
    "SECRET_KEY",
    "JWT_SIGNING_KEY",
    "DATABASE_URL",
    "MONGODB_URI",
    "PAYMENT_PROVIDER",
    "MP_ACCESS_TOKEN",
    "MP_WEBHOOK_SECRET",
    "ALLOW_SIMULATED_PAYMENTS",
    "VAR_DIR",
    "MAP_TILE_URL",
    "CSP_IMG_SRC_EXTRA",
    "DB_PREPARED_STATEMENTS",
    # Set for the browser tests' event loop; `check --deploy` rightly refuses it.
    "DJANGO_ALLOW_ASYNC_UNSAFE",
}


def _run(command: list[str], settings: str, env: dict) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k not in _OWN_VARIABLES}
    return subprocess.run(
        command,
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": settings, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _manage(*args, **env):
    return _run([sys.executable, "manage.py", *args], "rappi.settings.production", env)


def _settings_of(module: str, *names: str, **env) -> dict:
    """The named settings as `module` computes them with this environment."""
    code = (
        "import json; from django.conf import settings; "
        f"print(json.dumps({{n: getattr(settings, n) for n in {list(names)!r}}}, default=str))"
    )
    result = _run([sys.executable, "-c", code], module, env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 10 + "production-secret-for-the-deploy-check-0123456789-ABCDEF",
    "DATABASE_URL": "postgres://rappi@db.invalid:5432/rappi",
    "MONGODB_URI": "mongodb://mongo.invalid:27017/rappi",
    "ALLOWED_HOSTS": "rappi.example",
    "MP_ACCESS_TOKEN": "placeholder",
    "MP_WEBHOOK_SECRET": "webhook-secret-from-mercadopago-0123456789",
}


def test_production_refuses_simulated_payments_unless_allowed():
    refused = _manage("check", **PRODUCTION_ENV, PAYMENT_PROVIDER="simulated")
    assert refused.returncode != 0
    assert "ALLOW_SIMULATED_PAYMENTS" in refused.stderr
    allowed = _manage(
        "check", **PRODUCTION_ENV, PAYMENT_PROVIDER="simulated", ALLOW_SIMULATED_PAYMENTS="true"
    )
    assert allowed.returncode == 0, allowed.stderr


def test_production_refuses_to_start_without_a_secret_key():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "SECRET_KEY"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "SECRET_KEY is required" in result.stderr


def test_production_refuses_to_start_without_postgresql():
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "DATABASE_URL"}
    result = _manage("check", **env)
    assert result.returncode != 0
    assert "DATABASE_URL is required" in result.stderr


def test_production_passes_the_deployment_checklist_without_warnings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


# --- Secrets ----------


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SIGNING_KEY", "MP_WEBHOOK_SECRET"])
def test_production_refuses_a_secret_shorter_than_32_bytes(name):
    result = _manage("check", **{**PRODUCTION_ENV, name: "s" * 31})
    assert result.returncode != 0
    assert f"{name} must be at least 32 bytes" in result.stderr
    assert _manage("check", **{**PRODUCTION_ENV, name: "s" * 10 + "é" * 11}).returncode == 0


@pytest.mark.parametrize("name", ["SECRET_KEY", "JWT_SIGNING_KEY"])
def test_production_refuses_the_old_development_key(name):
    result = _manage("check", **{**PRODUCTION_ENV, name: OLD_DEVELOPMENT_KEY})
    assert result.returncode != 0
    assert f"{name} is a published development key" in result.stderr


def test_local_settings_make_a_random_key_once_and_keep_it(tmp_path):
    first = _settings_of("rappi.settings.local", "SECRET_KEY", "SIMPLE_JWT", VAR_DIR=str(tmp_path))
    key = first["SECRET_KEY"]
    assert key != OLD_DEVELOPMENT_KEY
    assert len(key) >= 50
    assert first["SIMPLE_JWT"]["SIGNING_KEY"] == key
    key_file = tmp_path / "secret_key"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    again = _settings_of("rappi.settings.local", "SECRET_KEY", VAR_DIR=str(tmp_path))
    assert again["SECRET_KEY"] == key
    elsewhere = _settings_of("rappi.settings.local", "SECRET_KEY", VAR_DIR=str(tmp_path / "b"))
    assert elsewhere["SECRET_KEY"] != key


def test_local_settings_take_secret_key_from_the_environment(tmp_path):
    chosen = "an-explicit-local-key-0123456789-abcdefghijklmnop"
    found = _settings_of(
        "rappi.settings.local", "SECRET_KEY", VAR_DIR=str(tmp_path), SECRET_KEY=chosen
    )
    assert found["SECRET_KEY"] == chosen
    assert not (tmp_path / "secret_key").exists()


# --- Content security policy ----------


def test_image_sources_add_the_map_tile_host_and_the_extra_hosts(tmp_path):
    policy = _settings_of(
        "rappi.settings.local",
        "CONTENT_SECURITY_POLICY",
        VAR_DIR=str(tmp_path),
        MAP_TILE_URL="https://{s}.tiles.example.org/{z}/{x}/{y}.png",
        CSP_IMG_SRC_EXTRA="https://img.example.com, https://cdn.example.net",
    )["CONTENT_SECURITY_POLICY"]
    assert policy["DIRECTIVES"]["img-src"] == [
        "'self'",
        "data:",
        "https://*.tiles.example.org",
        "https://img.example.com",
        "https://cdn.example.net",
    ]


def test_image_sources_default_to_the_openstreetmap_tiles(tmp_path):
    policy = _settings_of("rappi.settings.local", "CONTENT_SECURITY_POLICY", VAR_DIR=str(tmp_path))
    assert policy["CONTENT_SECURITY_POLICY"]["DIRECTIVES"]["img-src"] == [
        "'self'",
        "data:",
        "https://tile.openstreetmap.org",
    ]


@pytest.mark.parametrize(
    ("url", "prepared", "options"),
    [
        (
            "postgres://rappi@db.invalid:5432/rappi?sslmode=require",
            None,
            {"sslmode": "require", "server_side_binding": True, "prepare_threshold": 2},
        ),
        ("postgres://rappi@db.invalid:5432/rappi?sslmode=require", "false", {"sslmode": "require"}),
        ("sqlite:////tmp/rappi-settings-test.sqlite3", None, {}),
    ],
    ids=["postgresql", "postgresql-behind-a-pooler", "sqlite-url"],
)
def test_postgresql_statements_are_prepared_unless_turned_off(url, prepared, options):
    env = {"DATABASE_URL": url, **({"DB_PREPARED_STATEMENTS": prepared} if prepared else {})}
    databases = _settings_of("rappi.settings.local", "DATABASES", **env)["DATABASES"]
    assert databases["default"].get("OPTIONS", {}) == options
