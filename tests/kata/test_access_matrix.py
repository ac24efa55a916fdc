"""Who may do what: every persona against every URL and the run socket. Denied means redirected to log in (302),
refused (403), or told the object does not exist (404, so ids do not leak)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from django.test import Client

from config.asgi import application
from kata.models import Attempt, Run
from kata.services import kata_load_fixture
from tests.personas import make_persona

PERSONAS = ["anonymous", "learner", "other_learner", "instructor", "grader"]
OK, LOGIN, FORBIDDEN, MISSING, REDIRECT = 200, 302, 403, 404, 302


def _expect(anonymous, learner, other, instructor, grader):
    return dict(zip(PERSONAS, [anonymous, learner, other, instructor, grader], strict=True))


SIGNED_IN = _expect(LOGIN, OK, OK, OK, OK)
OWNER_ONLY = _expect(LOGIN, OK, MISSING, MISSING, MISSING)
GRADERS_ONLY = _expect(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, OK)
INSTRUCTORS_AND_GRADERS = _expect(LOGIN, FORBIDDEN, FORBIDDEN, OK, OK)
INSTRUCTORS = _expect(LOGIN, LOGIN, LOGIN, OK, LOGIN)  # the admin: graders and learners are not staff
EVERYONE = _expect(OK, OK, OK, OK, OK)

# (method, url template, body, expected per persona); {attempt} and {run} belong to `learner`.
MATRIX = [
    ("get", "/", None, EVERYONE),
    ("get", "/healthz", None, EVERYONE),
    ("get", "/katas/clearpay/", None, EVERYONE),
    ("get", "/katas/unknown/", None, _expect(MISSING, MISSING, MISSING, MISSING, MISSING)),
    ("get", "/accounts/signup/", None, _expect(OK, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    ("get", "/accounts/password/", None, SIGNED_IN),
    ("get", "/katas/clearpay/workspace/", None, SIGNED_IN),
    ("post", "/katas/clearpay/draft/", {"nodes": [], "edges": []}, SIGNED_IN),
    ("get", "/katas/clearpay/inspector/?part=lb&node=lb", None, SIGNED_IN),
    ("post", "/katas/clearpay/estimate/", {"nodes": [], "edges": []}, SIGNED_IN),
    ("post", "/katas/clearpay/runs/", {"nodes": [], "edges": []}, _expect(LOGIN, 400, 400, 400, 400)),
    ("get", "/katas/clearpay/attempts/", None, SIGNED_IN),
    ("get", "/katas/clearpay/compare/", None, SIGNED_IN),
    ("get", "/attempts/{attempt}/", None, _expect(LOGIN, OK, MISSING, MISSING, REDIRECT)),  # graders: its review
    ("get", "/runs/{run}/grade/", None, OWNER_ONLY),
    ("get", "/review/", None, GRADERS_ONLY),
    ("get", "/review/?format=csv", None, GRADERS_ONLY),
    ("get", "/review/attempts/{attempt}/", None, GRADERS_ONLY),
    ("post", "/review/attempts/{attempt}/", "feedback", _expect(LOGIN, FORBIDDEN, FORBIDDEN, FORBIDDEN, REDIRECT)),
    ("get", "/admin/kata/kata/", None, _expect(LOGIN, LOGIN, LOGIN, OK, LOGIN)),
    ("get", "/admin/kata/kata/add/", None, _expect(LOGIN, LOGIN, LOGIN, OK, LOGIN)),
    ("get", "/admin/kata/attempt/", None, _expect(LOGIN, LOGIN, LOGIN, OK, LOGIN)),
    ("get", "/admin/auth/user/", None, _expect(LOGIN, LOGIN, LOGIN, FORBIDDEN, LOGIN)),
    # Versions, checked publishing, export and import, what learners do (issue 16).
    ("post", "/katas/clearpay/draft/fit/", "form", _expect(LOGIN, REDIRECT, REDIRECT, REDIRECT, REDIRECT)),
    ("get", "/katas/clearpay/insights/", None, INSTRUCTORS_AND_GRADERS),
    ("get", "/katas/unknown/insights/", None, _expect(LOGIN, FORBIDDEN, FORBIDDEN, MISSING, MISSING)),
    ("get", "/admin/kata/kata/{kata}/change/", None, INSTRUCTORS),
    ("get", "/admin/kata/kata/{kata}/check/", None, INSTRUCTORS),
    ("get", "/admin/kata/kata/{kata}/export/", None, INSTRUCTORS),
    ("get", "/admin/kata/kata/import/", None, INSTRUCTORS),
    ("post", "/admin/kata/kata/", "check_kata", _expect(LOGIN, LOGIN, LOGIN, REDIRECT, LOGIN)),
    ("post", "/admin/kata/kata/", "check_and_publish", _expect(LOGIN, LOGIN, LOGIN, REDIRECT, LOGIN)),
    ("post", "/admin/kata/kata/", "unpublish", _expect(LOGIN, LOGIN, LOGIN, REDIRECT, LOGIN)),
    ("post", "/admin/kata/kata/import/", "form", _expect(LOGIN, LOGIN, LOGIN, 400, LOGIN)),
    ("get", "/admin/kata/kataversion/", None, INSTRUCTORS),
    ("get", "/admin/kata/mustfaildesign/", None, _expect(LOGIN, LOGIN, LOGIN, MISSING, LOGIN)),
    ("post", "/katas/clearpay/author/designs/", "form", _expect(LOGIN, FORBIDDEN, FORBIDDEN, 400, FORBIDDEN)),
    ("get", "/runs/{run}/replay/", None, _expect(LOGIN, OK, MISSING, MISSING, OK)),
    ("get", "/runs/{run}/replay/points/", None, _expect(LOGIN, OK, MISSING, MISSING, OK)),
]


@pytest.fixture
def world(clearpay, design_file):
    people = {name: make_persona(name) for name in PERSONAS[1:]}
    attempt = Attempt.objects.create(learner=people["learner"], kata=clearpay, design=design_file("reference"))
    run = Run.objects.create(attempt=attempt, seeds=[1, 2, 3], status="succeeded", passed=5, total=5,
                             grade={"kata": "clearpay", "passed": 5, "total": 5, "seeds": [1, 2, 3], "scenarios": []})
    return people, attempt, run


@pytest.mark.parametrize("method, url, body, expected", MATRIX, ids=[f"{m} {u}" for m, u, _, _ in MATRIX])
@pytest.mark.parametrize("persona", PERSONAS)
def test_role_matrix(world, persona, method, url, body, expected):
    people, attempt, run = world
    client = Client()
    if persona != "anonymous":
        client.force_login(people[persona])
    url = url.format(attempt=attempt.pk, run=run.pk, kata=attempt.kata_id)
    if method == "get":
        response = client.get(url)
    elif body == "form":
        response = client.post(url, {})
    elif body in ("check_kata", "check_and_publish", "unpublish"):
        response = client.post(url, {"action": body, "_selected_action": [attempt.kata_id]})
    elif body == "feedback":
        response = client.post(url, {"action": "feedback", "text": "Well sized."})
    else:
        response = client.post(url, json.dumps(body), content_type="application/json")
    assert response.status_code == expected[persona], (persona, url, response.status_code)
    if expected[persona] == LOGIN and persona == "anonymous":
        assert "/accounts/login/" in response["Location"] or "/admin/login/" in response["Location"]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("persona, connects", [("anonymous", False), ("learner", True), ("other_learner", False),
                                               ("instructor", False), ("grader", False)])
async def test_run_socket_matrix(persona, connects):

    kata, _ = await sync_to_async(kata_load_fixture)(path=Path("fixtures/status-cache/kata.json"))
    owner = await sync_to_async(make_persona)("learner")
    attempt = await Attempt.objects.acreate(learner=owner, kata=kata, design={})
    run = await Run.objects.acreate(attempt=attempt, seeds=[1], status="cancelled")
    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if persona != "anonymous":
        user = owner if persona == "learner" else await sync_to_async(make_persona)(persona)

        def cookie():
            session = SessionStore()
            session[SESSION_KEY], session[BACKEND_SESSION_KEY] = str(user.pk), "kata.accounts.AccountBackend"
            session[HASH_SESSION_KEY] = user.get_session_auth_hash()
            session.save()
            return (b"cookie", f"sessionid={session.session_key}".encode())

        headers.append(await sync_to_async(cookie)())
    socket = WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)
    connected, _ = await socket.connect()
    assert connected  # refused sockets are accepted and then closed, so that the browser sees why
    if connects:
        assert (await socket.receive_json_from())["type"] == "status"
        await socket.disconnect()
    else:
        code = 4401 if persona == "anonymous" else 4404
        assert await socket.receive_output() == {"type": "websocket.close", "code": code}


def test_post_without_csrf_token_is_refused(world):
    people, attempt, _ = world
    client = Client(enforce_csrf_checks=True)
    client.force_login(people["learner"])
    response = client.post("/katas/clearpay/draft/", json.dumps({"nodes": [], "edges": []}),
                           content_type="application/json")
    assert response.status_code == 403
    client.force_login(people["grader"])
    assert client.post(f"/review/attempts/{attempt.pk}/", {"action": "feedback", "text": "x"}).status_code == 403
    assert not attempt.feedback.exists()
