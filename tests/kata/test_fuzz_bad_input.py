"""Malformed designs and parameters thrown at the validator, every design endpoint, the run socket, the stored drafts
and the `grade` command: each gets a clear refusal (DesignError, a 4xx with a message, an error frame, exit 2),
never a crash, never a partial save, and no stored draft locks its learner out of the workspace.

The strategies put JSON of any shape at every field of a design: numbers of any size, text, lists and objects
where strings are expected, and nesting thousands of levels deep.
"""

from __future__ import annotations

import copy
import json
import os
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from config.asgi import application
from kata import services
from kata.design import DesignError, design_validate
from kata.drafts import draft_shape_problems
from kata.models import Attempt, Draft, Run
from tests.personas import PASSWORD, make_persona

# `KATA_FUZZ_EXAMPLES=2000 pytest tests/kata/test_fuzz_bad_input.py` for a longer search.
EXAMPLES = int(os.environ.get("KATA_FUZZ_EXAMPLES", "250"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                       HealthCheck.data_too_large, HealthCheck.filter_too_much])

huge_integers = st.integers(10**300, 10**400) | st.integers(-10**400, -10**300)
scalars = (st.none() | st.booleans() | st.integers() | huge_integers | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=30) | st.text(min_size=41, max_size=300))
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=25,
)


class Deep:
    """A list nested `depth` levels deep, written into a body as text (Python's own json would recurse on it)."""

    def __init__(self, depth: int) -> None:
        self.depth = depth

    def value(self) -> Any:
        nested: list[Any] = []
        for _ in range(self.depth - 1):
            nested = [nested]
        return nested

    def __repr__(self) -> str:
        return f"Deep({self.depth})"


deep_values = st.integers(1, 6000).map(Deep)
any_value = json_values | deep_values


def _fields(document: dict[str, Any]) -> list[tuple[Any, ...]]:
    """Every place a value sits in a design: the document, its lists, each node and edge and each of their fields."""
    paths: list[tuple[Any, ...]] = [(), ("nodes",), ("edges",)]
    for i, node in enumerate(document["nodes"]):
        paths += [("nodes", i), *[("nodes", i, field) for field in ("id", "part", "params", "x", "y")]]
        paths += [("nodes", i, "params", name) for name in node.get("params", {})]
    for j, _ in enumerate(document["edges"]):
        paths += [("edges", j), ("edges", j, "source"), ("edges", j, "target")]
    return paths


def _replace(document: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    head, *rest = path
    if isinstance(document, dict) and isinstance(head, str):
        return {**document, head: _replace(document.get(head), tuple(rest), value)}
    if isinstance(document, list) and isinstance(head, int) and head < len(document):
        return [*document[:head], _replace(document[head], tuple(rest), value), *document[head + 1:]]
    return document  # an earlier replacement took this place away


@st.composite
def any_shape_designs(draw: Any, base: dict[str, Any]) -> Any:
    """The reference design with one to three of its fields (or itself) replaced by any JSON value."""
    design: Any = copy.deepcopy(base)
    fields = _fields(base)
    for _ in range(draw(st.integers(1, 3))):
        design = _replace(design, draw(st.sampled_from(fields)), draw(any_value))
    return design


def _materialized(document: Any) -> Any:
    """The document as Python values (Deep made real), for calling the validator directly."""
    if isinstance(document, Deep):
        return document.value()
    if isinstance(document, dict):
        return {key: _materialized(value) for key, value in document.items()}
    if isinstance(document, list):
        return [_materialized(value) for value in document]
    return document


def body(document: Any) -> str:
    """The document as a request body; Deep values are spelled out as brackets."""
    deeps: list[Deep] = []

    def default(value: Any) -> str:
        deeps.append(value)
        return f"\x00deep{len(deeps) - 1}\x00"

    text = json.dumps(document, allow_nan=True, default=default)
    for index, deep in enumerate(deeps):
        text = text.replace(json.dumps(f"\x00deep{index}\x00"), "[" * deep.depth + "]" * deep.depth)
    return text


@pytest.fixture(scope="module")
def reference():
    return json.loads(Path("fixtures/clearpay/designs/reference.json").read_text())


def test_deep_values_reach_the_body_as_brackets():
    assert body({"x": Deep(3)}) == '{"x": [[[]]]}'
    assert json.loads(body([Deep(2), "a"])) == [[[]], "a"]


@FUZZ
@given(document=any_value)
def test_validator_refuses_arbitrary_json_cleanly(clearpay_palette, document):
    try:
        design_validate(_materialized(document), clearpay_palette)
    except DesignError as exc:
        assert exc.problems and all(p.message for p in exc.problems)


def test_validator_accepts_or_precisely_refuses_designs_with_any_field_of_any_shape(clearpay_palette, reference):
    @FUZZ
    @given(document=any_shape_designs(reference))
    def check(document):
        try:
            design = design_validate(_materialized(document), clearpay_palette)
        except DesignError as exc:
            assert exc.problems and all(str(p) and len(str(p)) < 400 for p in exc.problems)
        else:
            # Whatever passes is runnable: every parameter within its part's range.
            for node in design.nodes:
                for spec in node.part.parameters:
                    assert spec.minimum <= node.params[spec.name] <= spec.maximum

    check()


def test_draft_shape_check_is_total_and_agrees_with_what_the_editor_sends(reference):
    assert draft_shape_problems(reference) == []

    @FUZZ
    @given(document=any_shape_designs(reference) | any_value)
    def check(document):
        problems = draft_shape_problems(_materialized(document))
        assert all(p.message for p in problems)

    check()


def test_design_endpoints_answer_4xx_with_a_message_never_5xx(client, learner, clearpay, reference):
    client.force_login(learner)
    workspace = "/katas/clearpay/workspace/"

    @FUZZ
    @given(document=any_shape_designs(reference) | any_value)
    def check(document):
        text = body(document)
        draft = client.post("/katas/clearpay/draft/", text, content_type="application/json")
        assert draft.status_code in (200, 400), draft.status_code
        if draft.status_code == 400:
            assert draft.json()["saved"] is False and draft.json()["error"]
        else:
            stored = Draft.objects.get(learner=learner, kata=clearpay).design
            assert draft_shape_problems(stored) == [], "only a draft of a design's shape is stored"
        estimate = client.post("/katas/clearpay/estimate/", text, content_type="application/json")
        assert estimate.status_code in (200, 400), estimate.status_code
        if estimate.status_code == 400:
            assert b"Fix these" in estimate.content
        page = client.get(workspace)
        assert page.status_code == 200, "the workspace opens whatever the draft holds"

    check()


@pytest.mark.django_db(transaction=True)
def test_the_run_endpoint_refuses_every_malformed_design_with_its_problems(client, clearpay, reference):
    """Transactional: an accepted run really starts (and is cancelled at once, so the next may start)."""
    learner = make_persona("learner")
    client.force_login(learner)

    @FUZZ
    @given(document=any_shape_designs(reference) | any_value)
    def check(document):
        response = client.post("/katas/clearpay/runs/", body(document), content_type="application/json")
        assert response.status_code in (201, 400), response.status_code
        if response.status_code == 400:
            assert response.json()["error"] and "problems" in response.json()
        else:
            assert services.run_cancel(run=Run.objects.get(pk=response.json()["run"]))

    check()
    refused = Attempt.objects.filter(runs__isnull=True)
    assert not refused.exists(), "no attempt is saved for a refused run"


def test_the_inspector_answers_any_query_and_form_with_2xx_or_4xx(client, learner, clearpay):
    client.force_login(learner)
    url = "/katas/clearpay/inspector/"
    parts = st.sampled_from(["settlement_worker", "queue", "gateway", "intent_api", "nope", ""]) | st.text(max_size=50)

    @FUZZ
    @given(part=parts, node=st.text(max_size=60), params=any_value, form=st.dictionaries(
        st.sampled_from(["instances", "concurrency", "capacity", "acknowledges", "max_attempts", "backoff_ms", "x"]),
        st.text(max_size=20) | st.integers().map(str) | huge_integers.map(str), max_size=5))
    def check(part, node, params, form):
        clean = lambda text: text.replace("\x00", "")  # noqa: E731 - the test client cannot send NUL in a query
        shown = client.get(url, {"part": clean(part), "node": clean(node), "params": body(params)})
        assert shown.status_code in (200, 422), shown.status_code
        posted = client.post(url, {"part": clean(part), "node": clean(node), **{k: clean(v) for k, v in form.items()}})
        assert posted.status_code in (200, 422), posted.status_code

    check()


def test_any_stored_draft_opens_the_workspace_and_an_unusable_one_can_be_discarded(
    client, learner, clearpay, reference
):
    client.force_login(learner)
    workspace = "/katas/clearpay/workspace/"

    @FUZZ
    @given(document=any_shape_designs(reference) | any_value)
    def check(document):
        text = body(document)
        Draft.objects.filter(learner=learner).delete()
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO kata_draft (learner_id, kata_id, design, updated_at) "
                               "VALUES (%s, %s, %s, CURRENT_TIMESTAMP)", [learner.pk, clearpay.pk, text])
        except IntegrityError:  # the database itself refuses it (NaN, nesting beyond SQLite's JSON depth)
            assume(False)
        page = client.get(workspace)
        assert page.status_code == 200
        if page.context["unusable_draft"]:
            assert b'data-testid="unusable-draft"' in page.content
            assert client.post("/katas/clearpay/draft/discard/").status_code == 302
            assert not Draft.objects.filter(learner=learner).exists()
        else:
            assert page.context["design"]["nodes"] == json.loads(text)["nodes"]

    check()


@pytest.mark.django_db(transaction=True)
def test_the_run_socket_answers_any_message_with_an_error_frame_and_stays_open(clearpay):

    learner = make_persona("learner")
    attempt = Attempt.objects.create(learner=learner, kata=clearpay, design={})
    run = Run.objects.create(attempt=attempt, seeds=[1], status="succeeded", passed=0, total=0, grade={})
    session = SessionStore()
    session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(learner.pk), "kata.accounts.AccountBackend"
    session[HASH_SESSION_KEY] = learner.get_session_auth_hash()
    session.save()
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost"),
               (b"cookie", f"sessionid={session.session_key}".encode())]
    # Non-empty: the test communicator cannot send an empty text frame.
    texts = (any_value.map(body) | st.text(min_size=1, max_size=200)
             | deep_values.map(lambda d: "[" * min(d.depth, 2000)))

    async def exchange(messages: list[str]) -> list[dict[str, Any]]:
        socket = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
        connected, _ = await socket.connect()
        assert connected
        while not (await socket.receive_json_from())["type"] == "status":
            pass
        answers = []
        for text in messages:
            await socket.send_to(text_data=text)
            answers.append(await socket.receive_json_from(timeout=5))
        await socket.send_to(bytes_data=b"\x00\xff")
        answers.append(await socket.receive_json_from(timeout=5))
        await socket.disconnect()
        return answers

    @settings(FUZZ, max_examples=max(1, EXAMPLES // 10))
    @given(messages=st.lists(texts, min_size=1, max_size=10))
    def check(messages):
        answers = async_to_sync(exchange)(messages)
        assert [a["type"] for a in answers] == ["error"] * (len(messages) + 1)
        assert all(a["message"] for a in answers)

    check()


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


@pytest.mark.parametrize("depth", [100, 5000, 60000])
def test_grade_command_exits_2_on_a_deeply_nested_body(clearpay, tmp_path, depth):
    path = tmp_path / "deep.json"
    path.write_text("[" * depth + "]" * depth)
    err = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("grade", str(path), "--kata", "clearpay", stdout=StringIO(), stderr=err)
    assert exited.value.code == 2 and err.getvalue().startswith("grade: ") and "Traceback" not in err.getvalue()


def test_nan_and_infinity_are_refused_with_400_not_stored(client, learner, clearpay):
    """Python's json reads NaN and Infinity; the database's JSON columns do not (hypothesis found a 500 here)."""

    client.login(username=learner.username, password=PASSWORD)
    body_text = '{"nodes": [{"id": "a", "part": "checkout", "params": {}, "x": Infinity, "y": NaN}], "edges": []}'
    response = client.post(reverse("draft_save", args=["clearpay"]), body_text, content_type="application/json")
    assert response.status_code == 400


@pytest.mark.parametrize("document", [
    {"nodes": [], "edges": [{"source": ["x"], "target": "a"}]},
    {"nodes": [{"id": "a", "part": "checkout", "x": 10**400, "y": 0}], "edges": []},
    {"nodes": [{"id": "a", "part": "queue", "params": {"capacity": 10**400}}], "edges": []},
    {"nodes": [{"id": "a", "part": "checkout"}], "edges": [{"source": {"id": "a"}, "target": None}]},
])
def test_the_bodies_the_issue_found_are_refused_and_never_lock_the_workspace(client, learner, clearpay, document):
    client.force_login(learner)
    for url in ("/katas/clearpay/draft/", "/katas/clearpay/estimate/", "/katas/clearpay/runs/"):
        response = client.post(url, json.dumps(document), content_type="application/json")
        assert response.status_code == 400, (url, response.status_code)
    assert not Draft.objects.exists()
    Draft.objects.create(learner=learner, kata=clearpay, design=document)  # as stored before drafts were checked
    page = client.get("/katas/clearpay/workspace/")
    assert page.status_code == 200 and b"Your saved draft cannot be opened" in page.content
    starter = {"checkout", "status_clients", "gateway", "ledger_db", "status_api"}
    assert {n["id"] for n in page.context["design"]["nodes"]} == starter, "the starter design"
