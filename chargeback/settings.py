"""OpenChargeback settings: one module, driven by the environment (and an optional `.env`).

Production is a set of environment values, never another settings file. Every reader refuses
a value it cannot understand instead of guessing.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from dotenv import load_dotenv

from chargeback.logging import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
load_dotenv(os.environ.get("OPENCHARGEBACK_ENV_FILE", BASE_DIR / ".env"), override=False)


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r} is not a boolean (use true or false)")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not an integer") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


def env_dir(name: str) -> str:
    """An existing directory (absolute), or "" when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return ""
    path = Path(raw).expanduser().resolve()
    if not path.is_dir():
        raise ImproperlyConfigured(f"{name}={raw!r} is not a directory")
    return str(path)


def env_seconds_list(name: str, default: str) -> list[int]:
    values = env_list(name, default)
    if not values or not all(v.isdigit() and int(v) > 0 for v in values):
        raise ImproperlyConfigured(f"{name}={os.environ.get(name)!r} is not a comma-separated list of seconds")
    return [int(v) for v in values]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set (or DEBUG=true for a development machine)")
    SECRET_KEY = "insecure-development-key-set-SECRET_KEY-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

DATA_DIR = Path(env_str("OPENCHARGEBACK_DATA_DIR", str(BASE_DIR / "var"))).resolve()
MEDIA_ROOT = DATA_DIR / "media"
MEDIA_URL = "/media/"
# The Docker image collects static files at build time into the image (OPENCHARGEBACK_STATIC_ROOT),
# so an upgrade never serves the previous version's files from the data volume.
STATIC_ROOT = Path(env_str("OPENCHARGEBACK_STATIC_ROOT", str(DATA_DIR / "static"))).resolve()
STATIC_URL = "/static/"
# Static files are served by the app itself (WhiteNoise), so one gunicorn needs no extra server.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
if DEBUG:
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}

INSTALLED_APPS = [
    "chargeback.apps.ChargebackAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "allauth",
    "allauth.account",
    # Staff's second factor: an authenticator app (TOTP) and recovery codes (chargeback.mfa).
    "allauth.mfa",
    # Single sign-on (OpenID Connect); a provider exists only when OIDC_* is set (see below).
    "allauth.socialaccount",
    "allauth.socialaccount.providers.openid_connect",
    "django_tables2",
    "django_filters",
    "chargeback.apps.ChargebackConfig",
    "billing",
    "statements",
    "journals",
    "statements.portal.apps.PortalConfig",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "chargeback.middleware.ContentSecurityPolicyMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Before anything reads the request body (sessions do not; CSRF and forms do).
    "chargeback.middleware.UploadLimitMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication, so log lines can name the signed-in person.
    "chargeback.middleware.RequestContextMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Finance admins and superusers without an authenticator app are sent to set one up.
    "chargeback.mfa.StaffMfaMiddleware",
    # Last, so it sees a view's exception first: SQLite busy with another writer is a 503.
    "chargeback.middleware.DatabaseBusyMiddleware",
]

ROOT_URLCONF = "chargeback.urls"
WSGI_APPLICATION = "chargeback.wsgi.application"

# An installation's own templates (the statement PDF, say: statements/statement_pdf.html) in this
# folder are found before the project's, so a letterhead needs no change to the code.
OPENCHARGEBACK_TEMPLATE_DIR = env_dir("OPENCHARGEBACK_TEMPLATE_DIR")
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [*([OPENCHARGEBACK_TEMPLATE_DIR] if OPENCHARGEBACK_TEMPLATE_DIR else []), BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "statements.portal.accounts.admin_branding",
            ],
        },
    },
]

_default_db = f"sqlite:///{DATA_DIR / 'openchargeback.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(env_str("DATABASE_URL", _default_db), conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the portal read while an import writes; IMMEDIATE avoids "database is locked"
    # surprises when two writers meet. Pragmas are applied in chargeback.apps on connect.
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A writer waits this many seconds for another (a long import) before giving up with
    # "database is locked": one line on the command line, a 503 with Retry-After on the web.
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": env_int("OPENCHARGEBACK_SQLITE_TIMEOUT", 20),
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

# Sign-in (django-allauth): staff sign in by email at /accounts/login/, which is also where the
# admin sends anyone signed out (chargeback.admin_site). Accounts are created by administrators
# in the admin; nobody signs up (statements.portal.accounts.AccountAdapter).
AUTHENTICATION_BACKENDS = [
    # `client.login(username=...)`, `createsuperuser` and `changepassword` keep working.
    "django.contrib.auth.backends.ModelBackend",
    # allauth's backend (email sign-in), also matching addresses typed with capitals in the admin.
    "statements.portal.accounts.EmailAuthenticationBackend",
]
ACCOUNT_ADAPTER = "statements.portal.accounts.AccountAdapter"
SOCIALACCOUNT_ADAPTER = "statements.portal.accounts.SocialAccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
# Signup is closed, but allauth checks the login method against these fields.
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
# Staff addresses are typed by the administrator who creates the account, so they have no
# verified EmailAddress row: "mandatory" would hold each new colleague at a "confirm your email"
# page on first sign-in. "optional" lets them in and still confirms addresses added later.
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_RATE_LIMITS = {
    # Failed sign-ins: 10 a minute from one address, 5 in 5 minutes for one email; after that
    # even the right password is refused until the window passes.
    "login_failed": "10/m/ip,5/5m/key",
    # Sign-in codes: 20 a minute from one address, 3 a minute and 10 an hour for one email.
    "request_login_code": "20/m/ip,3/m/key,10/h/key",
}
# PIs and their delegates sign in with a one-time code sent to their address (or a password,
# if they set one). Asking for a code for an address of a PI or delegate without an account
# creates the account (statements.portal.accounts.RequestLoginCodeForm); the code proves the address,
# and a verified address is what links the account to its PI record. The page says the same
# thing whether or not the address is known, and nothing is sent to unknown addresses.
ACCOUNT_LOGIN_BY_CODE_ENABLED = True
ACCOUNT_LOGIN_BY_CODE_TIMEOUT = 10 * 60
ACCOUNT_LOGIN_BY_CODE_MAX_ATTEMPTS = 3
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_EMAIL_UNKNOWN_ACCOUNTS = False
# Codes and password resets go only to the account whose address it is (a verified address, or
# the account's own); nobody adds addresses to their account (chargeback.urls, statements.portal.accounts).
ACCOUNT_FORMS = {
    "request_login_code": "statements.portal.accounts.RequestLoginCodeForm",
    "reset_password": "statements.portal.accounts.ResetPasswordForm",
}
# A password change signs the account out everywhere, this browser included.
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = True
# A password reset by mail never signs in: the sign-in that follows asks for the second factor.
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False

# Two-factor sign-in (allauth.mfa): an authenticator app, with recovery codes for a lost phone.
# Required for finance admins and superusers (chargeback.mfa), optional for everyone else; once an
# account has an app, every sign-in asks for its code. Signup is closed, so allauth's reason to
# demand a verified address first (a stranger signing up with someone's address and locking them
# out) does not arise, and staff addresses typed by an administrator are never "verified" rows.
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes"]
MFA_TOTP_ISSUER = "OpenChargeback"
MFA_ALLOW_UNVERIFIED_EMAIL = True

# Single sign-on through the university's OpenID Connect identity provider, configured here
# (never in the database) and only when OIDC_SERVER_URL and OIDC_CLIENT_ID are set. A social
# login never signs in to an existing account because of a matching email address: it creates
# an account only for a PI or delegate whose address the provider says it verified.
SOCIALACCOUNT_EMAIL_AUTHENTICATION = False
SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT = False
SOCIALACCOUNT_AUTO_SIGNUP = True
SOCIALACCOUNT_STORE_TOKENS = False
SOCIALACCOUNT_LOGIN_ON_GET = False
OIDC_SERVER_URL = env_str("OIDC_SERVER_URL")
OIDC_CLIENT_ID = env_str("OIDC_CLIENT_ID")
SOCIALACCOUNT_PROVIDERS: dict[str, dict[str, object]] = {}
if OIDC_SERVER_URL or OIDC_CLIENT_ID:
    if not (OIDC_SERVER_URL and OIDC_CLIENT_ID):
        raise ImproperlyConfigured("single sign-on needs both OIDC_SERVER_URL and OIDC_CLIENT_ID")
    SOCIALACCOUNT_PROVIDERS["openid_connect"] = {
        "OAUTH_PKCE_ENABLED": True,
        "APPS": [
            {
                "provider_id": env_str("OIDC_PROVIDER_ID", "sso"),
                "name": env_str("OIDC_PROVIDER_NAME", "University sign-in"),
                "client_id": OIDC_CLIENT_ID,
                "secret": env_str("OIDC_CLIENT_SECRET"),
                "settings": {
                    "server_url": OIDC_SERVER_URL,
                    "scope": env_list("OIDC_SCOPES", "openid,email,profile"),
                },
            }
        ],
    }
# Behind N reverse proxies of our own, the client address is taken from X-Forwarded-For;
# with 0 every visitor would share the proxy's address (and its failed-login budget).
ALLAUTH_TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
ACCOUNT_LOGOUT_ON_GET = False  # sign out by POST only
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[OpenChargeback] "
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "/admin/"
LOGOUT_REDIRECT_URL = "account_login"

# Rate limits are counted in the cache: per process unless CACHE_URL names a shared Redis,
# which production (several gunicorn workers) needs for the limits to mean what they say.
CACHE_URL = env_str("CACHE_URL")
if not CACHE_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
elif CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
else:
    raise ImproperlyConfigured(f"CACHE_URL={CACHE_URL!r} is not a redis:// or rediss:// URL")

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True
FORMS_URLFIELD_ASSUME_HTTPS = True  # Django 6's default for URL form fields, today

# Email: files under the data dir unless an SMTP host is configured.
EMAIL_HOST = env_str("EMAIL_HOST")
if EMAIL_HOST:
    EMAIL_BACKEND = "chargeback.mail.SMTPBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)  # STARTTLS (port 587)
    EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)  # TLS from the first byte (port 465)
    if EMAIL_USE_TLS and EMAIL_USE_SSL:
        raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL exclude each other: set one of them to false")
    # The CA certificate (PEM) that signed the server's certificate, when it is not a public one.
    EMAIL_SSL_CAFILE = env_str("EMAIL_SSL_CAFILE")
    if EMAIL_SSL_CAFILE and not Path(EMAIL_SSL_CAFILE).is_file():
        raise ImproperlyConfigured(f"EMAIL_SSL_CAFILE={EMAIL_SSL_CAFILE!r} is not a file")
    EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 30)
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = env_str("EMAIL_FILE_PATH") or str(DATA_DIR / "mail")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "billing@localhost")

# Celery: a Redis broker in production; in-process (eager) when no broker is configured.
CELERY_TASK_ALWAYS_EAGER = not env_str("CELERY_BROKER_URL")
# "memory://localhost//" rather than "memory://": kombu warns about a missing host name otherwise.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL") or "memory://localhost//"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND") or None
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_MAX_TASKS_PER_CHILD = env_int("CELERY_WORKER_MAX_TASKS_PER_CHILD", 200)
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
# A task a dead worker had taken is delivered again after this many seconds (tasks are idempotent).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600)}
CELERY_BEAT_SCHEDULE = {
    # The outbox sweeper: re-queues pending emails whose task the broker lost or whose backoff passed.
    "sweep-outbox": {"task": "statements.tasks.sweep_outbox", "schedule": 60.0},
    # Statement PDFs whose render task was lost are queued again.
    "sweep-statements": {"task": "statements.tasks.sweep_statements", "schedule": 300.0},
    # What killed imports left behind: staging folders in the temporary folder, partial originals.
    "sweep-imports": {"task": "billing.tasks.sweep_imports", "schedule": 3600.0},
    # Award expiry notices (90, 60, 30 days before a fund ends); each is written and sent once.
    "fund-notices": {"task": "statements.tasks.send_fund_notices", "schedule": 86400.0},
    # Portal notices (dispute replies, digests, budget alerts) whose task was lost.
    "sweep-notices": {"task": "statements.tasks.sweep_notices", "schedule": 60.0},
    # Every morning: the reviewers' digest of open disputes, and budget alerts held back by yesterday's digest.
    "dispute-digest": {"task": "statements.tasks.dispute_digest", "schedule": crontab(hour=7, minute=0)},
    "budget-alerts": {"task": "statements.tasks.budget_alerts", "schedule": crontab(hour=7, minute=5)},
}

# `openchargeback serve`: where it listens unless --host and --port say otherwise.
OPENCHARGEBACK_SERVE_HOST = env_str("OPENCHARGEBACK_SERVE_HOST", "127.0.0.1")
OPENCHARGEBACK_SERVE_PORT = env_int("OPENCHARGEBACK_SERVE_PORT", 8000)

# Statements: detail lines per PDF before the smallest are summed on one line; the portal's
# address shown in statement emails; how long a pending email waits before the sweeper re-queues it.
OPENCHARGEBACK_STATEMENT_DETAIL_LINES = env_int("OPENCHARGEBACK_STATEMENT_DETAIL_LINES", 400)
OPENCHARGEBACK_PUBLIC_URL = env_str("OPENCHARGEBACK_PUBLIC_URL")
OPENCHARGEBACK_OUTBOX_STALE_SECONDS = env_int("OPENCHARGEBACK_OUTBOX_STALE_SECONDS", 300)
# Seconds before the 2nd, 3rd, … attempt after a temporary SMTP failure (the last one repeats).
OPENCHARGEBACK_OUTBOX_BACKOFF_SECONDS = env_seconds_list("OPENCHARGEBACK_OUTBOX_BACKOFF_SECONDS", "60,300,900,3600")
# `generate` closes an open month first, as the older tool's did (on by default with its config.yaml).
OPENCHARGEBACK_GENERATE_CLOSES_OPEN = env_bool("OPENCHARGEBACK_GENERATE_CLOSES_OPEN", False)
# Beat answers `celery inspect ping` (its container health check) while its scheduler ticks.
CELERY_BEAT_ENABLE_REMOTE_CONTROL = True

# Imports of at least this many bytes are parsed in a worker process while this one writes
# (two cores busy); -1 parses everything in-process.
OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES = env_int("OPENCHARGEBACK_PARSE_WORKER_MIN_BYTES", 8 * 1024 * 1024)
# Uploads: anything over 2.5 MB goes to a temporary file, never held in the web process's memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440
FILE_UPLOAD_TEMP_DIR = None  # the system's temporary folder
DATA_UPLOAD_MAX_NUMBER_FILES = 50
# The largest upload the admin's import page accepts (all files of one upload together), and
# the largest file any import accepts (a .csv.gz counts at its compressed size).
OPENCHARGEBACK_MAX_UPLOAD_BYTES = env_int("OPENCHARGEBACK_MAX_UPLOAD_BYTES", 256 * 1024 * 1024)
OPENCHARGEBACK_MAX_IMPORT_BYTES = env_int("OPENCHARGEBACK_MAX_IMPORT_BYTES", 4 * 1024 * 1024 * 1024)
# While an import streams a file: its size once decompressed (a gzip bomb), and one line's length.
OPENCHARGEBACK_MAX_DECOMPRESSED_BYTES = env_int("OPENCHARGEBACK_MAX_DECOMPRESSED_BYTES", 32 * 1024 * 1024 * 1024)
OPENCHARGEBACK_MAX_LINE_BYTES = env_int("OPENCHARGEBACK_MAX_LINE_BYTES", 1024 * 1024)

# django-import-export: formula escaping on export, an explicit permission to import.
IMPORT_EXPORT_ESCAPE_FORMULAE_ON_EXPORT = True
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "change"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "view"
IMPORT_EXPORT_SKIP_ADMIN_ACTION_EXPORT_UI = False

# Rows written per bulk insert during an import (memory stays flat whatever the file size).
OPENCHARGEBACK_IMPORT_CHUNK_ROWS = env_int("OPENCHARGEBACK_IMPORT_CHUNK_ROWS", 5000)

# The Slurm converter: sacct's local times are in this zone; jobs ending in these states are billed.
OPENCHARGEBACK_SLURM_TIMEZONE = env_str("OPENCHARGEBACK_SLURM_TIMEZONE", "UTC")
OPENCHARGEBACK_SLURM_BILLABLE_STATES = [
    s.strip().upper()
    for s in env_str(
        "OPENCHARGEBACK_SLURM_BILLABLE_STATES",
        "COMPLETED,FAILED,TIMEOUT,CANCELLED,OUT_OF_MEMORY,NODE_FAIL,PREEMPTED,DEADLINE,BOOT_FAIL",
    ).split(",")
    if s.strip()
]

# Logs go to the console (stderr), one line per event: readable text, or JSON objects for a log
# collector. Each line carries the request id, the signed-in person, the period and the Celery
# task where known (chargeback/logging.py). At INFO every audit event is also a log line.
LOG_LEVEL = env_str("LOG_LEVEL", "WARNING").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(f"LOG_LEVEL={LOG_LEVEL!r} is not DEBUG, INFO, WARNING or ERROR")
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
if LOG_FORMAT not in {"plain", "json"}:
    raise ImproperlyConfigured(f"LOG_FORMAT={LOG_FORMAT!r} is not plain or json")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)

# Security. Production runs behind a TLS-terminating reverse proxy; `openchargeback check
# --deploy` is clean with the production values of .env.example (tests/ops/test_deploy_check.py).
if env_bool("TRUST_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
# http:// requests are redirected to https://, except the health checks a container or load
# balancer makes over plain http on the inside.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
# HSTS: browsers that saw the site over https refuse plain http to it for this long.
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", True)
# Preloading asks browser makers to hard-code https for the domain; a decision for whoever owns
# the domain (hstspreload.org), so off unless set, and Django's reminder about it is silenced.
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", False)
SILENCED_SYSTEM_CHECKS = ["security.W021"]
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
# Scripts only from our own static files (no inline script, no eval). Inline style attributes
# stay allowed: the dashboard sizes its bars with them, and Django's admin scripts set styles.
CONTENT_SECURITY_POLICY = {
    "default-src": ["'self'"],
    "script-src": ["'self'"],
    "style-src": ["'self'", "'unsafe-inline'"],
    "img-src": ["'self'", "data:"],
    "font-src": ["'self'"],
    "connect-src": ["'self'"],
    "object-src": ["'none'"],
    "base-uri": ["'self'"],
    "form-action": ["'self'"],
    "frame-ancestors": ["'none'"],
}
# Sessions end after SESSION_COOKIE_AGE seconds (8 hours by default) unless "Remember me" was
# ticked at sign-in, in which case allauth keeps them for that long across browser restarts.
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 8 * 60 * 60)
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
