"""Settings for acsportal, read once from the environment.

Every variable is documented in the README with its default. The defaults
make ``make run`` work on a fresh machine: SQLite under ``var/``, an
in-process cache and channel layer, and the database job queue. Setting
``DATABASE_URL`` and ``REDIS_URL`` moves the same code onto PostgreSQL and
Redis, which is what more than one server process needs.
"""

import base64
import hashlib
import hmac
import os
import secrets
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

VAR_DIR = Path(env.str("ACS_VAR_DIR", default=str(BASE_DIR / "var")))
# var/ holds the SQLite database, the secret key and make run's credentials:
# its owner's only (created so; manage.py acs_seed tightens an older one).
VAR_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)


def _secret_key() -> str:
    """Keep a generated key under var/ so sessions and nonces survive restarts."""
    path = VAR_DIR / "secret_key"
    if not path.exists():
        # Created 0600: never readable by others, not even between open and chmod.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process of this first start made it
            pass
        else:
            with os.fdopen(fd, "w") as file:
                file.write(secrets.token_urlsafe(50))
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
    "axes",
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
    # Last, as django-axes asks: it answers a locked-out login with 429.
    "axes.middleware.AxesMiddleware",
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
    # Created empty and 0600 before SQLite opens it (SQLite gives its -wal and
    # -shm files the database's mode): nobody else reads the devices' secrets.
    _sqlite_name = str(DATABASES["default"]["NAME"])
    _sqlite_path = Path(_sqlite_name)
    if (
        _sqlite_name not in ("", ":memory:")
        and not _sqlite_name.startswith("file:")
        and _sqlite_path.parent.is_dir()
        and not _sqlite_path.exists()
    ):
        try:
            os.close(os.open(_sqlite_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        except FileExistsError:  # another process made it meanwhile
            pass
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
        # Under ASGI (make run's granian, daphne) Django runs each request's
        # synchronous code in a thread that ends with the request, so every
        # such thread left a persistent connection open ("too many clients"
        # at 32 concurrent CPE sessions, measured). There connections come
        # from psycopg's pool instead and go back to it at the end of each
        # request; asgi.py says ACS_SERVER=asgi. WSGI threads live on:
        # persistent connections there.
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
    # First: a locked-out login is refused before a password is checked.
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# Staff logins (django-axes): after ACS_LOGIN_FAILURE_LIMIT failures for one
# username from one address, or from one address whatever the username,
# that login is refused (429) for ACS_LOGIN_COOLOFF_MINUTES; a success
# forgets the failures. The address is the one CWMP_TRUSTED_PROXIES forward.
AXES_FAILURE_LIMIT = env.int("ACS_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ACS_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"], "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "acsportal.infra.http.client_address"
AXES_HTTP_RESPONSE_CODE = 429

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


# --- HTTPS (behind the TLS front) --------------------------------------------
# Served over TLS (the TLS front, nginx): the public URL is https:// unless
# ACS_TLS says otherwise. Then the browser's cookies are Secure and HSTS is
# sent to browsers (SecurityMiddleware: staff paths only; CPEs ignore both).
ACS_TLS = env.bool("ACS_TLS", default=ACS_PUBLIC_URL.startswith("https://"))
if CWMP_TRUSTED_PROXIES:
    # The proxy's word for the client's scheme (it terminated TLS). Believed
    # only because acsportal.infra.forwarded, wrapped around every request in
    # wsgi.py and asgi.py, drops the header from anyone not in
    # CWMP_TRUSTED_PROXIES; Django alone would believe any client.
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = ACS_TLS
CSRF_COOKIE_SECURE = ACS_TLS
# Off by default: behind the TLS front every staff request is HTTPS already,
# and the lab's direct port (make run) would be sent to an https:// port that
# does not exist. Production sets it (README, Configuration).
SECURE_SSL_REDIRECT = env.bool("ACS_SSL_REDIRECT", default=False)
# Browsers ignore HSTS from IP literals but not from "localhost", which a
# year of HSTS would pin to HTTPS for every other project on the machine.
_public_host = (urlsplit(ACS_PUBLIC_URL).hostname or "").lower()
_hsts_default = 365 * 86400 if ACS_TLS and not _public_host.endswith("localhost") else 0
SECURE_HSTS_SECONDS = env.int("ACS_HSTS_SECONDS", default=_hsts_default)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("ACS_HSTS_INCLUDE_SUBDOMAINS", default=ACS_TLS)
# A promise about the whole domain: the operator's to make (README, Configuration).
SECURE_HSTS_PRELOAD = env.bool("ACS_HSTS_PRELOAD", default=False)


# --- Secrets at rest ----------------------------------------------------------
def _derived_field_key(secret: str) -> str:
    """A Fernet key from SECRET_KEY, so make run encrypts without a setting of its own."""
    digest = hmac.new(secret.encode(), b"acsportal field encryption key", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode()


# Keys of the secrets stored encrypted (connection-request passwords,
# acsportal/infra/fieldcrypt.py): Fernet keys, the first encrypts, all
# decrypt; rotation is manage.py acs_rotate_keys. The default is derived from
# SECRET_KEY: changing SECRET_KEY then needs the old derived key listed here.
ACS_FIELD_KEYS = env.list("ACS_FIELD_KEYS", default=[]) or [_derived_field_key(SECRET_KEY)]


# --- Logging ----------------------------------------------------------------
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Signed file links are credentials: no log line keeps one (acsportal/accesslog.py).
    "filters": {"file_links": {"()": "acsportal.accesslog.RedactFileLinks"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["file_links"],
        }
    },
    "root": {"handlers": ["console"], "level": env.str("ACS_LOG_LEVEL", default="INFO")},
    # django-axes announces itself at every start: not news.
    "loggers": {"django.server": {"level": "WARNING"}, "axes.apps": {"level": "WARNING"}},
}
