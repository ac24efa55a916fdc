"""Limits on what is cheap to ask and costly to answer: guessing passwords, making accounts, checking katas.

The rule, in Django's cache (per process in the embedded default, Redis when `REDIS_URL` is set): a counter per
account and per address, started by the first failure and forgotten when its window ends. While a counter is at its
limit, sign-ins for that account (or from that address) are refused with a message saying why and for how long;
nobody else waits, and a correct password does not get through either. A successful sign-in clears its account's
counter (not its address's).

Enforced in an authentication backend, so the learners' login, the admin's login and any other `authenticate()` are
all covered; the login forms show the message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.dispatch import receiver
from django.http import HttpRequest


@dataclass(frozen=True)
class Limit:
    name: str
    count: int
    seconds: int

    @property
    def window(self) -> str:
        minutes = self.seconds // 60
        return f"{minutes} minutes" if minutes < 120 else f"{minutes // 60} hours"


LOGIN_PER_ACCOUNT = Limit("login-account", 5, 15 * 60)
LOGIN_PER_ADDRESS = Limit("login-address", 20, 15 * 60)
SIGNUP_PER_ADDRESS = Limit("signup-address", 5, 60 * 60)
# Each reset request may send a mail: a network cannot turn the form into a mailer.
RESET_PER_ADDRESS = Limit("reset-address", 5, 60 * 60)


def _key(limit: Limit, who: str) -> str:
    return f"kata-throttle:{limit.name}:{hashlib.sha256(who.encode('utf-8', 'replace')).hexdigest()[:32]}"


def throttle_reached(*, limit: Limit, who: str) -> bool:
    return bool(who) and (cache.get(_key(limit, who)) or 0) >= limit.count


def throttle_count(*, limit: Limit, who: str) -> None:
    if not who:
        return
    key = _key(limit, who)
    cache.add(key, 0, timeout=limit.seconds)  # the window starts at the first count and is not extended by later ones
    try:
        cache.incr(key)
    except ValueError:  # expired between the add and the incr: a new window
        cache.add(key, 1, timeout=limit.seconds)


def throttle_clear(*, limit: Limit, who: str) -> None:
    cache.delete(_key(limit, who))


def address_of(request: HttpRequest | None) -> str:
    # REMOTE_ADDR only: behind a proxy, let the server set it from the proxy's header (Daphne: --proxy-headers).
    return request.META.get("REMOTE_ADDR", "") if request is not None else ""


def _account(username: Any) -> str:
    return str(username or "").strip().lower()[:150]


def login_refusal(*, username: Any, address: str) -> str | None:
    """Why a sign-in is refused now, or None."""
    if throttle_reached(limit=LOGIN_PER_ACCOUNT, who=_account(username)):
        return (f"Too many failed sign-ins for this account: sign-in is paused for up to "
                f"{LOGIN_PER_ACCOUNT.window}. Try again later, or ask an instructor to reset your password.")
    if throttle_reached(limit=LOGIN_PER_ADDRESS, who=address):
        return (f"Too many failed sign-ins from your network: sign-in from it is paused for up to "
                f"{LOGIN_PER_ADDRESS.window}. Try again later.")
    return None


def signup_refusal(*, address: str) -> str | None:
    if throttle_reached(limit=SIGNUP_PER_ADDRESS, who=address):
        return f"Too many accounts were made from your network lately: try again in up to {SIGNUP_PER_ADDRESS.window}."
    return None


def signup_count(*, address: str) -> None:
    throttle_count(limit=SIGNUP_PER_ADDRESS, who=address)


def reset_refusal(*, address: str) -> str | None:
    if throttle_reached(limit=RESET_PER_ADDRESS, who=address):
        return ("Too many password resets were asked for from your network lately: "
                f"try again in up to {RESET_PER_ADDRESS.window}.")
    return None


def reset_count(*, address: str) -> None:
    throttle_count(limit=RESET_PER_ADDRESS, who=address)


def login_guard(*, request: HttpRequest | None, username: Any) -> None:
    """Refuse a sign-in the limits pause, before any password is checked (kata.accounts.AccountBackend asks)."""
    if login_refusal(username=username, address=address_of(request)):
        raise PermissionDenied("sign-in paused")


@receiver(user_login_failed, dispatch_uid="kata.throttle.failed")
def _count_failure(sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kwargs: Any) -> None:
    throttle_count(limit=LOGIN_PER_ACCOUNT, who=_account(credentials.get("username")))
    throttle_count(limit=LOGIN_PER_ADDRESS, who=address_of(request))


@receiver(user_logged_in, dispatch_uid="kata.throttle.succeeded")
def _clear_account(sender: Any, request: HttpRequest | None, user: Any, **kwargs: Any) -> None:
    throttle_clear(limit=LOGIN_PER_ACCOUNT, who=_account(user.get_username()))


class _SaysWhenPaused(forms.Form):
    def clean(self) -> dict[str, Any]:
        refusal = login_refusal(username=self.data.get("username"), address=address_of(getattr(self, "request", None)))
        if refusal:
            raise forms.ValidationError(refusal, code="throttled")
        return super().clean()


class ThrottledAuthenticationForm(_SaysWhenPaused, AuthenticationForm):
    pass


class ThrottledAdminAuthenticationForm(_SaysWhenPaused, AdminAuthenticationForm):
    pass
