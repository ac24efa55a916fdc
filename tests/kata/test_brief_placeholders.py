"""The brief says what is graded: thresholds and the budget in its text are placeholders filled from the scenarios,
so they cannot disagree with the grade."""

from __future__ import annotations

from django.urls import reverse

from kata.authoring import kata_publish_unchecked
from kata.brief import brief_problems, brief_render
from kata.models import Scenario
from kata.versions import palette_live


def test_placeholders_are_filled_from_the_scenarios(clearpay):
    palette = palette_live(clearpay)
    text = "Within {threshold:1}, under {threshold:3}, at most {budget}; {rule:1}. {threshold:7} stays."
    assert brief_render(text, palette) == ("Within 300 ms, under 0.5 %, at most $2.50/h; p99 accept latency ≤ 300 ms. "
                                           "{threshold:7} stays.")
    listed = brief_render("{scenarios}", palette)
    assert listed.startswith("1. Fast acknowledgement: p99 accept latency ≤ 300 ms; 2. No dropped transactions")
    assert "5. Costs controlled during payday spikes: peak cost ≤ $2.50/h" in listed


def test_the_clearpay_brief_follows_a_published_threshold_everywhere(client, clearpay):
    url = reverse("kata_detail", args=["clearpay"])
    body = client.get(url).content.decode()
    assert "{threshold" not in body and "{budget}" not in body
    assert "The checkout must hear back within 300 ms" in body
    assert "A checkout gets its acknowledgement within 300 ms (p99" in body
    assert "Fewer than 0.5 % of checkouts" in body and "within the budget of $2.50/h" in body
    scenario = Scenario.objects.get(kata=clearpay, order=1)
    scenario.threshold = 250
    scenario.save()
    kata_publish_unchecked(kata=clearpay)
    body = client.get(url).content.decode()
    assert "300 ms" not in body, "no stale threshold anywhere in the brief"
    assert "The checkout must hear back within 250 ms" in body
    assert "A checkout gets its acknowledgement within 250 ms (p99" in body
    assert "passes when p99 accept latency ≤ 250 ms" in body


def test_the_home_card_and_the_workspace_brief_follow_a_published_threshold(client, learner, clearpay):
    client.force_login(learner)
    pages = (reverse("home"), reverse("workspace", args=["clearpay"]))
    for url in pages:
        body = client.get(url).content.decode()
        assert "{threshold" not in body and "{budget}" not in body, url
    assert "inside a 0.5 % error budget" in client.get(pages[0]).content.decode()
    assert "The checkout must hear back within 300 ms" in client.get(pages[1]).content.decode()
    for order, value in ((1, 250), (3, 0.4)):
        scenario = Scenario.objects.get(kata=clearpay, order=order)
        scenario.threshold = value
        scenario.save()
    kata_publish_unchecked(kata=clearpay)
    assert "inside a 0.4 % error budget" in client.get(pages[0]).content.decode()
    assert "The checkout must hear back within 250 ms" in client.get(pages[1]).content.decode()


def test_a_misspelt_placeholder_is_refused_in_the_admin(client, instructor, clearpay):
    assert brief_problems("within {treshold:1}") == [
        "{treshold:1} is not a placeholder (use {threshold:N}, {rule:N}, {budget} or {scenarios})"]
    assert brief_problems("within {threshold:1}", {1, 2}) == []
    assert brief_problems("within {threshold:3}", {1, 2}) == [
        "{threshold:3} names scenario 3, which the kata does not have"]
    client.force_login(instructor)
    url = reverse("admin:kata_kata_change", args=[clearpay.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["overview"] = "Hear back within {treshold:1}."
    response = client.post(url, data)
    assert response.status_code == 200
    assert "{treshold:1} is not a placeholder" in response.content.decode()
