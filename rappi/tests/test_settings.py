"""Production settings refuse to start without their secrets and pass check --deploy."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {"SECRET_KEY", "DATABASE_URL", "MONGODB_URI", "PAYMENT_PROVIDER", "MP_ACCESS_TOKEN"}
        and k not in {"MP_WEBHOOK_SECRET", "ALLOW_SIMULATED_PAYMENTS"}
    }
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, "DJANGO_SETTINGS_MODULE": "rappi.settings.production", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION_ENV = {
    "SECRET_KEY": "k" * 10 + "production-secret-for-the-deploy-check-0123456789-ABCDEF",
    "DATABASE_URL": "postgres://rappi@db.invalid:5432/rappi",
    "MONGODB_URI": "mongodb://mongo.invalid:27017/rappi",
    "ALLOWED_HOSTS": "rappi.example",
    "MP_ACCESS_TOKEN": "placeholder",
    "MP_WEBHOOK_SECRET": "placeholder",
}


def test_production_refuses_simulated_payments_unless_allowed():
    refused = _manage("check", **PRODUCTION_ENV, PAYMENT_PROVIDER="simulated")
    assert refused.returncode != 0 and "ALLOW_SIMULATED_PAYMENTS" in refused.stderr
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
