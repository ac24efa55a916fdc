"""Designs drawn, not typed: an instructor opens a kata's workspace (published or not) and saves the design on the
canvas as the kata's reference or as a design that must fail, with the scenarios it must fail and why."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.urls import reverse

from kata import services
from kata.authoring import kata_unpublish
from kata.models import Kata

STATUS = Path("fixtures/status-cache")
REFERENCE = json.loads((STATUS / "designs/reference.json").read_text())
NO_CACHE = json.loads((STATUS / "designs/no-cache.json").read_text())


@pytest.fixture
def draft_kata(db):
    kata, _ = services.kata_load_fixture(path=STATUS / "kata.json")
    kata_unpublish(kata=kata)
    kata.reference_design = {}
    kata.save()
    kata.must_fail.all().delete()
    return kata


def _save(client, kata, **data):
    return client.post(reverse("author_design_save", args=[kata.slug]), data)


def test_an_instructor_works_on_an_unpublished_kata_that_learners_cannot_open(client, instructor, learner,
                                                                              draft_kata):
    client.force_login(learner)
    assert client.get(reverse("workspace", args=[draft_kata.slug])).status_code == 404
    client.force_login(instructor)
    page = client.get(reverse("workspace", args=[draft_kata.slug]))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'data-testid="author-tools"' in body and "not published: learners do not see it" in body
    assert '<input type="checkbox" name="fails" value="1"> 1. Fast reads' in body


def test_the_design_on_the_canvas_is_saved_as_the_reference(client, instructor, draft_kata):
    client.force_login(instructor)
    response = _save(client, draft_kata, action="reference", design=json.dumps(REFERENCE))
    assert response.status_code == 302 and response["Location"] == reverse("workspace", args=[draft_kata.slug])
    kata = Kata.objects.get(pk=draft_kata.pk)
    assert [n["id"] for n in kata.reference_design["nodes"]] == [n["id"] for n in REFERENCE["nodes"]]
    assert kata.reference_design["nodes"][2]["params"]["instances"] == 2
    assert "Saved as the reference design" in client.get(response["Location"]).content.decode()


def test_a_design_is_saved_as_one_that_must_fail_with_its_scenarios_and_why(client, instructor, draft_kata):
    client.force_login(instructor)
    response = _save(client, draft_kata, action="must_fail", design=json.dumps(NO_CACHE), title="no cache",
                     fails=["1", "4"], why="every read goes to the database")
    assert response.status_code == 302
    row = draft_kata.must_fail.get()
    assert (row.title, row.fails, row.why) == ("no cache", [1, 4], "every read goes to the database")
    assert [n["part"] for n in row.design["nodes"]] == [n["part"] for n in NO_CACHE["nodes"]]
    admin = client.get(reverse("admin:kata_kata_change", args=[draft_kata.pk])).content.decode()
    assert 'class="diagram"' in admin and "Diagram of the design: " in admin, "a read-only diagram in the admin"


def test_without_script_the_autosaved_draft_is_saved(client, instructor, draft_kata):
    services.draft_save(learner=instructor, kata=draft_kata, document=REFERENCE)
    client.force_login(instructor)
    assert _save(client, draft_kata, action="reference", design="").status_code == 302
    assert Kata.objects.get(pk=draft_kata.pk).reference_design["nodes"][0]["id"] == "clients"


def test_an_invalid_design_or_a_must_fail_without_scenarios_is_refused_with_the_reason(client, instructor,
                                                                                       draft_kata):
    client.force_login(instructor)
    broken = {"nodes": [{"id": "a", "part": "warp-drive"}], "edges": []}
    response = _save(client, draft_kata, action="reference", design=json.dumps(broken))
    assert response.status_code == 400
    assert "unknown part &#x27;warp-drive&#x27;" in response.content.decode()
    response = _save(client, draft_kata, action="must_fail", design=json.dumps(NO_CACHE), title="no cache")
    assert response.status_code == 400 and "Choose the scenarios it must fail." in response.content.decode()
    assert Kata.objects.get(pk=draft_kata.pk).reference_design == {} and not draft_kata.must_fail.exists()


def test_only_instructors_save_a_katas_designs(client, learner, grader, draft_kata):
    for person in (learner, grader):
        client.force_login(person)
        assert _save(client, draft_kata, action="reference", design=json.dumps(REFERENCE)).status_code == 403
    assert Kata.objects.get(pk=draft_kata.pk).reference_design == {}


def test_an_instructors_run_is_graded_against_the_working_copy_not_a_version(instructor, draft_kata):
    run = services.run_start(learner=instructor, kata=draft_kata, document=REFERENCE, as_author=True)
    assert run.version is None and run.attempt.version is None
