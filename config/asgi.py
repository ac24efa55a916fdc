"""ASGI entry point: HTTP through Django, WebSockets through Channels behind auth and a same-origin check
(scheme, host and port)."""

from __future__ import annotations

import os
import threading
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: the routing imports consumers, which import models.
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings  # noqa: E402

from kata.middleware import SameOriginValidator
from kata.routing import websocket_urlpatterns
from kata.runs import pool, submit

# In the embedded default the server runs simulations: start their worker processes in the background while it
# boots. In production mode the Celery workers simulate, and the web server never needs the pool.
if settings.KATA_RUN_EXECUTOR == "inprocess":
    pool.configure(workers=settings.KATA_SIMULATORS)
    threading.Thread(target=pool.warm, name="kata-warm-pool", daemon=True).start()

router = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    # The embedded default takes on the runs its previous process left before it answers anyone (Daphne has no
    # start-up hook, and the runs need this server's event loop to publish on): nobody sees a run stuck.
    await submit.runs_recover_once()
    await router(scope, receive, send)
