"""ASGI entry point: HTTP through Django, WebSockets through Channels behind auth and an origin check."""

from __future__ import annotations

import os
import threading

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: the routing imports consumers, which import models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402

from kata import seed_pool  # noqa: E402
from kata.routing import websocket_urlpatterns  # noqa: E402

# The server will run simulations: start their worker processes in the background while it boots.
threading.Thread(target=seed_pool.warm, name="kata-warm-pool", daemon=True).start()

application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(websocket_urlpatterns))),
    }
)
