"""Test settings: the embedded defaults plus what the test harness needs."""

from __future__ import annotations

import config.settings as _base

# Copy the real settings rather than star-import them, so every name here is explicit.
globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

# The live-server tests run Daphne in another process, which cannot see an in-memory SQLite database.
DATABASES = {"default": {**_base.DATABASES["default"], "TEST": {"NAME": str(_base.BASE_DIR / ".test-db.sqlite3")}}}

# The manifest storage needs `collectstatic`; tests use the plain storage so templates resolve without it.
STORAGES = {**_base.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
DEBUG = False

# No `collectstatic` in tests: WhiteNoise serves straight from the finders.
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
