"""Test settings: the embedded defaults plus what the test harness needs."""

from __future__ import annotations

import os

import config.settings as _base

# Copy the real settings rather than star-import them, so every name here is explicit.
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

# The live-server tests run Daphne in another process, which cannot see an in-memory SQLite database. One file per
# test session (kept in the environment, so the server's child process uses the same one): two suites running at
# once on one machine never share a database.
_TEST_DB = os.environ.setdefault("KATA_TEST_DB", str(_base.BASE_DIR / f".test-db-{os.getpid()}.sqlite3"))
DATABASES = {"default": {**_base.DATABASES["default"], "TEST": {"NAME": _TEST_DB}}}

# The manifest storage needs `collectstatic`; tests use the plain storage so templates resolve without it.
STORAGES = {**_base.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

# No `collectstatic` in tests: WhiteNoise serves straight from the finders.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True

# Each test runs in one transaction on one connection: database calls from async code must stay on its thread.
# A live server of its own (another process, no test transaction around it) may run them as a server does.
KATA_PARALLEL_DB_CALLS = os.environ.get("KATA_TEST_LIVE_SERVER_PARALLEL_DB_CALLS") == "1"

# The test process is no server of its own: it never takes on the runs it finds in the test database at its first
# socket. (The restart test starts a real embedded server, with the real settings, and checks that one does.)
KATA_RECOVER_RUNS = False

# Few runs start at once, so the queue tests queue with a handful of learners.
KATA_STARTING_RUNS = int(os.environ.get("KATA_STARTING_RUNS", "2"))

# Runs in tests record no request traces (a pure-engine replay per seed) unless a test asks for them.
KATA_RUN_TRACES = os.environ.get("KATA_RUN_TRACES") == "1"
