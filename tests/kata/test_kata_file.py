"""A kata exported from the admin as one JSON file (the fixture format) imports back as the same kata, unpublished;
a broken file is refused with every problem said and nothing saved."""

from __future__ import annotations

import json

from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from kata.katafile import kata_export
from kata.models import Kata
from kata.versions import working_rules


def _import(client, content: bytes):
    return client.post(reverse("admin:kata_kata_import"),
                       {"file": SimpleUploadedFile("kata.json", content, content_type="application/json")})


def test_an_exported_kata_imports_as_the_same_rules_unpublished(client, instructor, clearpay):
    client.force_login(instructor)
    response = client.get(reverse("admin:kata_kata_export", args=[clearpay.pk]))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="clearpay.json"'
    data = json.loads(response.content)
    assert data["reference_design"] == clearpay.reference_design
    assert len(data["must_fail"]) == clearpay.must_fail.count() >= 8
    data["slug"], data["title"] = "clearpay-copy", "ClearPay (copy)"
    response = _import(client, json.dumps(data).encode())
    copy = Kata.objects.get(slug="clearpay-copy")
    assert response.status_code == 302 and response["Location"] == reverse("admin:kata_kata_change", args=[copy.pk])
    assert not copy.published and not copy.versions.exists(), "an import goes live only through a passing check"
    assert working_rules(copy) == working_rules(clearpay)
    assert [(m.title, m.fails, m.design) for m in copy.must_fail.all()] == [
        (m.title, m.fails, m.design) for m in clearpay.must_fail.all()]
    assert copy.overview == clearpay.overview and copy.reference_design == clearpay.reference_design
    assert kata_export(kata=copy) == {**data, "published": False}


def test_a_broken_file_is_refused_with_its_problems_and_nothing_is_saved(client, instructor, clearpay):
    client.force_login(instructor)
    data = kata_export(kata=clearpay)
    before = Kata.objects.count()
    response = _import(client, b"{not json")
    assert response.status_code == 400 and "not JSON" in response.content.decode()
    response = _import(client, json.dumps(data).encode())
    assert response.status_code == 400
    assert "a kata &#x27;clearpay&#x27; exists already" in response.content.decode()
    data["slug"] = "broken"
    role, data["parts"][1]["role"] = data["parts"][1]["role"], "teleporter"
    response = _import(client, json.dumps(data).encode())
    body = response.content.decode()
    assert response.status_code == 400 and 'data-testid="import-problems"' in body
    assert "parts[1] (status_clients): role: Value &#x27;teleporter&#x27; is not a valid choice." in body
    data["parts"][1]["role"] = role
    data["scenarios"][0]["source"] = "nowhere"
    body = _import(client, json.dumps(data).encode()).content.decode()
    assert "scenarios[0].source: no part &#x27;nowhere&#x27; in the palette" in body
    assert Kata.objects.count() == before, "nothing saved"


def test_only_those_who_may_add_katas_import_them(client, grader, clearpay):
    grader.is_staff = True
    grader.save()
    client.force_login(grader)
    assert client.get(reverse("admin:kata_kata_import")).status_code == 403
    assert client.get(reverse("admin:kata_kata_export", args=[clearpay.pk])).status_code == 200, "graders view katas"
