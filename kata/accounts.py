"""Learners' accounts: sign-up (joins the learners group), log-in, log-out, password change."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.contrib.auth import get_user_model, login
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.forms import PasswordResetForm
from django.contrib.auth.views import LoginView, PasswordResetView
from django.forms.forms import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kata import selectors, services, throttle
from kata.usernames import username_scripts


MIXED_ALPHABETS = "Use the letters of one alphabet in a username (not, say, Latin and Cyrillic together)."


def username_refusal(username: str) -> str | None:
    """Why this (NFKC-normalised) username cannot be taken, in the words Django uses for a duplicate; or None.

    A mixed-alphabet name is refused whatever exists, so the answer tells nothing about other accounts; a
    look-alike of an existing account is answered as Django answers an exact duplicate, and no more.
    """
    if len(username_scripts(username)) > 1:
        return MIXED_ALPHABETS
    if selectors.user_lookalike_exists(username=username):
        user_model = get_user_model()
        return user_model().unique_error_message(user_model, ["username"]).messages[0]
    return None


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; only used to reset your password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")

    def clean_username(self) -> str | None:
        username = super().clean_username()  # NFKC (Django's UsernameField), and an exact duplicate refused
        if username is not None and (refusal := username_refusal(username)):
            raise forms.ValidationError(refusal)
        return username


class ThrottledLoginView(LoginView):
    """Django's login; a sign-in paused by the limits (kata/throttle.py) answers 429 with the reason."""

    authentication_form = throttle.ThrottledAuthenticationForm

    def form_invalid(self, form: forms.Form) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response


class ThrottledPasswordResetView(PasswordResetView):
    """Django's reset view (it answers the same whether or not the address has an account), with a limit on how
    many mails one network can ask for."""

    def form_valid(self, form: PasswordResetForm) -> HttpResponse:
        address = throttle.address_of(self.request)
        refusal = throttle.reset_refusal(address=address)
        if refusal:
            form.add_error(None, refusal)
            return self.render_to_response(self.get_context_data(form=form), status=429)
        throttle.reset_count(address=address)
        return super().form_valid(form)


@require_http_methods(["GET", "POST"])
def signup(request: HttpRequest) -> HttpResponse:
    if request.user.is_authenticated:
        return redirect("home")
    form = SignUpForm(request.POST or None)
    if request.method == "POST":
        refusal = throttle.signup_refusal(address=throttle.address_of(request))
        if refusal:
            form.add_error(None, refusal)
            return render(request, "registration/signup.html", {"form": form}, status=429)
        if not form.is_valid():
            return render(request, "registration/signup.html", {"form": form}, status=400)
        user = services.learner_sign_up(username=form.cleaned_data["username"], email=form.cleaned_data["email"],
                                        password=form.cleaned_data["password1"])
        throttle.signup_count(address=throttle.address_of(request))
        login(request, user, backend="kata.accounts.AccountBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})


class AccountBackend(ModelBackend):
    """Django's model backend, except that a sign-in the limits pause is refused before any password is checked
    (kata/throttle.py), and that in production the demo accounts cannot log in, nor keep a session.

    Demo accounts are never created in production, but a database that once ran in development may hold them, with
    passwords printed in the README: the demo instructor would get the admin, the demo grader the overrides. An
    account is a demo account while its password is still the published one.
    """

    _checked: dict[tuple[int, str], bool] = {}  # (user, password hash) → is a demo account; the hash changes with it

    def authenticate(self, request: HttpRequest | None, username: str | None = None, password: str | None = None,
                     **kwargs: Any) -> Any:
        throttle.login_guard(request=request, username=username if username is not None else kwargs.get("username"))
        if settings.PRODUCTION and services.demo_credentials(username=username, password=password):
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)

    def get_user(self, user_id: Any) -> Any:
        user = super().get_user(user_id)
        if user is not None and settings.PRODUCTION and self._is_demo(user):
            return None
        return user

    def _is_demo(self, user: Any) -> bool:
        if not services.demo_username(username=user.get_username()):
            return False
        key = (user.pk, user.password)
        if key not in self._checked:  # a password hash costs a few hundred milliseconds: once per account and hash
            self._checked[key] = services.demo_password_matches(user=user)
        return self._checked[key]
