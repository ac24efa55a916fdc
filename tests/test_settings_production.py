"""Production settings: refuse to start without their secrets, and pass Django's deployment checks."""

from __future__ import annotations

import os
import subprocess
import sys

PRODUCTION = {"DJANGO_ENV": "production", "SECRET_KEY": "x" * 64 + "-production-test-key-not-used-anywhere",
              "ALLOWED_HOSTS": "kata.example.com", "DJANGO_SETTINGS_MODULE": "config.settings"}


def _manage(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DJANGO_SETTINGS_MODULE", "SECRET_KEY", "ALLOWED_HOSTS")}
    return subprocess.run([sys.executable, "manage.py", *args], capture_output=True, text=True, timeout=120,
                          env={**clean, **env})


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_production_refuses_to_start_without_secret_key_or_hosts():
    for missing, message in [("SECRET_KEY", "SECRET_KEY is required"), ("ALLOWED_HOSTS", "ALLOWED_HOSTS is required")]:
        env = {k: v for k, v in PRODUCTION.items() if k != missing}
        result = _manage("check", env=env)
        assert result.returncode != 0 and message in result.stderr


def test_demo_accounts_are_refused_in_production(tmp_path):
    result = _manage("demo_accounts", env={**PRODUCTION, "SQLITE_PATH": str(tmp_path / "db.sqlite3")})
    assert result.returncode != 0 and "never created in production" in result.stderr


def test_production_refuses_a_weak_or_default_secret_key():
    weak = ["abc", "x" * 64, "django-insecure-" + "k3y" * 20,
            "dev-only-insecure-key-change-me-for-anything-public-0123456789"]
    for key in weak:
        result = _manage("check", env={**PRODUCTION, "SECRET_KEY": key})
        assert result.returncode != 0 and "SECRET_KEY is too weak for production" in result.stderr, key
    assert _manage("check", env=PRODUCTION).returncode == 0  # a long random key starts


def test_production_on_sqlite_has_a_database_file_of_its_own():
    script = "from django.conf import settings; print(settings.DATABASES['default']['NAME'])"
    clean = {k: v for k, v in PRODUCTION.items()}
    production = _manage("shell", "-c", script, env=clean)
    development = _manage("shell", "-c", script,
                          env={"DJANGO_SETTINGS_MODULE": "config.settings", "DJANGO_ENV": "development"})
    assert production.returncode == 0 and development.returncode == 0, production.stderr + development.stderr
    assert production.stdout.strip().endswith("db-production.sqlite3")
    assert development.stdout.strip().endswith("db.sqlite3")
