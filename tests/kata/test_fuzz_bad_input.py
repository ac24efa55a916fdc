"""Malformed designs and parameters thrown at the validator, the design endpoints and the `grade` command:
each gets a clear refusal (DesignError, a 4xx with a message, exit 2), never a crash, never a partial save."""

from __future__ import annotations

import copy
import json
from io import StringIO

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kata.design import DesignError, design_validate
from kata.models import Attempt, Run

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                         HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)
PARTS = ["checkout", "lb", "intent_api", "queue", "settlement_worker", "gateway", "ledger_db", "cache", "status_api",
         "status_clients", "nope", ""]
PARAMS = ["instances", "concurrency", "capacity", "acknowledges", "max_attempts", "backoff_ms", "hit_ratio", "turbo"]
odd_numbers = (st.integers(-10**9, 10**9) | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=6)
               | st.none() | st.booleans())


@st.composite
def mutated_designs(draw, base):
    """The reference design with one to four things broken or changed in it."""
    design = copy.deepcopy(base)
    for _ in range(draw(st.integers(1, 4))):
        what = draw(st.sampled_from(["param", "part", "id", "xy", "drop_node", "drop_edge", "edge", "junk"]))
        nodes, edges = design.get("nodes"), design.get("edges")
        if not isinstance(nodes, list) or not isinstance(edges, list) or not all(isinstance(n, dict) for n in nodes):
            break  # already junk: nothing more to mutate
        if what == "param" and nodes:
            node = draw(st.sampled_from(nodes))
            params = node.get("params")
            if not isinstance(params, dict):
                params = node["params"] = {}
            params[draw(st.sampled_from(PARAMS))] = draw(odd_numbers)
        elif what == "part" and nodes:
            draw(st.sampled_from(nodes))["part"] = draw(st.sampled_from(PARTS) | st.integers())
        elif what == "id" and nodes:
            draw(st.sampled_from(nodes))["id"] = draw(st.text(max_size=45) | st.integers() | st.none())
        elif what == "xy" and nodes:
            draw(st.sampled_from(nodes))[draw(st.sampled_from(["x", "y"]))] = draw(odd_numbers)
        elif what == "drop_node" and nodes:
            nodes.pop(draw(st.integers(0, len(nodes) - 1)))
        elif what == "drop_edge" and edges:
            edges.pop(draw(st.integers(0, len(edges) - 1)))
        elif what == "edge":
            ids = [n.get("id") if isinstance(n.get("id"), str) else "odd" for n in nodes] + ["ghost"]
            edges.append({"source": draw(st.sampled_from(ids)), "target": draw(st.sampled_from(ids))})
        else:
            design[draw(st.sampled_from(["nodes", "edges", "extra"]))] = draw(json_values)
    return design


@pytest.fixture(scope="module")
def reference():
    from pathlib import Path

    return json.loads(Path("fixtures/clearpay/designs/reference.json").read_text())


@FUZZ
@given(document=json_values)
def test_validator_refuses_arbitrary_json_cleanly(clearpay_palette, document):
    try:
        design_validate(document, clearpay_palette)
    except DesignError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


def test_validator_accepts_or_precisely_refuses_mutated_designs(clearpay_palette, reference):
    @FUZZ
    @given(document=mutated_designs(reference))
    def check(document):
        try:
            design = design_validate(document, clearpay_palette)
        except DesignError as exc:
            assert all(str(p) for p in exc.problems)
        else:
            # Whatever passes is runnable: every parameter within its part's range.
            for node in design.nodes:
                for spec in node.part.parameters:
                    assert spec.minimum <= node.params[spec.name] <= spec.maximum

    check()


def test_design_endpoints_answer_4xx_never_5xx(client, learner, clearpay, reference):
    client.force_login(learner)

    @FUZZ
    @given(document=mutated_designs(reference) | json_values)
    def check(document):
        body = json.dumps(document, allow_nan=True)
        for url in ("/katas/clearpay/draft/", "/katas/clearpay/estimate/"):
            response = client.post(url, body, content_type="application/json")
            assert response.status_code in (200, 400), (url, response.status_code)
        broken = document if not isinstance(document, dict) else {**document, "nodes": "not a list"}
        response = client.post("/katas/clearpay/runs/", json.dumps(broken, allow_nan=True), content_type="application/json")
        assert response.status_code == 400 and response.json()["error"]

    check()
    assert not Attempt.objects.exists() and not Run.objects.exists(), "nothing saved for refused runs"


def test_grade_command_exits_2_on_anything_that_is_not_a_design(clearpay, tmp_path):
    @FUZZ
    @given(document=json_values, raw=st.binary(max_size=40))
    def check(document, raw):
        path = tmp_path / "design.json"
        for content in (json.dumps(document, allow_nan=True).encode(), raw):
            path.write_bytes(content)
            err = StringIO()
            with pytest.raises(SystemExit) as exited:
                call_command("grade", str(path), "--kata", "clearpay", stdout=StringIO(), stderr=err)
            assert exited.value.code == 2
            assert err.getvalue().startswith("grade: ") and "Traceback" not in err.getvalue()

    check()


def test_nan_and_infinity_are_refused_with_400_not_stored(client, learner, clearpay):
    """Python's json reads NaN and Infinity; the database's JSON columns do not (hypothesis found a 500 here)."""
    from django.urls import reverse

    from tests.personas import PASSWORD

    client.login(username=learner.username, password=PASSWORD)
    body = '{"nodes": [{"id": "a", "part": "checkout", "params": {}, "x": Infinity, "y": NaN}], "edges": []}'
    response = client.post(reverse("draft_save", args=["clearpay"]), body, content_type="application/json")
    assert response.status_code == 400
