"""Learners' accounts: sign-up (joins the learners group), log-in, log-out, password change."""

from __future__ import annotations

from django import forms
from django.contrib.auth import login
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.views import LoginView
from django.forms.forms import NON_FIELD_ERRORS
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from kata import services, throttle


class SignUpForm(UserCreationForm):
    email = forms.EmailField(required=False, help_text="Optional; only used to reset your password.")

    class Meta(UserCreationForm.Meta):
        fields = ("username", "email")


class ThrottledLoginView(LoginView):
    """Django's login; a sign-in paused by the limits (kata/throttle.py) answers 429 with the reason."""

    authentication_form = throttle.ThrottledAuthenticationForm

    def form_invalid(self, form: forms.Form) -> HttpResponse:
        response = super().form_invalid(form)
        if form.has_error(NON_FIELD_ERRORS, "throttled"):
            response.status_code = 429
        return response


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
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return redirect("home")
    return render(request, "registration/signup.html", {"form": form})
