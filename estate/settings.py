"""Estate settings: one module, every knob from the environment (12-factor).

The env helpers are strict: a value they cannot read raises at start-up instead of
being guessed, and a secret may come from ``NAME_FILE`` (Docker/Kubernetes secrets).
"""

from __future__ import annotations

import json
import os
from importlib.util import find_spec
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

PACKAGE_DIR = Path(__file__).resolve().parent
if (PACKAGE_DIR.parent / "manage.py").is_file():
    # A checkout (make demo, make test, an editable install): the project's templates/
    # and static/ sit beside the apps, and var/ and staticfiles/ are kept there too.
    BASE_DIR = PACKAGE_DIR.parent
    ASSETS_DIR = BASE_DIR
else:
    # Installed (pip install ., the Docker image): the build bundles templates/ and
    # static/ into the package (setup.py); state lives under the working directory.
    BASE_DIR = Path.cwd()
    ASSETS_DIR = PACKAGE_DIR / "bundled"
    if not (ASSETS_DIR / "templates").is_dir():
        raise ImproperlyConfigured(
            f"{ASSETS_DIR} is missing: install estate with pip (its build bundles the "
            "templates and static files) or run it from a checkout"
        )
VAR_DIR = Path(os.environ.get("ESTATE_VAR_DIR", BASE_DIR / "var"))

_TRUE = {"1", "true", "on"}
_FALSE = {"0", "false", "off", ""}


def env_str(name: str, default: str = "") -> str:
    """A string from NAME, or from the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={raw!r}: use one of 1/0, true/false, on/off")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a whole number") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}={raw!r}: expected a number") from exc


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


DEBUG = env_bool("DEBUG", False)
SECRET_KEY = env_str("SECRET_KEY")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY is required when DEBUG is off")
    SECRET_KEY = "insecure-development-key-only-used-with-DEBUG-on"

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "django_celery_beat",
    "estate",
    "operations",
    "audit",
    "guard",
    "csp",
    "axes",
    "metrics",
    "drills",
]
# The embedded fake AWS (`manage.py sandbox`) is there when its extra is installed
# (pip install "estate[sandbox]"; make install does): a production install has no moto,
# and no product code needs the app.
if find_spec("sandbox") is not None and find_spec("moto") is not None:
    INSTALLED_APPS.insert(INSTALLED_APPS.index("operations") + 1, "sandbox")

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "estate.middleware.RequestHygieneMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    # After the session and HTMX ones: a signed-out HTMX request's redirect to the
    # login page becomes HX-Redirect (see the class).
    "estate.middleware.SignedOutHtmxMiddleware",
    "audit.middleware.AuditContextMiddleware",
    # Last, as django-axes requires: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "estate.urls"
WSGI_APPLICATION = "estate.wsgi.application"
ASGI_APPLICATION = "estate.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [ASSETS_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    }
]

# Demo mode: a SQLite file under var/. Production: DATABASE_URL (PostgreSQL).
DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    # Connections are kept for a minute, checked before reuse (a database restart or
    # failover must not fail the next request or task).
    DATABASES = {
        "default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)
    }
else:
    # The SQLite file's folder is made on first use (an installed estate run from a
    # fresh folder has none yet).
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "estate.sqlite3",
            # Web, worker and beat share the file: wait for locks instead of failing.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [ASSETS_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
CSRF_COOKIE_SECURE = env_bool("SECURE_COOKIES", not DEBUG)
# --- Hardening (issue 6) -----------------------------------------------------------------
# JavaScript never reads the CSRF cookie: HTMX sends the token from the page
# (hx-headers with {{ csrf_token }}), so the cookie can be HttpOnly too.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
# Production (DEBUG off) redirects to HTTPS and sends HSTS; each can be turned off from
# the environment, e.g. when TLS ends at a proxy that already redirects.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", not DEBUG)
# The container health check calls /healthz over plain HTTP from inside the container.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", not DEBUG)
# Behind a TLS-terminating load balancer that sets X-Forwarded-Proto (and strips it from
# clients): believe it, or the SSL redirect loops forever.
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Sessions live in the Redis cache when there is one (the session-store pattern
# ElastiCache is used for: fast, shared by every web process); in the database otherwise.
SESSION_ENGINE = (
    "django.contrib.sessions.backends.cache" if REDIS_URL else "django.contrib.sessions.backends.db"
)
SESSION_COOKIE_AGE = env_int("SESSION_COOKIE_AGE", 12 * 3600)

# Content-Security-Policy (django-csp): no inline or third-party scripts or styles.
# Templates carry no style attributes or <style> blocks and htmx is configured not to
# inject its indicator style (base.html); tests/guard/test_hardening.py keeps it so.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}

# Login throttling (django-axes): lock a username from one address after repeated
# failures; lockouts are audited (audit.signals). guard.auth's backend is axes' own
# except that it lets the test client's login() (no request) through.
AUTHENTICATION_BACKENDS = [
    "guard.auth.LockoutBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("AXES_COOLOFF_MINUTES", 15.0) / 60  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "audit.services.axes_client_ip"
AXES_LOCKOUT_TEMPLATE = "guard/locked_out.html"
# Successful logins are in the audit trail already.
AXES_DISABLE_ACCESS_LOG = True
AXES_VERBOSE = False

# --- AWS -----------------------------------------------------------------------------
# Only the sandbox sets an endpoint URL; production talks to the real AWS endpoints.
AWS_ENDPOINT_URL = env_str("AWS_ENDPOINT_URL")
AWS_CONNECT_TIMEOUT = env_float("AWS_CONNECT_TIMEOUT", 5.0)
AWS_READ_TIMEOUT = env_float("AWS_READ_TIMEOUT", 30.0)
AWS_MAX_ATTEMPTS = env_int("AWS_MAX_ATTEMPTS", 8)
# AWS's documented RDS API token bucket per account and region; the pacer keeps sync
# inside it instead of provoking ThrottlingException.
AWS_RATE_BURST = env_int("AWS_RATE_BURST", 300)
AWS_RATE_PER_SECOND = env_float("AWS_RATE_PER_SECOND", 12.0)
# Estate spends this share of each AWS budget (the rest is the customer's console,
# Terraform and other tools'). Budgets per service are in estate/pacing.py; override
# them with AWS_BUDGETS, JSON: {"elasticache": [100, 10]} (burst, per second).
AWS_RATE_SHARE = env_float("AWS_RATE_SHARE", 0.5)
AWS_BUDGETS = json.loads(env_str("AWS_BUDGETS") or "{}")
# How many processes share the budget when Redis is unreachable (each then paces
# itself with 1/N of it): web workers + Celery worker processes + beat + probes.
AWS_PACER_PROCESSES = env_int("AWS_PACER_PROCESSES", 8)
AWS_PACER_KEY_PREFIX = "estate:pacer"
# Session name Estate uses when it assumes an account's role.
AWS_ROLE_SESSION_NAME = env_str("AWS_ROLE_SESSION_NAME", "estate")

# --- Sync ----------------------------------------------------------------------------
SYNC_INTERVAL_SECONDS = env_int("SYNC_INTERVAL_SECONDS", 300)
SYNC_MAX_WORKERS = env_int("SYNC_MAX_WORKERS", 4)
# How long a sync may hold its account/region lease before another may take it over.
SYNC_LEASE_SECONDS = env_int("SYNC_LEASE_SECONDS", 900)
# Moving timestamps (latest restorable time, earliest backtrack time) are rewritten only
# when they drift more than this, so a resync of an unchanged estate writes nothing.
SYNC_TIME_DRIFT_SECONDS = env_int("SYNC_TIME_DRIFT_SECONDS", 900)
SYNC_PACING = env_bool("SYNC_PACING", True)

# --- Metrics (metrics app) -----------------------------------------------------------
METRICS_SYNC_INTERVAL_SECONDS = env_int("METRICS_SYNC_INTERVAL_SECONDS", 300)
# Re-read this many minutes before the last fetch: CloudWatch fills the newest minutes late.
METRICS_FETCH_OVERLAP_MINUTES = env_int("METRICS_FETCH_OVERLAP_MINUTES", 5)
METRICS_MINUTE_RETENTION_HOURS = 24
METRICS_ROLLUP_RETENTION_DAYS = env_int("METRICS_ROLLUP_RETENTION_DAYS", 30)
# GetMetricData limits: 500 queries per call; 100,800 datapoints per page.
METRICS_QUERIES_PER_CALL = 500
METRICS_MAX_DATAPOINTS = env_int("METRICS_MAX_DATAPOINTS", 100_800)
# A series' latest point counts as "current" for thresholds when younger than this.
METRICS_CURRENT_MINUTES = env_int("METRICS_CURRENT_MINUTES", 15)
# Defaults; an account's AccountThresholds row overrides any of them.
METRICS_THRESHOLDS = {
    "replica_lag_seconds": env_float("METRICS_REPLICA_LAG_SECONDS", 30.0),
    "global_rpo_lag_seconds": env_float("METRICS_GLOBAL_RPO_LAG_SECONDS", 60.0),
    "free_storage_percent": env_float("METRICS_FREE_STORAGE_PERCENT", 10.0),
    "cache_hit_rate_percent": env_float("METRICS_CACHE_HIT_RATE_PERCENT", 80.0),
    "evictions_per_minute": env_float("METRICS_EVICTIONS_PER_MINUTE", 100.0),
}

# --- Celery --------------------------------------------------------------------------
# Production: Redis. Demo: kombu's filesystem transport, which carries tasks between
# separate web, worker and beat processes without any server.
CELERY_BROKER_DIR = VAR_DIR / "broker"
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    CELERY_BROKER_TRANSPORT_OPTIONS: dict = {
        # A message reserved by a worker that died is redelivered after this long. It
        # must exceed the longest countdown (a step's wait, at most a few minutes), or
        # Redis would redeliver waiting messages early: harmless (claims are exclusive)
        # but wasteful. The reaper re-enqueues a lost operation long before.
        "visibility_timeout": 3600,
        # Notice a dead connection (Redis restarted, a NAT dropped it) within seconds
        # instead of waiting on a half-open socket.
        "socket_keepalive": True,
        "socket_connect_timeout": 5,
        "health_check_interval": 10,
        "retry_on_timeout": True,
    }
else:
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIR / "queue"),
        "data_folder_out": str(CELERY_BROKER_DIR / "queue"),
        "processed_folder": str(CELERY_BROKER_DIR / "processed"),
        # kombu's default is ./control: keep the exchange tables with the queue.
        "control_folder": str(CELERY_BROKER_DIR / "control"),
        "store_processed": False,
    }
CELERY_TASK_ALWAYS_EAGER = False
# A worker whose broker goes away (Redis restarted) keeps retrying to reconnect, at
# start-up too, forever (Celery's default gives up after 100 attempts and exits).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
# A step running when the broker connection drops finishes and saves (it talks to
# PostgreSQL and AWS, not the broker); its message is redelivered and the claim makes
# the redelivery a no-op.
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_IGNORE_RESULT = True
# Celery's Django fixup closes the database connection before and after every task
# unless this is set: a new PostgreSQL connection (a backend process) per task, which
# was a third of an operation step's time. estate.celery closes old connections per
# task the way Django does per request (CONN_MAX_AGE, broken connections) instead.
CELERY_DB_REUSE_MAX = 2**31
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    # Security groups in front of mirrored databases, for the posture rules (guard).
    "sync-security-groups": {
        "task": "guard.tasks.sync_security_groups_task",
        "schedule": float(SYNC_INTERVAL_SECONDS),
    },
    "sync-all-accounts": {
        "task": "estate.tasks.sync_all_task",
        "schedule": float(SYNC_INTERVAL_SECONDS),
    },
    "sync-metrics": {
        "task": "metrics.tasks.sync_metrics_task",
        "schedule": float(METRICS_SYNC_INTERVAL_SECONDS),
    },
}

# --- Operations ----------------------------------------------------------------------
# A worker holds an operation this long while it runs one step (longer than any step);
# a dead worker's operation is taken over once its lease runs out.
OPERATIONS_STEP_LEASE_SECONDS = env_float("OPERATIONS_STEP_LEASE_SECONDS", 300.0)
# Consecutive steps that finish at once run in the same task for up to this long.
OPERATIONS_CHAIN_SECONDS = env_float("OPERATIONS_CHAIN_SECONDS", 5.0)
# How often a step re-describes AWS while it waits.
OPERATIONS_POLL_SECONDS = env_float("OPERATIONS_POLL_SECONDS", 5.0)
# A mutating call that got no usable answer (timeout, dropped connection, 5xx) is never
# sent again: its step re-describes the target for this long to see the call's effect,
# then fails the operation with what it knows.
OPERATIONS_AMBIGUOUS_GRACE_SECONDS = env_float("OPERATIONS_AMBIGUOUS_GRACE_SECONDS", 60.0)
# Kinds with a documented typical duration (Aurora failover ~30 s) first describe after
# it, instead of every few seconds: scales those durations (tests shrink them).
OPERATIONS_TYPICAL_SCALE = env_float("OPERATIONS_TYPICAL_SCALE", 1.0)
# The reaper re-enqueues operations whose next step is this overdue.
OPERATIONS_REAPER_INTERVAL_SECONDS = env_float("OPERATIONS_REAPER_INTERVAL_SECONDS", 30.0)
OPERATIONS_REAPER_GRACE_SECONDS = env_float("OPERATIONS_REAPER_GRACE_SECONDS", 60.0)
# How long a production destructive operation waits for a second Admin (issue 6).
OPERATIONS_APPROVAL_TTL_SECONDS = env_int("OPERATIONS_APPROVAL_TTL_SECONDS", 86400)
# After success, the affected account/region is resynced this soon, and not more often
# than every MIN_INTERVAL (a burst of operations shares a few syncs).
OPERATIONS_RESYNC_DELAY_SECONDS = env_float("OPERATIONS_RESYNC_DELAY_SECONDS", 1.0)
OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS = env_float("OPERATIONS_RESYNC_MIN_INTERVAL_SECONDS", 15.0)
# Redis's visibility timeout (3600 s above) must stay far above the lease and any
# countdown, or the broker would redeliver tasks that are merely waiting.
CELERY_BEAT_SCHEDULE["reap-overdue-operations"] = {
    "task": "operations.tasks.reap_overdue_operations_task",
    "schedule": OPERATIONS_REAPER_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["expire-clones"] = {
    "task": "operations.tasks.expire_clones_task",
    "schedule": 60.0,
}

# --- Drills --------------------------------------------------------------------------
# Probes sample on their own queue so they never starve the engine: run a worker with
# `-Q probes` (each running drill endpoint holds one worker slot while it samples).
CELERY_TASK_ROUTES = {"drills.tasks.probe_task": {"queue": "probes"}}
CELERY_BEAT_SCHEDULE["finalize-drill-runs"] = {
    "task": "drills.tasks.finalize_ended_runs_task",
    "schedule": 30.0,
}
DRILL_PROBE_MAX_SECONDS = env_float("DRILL_PROBE_MAX_SECONDS", 3600.0)

LOG_LEVEL = env_str("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    # Credentials, AWS keys and passwords in DSNs never reach the log output.
    "filters": {"redact": {"()": "audit.redaction.RedactingFilter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["redact"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "botocore": {"level": "WARNING"},
        "urllib3": {"level": "WARNING"},
        # django-axes logs every attempt cleanup at INFO; failures stay visible.
        "axes": {"level": "WARNING"},
    },
}

# --- Audit ---------------------------------------------------------------------------
# Proxies (IPs or CIDRs) whose X-Forwarded-For is believed when auditing the client's
# address; empty means REMOTE_ADDR only (any client can forge the header).
TRUSTED_PROXIES = env_list("TRUSTED_PROXIES")

# --- Security posture (guard.rules, guard.backups) ----------------------------------
# The minimum backup retention of the default backup policy, for environments without
# a saved BackupPolicy (production's default asks for at least 35 days, or this if
# higher). Backups page, Findings (RDS-BACKUP-RETENTION) and `posture` share the rule.
GUARD_MIN_BACKUP_RETENTION_DAYS = env_int("GUARD_MIN_BACKUP_RETENTION_DAYS", 7)
# The longest a finding may be suppressed.
GUARD_MAX_SUPPRESSION_DAYS = env_int("GUARD_MAX_SUPPRESSION_DAYS", 365)
# finding_counts() for the overview is cached this long (suppressions clear it at once;
# a sync's changes show within this time). Evaluating 10,000 resources takes ~1 s.
GUARD_COUNTS_CACHE_SECONDS = env_int("GUARD_COUNTS_CACHE_SECONDS", 60)
