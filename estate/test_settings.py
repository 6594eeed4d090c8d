"""Test settings: the real settings with a few values overridden.

Tests use PostgreSQL and Redis when DATABASE_URL / REDIS_URL are set (CI sets them),
SQLite and local memory otherwise; what needs the real services is marked and skipped
without them (tests/conftest.py). AWS is only ever the sandbox.
"""

import os

os.environ.setdefault("DEBUG", "1")

from estate.settings import *  # noqa: E402,F403
from estate.settings import DATABASE_URL, REDIS_URL  # noqa: E402

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if not DATABASE_URL:
    # In memory: Django shares it with the live server's and the tests' own threads. It
    # lives as long as its connection: a test that closes the raw connection (to play a
    # database going away) takes the database with it, so such tests are PostgreSQL's.
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
if not REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
# Unit tests run tasks in-process; integration tests start real workers explicitly.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
AWS_ENDPOINT_URL = ""  # set by the sandbox fixture
AWS_MAX_ATTEMPTS = 3
# Tests size buckets with AWS_RATE_BURST/PER_SECOND and expect all of it; the share
# itself is tested in tests/estate/test_pacing.py.
AWS_RATE_SHARE = 1.0
# pytest-xdist workers share one Redis: keep their pacer buckets apart.
AWS_PACER_KEY_PREFIX = f"estate:pacer:{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
SECURE_COOKIES = False
SESSION_COOKIE_SECURE = False
CSRF_COOKIE_SECURE = False
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# pytest-xdist workers share one Redis: keep their cache keys apart.
for _cache in CACHES.values():  # noqa: F405
    _cache["KEY_PREFIX"] = os.environ.get("PYTEST_XDIST_WORKER", "main")

# Finding counts are cached for the overview in production; tests see every change at once.
GUARD_COUNTS_CACHE_SECONDS = 0
