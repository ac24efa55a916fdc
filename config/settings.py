"""One settings module, driven by environment variables.

With nothing set it runs embedded: SQLite, an in-memory channel layer and runs executed in-process.
`DJANGO_ENV=production` switches on the deployment checks (secret key and hosts required, secure cookies).
Scale-out is three more switches, each independent: `POSTGRES_DB` (PostgreSQL instead of SQLite), `REDIS_URL`
(channels-redis as the channel layer) and `KATA_RUN_EXECUTOR=celery` (runs go to Celery workers through
`CELERY_BROKER_URL`). `make run-prod` sets all three (see scripts/prod.sh).
"""

from __future__ import annotations

import os
from pathlib import Path

import plotly

from config.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent

DJANGO_ENV = env_str("DJANGO_ENV", "development")
if DJANGO_ENV not in {"development", "production"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"DJANGO_ENV={DJANGO_ENV!r}: use 'development' or 'production'.")
PRODUCTION = DJANGO_ENV == "production"

DEVELOPMENT_SECRET_KEY = "dev-only-insecure-key-change-me-for-anything-public-0123456789"

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    # Django's own test of a strong key (check --deploy only warns): refused at start, not merely reported.
    if (len(SECRET_KEY) < 50 or len(set(SECRET_KEY)) < 5 or SECRET_KEY.startswith("django-insecure-")
            or SECRET_KEY == DEVELOPMENT_SECRET_KEY):
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY is too weak for production: use at least 50 random characters, e.g. "
                                   "python -c 'import secrets; print(secrets.token_urlsafe(48))'.")
    DEBUG = env_bool("DEBUG", False)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [])
    if not ALLOWED_HOSTS:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("ALLOWED_HOSTS is required in production (comma-separated host names).")
else:
    SECRET_KEY = env_str("SECRET_KEY", DEVELOPMENT_SECRET_KEY)
    DEBUG = env_bool("DEBUG", True)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django_htmx",
    "channels",
    "kata",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "kata.middleware.AsyncWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "kata.middleware.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

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

if env_str("POSTGRES_DB", ""):
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "NAME": env_str("POSTGRES_DB"),
            "USER": env_str("POSTGRES_USER", "kata"),
            "PASSWORD": env_str("POSTGRES_PASSWORD", ""),
            "HOST": env_str("POSTGRES_HOST", "127.0.0.1"),
            "PORT": env_str("POSTGRES_PORT", "5432"),
            # Reused by the threads that serve database calls, instead of a new (password-checked) connection each.
            "CONN_MAX_AGE": env_int("CONN_MAX_AGE", 60, minimum=0),
            "CONN_HEALTH_CHECKS": True,
            "OPTIONS": {"connect_timeout": 5},
        }
    }
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            # Production mode on SQLite has a file of its own: a development database holds the demo accounts.
            "NAME": env_str("SQLITE_PATH", str(BASE_DIR / ("db-production.sqlite3" if PRODUCTION else "db.sqlite3"))),
            # A transaction takes the write lock when it begins: one that read first and then wrote would fail at
            # once with "database is locked" when two learners press Run together, instead of waiting its turn.
            # Write-ahead logging: readers never wait for the writer, and a commit appends to the log without an
            # fsync of its own (synchronous=NORMAL keeps the database consistent across a crash; the last
            # commits may be lost on power loss). Thirty runs streaming at once write a few hundred frames a second.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL", "")
if REDIS_URL:
    from redis.asyncio.retry import Retry
    from redis.backoff import ExponentialBackoff

    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [{
                "address": REDIS_URL,
                # redis-py's default 5 s read timeout equals channels-redis's 5 s blocking pop: a busy moment would
                # time the pop out and drop the socket. Give the read room above the pop.
                "socket_timeout": 15,
                "socket_connect_timeout": 3,
                # A pool handed to redis-py comes with no retries: after a restart of Redis every pooled connection
                # fails once, and a socket opening on it would be refused. Reconnect and try again for ~5 s.
                "retry": Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=8),
            }]},
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Database calls from async code on the shared thread pool rather than one thread (see kata/asyncdb.py).
KATA_PARALLEL_DB_CALLS = env_bool("KATA_PARALLEL_DB_CALLS", True)

# Fair sharing (kata/sockets.py), per web process: sockets a learner holds open in all and on one run (a newer one
# replaces the oldest), and how many they may open a minute (a page reconnects a few times; a loop is refused).
KATA_SOCKETS_PER_USER = env_int("KATA_SOCKETS_PER_USER", 6, minimum=1)
KATA_SOCKETS_PER_RUN = env_int("KATA_SOCKETS_PER_RUN", 2, minimum=1)
KATA_SOCKET_OPENS_PER_MINUTE = env_int("KATA_SOCKET_OPENS_PER_MINUTE", 30, minimum=1)

# What one learner may start and keep (kata/services.py): runs (each saves one attempt) and saved frames per hour,
# and how long a finished run keeps its frames (its grade, results and downsampled series stay for good).
KATA_RUNS_PER_HOUR = env_int("KATA_RUNS_PER_HOUR", 30, minimum=1)
KATA_FRAMES_PER_HOUR = env_int("KATA_FRAMES_PER_HOUR", 12000, minimum=1)
KATA_FRAME_RETENTION_DAYS = env_int("KATA_FRAME_RETENTION_DAYS", 14, minimum=1)

# Where runs execute: "inprocess" (threads of the web server, seeds in its process pool) or "celery" (workers).
KATA_RUN_EXECUTOR = env_str("KATA_RUN_EXECUTOR", "inprocess")
if KATA_RUN_EXECUTOR not in {"inprocess", "celery"}:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(f"KATA_RUN_EXECUTOR={KATA_RUN_EXECUTOR!r}: use 'inprocess' or 'celery'.")
# The embedded default simulates this many grading seeds at once, in worker processes of the web server, one per
# core (streamed seeds run beside them, in the streamer): a class's grades come sooner with every core simulating.
KATA_SIMULATORS = env_int("KATA_SIMULATORS", max(1, os.cpu_count() or 1), minimum=1)
# Runs the embedded default starts at once (a run past its first frame no longer counts): every streamed seed runs
# at once in the streamer process, so a burst of learners all see their first frames; grading seeds wait for a
# simulator, first come first served.
KATA_STARTING_RUNS = env_int("KATA_STARTING_RUNS", 32, minimum=1)
# After a run's grade, its streamed seed and each failing scenario's worst seed are replayed with request tracing on
# (the pure engine, a few seconds a seed) so the run page can show one payment's life hop by hop (kata/traces.py).
KATA_RUN_TRACES = env_bool("KATA_RUN_TRACES", True)
# The embedded server takes on, when it starts, the runs its previous process left queued or running.
KATA_RECOVER_RUNS = env_bool("KATA_RECOVER_RUNS", True)
# An executing run writes a heartbeat every few seconds; one silent for longer than the lease has lost its executor
# and may be taken over by another worker (see kata/runs/lease.py).
KATA_RUN_LEASE_SECONDS = env_int("KATA_RUN_LEASE_SECONDS", 15, minimum=3)

# Celery (production mode): Redis as broker; a message is acknowledged only after its run has finished, and one
# whose worker died goes back on the queue. Results live in the database, so no result backend.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "")
if KATA_RUN_EXECUTOR == "celery" and not CELERY_BROKER_URL:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KATA_RUN_EXECUTOR=celery needs CELERY_BROKER_URL (for example redis://127.0.0.1:6379/1).")
if KATA_RUN_EXECUTOR == "celery" and not REDIS_URL:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("KATA_RUN_EXECUTOR=celery needs REDIS_URL: workers reach the sockets through "
                               "channels-redis.")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # An unacknowledged message is delivered again after this many seconds, so it must outlast the longest run (or
    # every long run would be delivered twice). A worker killed whole does not wait for it: workers queue runs whose
    # heartbeat went silent again themselves (kata.runs.lease.runs_requeue_stale), after two leases.
    "visibility_timeout": env_int("KATA_VISIBILITY_TIMEOUT", 1800, minimum=5),
    "unacked_restore_interval": 5,
    "unacked_restore_throttle": 1,
}

# Django's model backend, which refuses a paused sign-in before checking its password and, in production, the demo
# accounts (kata/accounts.py, kata/throttle.py).
AUTHENTICATION_BACKENDS = ["kata.accounts.AccountBackend"]
# Counters of the limits (kata/throttle.py) and of checks in progress: shared by every process through Redis when
# there is one, per process otherwise (the embedded default is one process).
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": "kata"}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "kata"}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
# Password-reset mail: printed to the console unless an SMTP host is set (production sets one).
EMAIL_HOST = env_str("EMAIL_HOST", "")
if EMAIL_HOST:
    EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    EMAIL_PORT = env_int("EMAIL_PORT", 587, minimum=1)
    EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
    EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
    EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", True)
else:
    EMAIL_BACKEND = "django.core.mail.backends.console.EmailBackend"
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "Kata <no-reply@localhost>")
# Where links in emails point (a learner's new-feedback email, sent only when EMAIL_HOST is set).
KATA_SITE_URL = env_str("KATA_SITE_URL", "http://127.0.0.1:8000")
PASSWORD_RESET_TIMEOUT = 60 * 60 * 24
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "home"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# plotly.js ships inside the plotly package; serving it from there keeps the app off any CDN.
STATICFILES_DIRS = [
    BASE_DIR / "static",
    ("plotly", Path(plotly.__file__).resolve().parent / "package_data"),
]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "config.storage.HashedModulesStorage"},
}

# Sent with every page: scripts only from this site's own files (no inline script, no eval), no framing, forms
# and connections (the run socket included) to this site only. Inline styles stay allowed: the estimate's meters
# and plotly's charts set them.
CONTENT_SECURITY_POLICY = env_str("CONTENT_SECURITY_POLICY", "; ".join([
    "default-src 'self'", "script-src 'self'", "style-src 'self' 'unsafe-inline'", "img-src 'self' data:",
    "font-src 'self' data:", "connect-src 'self'", "object-src 'none'", "base-uri 'self'", "form-action 'self'",
    "frame-ancestors 'none'",
]))

# Upper bound on any request body (designs are small JSON documents).
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 256 * 1024, minimum=1024)

if PRODUCTION:
    # Off only for `make run-prod`, which serves plain HTTP on 127.0.0.1; behind TLS keep them on.
    SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {"django.channels.server": {"level": "WARNING"}, "celery": {"level": env_str("LOG_LEVEL", "INFO")}},
}
