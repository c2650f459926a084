"""Production settings: only tighten security. Refuses to start without SECRET_KEY and
passes `manage.py check --deploy` with its defaults."""

from django.core.exceptions import ImproperlyConfigured

from rappi.settings.base import *  # noqa: F403
from rappi.settings.base import SIMPLE_JWT
from rappi.settings.env import env_bool, env_int, env_required, env_str

SECRET_KEY = env_required(
    "SECRET_KEY", "generate one with `python -c 'import secrets; print(secrets.token_urlsafe(64))'`"
)
SIMPLE_JWT["SIGNING_KEY"] = env_str("JWT_SIGNING_KEY", "") or SECRET_KEY
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
