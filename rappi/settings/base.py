"""Settings shared by every environment. Configuration comes only from environment
variables (optionally a `.env` file at the project root); `.env.example` lists them."""

import ipaddress
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import dj_database_url
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from rappi.settings.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent
load_dotenv(BASE_DIR / ".env", override=False)

VAR_DIR = Path(env_str("VAR_DIR", "") or BASE_DIR / "var")

SECRET_KEY = env_str("SECRET_KEY", "")
DEBUG = env_bool("DEBUG", False)
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "django_htmx",
    "rappi.apps.RappiConfig",
    "identity.apps.IdentityConfig",
    "orders.apps.OrdersConfig",
    "fleet.apps.FleetConfig",
    "tracking.apps.TrackingConfig",
    "audit.apps.AuditConfig",
]

# rappi.web_middleware's entries serve pages only: API requests (bearer tokens, JSON) pass
# them by untouched (rappi.middleware.web_only).
MIDDLEWARE = [
    "rappi.middleware.RequestIdMiddleware",
    # Early, so it times the whole request and sees every answer; it reads the user after
    # the response, once DRF or the session has resolved it.
    "audit.middleware.AuditMiddleware",
    "rappi.middleware.ApiUtcMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "rappi.web_middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "rappi.web_middleware.SessionMiddleware",
    # The API answers in the language of Accept-Language too.
    "django.middleware.locale.LocaleMiddleware",
    "rappi.console.middleware.ConsoleLanguageMiddleware",
    "django.middleware.common.CommonMiddleware",
    # Django's own (the deploy checks look for it): on the API it does next to nothing, as
    # DRF's views are exempt and no cookie comes.
    "django.middleware.csrf.CsrfViewMiddleware",
    "rappi.web_middleware.AuthenticationMiddleware",
    "rappi.web_middleware.MessageMiddleware",
    "rappi.web_middleware.HtmxMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "rappi.urls"
WSGI_APPLICATION = "rappi.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "rappi.console.navigation.navigation",
            ],
        },
    },
]

# --- Databases -----------------------------------------------------------------
# PostgreSQL in production (DATABASE_URL); a SQLite file under VAR_DIR otherwise.
CONN_MAX_AGE = env_int("CONN_MAX_AGE", 60)
DATABASE_URL = env_str("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {
        "default": dj_database_url.parse(
            DATABASE_URL,
            conn_max_age=CONN_MAX_AGE,
            # Off by default: the check is a `SELECT 1` round trip on every request. Without
            # it a connection the server dropped fails one request, and is then replaced.
            conn_health_checks=env_bool("CONN_HEALTH_CHECKS", False),
        )
    }
    # Parameters bound by the server, so psycopg prepares a statement a connection has run
    # twice: parsed and planned once, not on every request (PostgreSQL's CPU per order read
    # fell by about 40 %; docs/performance.md). Off behind a pooler that cannot keep
    # prepared statements (PgBouncer in transaction mode without `max_prepared_statements`).
    # Added to the options the URL itself may carry (`?sslmode=require`).
    postgres = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if postgres and env_bool("DB_PREPARED_STATEMENTS", True):
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options.update(server_side_binding=True, prepare_threshold=2)
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "rappi.sqlite3"),
            # Several gunicorn workers write (throttle counters, sessions): WAL plus
            # IMMEDIATE transactions avoid "database is locked" on lock upgrades.
            "OPTIONS": {
                "timeout": 20,
                "transaction_mode": "IMMEDIATE",
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# MongoDB: GPS pings, geofences, evidence (GridFS), notifications, audit log.
# The default points at the local MongoDB-compatible server that `make run` starts.
MONGODB_URI = env_str("MONGODB_URI", "") or "mongodb://127.0.0.1:27018/rappi?directConnection=true"
MONGODB_TIMEOUT_MS = env_int("MONGODB_TIMEOUT_MS", 2000)

# --- Identity ------------------------------------------------------------------
AUTH_USER_MODEL = "identity.User"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env_int("JWT_ACCESS_MINUTES", 15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env_int("JWT_REFRESH_DAYS", 14)),
    # Rotation and reuse detection are done by identity.services against the
    # session table, not by simplejwt's blacklist app.
    "ROTATE_REFRESH_TOKENS": False,
    "BLACKLIST_AFTER_ROTATION": False,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": env_str("JWT_SIGNING_KEY", "") or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

# --- API -----------------------------------------------------------------------
REST_FRAMEWORK: dict[str, Any] = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["identity.authentication.SessionJWTAuthentication"],
    # The second refuses query parameters the endpoint does not document (400).
    "DEFAULT_PERMISSION_CLASSES": [
        "rappi.api.permissions.HasResourcePermission",
        "rappi.api.permissions.DeclaredQueryParameters",
    ],
    "DEFAULT_PARSER_CLASSES": ["rappi.api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rappi.api.renderers.JSONRenderer"],
    "DEFAULT_PAGINATION_CLASS": "rappi.api.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": [
        "rappi.api.filters.FilterBackend",
        "rappi.api.filters.SearchFilter",
        "rappi.api.filters.OrderingFilter",
    ],
    "DEFAULT_THROTTLE_CLASSES": [
        "rappi.api.throttling.AnonRateThrottle",
        "rappi.api.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env_str("THROTTLE_ANON", "120/min"),
        "user": env_str("THROTTLE_USER", "1200/min"),
        "login_ip": env_str("THROTTLE_LOGIN_IP", "20/min"),
        "login_account": env_str("THROTTLE_LOGIN_ACCOUNT", "5/min"),
    },
    "EXCEPTION_HANDLER": "rappi.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "rappi.api.schema.AutoSchema",
    "DATETIME_FORMAT": "iso-8601",
    "COERCE_DECIMAL_TO_STRING": True,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_MAX_PAGE_SIZE = 200
# Proxies (addresses or CIDR networks) whose X-Forwarded-For is believed, for the client
# IP used by throttling, sessions and the audit log (rappi.net.client_ip).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES", [])
for _proxy in TRUSTED_PROXIES:
    try:
        ipaddress.ip_network(_proxy, strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"TRUSTED_PROXIES: {_proxy!r} is not an IP address or network"
        ) from None
IDEMPOTENCY_TTL_HOURS = env_int("IDEMPOTENCY_TTL_HOURS", 24)
# A claimed key with no stored answer after this long belongs to a request that died.
IDEMPOTENCY_IN_FLIGHT_SECONDS = env_int("IDEMPOTENCY_IN_FLIGHT_SECONDS", 120)

SPECTACULAR_SETTINGS = {
    "TITLE": "Rappi API",
    "DESCRIPTION": (
        "Delivery-logistics back office. Authenticate with `Authorization: Bearer <access>` "
        "from `/api/v1/auth/login`. Every error answers "
        '`{"error": {"code", "message", "details"}}`.'
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # No badge from validator.swagger.io: it would send our schema's URL off-site.
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "PREPROCESSING_HOOKS": ["rappi.api.schema.spec_spelled_paths"],
    # Several models have a `status`; each choice set gets its own, stable schema name.
    "ENUM_NAME_OVERRIDES": {
        "OrderStatusEnum": "orders.models.OrderStatus",
        "DestinationStatusEnum": "orders.models.DestinationStatus",
        "PaymentStatusEnum": "orders.models.PaymentStatus",
        "VehicleStatusEnum": "fleet.models.VehicleStatus",
        "AssignmentOutputStatusEnum": "fleet.models.AssignmentStatus",
        "DriverAvailabilityEnum": "fleet.models.Availability",
        "VehicleTypeEnum": "fleet.models.VehicleType",
        "IncidentTypeEnum": "fleet.models.IncidentType",
        "ReportableIncidentTypeEnum": "fleet.models.REPORTABLE_INCIDENT_TYPES",
        "EvidenceKindEnum": "tracking.documents.EVIDENCE_KINDS",
        "GeofenceKindEnum": "tracking.documents.GEOFENCE_KINDS",
        "GeofenceZoneKindEnum": "tracking.geofences.ZONE_KINDS",
        "GeofenceEventTypeEnum": "tracking.documents.GEOFENCE_EVENT_TYPES",
        "AuditKindEnum": "audit.documents.AUDIT_KINDS",
    },
}

CORS_ALLOWED_ORIGINS = env_list("CORS_ALLOWED_ORIGINS", [])
CORS_URLS_REGEX = r"^/api/.*$"
CORS_EXPOSE_HEADERS = ["X-Request-ID", "Retry-After"]
CORS_ALLOW_HEADERS = [
    "accept",
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
]

# --- External services (each faked at its HTTP boundary in tests) -----------------------
# Routing: OSRM when OSRM_URL is set, else great-circle distance times a detour factor at an
# average speed.
OSRM_URL = env_str("OSRM_URL", "")
ROUTING_DETOUR_FACTOR = float(env_str("ROUTING_DETOUR_FACTOR", "1.3"))
ROUTING_AVERAGE_SPEED_KMH = float(env_str("ROUTING_AVERAGE_SPEED_KMH", "25"))
# Every route gets a corridor geofence this many metres either side of its geometry.
ROUTE_CORRIDOR_TOLERANCE_M = float(env_str("ROUTE_CORRIDOR_TOLERANCE_M", "80"))
EXTERNAL_HTTP_TIMEOUT_S = float(env_str("EXTERNAL_HTTP_TIMEOUT_S", "5"))
# Payments: `simulated` (default) or `mercadopago` (Checkout Pro).
PAYMENT_PROVIDER = env_str("PAYMENT_PROVIDER", "simulated")
MP_ACCESS_TOKEN = env_str("MP_ACCESS_TOKEN", "")
MP_WEBHOOK_SECRET = env_str("MP_WEBHOOK_SECRET", "")
MP_API_URL = env_str("MP_API_URL", "https://api.mercadopago.com")
# Webhook signatures older than this are refused (replayed captures).
MP_WEBHOOK_TOLERANCE_S = env_int("MP_WEBHOOK_TOLERANCE_S", 300)
# Public base URL of this deployment, for provider callbacks and back links.
PUBLIC_BASE_URL = env_str("PUBLIC_BASE_URL", "http://127.0.0.1:8000")
# The simulated provider's checkout link (a signed token in the URL) works this long.
SIMULATED_CHECKOUT_MAX_AGE_S = env_int("SIMULATED_CHECKOUT_MAX_AGE_S", 30 * 60)
# RUC registry lookup (optional); fail-open accepts a checksum-valid RUC when it is down.
RUC_LOOKUP_URL = env_str("RUC_LOOKUP_URL", "")
RUC_LOOKUP_TOKEN = env_str("RUC_LOOKUP_TOKEN", "")
RUC_LOOKUP_FAIL_OPEN = env_bool("RUC_LOOKUP_FAIL_OPEN", True)

# --- Evidence uploads (proofs of delivery, incident files) ------------------------------
EVIDENCE_MAX_FILE_BYTES = env_int("EVIDENCE_MAX_FILE_BYTES", 10 * 1024 * 1024)
EVIDENCE_MAX_REQUEST_BYTES = env_int("EVIDENCE_MAX_REQUEST_BYTES", 25 * 1024 * 1024)
# Decoded pixels, read from the image headers before anything is decoded (a 187 KB PNG can
# hold 64 MP, about 256 MB decoded). 52 MP admits full-resolution 48 and 50 MP phone photos
# (8160 x 6144); 104 MP per request is two of those, or eight 12 MP ones.
EVIDENCE_MAX_IMAGE_PIXELS = env_int("EVIDENCE_MAX_IMAGE_PIXELS", 52_000_000)
EVIDENCE_MAX_REQUEST_PIXELS = env_int("EVIDENCE_MAX_REQUEST_PIXELS", 104_000_000)
# Images decoded at once per process (each up to ~8 bytes a pixel of the per-image limit,
# ~400 MB): with gunicorn's threads, this bounds a worker's memory, not just a request's.
EVIDENCE_DECODE_CONCURRENCY = max(1, env_int("EVIDENCE_DECODE_CONCURRENCY", 1))

# --- GPS tracking (see tracking/pings/ingest.py) -------------------------------------
# TTL of stored fixes and last positions, in days (0 keeps them forever).
GPS_RETENTION_DAYS = env_int("GPS_RETENTION_DAYS", 90)
# Fixes per ping request (at most 500; a larger batch is 413).
GPS_BATCH_MAX_FIXES = env_int("GPS_BATCH_MAX_FIXES", 500)
# A fix less accurate than this (radius in metres) is rejected.
GPS_MAX_ACCURACY_M = float(env_str("GPS_MAX_ACCURACY_M", "100"))
# Faster than this from the previous accepted fix is physically impossible.
GPS_MAX_SPEED_KMH = float(env_str("GPS_MAX_SPEED_KMH", "200"))
# How far a phone's clock may run ahead of (or a fix precede the start of a run by) ours.
GPS_CLOCK_SKEW_S = env_int("GPS_CLOCK_SKEW_S", 120)
# A run whose last fix is older than this is shown as stale.
GPS_STALE_AFTER_S = env_int("GPS_STALE_AFTER_S", 120)
# The console's overview warns about orders still unpaid this many days after creation.
UNPAID_WARNING_DAYS = env_int("UNPAID_WARNING_DAYS", 2)
# The console calls a driver on a run "silent" after this long without a fix.
DRIVER_SILENT_AFTER_S = env_int("DRIVER_SILENT_AFTER_S", 300)
# Leaving a geofence is confirmed by this many consecutive fixes outside it, or by fixes
# outside it spanning this many seconds, whichever comes first (see tracking/events.py).
GEOFENCE_EXIT_FIXES = max(1, env_int("GEOFENCE_EXIT_FIXES", 3))
GEOFENCE_EXIT_SECONDS = max(0, env_int("GEOFENCE_EXIT_SECONDS", 30))

# --- Audit (see audit/) ---------------------------------------------------------
AUDIT_ENABLED = env_bool("AUDIT_ENABLED", True)
# TTL of the records (0 keeps them forever).
AUDIT_RETENTION_DAYS = env_int("AUDIT_RETENTION_DAYS", 90)
# Records MongoDB cannot take right now wait here (append-only files, replayed in order).
AUDIT_SPOOL_DIR = Path(env_str("AUDIT_SPOOL_DIR", "") or VAR_DIR / "audit-spool")
AUDIT_SPOOL_MAX_BYTES = env_int("AUDIT_SPOOL_MAX_MB", 512) * 1024 * 1024
AUDIT_QUEUE_SIZE = env_int("AUDIT_QUEUE_SIZE", 10000)
# Records per insert; small enough that no single MongoDB command runs long (mongoeco
# serves one command at a time, at some milliseconds per document).
AUDIT_BATCH_SIZE = env_int("AUDIT_BATCH_SIZE", 50)
# How long the writer waits for more records to join a batch it has begun (0: none).
AUDIT_LINGER_MS = env_int("AUDIT_LINGER_MS", 20)
# The writer's own MongoDB client gives up this fast, so an outage is noticed at once.
AUDIT_MONGODB_TIMEOUT_MS = env_int("AUDIT_MONGODB_TIMEOUT_MS", 500)
AUDIT_RETRY_SECONDS = float(env_str("AUDIT_RETRY_SECONDS", "2"))
# Path prefixes never recorded (STATIC_URL is always added).
AUDIT_EXCLUDE_PATHS = ["/healthz", "/readyz", "/api/docs/", "/api/schema/"]
# Paths whose `secret` group is a credential: the request and audit logs keep `<secret>`.
SECRET_PATH_PATTERNS = [r"^/pay/simulated/(?P<secret>[^/]+)"]

# --- Internationalisation --------------------------------------------------------
# API clients without Accept-Language get English; browsers asking for Spanish get it.
LANGUAGE_CODE = "en"
LANGUAGES = [("es", "Español"), ("en", "English")]
TIME_ZONE = "America/Lima"
USE_I18N = True
USE_TZ = True
LOCALE_PATHS = [BASE_DIR / "locale"]
# Peru writes numbers with a decimal point in Spanish too.
FORMAT_MODULE_PATH = ["rappi.formats"]

# --- Static files (served by whitenoise) ------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# The console's sign-in (the admin has its own at /admin/login/).
LOGIN_URL = "console:login"
# Console and admin sessions last a working shift, then their user signs in again.
SESSION_COOKIE_AGE = env_int("CONSOLE_SESSION_HOURS", 12) * 3600
# The console speaks this until its user picks another language.
CONSOLE_LANGUAGE = "es"

# --- Content security policy (django-csp) -------------------------------------------
# Pages run only this site's own scripts and styles: no inline code, no other origin.
# Maps draw tiles from MAP_TILE_URL (`{s}` may stand for the host's first label);
# CSP_IMG_SRC_EXTRA lists further origins pages may show images from.
MAP_TILE_URL = env_str("MAP_TILE_URL", "") or "https://tile.openstreetmap.org/{z}/{x}/{y}.png"
MAP_TILE_ATTRIBUTION = env_str(
    "MAP_TILE_ATTRIBUTION",
    '&copy; <a href="https://www.openstreetmap.org/copyright">OpenStreetMap</a> contributors',
)
# Where a map with nothing to show yet opens: Arequipa's main square.
_map_center = env_list("MAP_CENTER", ["-16.3989", "-71.5369"])
try:
    MAP_CENTER = tuple(float(value) for value in _map_center)
    if len(MAP_CENTER) != 2 or abs(MAP_CENTER[0]) > 90 or abs(MAP_CENTER[1]) > 180:
        raise ValueError
except ValueError:
    raise ImproperlyConfigured(f"MAP_CENTER: {_map_center!r} must be 'lat,lng'") from None
MAP_ZOOM = env_int("MAP_ZOOM", 13)
CSP_IMG_SRC_EXTRA = env_list("CSP_IMG_SRC_EXTRA", [])


def _tile_origin(url: str) -> list[str]:
    """The CSP source for a tile URL template; none for tiles served by this site."""
    parts = urlsplit(url)
    if not parts.netloc:
        return []
    labels = parts.netloc.split(".")
    if parts.scheme not in ("http", "https") or any("{" in label for label in labels[1:]):
        raise ImproperlyConfigured(
            f"MAP_TILE_URL: {url!r} must be an http(s) URL; only the first label of its "
            "host may be a placeholder ({s})"
        )
    if "{" in labels[0]:
        labels[0] = "*"
    return [f"{parts.scheme}://{'.'.join(labels)}"]


CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:", *_tile_origin(MAP_TILE_URL), *CSP_IMG_SRC_EXTRA],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    }
}

# --- Logging: one JSON object per line on stdout -------------------------------------
LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "rappi.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "rappi.logging.JsonFormatter"}},
    "handlers": {
        "stdout": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["stdout"], "level": LOG_LEVEL},
    "loggers": {
        # Requests are logged once by rappi.middleware; Django's own lines would repeat them.
        "django.request": {"level": "ERROR", "handlers": ["stdout"], "propagate": False},
        "django.server": {"level": "WARNING"},
        "pymongo": {"level": "WARNING"},
        "mongoeco": {"level": "WARNING"},
    },
}
