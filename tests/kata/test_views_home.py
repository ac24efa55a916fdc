from __future__ import annotations

from django.contrib.staticfiles import finders
from django.urls import reverse

from kata.authoring import kata_publish_unchecked
from kata.models import Kata


def _kata(**overrides) -> Kata:
    fields = {"slug": "clearpay", "title": "ClearPay", "summary": "Payment handshake.", "published": True}
    return Kata.objects.create(**{**fields, **overrides})


def test_home_lists_published_katas_only(client, db):
    _kata()
    _kata(slug="draft", title="Draft kata", published=False)
    response = client.get(reverse("home"))
    assert response.status_code == 200
    assert b"ClearPay" in response.content
    assert b"Draft kata" not in response.content


def test_home_says_so_when_no_kata_is_published(client, db):
    response = client.get(reverse("home"))
    assert b"No katas are published yet" in response.content


def test_unpublished_kata_brief_is_not_found(client, db):
    _kata(published=False)
    assert client.get(reverse("kata_detail", kwargs={"slug": "clearpay"})).status_code == 404


def test_login_state_shows_in_navigation(client, learner):
    assert b"Log in" in client.get(reverse("home")).content
    client.force_login(learner)
    body = client.get(reverse("home")).content
    assert b'data-testid="current-user" href="/accounts/password/" title="Change your password">learner<' in body
    assert b"Log out" in body


def test_healthz_reports_database_ok(client, db):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "channel_layer": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_says_what_is_unreachable(client, db, monkeypatch):
    class Unreachable:
        async def group_discard(self, group: str, channel: str) -> None:
            raise ConnectionError("Redis refused the connection")

    monkeypatch.setattr("kata.views.get_channel_layer", Unreachable)
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"status": "error", "database": "ok", "channel_layer": "Redis refused the connection"}


def test_static_htmx_and_plotly_are_served_locally(client, db):
    body = client.get(reverse("home")).content.decode()
    assert "/static/django_htmx/htmx" in body
    assert "https://" not in body.split("<body")[0], "no asset may come from a CDN"

    assert finders.find("plotly/plotly.min.js"), "plotly.js must be served from the plotly package"


def test_the_brief_states_each_scenarios_rule_from_its_data(client, clearpay):
    body = client.get(reverse("kata_detail", kwargs={"slug": "clearpay"})).content.decode()
    assert "passes when p99 accept latency ≤ 300 ms" in body
    assert ("passes when requests that met an error &lt; 0.5 %, and no part on the path runs above its error "
            "threshold") in body
    assert "passes when peak cost ≤ $2.50/h" in body
    assert "$0.04/h an instance + $0.05/h a core" in body
    scenario = clearpay.scenarios.get(order=1)
    scenario.threshold = 250
    scenario.save()
    assert "passes when p99 accept latency ≤ 300 ms" in client.get(
        reverse("kata_detail", kwargs={"slug": "clearpay"})).content.decode(), "an edit is not live before a check"
    kata_publish_unchecked(kata=clearpay)
    assert "passes when p99 accept latency ≤ 250 ms" in client.get(
        reverse("kata_detail", kwargs={"slug": "clearpay"})).content.decode()
