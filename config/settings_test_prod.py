"""Settings of `make test-prod`: production mode's real services (environment from scripts/prod.sh), test tweaks."""

from __future__ import annotations

import config.settings as _base

globals().update({name: value for name, value in vars(_base).items() if name.isupper()})

if DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql" or KATA_RUN_EXECUTOR != "celery":  # noqa: F821
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("The production-mode tests need scripts/prod.sh's environment: run `make test-prod`.")

STORAGES = {**_base.STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
WHITENOISE_AUTOREFRESH = True
WHITENOISE_USE_FINDERS = True
