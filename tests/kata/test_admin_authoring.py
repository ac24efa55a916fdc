"""Instructors author katas in admin; validation errors show there; 'check kata' grades the reference design."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.urls import reverse

from kata.models import Kata, PartParameter
from kata.services import kata_load_fixture
from tests.personas import make_persona


@pytest.fixture
def status_cache(db):
    return kata_load_fixture(path=Path("fixtures/status-cache/kata.json"))[0]


def _inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict[str, str]:
    return {f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000"}


def test_instructor_creates_a_kata_with_a_part_inline(client, instructor):
    client.force_login(instructor)
    data = {
        "title": "Queue basics", "slug": "queue-basics", "summary": "A first queue.", "difficulty": "beginner",
        "minutes_min": 10, "minutes_max": 20, "budget_per_hour": "2.00", "drain_seconds": 60, "grading_seeds": 3,
        "reference_design": "{}", "overview": "", "context": "", "constraints_operational": "",
        "constraints_product": "", "learning_outcomes": "", "hints": "", "domain": "",
        **_inline_management("parts", total=1),
        "parts-0-order": 0, "parts-0-key": "users", "parts-0-name": "Users", "parts-0-role": "source",
        "parts-0-unit_cost_per_hour": "0", "parts-0-service_distribution": "exponential",
        "parts-0-service_mean_ms": 1, "parts-0-base_error": 0, "parts-0-max_per_design": 1,
        "parts-0-core_cost_per_hour": "0",
        **_inline_management("traffic"), **_inline_management("scenarios"), **_inline_management("must_fail"),
    }
    response = client.post(reverse("admin:kata_kata_add"), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    kata = Kata.objects.get(slug="queue-basics")
    assert kata.parts.get().key == "users"


def test_parameter_range_errors_show_in_admin(client, instructor, status_cache):
    client.force_login(instructor)
    part = status_cache.parts.get(key="status_api")
    data = {
        "kata": status_cache.pk, "key": part.key, "name": part.name, "role": part.role, "description": "",
        "order": 0, "max_per_design": 8, "unit_cost_per_hour": "0.15", "service_distribution": "lognormal",
        "service_mean_ms": 5, "service_scv": "", "base_error": 0.0001, "error_max": 0.3, "error_power": 2,
        **_inline_management("parameters", total=1),
        "parameters-0-name": "instances", "parameters-0-default": 5, "parameters-0-minimum": 1,
        "parameters-0-maximum": 3, "parameters-0-step": 1, "parameters-0-learner_editable": "on",
    }
    response = client.post(reverse("admin:kata_parttype_change", args=[part.pk]), data)
    assert response.status_code == 200
    body = response.content.decode()
    assert "A lognormal service time needs its SCV." in body
    assert "Must lie within [1, 3]." in body
    assert PartParameter.objects.filter(part=part, name="instances").get().maximum == 8, "nothing saved"


def test_reference_design_is_validated_against_the_palette(client, instructor, status_cache):
    client.force_login(instructor)
    page = client.get(reverse("admin:kata_kata_change", args=[status_cache.pk]))
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["reference_design"] = '{"nodes": [{"id": "a", "part": "warp-drive"}], "edges": []}'
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for inline_form in formset.formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if value is not None and value is not False:
                    data[inline_form.add_prefix(name)] = value
    response = client.post(reverse("admin:kata_kata_change", args=[status_cache.pk]), data)
    assert response.status_code == 200
    assert "unknown part &#x27;warp-drive&#x27;" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_check_kata_runs_in_the_background_one_at_a_time_per_person(client):
    """Transactional: the check's thread reads the kata from the database."""
    clearpay, _ = kata_load_fixture(path=Path("fixtures/clearpay/kata.json"))
    clearpay.must_fail.all().delete()  # the reference alone here; tests/kata/test_checked_publishing.py does the rest

    instructor = make_persona("instructor")
    # A transactional test's flush empties the groups the data migrations filled: give the permissions here.
    instructor.user_permissions.add(*Permission.objects.filter(codename__in=["view_kata", "change_kata"]))
    client.force_login(instructor)
    changelist = reverse("admin:kata_kata_changelist")
    response = client.post(changelist, {"action": "check_kata", "_selected_action": [clearpay.pk]}, follow=True)
    texts = [str(m) for m in response.context["messages"]]
    assert any("checking in the background" in t for t in texts), texts
    again = client.post(changelist, {"action": "check_kata", "_selected_action": [clearpay.pk]}, follow=True)
    assert any("You have a kata check going already" in str(m) for m in again.context["messages"])
    deadline = time.monotonic() + 120
    while "The reference design passes 5/5 on seeds 1, 2, 3" not in (page := client.get(changelist).content.decode()):
        assert time.monotonic() < deadline, "the check never reported"
        time.sleep(0.2)
    assert "✔" in page
    response = client.post(changelist, {"action": "check_kata", "_selected_action": [clearpay.pk]}, follow=True)
    assert any("checking in the background" in str(m) for m in response.context["messages"]), "free again once done"
    while "… " in client.get(changelist).content.decode():  # let the second check end before the database goes
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_grader_can_view_but_not_change_katas_and_learner_cannot_enter_admin(client, grader, learner, status_cache):
    grader.is_staff = True
    grader.save()
    client.force_login(grader)
    assert client.get(reverse("admin:kata_kata_change", args=[status_cache.pk])).status_code == 200
    assert client.post(reverse("admin:kata_kata_delete", args=[status_cache.pk]), {"post": "yes"}).status_code == 403
    client.force_login(learner)
    assert client.get(reverse("admin:kata_kata_changelist")).status_code == 302


def test_traffic_that_would_make_a_long_run_is_refused(status_cache):
    traffic = status_cache.traffic.get()
    traffic.hold_seconds = 3500
    with pytest.raises(ValidationError, match="keep it within 3600"):
        traffic.full_clean()
    traffic.hold_seconds, traffic.base_rate = 120, 50_000
    with pytest.raises(ValidationError, match="base_rate"):
        traffic.full_clean()
