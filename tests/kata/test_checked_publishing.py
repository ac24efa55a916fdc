"""A kata, or a change to a published one, goes live only after Check kata passes: the reference passes every
scenario and each must-fail design fails the scenarios it names. The check runs in the background with progress on
the kata's admin page; a failing one leaves learners on the live version, with the reasons shown."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from kata import authoring, services
from kata.models import Kata, KataCheck, Scenario
from kata.versions import palette_live
from tests.personas import make_persona

STATUS = Path("fixtures/status-cache")
NO_CACHE = json.loads((STATUS / "designs/no-cache.json").read_text())


@pytest.fixture
def status_cache(db):
    return services.kata_load_fixture(path=STATUS / "kata.json")[0]


def _check(kata: Kata, instructor, *, publish: bool) -> KataCheck:
    """Asks for a check and runs its background half here (what the server's thread or a Celery worker does)."""
    check = authoring.kata_check_request(kata=kata, requested_by=instructor, publish=publish)
    return authoring.kata_check_finish(check_id=check.pk, parallel=False)


def _live_threshold(kata: Kata, order: int) -> float | None:
    return {s.order: s.threshold for s in palette_live(Kata.objects.get(pk=kata.pk)).scenarios}[order]


def test_the_fixture_must_fail_design_is_loaded_with_the_scenarios_it_fails(status_cache):
    must_fail = status_cache.must_fail.get()
    assert must_fail.title == "no-cache" and must_fail.fails == [1, 4] and must_fail.design == NO_CACHE


def test_a_passing_check_publishes_the_change_as_the_next_version(status_cache, instructor):
    scenario = Scenario.objects.get(kata=status_cache, order=1)
    scenario.threshold = 90
    scenario.save()
    assert _live_threshold(status_cache, 1) == 80
    check = _check(status_cache, instructor, publish=True)
    assert check.status == KataCheck.Status.PASSED, check.report
    assert check.version.number == 2 and check.version.created_by == instructor
    assert [r["ok"] for r in check.report] == [True, True, True]
    assert "no-cache" in check.report[2]["design"] and "Fails 1, 4 as it should" in check.report[2]["message"]
    assert "Published as version 2" in check.message
    assert _live_threshold(status_cache, 1) == 90


def test_a_failing_check_keeps_the_live_version_and_says_why(status_cache, instructor):
    scenario = Scenario.objects.get(kata=status_cache, order=1)
    scenario.threshold = 5  # the reference's p99 is far above 5 ms
    scenario.save()
    check = _check(status_cache, instructor, publish=True)
    assert check.status == KataCheck.Status.FAILED
    reference = next(r for r in check.report if r["design"] == "Reference design")
    assert not reference["ok"] and "passes only 2/4" in reference["message"] and "1. Fast reads" in reference["message"]
    assert "Not published: learners keep the live version." in check.message
    assert check.version is None and status_cache.versions.count() == 1
    assert _live_threshold(status_cache, 1) == 80


def test_a_must_fail_design_that_passes_what_it_names_fails_the_check(status_cache, instructor):
    must_fail = status_cache.must_fail.get()
    must_fail.fails = [1, 2]  # no-cache passes the error-rate scenario
    must_fail.save()
    check = _check(status_cache, instructor, publish=False)
    assert check.status == KataCheck.Status.FAILED
    assert "It should fail 1, 2 but passes 2. " in check.report[-1]["message"]


def test_a_check_grades_the_rules_as_they_were_asked_for_not_as_edited_since(status_cache, instructor):
    check = authoring.kata_check_request(kata=status_cache, requested_by=instructor, publish=True)
    scenario = Scenario.objects.get(kata=status_cache, order=1)
    scenario.threshold = 5  # edited while the check waits: not what was checked, so not what is published
    scenario.save()
    authoring.kata_check_finish(check_id=check.pk, parallel=False)
    assert _live_threshold(status_cache, 1) == 80
    check.refresh_from_db()
    assert check.status == KataCheck.Status.PASSED and check.version.number == 1, "the same rules: no new version"


def test_a_brief_placeholder_naming_a_missing_scenario_fails_the_check(status_cache, instructor):
    status_cache.overview = "Reads answer within {threshold:9}."
    status_cache.save()
    check = _check(status_cache, instructor, publish=False)
    brief = check.report[0]
    assert brief["design"] == "Brief" and not brief["ok"]
    assert "{threshold:9} names scenario 9, which the kata does not have" in brief["message"]


def test_one_check_at_a_time_per_person(status_cache, instructor):
    authoring.kata_check_request(kata=status_cache, requested_by=instructor)
    with pytest.raises(authoring.CheckRefused, match="You have a kata check going already"):
        authoring.kata_check_request(kata=status_cache, requested_by=instructor)


def test_the_admin_page_shows_pending_changes_progress_and_the_report(client, instructor, status_cache):
    client.force_login(instructor)
    url = reverse("admin:kata_kata_change", args=[status_cache.pk])
    page = client.get(url).content.decode()
    assert 'data-testid="check-panel"' in page and "Live: version 1" in page
    assert 'data-testid="pending-changes"' not in page
    scenario = Scenario.objects.get(kata=status_cache, order=1)
    scenario.threshold = 90
    scenario.save()
    page = client.get(url).content.decode()
    assert "Not live yet: 1 change since version 1" in page
    assert "scenario 1 (Fast reads): p99 accept latency ≤ 80 ms → p99 accept latency ≤ 90 ms" in page
    check = authoring.kata_check_request(kata=status_cache, requested_by=instructor, publish=True)
    KataCheck.objects.filter(pk=check.pk).update(status="running", done=1, current="Grading must-fail design …")
    panel = client.get(reverse("admin:kata_kata_check_panel", args=[status_cache.pk])).content.decode()
    assert 'data-running="true"' in panel and 'max="2" value="1"' in panel
    assert "Checking (publishes if it passes): 1 of 2 designs" in panel
    KataCheck.objects.filter(pk=check.pk).update(status="queued")
    authoring.kata_check_finish(check_id=check.pk, parallel=False)
    panel = client.get(reverse("admin:kata_kata_check_panel", args=[status_cache.pk])).content.decode()
    assert 'data-running="false"' in panel and "Last check: passed" in panel and "Published as version 2" in panel


def test_publishing_is_not_a_checkbox(client, instructor, status_cache):
    """`published` is read-only in the admin: a kata goes live through a passing check only."""
    client.force_login(instructor)
    authoring.kata_unpublish(kata=status_cache)
    page = client.get(reverse("admin:kata_kata_change", args=[status_cache.pk]))
    assert "published" not in page.context["adminform"].form.fields
    client.logout()
    assert client.get(reverse("kata_detail", args=["status-cache"])).status_code == 404, "hidden from learners"


@pytest.mark.django_db(transaction=True)
def test_save_check_and_publish_from_the_admin_runs_in_the_background_and_goes_live(client):
    """Transactional: the check's thread reads the kata from the database."""
    kata, _ = services.kata_load_fixture(path=STATUS / "kata.json")
    instructor = make_persona("instructor")
    # A transactional test's flush empties the groups the data migrations filled: give the permissions here.
    instructor.user_permissions.add(*Permission.objects.filter(content_type__app_label="kata", codename__regex=(
        r"^(view|change|add|delete)_(kata|parttype|partparameter|trafficsource|scenario|mustfaildesign)$")))
    client.force_login(instructor)
    url = reverse("admin:kata_kata_change", args=[kata.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["reference_design"] = json.dumps(kata.reference_design)
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for inline_form in formset.formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is not None and value is not False:
                    data[inline_form.add_prefix(name)] = (json.dumps(value) if isinstance(value, (dict, list))
                                                          else value)
                if name == "threshold" and inline_form.instance.order == 1:
                    data[inline_form.add_prefix(name)] = 95
    data["_check_publish"] = "Save, check and publish"
    response = client.post(url, data, follow=True)
    assert response.status_code == 200
    assert any("checking in the background and, if it passes, published" in str(m)
               for m in response.context["messages"]), response.content.decode()[:3000]
    deadline = time.monotonic() + 180
    while 'data-running="false"' not in (panel := client.get(
            reverse("admin:kata_kata_check_panel", args=[kata.pk])).content.decode()):
        assert time.monotonic() < deadline, panel
        time.sleep(0.3)
    assert "Last check: passed" in panel and "Published as version 2" in panel, panel
    assert _live_threshold(kata, 1) == 95
