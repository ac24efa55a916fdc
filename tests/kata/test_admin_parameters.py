"""Each part's parameters and ranges are edited on the kata's own admin page, validated there."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.urls import reverse

from kata import services
from kata.models import PartParameter


@pytest.fixture
def status_cache(db):
    return services.kata_load_fixture(path=Path("fixtures/status-cache/kata.json"))[0]


def _page_data(client, kata):
    """What the kata's change page posts back unchanged, the parameter tables included."""
    page = client.get(reverse("admin:kata_kata_change", args=[kata.pk]))
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data["reference_design"] = __import__("json").dumps(kata.reference_design)
    parts = {}
    for formset in page.context["inline_admin_formsets"]:
        management = formset.formset.management_form
        for name in management.fields:
            data[management.add_prefix(name)] = management[name].value()
        for inline_form in formset.formset.forms:
            for name in inline_form.fields:
                value = inline_form[name].value()
                if name == "parameters":
                    prefix = inline_form.add_prefix("parameters")
                    rows = value or []
                    data[f"{prefix}-count"] = len(rows)
                    for i, row in enumerate(rows):
                        for key, cell in row.items():
                            if key != "learner_editable":
                                data[f"{prefix}-{i}-{key}"] = cell
                            elif cell:
                                data[f"{prefix}-{i}-{key}"] = "on"
                    parts[inline_form.instance.key] = prefix
                elif value is not None and value is not False:
                    data[inline_form.add_prefix(name)] = (__import__("json").dumps(value)
                                                          if isinstance(value, (dict, list)) else value)
    return page, data, parts


def test_the_kata_page_shows_every_parts_parameters(client, instructor, status_cache):
    client.force_login(instructor)
    body = client.get(reverse("admin:kata_kata_change", args=[status_cache.pk])).content.decode()
    # One per part, and one in the blank form "Add another part" copies.
    assert body.count('data-testid="part-parameters"') == status_cache.parts.count() + 1


def test_a_range_is_changed_added_and_removed_from_the_kata_page(client, instructor, status_cache):
    client.force_login(instructor)
    _, data, parts = _page_data(client, status_cache)
    api = parts["status_api"]
    index = next(i for i in range(10) if data.get(f"{api}-{i}-name") == "instances")
    data[f"{api}-{index}-maximum"] = 5
    concurrency = next(i for i in range(10) if data.get(f"{api}-{i}-name") == "concurrency")
    data[f"{api}-{concurrency}-remove"] = "on"
    count = data[f"{api}-count"]
    data.update({f"{api}-count": count + 1, f"{api}-{count}-name": "cores", f"{api}-{count}-default": 2,
                 f"{api}-{count}-minimum": 1, f"{api}-{count}-maximum": 8, f"{api}-{count}-step": 1,
                 f"{api}-{count}-learner_editable": "on"})
    response = client.post(reverse("admin:kata_kata_change", args=[status_cache.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]
    rows = {p.name: p for p in PartParameter.objects.filter(part__kata=status_cache, part__key="status_api")}
    assert set(rows) == {"instances", "cores"}
    assert rows["instances"].maximum == 5 and rows["cores"].maximum == 8
    assert PartParameter.objects.filter(part__kata=status_cache, part__key="order_db").count() == 2, "others kept"


def test_a_bad_range_is_refused_on_the_kata_page_and_nothing_changes(client, instructor, status_cache):
    client.force_login(instructor)
    _, data, parts = _page_data(client, status_cache)
    api = parts["status_api"]
    index = next(i for i in range(10) if data.get(f"{api}-{i}-name") == "instances")
    data[f"{api}-{index}-maximum"] = 0
    response = client.post(reverse("admin:kata_kata_change", args=[status_cache.pk]), data)
    assert response.status_code == 200
    assert "Instances: Must be at least the minimum." in response.content.decode()
    assert PartParameter.objects.get(part__kata=status_cache, part__key="status_api", name="instances").maximum == 8
