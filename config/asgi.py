"""ASGI entry point: HTTP through Django, WebSockets through Channels behind auth and a same-origin check (scheme, host and port)."""

from __future__ import annotations

import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: the routing imports consumers, which import models.
from channels.auth import AuthMiddlewareStack
from channels.routing import ProtocolTypeRouter, URLRouter
from django.conf import settings  # noqa: E402

from kata import seed_pool
from kata.middleware import SameOriginValidator
from kata.routing import websocket_urlpatterns

# In the embedded default the server runs simulations: start their worker processes in the background while it
# boots. In production mode the Celery workers simulate, and the web server never needs the pool.
if settings.KATA_RUN_EXECUTOR == "inprocess":
    threading.Thread(target=seed_pool.warm, name="kata-warm-pool", daemon=True).start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": SameOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
