"""WhiteNoise, usable on the async path.

WhiteNoise's middleware is sync-only. One sync-only middleware near the top of the list puts every request under it,
async views included, onto the single thread that sync code shares under ASGI: each request then holds that thread
for its whole life, so a class pressing Run together is answered one by one. This subclass serves static files as
WhiteNoise does and hands every other request down the async chain.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from channels.security.websocket import WebsocketDenier
from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.http.request import split_domain_port, validate_host
from whitenoise.middleware import WhiteNoiseMiddleware


class AsyncWhiteNoiseMiddleware(WhiteNoiseMiddleware):
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        super().__init__(get_response)
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return super().__call__(request)

    def _static_file(self, request: HttpRequest) -> Any:
        return self.find_file(request.path_info) if self.autorefresh else self.files.get(request.path_info)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        if self.autorefresh:  # looks on disk: not on the event loop
            static_file = await sync_to_async(self._static_file, thread_sensitive=False)(request)
        else:
            static_file = self._static_file(request)
        if static_file is not None:
            return await sync_to_async(self.serve, thread_sensitive=False)(static_file, request)
        return await self.get_response(request)


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin_key(scheme: str, netloc: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of an origin, the port filled in from the scheme; None when it is not one."""
    try:
        parts = urlsplit(f"{scheme}://{netloc}")
        port = parts.port
    except ValueError:
        return None
    if parts.hostname is None or scheme not in _DEFAULT_PORTS:
        return None
    return scheme, parts.hostname.lower(), port if port is not None else _DEFAULT_PORTS[scheme]


def websocket_origin_allowed(scope: dict[str, Any]) -> bool:
    """The socket's Origin is this site itself (scheme, host and port all equal) or one of CSRF_TRUSTED_ORIGINS.

    As Django's CSRF check does for forms: the host must be an allowed one, and the scheme is the socket's own
    (wss → https), or https when the request came through a TLS proxy that SECURE_PROXY_SSL_HEADER names.
    """
    headers: dict[bytes, bytes] = {}
    for name, value in scope.get("headers", []):
        headers.setdefault(bytes(name).lower(), bytes(value))
    raw_origin, raw_host = headers.get(b"origin"), headers.get(b"host")
    if not raw_origin or not raw_host:
        return False
    origin_text, host = raw_origin.decode("latin1"), raw_host.decode("latin1")
    domain, _ = split_domain_port(host)
    if not domain or not validate_host(domain, settings.ALLOWED_HOSTS):
        return False
    scheme_of_origin, _, rest = origin_text.partition("://")
    origin = _origin_key(scheme_of_origin.lower(), rest)
    if origin is None:
        return False
    scheme = "https" if scope.get("scheme") == "wss" else "http"
    proxy = getattr(settings, "SECURE_PROXY_SSL_HEADER", None)
    if proxy is not None:
        header, expected = proxy
        forwarded = headers.get(header.removeprefix("HTTP_").replace("_", "-").lower().encode("latin1"), b"")
        if forwarded.decode("latin1").split(",")[0].strip() == expected:
            scheme = "https"
    if origin == _origin_key(scheme, host):
        return True
    for trusted in getattr(settings, "CSRF_TRUSTED_ORIGINS", []):
        trusted_scheme, _, trusted_rest = trusted.partition("://")
        if trusted_rest.startswith("*."):  # a wildcard names a domain's subdomains, any port of the scheme's default
            suffix = trusted_rest[1:].lower()
            if origin[0] == trusted_scheme.lower() and origin[1].endswith(suffix):
                return True
        elif origin == _origin_key(trusted_scheme.lower(), trusted_rest):
            return True
    return False


class SameOriginValidator:
    """Refuses a WebSocket whose Origin is not this site (see `websocket_origin_allowed`)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        if scope["type"] == "websocket" and not websocket_origin_allowed(scope):
            return await WebsocketDenier()(scope, receive, send)
        return await self.application(scope, receive, send)


class ContentSecurityPolicyMiddleware:
    """Adds the CONTENT_SECURITY_POLICY header to every response that has none of its own."""

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response
        self.policy = settings.CONTENT_SECURITY_POLICY
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def _add(self, response: HttpResponseBase) -> HttpResponseBase:
        if self.policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = self.policy
        return response

    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self.__acall__(request)
        return self._add(self.get_response(request))

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        return self._add(await self.get_response(request))
