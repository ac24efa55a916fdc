from __future__ import annotations

from django.apps import AppConfig


class KataConfig(AppConfig):
    name = "kata"
    verbose_name = "Katas"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from kata import signals, throttle  # noqa: F401 - throttle: its sign-in signal receivers

        signals.connect()
