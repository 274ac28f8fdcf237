"""Settings for acsportal, read once from the environment.

Every variable is documented in the README with its default. The defaults
make ``make run`` work on a fresh machine: SQLite under ``var/``, an
in-process cache and channel layer, and the database job queue. Setting
``DATABASE_URL`` and ``REDIS_URL`` moves the same code onto PostgreSQL and
Redis, which is what more than one server process needs.
"""

import os
import secrets
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

VAR_DIR = Path(env.str("ACS_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """Keep a generated key under var/ so sessions and nonces survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = env.str("SECRET_KEY", default="") or _secret_key()
DEBUG = env.bool("ACS_DEBUG", default=False)
# CPEs reach the ACS by whatever address they were given (often an IP), so the
# Host header cannot be pinned by default; operators narrow it in production.
ALLOWED_HOSTS = env.list("ACS_ALLOWED_HOSTS", default=["*"])
ACS_HOST = env.str("ACS_HOST", default="127.0.0.1")
ACS_PORT = env.int("ACS_PORT", default=8000)

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "guardian",
    "channels",
    "django_tasks",
    "django_tasks_db",
    "tenants",
    "devices",
    "provisioning",
    "cwmp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "acsportal.urls"
WSGI_APPLICATION = "acsportal.wsgi.application"
ASGI_APPLICATION = "acsportal.asgi.application"

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
            ],
        },
    },
]

# --- Database -------------------------------------------------------------
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'acsportal.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["ENGINE"] = "acsportal.infra.sqlite"
    # WAL lets the job worker and readers run beside the server; IMMEDIATE
    # transactions take the write lock up front instead of failing on upgrade.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=20000;"
        ),
    }
    # A file, not memory, so end-to-end tests can point the real server at it.
    # One per test process, so concurrent runs never share it.
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / f"test-{os.getpid()}.sqlite3")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("ACS_DB_CONN_MAX_AGE", 60))
    # A health check is a round trip (SELECT 1) at the start of every request
    # that reuses a connection. Off by default: a connection that died (a
    # database restart) fails the one request that meets it, which the CWMP
    # view answers with 503 + Retry-After, and Django drops it afterwards.
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("ACS_DB_CONN_HEALTH_CHECKS", False)
    # Parameters sent apart from the SQL (psycopg's server-side binding), so
    # psycopg prepares the statements a connection runs again and again (the
    # CWMP path's few) and no Python code quotes values into SQL text. Off
    # behind a PgBouncer in transaction mode, which cannot keep prepared
    # statements.
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        options = DATABASES["default"].setdefault("OPTIONS", {})
        options["server_side_binding"] = env.bool("ACS_DB_SERVER_SIDE_BINDING", True)
        if options["server_side_binding"]:
            # psycopg prepares a statement the fifth time a connection runs it.
            options["prepare_threshold"] = 5
        # Under ASGI (daphne) Django runs each request's synchronous code in a
        # thread that ends with the request, so every such thread left a
        # persistent connection open ("too many clients" at 32 concurrent
        # CPE sessions, measured). There connections come from psycopg's pool
        # instead and go back to it at the end of each request; asgi.py says
        # ACS_SERVER=asgi. WSGI threads live on: persistent connections there.
        if env.bool("ACS_DB_POOL", default=env.str("ACS_SERVER", "wsgi") == "asgi"):
            DATABASES["default"]["CONN_MAX_AGE"] = 0
            options["pool"] = {
                "min_size": 2,
                "max_size": env.int("ACS_DB_POOL_MAX_SIZE", 16),
                "timeout": 10,
            }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache, channel layer, CWMP session store --------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": "acs",
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "prefix": "acs:ch:"},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Publish each CWMP session step on the channel layer for live views.
ACS_LIVE_EVENTS = env.bool("ACS_LIVE_EVENTS", default=True)

# --- Jobs (django-tasks; the database queue is the embedded default) ---------
TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}

# --- Auth -----------------------------------------------------------------
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# --- I18N, static -----------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
STATIC_ROOT.mkdir(exist_ok=True)
# Serve admin assets straight from the app directories, so make run needs no
# collectstatic step.
WHITENOISE_USE_FINDERS = True

# Uploaded and served files (firmware, configuration backups).
MEDIA_ROOT = Path(env.str("ACS_MEDIA_ROOT", default=str(VAR_DIR / "media")))
MEDIA_URL = "/media-not-served/"  # files are only served through authenticated views
# The base URL CPEs use to reach this ACS (file links, upload URLs).
ACS_PUBLIC_URL = env.str("ACS_PUBLIC_URL", default=f"http://{ACS_HOST}:{ACS_PORT}").rstrip("/")
ACS_MAX_FILE_BYTES = env.int("ACS_MAX_FILE_BYTES", default=512 * 1024 * 1024)
ACS_FILE_LINK_TTL = env.int("ACS_FILE_LINK_TTL", default=86400)
# Seconds a transfer the device accepted (Download, Upload, ScheduleDownload)
# may go without its TransferComplete before the task expires (0: never);
# counted from when the device may start it. A caller's own expiry wins.
ACS_TRANSFER_TIMEOUT = env.int("ACS_TRANSFER_TIMEOUT", default=86400)

# --- CWMP -------------------------------------------------------------------
# Largest request body accepted from a CPE (after gzip decoding): an Inform or
# a GetParameterValuesResponse of a big tree fits well inside it.
CWMP_MAX_BODY_BYTES = env.int("CWMP_MAX_BODY_BYTES", default=4 * 1024 * 1024)
# Idle time after which a CWMP session is considered abandoned (TR-069 3.7.1.4
# lets an ACS time out a silent CPE; 30 s is what most ACSes use).
CWMP_SESSION_TIMEOUT = env.int("CWMP_SESSION_TIMEOUT", default=30)
# Concurrent sessions accepted before new ones get 503 + Retry-After.
CWMP_MAX_SESSIONS = env.int("CWMP_MAX_SESSIONS", default=1000)
CWMP_RETRY_AFTER = env.int("CWMP_RETRY_AFTER", default=60)
# Each tenant's and each source address's share of those sessions, so that one
# tenant's (or one address's) flood of half-open sessions leaves the others
# room (0: no share of its own, only CWMP_MAX_SESSIONS). Behind a proxy the
# address is the CPE's only when the proxy is in CWMP_TRUSTED_PROXIES.
CWMP_MAX_SESSIONS_PER_TENANT = env.int(
    "CWMP_MAX_SESSIONS_PER_TENANT", default=max(1, CWMP_MAX_SESSIONS // 2)
)
CWMP_MAX_SESSIONS_PER_ADDRESS = env.int("CWMP_MAX_SESSIONS_PER_ADDRESS", default=50)
# Devices created by first contact (not pre-registered), per tenant: at most
# this many a minute, and at most this many provisional ones in all (0: no
# limit). Raise them for a planned migration of a fleet to this ACS.
CWMP_NEW_DEVICES_PER_MINUTE = env.int("CWMP_NEW_DEVICES_PER_MINUTE", default=60)
CWMP_MAX_PROVISIONAL_DEVICES = env.int("CWMP_MAX_PROVISIONAL_DEVICES", default=10000)
# Failed CPE authentications (both CPE doors) within a window of this many
# seconds after which a device identity, or a source address, gets 429 +
# Retry-After until the window ends (0: no limit). An address is allowed more:
# many CPEs may share one behind a carrier-grade NAT.
CWMP_AUTH_FAILURE_WINDOW = env.int("CWMP_AUTH_FAILURE_WINDOW", default=300)
CWMP_AUTH_FAILURES_PER_DEVICE = env.int("CWMP_AUTH_FAILURES_PER_DEVICE", default=10)
CWMP_AUTH_FAILURES_PER_ADDRESS = env.int("CWMP_AUTH_FAILURES_PER_ADDRESS", default=100)
# New sessions are also refused while requests wait longer than this in front
# of the server (a standing queue, cwmp/endpoint/overload.py); 0 turns that off.
CWMP_QUEUE_TARGET_MS = env.int("CWMP_QUEUE_TARGET_MS", default=250)
CWMP_QUEUE_INTERVAL_MS = env.int("CWMP_QUEUE_INTERVAL_MS", default=1000)
# How often each server process closes the logs of sessions whose CPE went
# silent (cwmp/endpoint/housekeeping.py).
CWMP_HOUSEKEEPING_INTERVAL = env.int("CWMP_HOUSEKEEPING_INTERVAL", default=60)
# Addresses of reverse proxies whose X-Forwarded-For / X-Client-Port (the
# CPE's own address and port) are trusted; the CWMP path keys cookie-less
# sessions on that pair.
CWMP_TRUSTED_PROXIES = env.list("CWMP_TRUSTED_PROXIES", default=[])
# Digest algorithms offered in challenges, in order of preference. MD5 alone
# by default: many CPE stacks fail on a SHA-256 challenge or on several
# challenges in one header. Responses with either algorithm are accepted.
CWMP_DIGEST_ALGORITHMS = env.list("CWMP_DIGEST_ALGORITHMS", default=["MD5"])
CWMP_NONCE_TTL = env.int("CWMP_NONCE_TTL", default=300)
# Seconds a tenant object stays cached in each process on the CWMP path.
CWMP_TENANT_CACHE_SECONDS = env.int("CWMP_TENANT_CACHE_SECONDS", default=30)

# Connection requests (cwmp/wakeup/connreq.py, cwmp/wakeup/udp.py, cwmp/wakeup/jobs.py).
CWMP_CONNREQ_TIMEOUT = env.float("CWMP_CONNREQ_TIMEOUT", default=5.0)
CWMP_CONNREQ_TLS_VERIFY = env.bool("CWMP_CONNREQ_TLS_VERIFY", default=True)
CWMP_CONNREQ_UDP_COPIES = env.int("CWMP_CONNREQ_UDP_COPIES", default=3)
CWMP_CONNREQ_UDP_SPACING = env.float("CWMP_CONNREQ_UDP_SPACING", default=0.5)
CWMP_CONNREQ_DEVICE_INTERVAL = env.float("CWMP_CONNREQ_DEVICE_INTERVAL", default=10.0)
CWMP_CONNREQ_TENANT_RATE = env.int("CWMP_CONNREQ_TENANT_RATE", default=50)
# Mass connection requests (campaigns, bulk tasks): devices per batch job, and
# requests in flight at once within one batch.
CWMP_CONNREQ_BATCH = env.int("CWMP_CONNREQ_BATCH", default=200)
CWMP_CONNREQ_CONCURRENCY = env.int("CWMP_CONNREQ_CONCURRENCY", default=50)
# The STUN server (TR-111 Part 2) CPEs behind NAT keep their bindings with.
CWMP_STUN_HOST = env.str("CWMP_STUN_HOST", default="127.0.0.1")
CWMP_STUN_PORT = env.int("CWMP_STUN_PORT", default=3478)
CWMP_STUN_RELAY = env.str("CWMP_STUN_RELAY", default="")
CWMP_STUN_WORKERS = env.int("CWMP_STUN_WORKERS", default=4)
CWMP_STUN_RECORD_INTERVAL = env.float("CWMP_STUN_RECORD_INTERVAL", default=60.0)

# --- Logging ----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("ACS_LOG_LEVEL", default="INFO")},
    "loggers": {"django.server": {"level": "WARNING"}},
}
