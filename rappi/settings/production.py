"""Production settings: only tighten security. Refuses to start without a SECRET_KEY, or
with a secret (SECRET_KEY, JWT_SIGNING_KEY, MP_WEBHOOK_SECRET) under 32 bytes or once
published, and passes `manage.py check --deploy` with its defaults."""

from django.core.exceptions import ImproperlyConfigured

from rappi.settings.base import *  # noqa: F403
from rappi.settings.base import SIMPLE_JWT
from rappi.settings.env import env_bool, env_int, env_required, env_str

_GENERATE = "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(64))'`"
# Keys that were once written in this repository: anyone can sign tokens with them.
_PUBLISHED_KEYS = {
    "local-development-only-not-secret-0123456789-abcdefghijklmnop",
    "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
}
_MIN_SECRET_BYTES = 32


def _strong_secret(name: str, value: str) -> str:
    """Refuse a secret short enough to guess, or one that is public."""
    if value in _PUBLISHED_KEYS:
        raise ImproperlyConfigured(f"{name} is a published development key; {_GENERATE}")
    if len(value.encode()) < _MIN_SECRET_BYTES:
        raise ImproperlyConfigured(
            f"{name} must be at least {_MIN_SECRET_BYTES} bytes long; {_GENERATE}"
        )
    return value


SECRET_KEY = _strong_secret("SECRET_KEY", env_required("SECRET_KEY", _GENERATE))
_jwt_key = env_str("JWT_SIGNING_KEY", "")
SIMPLE_JWT["SIGNING_KEY"] = _strong_secret("JWT_SIGNING_KEY", _jwt_key) if _jwt_key else SECRET_KEY
DEBUG = False
env_required("DATABASE_URL", "production runs on PostgreSQL (postgres://user:pass@host:5432/db)")
env_required("MONGODB_URI", "production runs on MongoDB (mongodb://host:27017/rappi)")

# A simulated provider lets any customer mark its own order paid: never by accident.
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER", "mercadopago")
if PAYMENT_PROVIDER == "simulated" and not env_bool("ALLOW_SIMULATED_PAYMENTS", False):
    raise ImproperlyConfigured(
        "PAYMENT_PROVIDER=simulated lets customers mark orders paid; set "
        "ALLOW_SIMULATED_PAYMENTS=true only for a demo deployment."
    )
if PAYMENT_PROVIDER == "mercadopago":
    env_required("MP_ACCESS_TOKEN", "MercadoPago Checkout Pro needs its access token")
    env_required("MP_WEBHOOK_SECRET", "MercadoPago webhooks are verified with this secret")
if MP_WEBHOOK_SECRET:  # noqa: F405
    _strong_secret("MP_WEBHOOK_SECRET", MP_WEBHOOK_SECRET)  # noqa: F405

# TLS terminates at the proxy in front of gunicorn, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
# Probes call health endpoints over plain HTTP inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", True)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", True)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", True)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
