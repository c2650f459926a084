"""Test settings: a real PostgreSQL (DATABASE_URL, started by `make test`) and a real
MongoDB-compatible server started by conftest.py; fast password hashing."""

from rappi.settings.base import *  # noqa: F403
from rappi.settings.base import DATABASES, REST_FRAMEWORK, SIMPLE_JWT
from rappi.settings.env import env_required

env_required(
    "DATABASE_URL",
    "the test suite runs against a real PostgreSQL; use `make test`, which starts one",
)
if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("Tests need DATABASE_URL to point at PostgreSQL.")

SECRET_KEY = "test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"  # noqa: S105
SIMPLE_JWT["SIGNING_KEY"] = SECRET_KEY
DATABASES["default"]["CONN_MAX_AGE"] = 0
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Generous general limits so tests that loop do not trip them. Login limits keep their
# counts, over an hour: a test's attempts must not straddle a window's end (with one-minute
# windows, about one run in a hundred would).
REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"] = {
    **REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"],
    "anon": "10000/min",
    "user": "10000/min",
    "login_ip": "20/hour",
    "login_account": "5/hour",
}
AUDIT_ENABLED = False
# Parallel workers share the machine's cores with their in-process MongoDB-compatible
# servers: a busy server is slow, not away. Tests of an unreachable one pass their own
# short timeouts.
MONGODB_TIMEOUT_MS = 10000
LOGGING = {"version": 1, "disable_existing_loggers": False}
# Static files come from the finders; no collectstatic in tests.
WHITENOISE_AUTOREFRESH = True
