"""Writes. Views, consumers, admin actions and commands call these and hold no logic of their own."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.mail import send_mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from kata.design import DesignError, design_validate
from kata.drafts import draft_shape_problems
from kata.models import (Attempt, Draft, Feedback, FeedbackChange, GradeOverride, Kata, Run,
                         RunFrame)
from kata.katafile import kata_load_fixture as kata_load_fixture  # the commands' and tests' entry
from kata.palette import Palette
from kata.selectors import grade_effective
from kata.versions import design_fitted, palette_live, version_live
from kata.whatif import WhatIfError, whatif_check
from kata.runs.lease import runs_expire_stale, runs_still_stopping

log = logging.getLogger(__name__)

LEARNERS = "learners"
INSTRUCTORS = "instructors"
GRADERS = "graders"


@dataclass(frozen=True)
class DemoAccount:
    username: str
    password: str
    role: str
    created: bool


# Fixed on purpose: a local demo must be reachable again after a restart. Refused in production.
_DEMO = (
    ("learner", "learn-clearpay", LEARNERS, False),
    ("instructor", "teach-clearpay", INSTRUCTORS, True),
    ("grader", "grade-clearpay", GRADERS, False),
)


def demo_username(*, username: str | None) -> bool:
    return any(username == demo for demo, _, _, _ in _DEMO)


def demo_credentials(*, username: str | None, password: str | None) -> bool:
    """Whether these are the published credentials of a demo account (refused in production)."""
    return any(username == demo and password == secret for demo, secret, _, _ in _DEMO)


def demo_password_matches(*, user: AbstractUser) -> bool:
    """Whether this account still has its demo password (it is a demo account, reachable by anyone who read it)."""
    return any(user.get_username() == demo and user.check_password(secret) for demo, secret, _, _ in _DEMO)


@transaction.atomic
def demo_accounts_ensure() -> list[DemoAccount]:
    """Create the demo learner, instructor and grader if missing; reset their passwords to the documented ones."""
    user_model = get_user_model()
    accounts = []
    for username, password, group_name, is_staff in _DEMO:
        group, _ = Group.objects.get_or_create(name=group_name)
        user: AbstractUser
        user, created = user_model.objects.get_or_create(username=username)
        user.set_password(password)
        user.is_staff = is_staff
        user.save()
        user.groups.add(group)
        accounts.append(DemoAccount(username=username, password=password, role=group_name, created=created))
    return accounts


def kata_cheapest_record(*, kata: Kata, cost_per_hour: float) -> None:
    """Record the cost of the cheapest passing design found (`manage.py cheapest --save`); grades compare with it."""
    Kata.objects.filter(pk=kata.pk).update(cheapest_cost_per_hour=round(cost_per_hour, 2), updated_at=timezone.now())


def kata_archive(*, kata: Kata, archived: bool = True) -> Kata:
    """Retire a kata (hidden from learners; its attempts stay, reviewable) or bring it back."""
    kata.archived = archived
    kata.save(update_fields=["archived", "updated_at"])
    return kata


class DraftRejected(ValueError):
    """A draft that is not even the shape of a design (drafts may be incomplete, not malformed)."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


def draft_save(*, learner: AbstractUser, kata: Kata, document: Any) -> Draft:
    """Autosave work in progress. Incomplete designs are kept; a document of another shape is refused, so every
    stored draft can be read back and drawn (see `kata.drafts`)."""
    problems = draft_shape_problems(document)
    if problems:
        more = f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        shown = "; ".join(str(p) for p in problems[:3]) + more
        raise DraftRejected(
            f"Not saved: this is not the shape of a design ({shown}).",
            [{"path": p.path, "message": p.message, "node": p.node, "text": p.text} for p in problems[:20]],
        )
    draft, _ = Draft.objects.update_or_create(
        learner=learner, kata=kata, defaults={"design": {"nodes": document["nodes"], "edges": document["edges"]}}
    )
    return draft


def draft_fit(*, learner: AbstractUser, kata: Kata, node: str | None = None, parameter: str | None = None) -> bool:
    """Move the draft's parameters that the live rules no longer allow (all, or the one named) to their nearest
    allowed values. Returns whether anything changed."""
    draft = Draft.objects.filter(learner=learner, kata=kata).first()
    if draft is None or draft_shape_problems(draft.design):
        return False
    fitted = design_fitted(draft.design, palette_live(kata), node=node, parameter=parameter)
    if fitted == draft.design:
        return False
    draft.design = fitted
    draft.save(update_fields=["design", "updated_at"])
    return True


def draft_discard(*, learner: AbstractUser, kata: Kata) -> bool:
    """Throw away the learner's draft of a kata (the workspace offers it for a draft it cannot open)."""
    deleted, _ = Draft.objects.filter(learner=learner, kata=kata).delete()
    return bool(deleted)


class RunRefused(ValueError):
    """A run that may not start (another is active, or the design is invalid)."""

    def __init__(self, message: str, problems: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.problems = problems or []


@transaction.atomic
def run_start(*, learner: AbstractUser, kata: Kata, document: Any, title: str = "", as_author: bool = False,
              what_if: Any = None) -> Run:
    """Validate a design, then save the attempt and its queued run together (both or neither).

    `what_if` (see `kata.whatif`) makes it a what-if run: changed traffic and incidents, simulated on the first
    grading seed, never graded. It joins the learner's latest attempt with the same design (so "what if" is asked of
    the design just graded), else a new attempt that has no grade until a graded run of it.

    One active run per learner: a second Run while one is going is refused with a clear message. A learner's run is
    graded against the live version; an author's (`as_author`) against the kata's working copy, as it is when the run
    executes (no version).
    """
    version = None if as_author else version_live(kata)
    palette = Palette.from_kata(kata) if as_author else palette_live(kata)
    try:
        design = design_validate(document, palette)
    except DesignError as exc:
        problems = [{"path": p.path, "message": p.message, "node": p.node, "text": p.text} for p in exc.problems]
        raise RunRefused("The design has problems to fix before it can run.", problems) from None
    checked_what_if = None
    if what_if is not None:
        try:
            checked_what_if = whatif_check(what_if, palette)
        except WhatIfError as exc:
            problems = [{"path": path, "message": message, "node": None, "text": f"{path}: {message}"}
                        for path, message in exc.problems]
            raise RunRefused("The what-if has problems to fix before it can run.", problems) from None
    # Lock the learner's row so two simultaneous clicks cannot both pass the check below.
    get_user_model().objects.select_for_update().filter(pk=learner.pk).first()
    runs_expire_stale(learner=learner)
    mine = Run.objects.filter(attempt__learner=learner)
    if mine.filter(status__in=Run.ACTIVE_STATUSES).exists():
        raise RunRefused("You already have a run in progress. Wait for it to finish, or cancel it, before starting "
                         "another.")
    # A cancelled run counts as active until its executor has stopped every seed (it says so with finished_at),
    # or Run → Cancel repeated would keep the shared pool busy with runs nobody waits for.
    if runs_still_stopping(mine).exists():
        raise RunRefused("Your cancelled run is still stopping; start the next one in a moment.")
    hour_ago = timezone.now() - timedelta(hours=1)
    recent = mine.filter(created_at__gte=hour_ago)
    if recent.count() >= settings.KATA_RUNS_PER_HOUR:
        raise RunRefused(f"You have started {settings.KATA_RUNS_PER_HOUR} runs in the last hour, the most one learner "
                         "may; your design is saved. Use the instant estimate meanwhile, and run it again later.")
    if RunFrame.objects.filter(run__in=recent).count() >= settings.KATA_FRAMES_PER_HOUR:
        raise RunRefused("Your runs of the last hour have streamed as much as one learner may in an hour; your design "
                         "is saved. Run it again later.")
    saved = design.to_document()
    attempt = None
    if checked_what_if is not None:
        latest = Attempt.objects.filter(learner=learner, kata=kata, version=version).order_by("-created_at").first()
        attempt = latest if latest is not None and latest.design == saved else None
    if attempt is None:
        attempt = Attempt.objects.create(learner=learner, kata=kata, version=version, design=saved, title=title[:120])
    if checked_what_if is not None:
        return Run.objects.create(attempt=attempt, version=version, seeds=[1], what_if=checked_what_if)
    seeds = list(range(1, palette.grading_seeds + 1))
    return Run.objects.create(attempt=attempt, version=version, seeds=seeds)


def run_cancel(*, run: Run, reason: str = "Cancelled by the learner.") -> bool:
    """Ask an active run to stop; the executor notices within a frame. Returns whether anything was cancelled.

    A queued run has no executor yet and is finished at once; a running one is finished by its executor when every
    seed has stopped (until then the learner's next run waits, see `run_start`).
    """
    cancelled = dict(status=Run.Status.CANCELLED, error_message=reason)
    runs = Run.objects.filter(pk=run.pk)
    if runs.filter(status=Run.Status.QUEUED).update(**cancelled, finished_at=timezone.now()):
        return True
    return bool(runs.filter(status=Run.Status.RUNNING).update(**cancelled))


@transaction.atomic
def learner_sign_up(*, username: str, email: str, password: str) -> AbstractUser:
    user = get_user_model().objects.create_user(username=username, email=email, password=password)
    user.groups.add(Group.objects.get_or_create(name=LEARNERS)[0])
    return user


ROLE_GROUPS = {"learner": LEARNERS, "instructor": INSTRUCTORS, "grader": GRADERS}


@transaction.atomic
def staff_user_create(*, username: str, password: str, role: str, email: str = "") -> AbstractUser:
    """An instructor or a grader: staff (they use the admin) in the role's group."""
    if role not in ("instructor", "grader"):
        raise ValueError("role must be 'instructor' or 'grader'")
    user = get_user_model().objects.create_user(username=username, email=email, password=password, is_staff=True)
    user.groups.add(Group.objects.get_or_create(name=ROLE_GROUPS[role])[0])
    return user


class FeedbackRefused(ValueError):
    pass


@transaction.atomic
def feedback_add(*, grader: AbstractUser, attempt: Attempt, text: str) -> Feedback:
    """A grader's note on an attempt; writing one is reviewing it."""
    feedback = Feedback.objects.create(attempt=attempt, grader=grader, text=text.strip())
    attempt_mark_reviewed(grader=grader, attempt=attempt, reviewed=True)
    if settings.EMAIL_HOST and attempt.learner.email:
        transaction.on_commit(lambda: _feedback_email(feedback))
    return feedback


def _feedback_email(feedback: Feedback) -> None:
    """Tell the learner a grader wrote to them (only where email is configured: EMAIL_HOST)."""
    attempt = feedback.attempt
    link = reverse("attempt_detail", args=[attempt.pk])
    body = (f"A grader left feedback on your attempt #{attempt.pk} at {attempt.kata.title}:\n\n{feedback.text}\n\n"
            f"Read it, with your grade, on the attempt's page: {settings.KATA_SITE_URL.rstrip('/')}{link}\n")
    try:
        send_mail(f"New feedback on your {attempt.kata.title} attempt", body, None, [attempt.learner.email])
    except OSError:  # the mail server is away: the feedback is saved and shown on the page all the same
        log.warning("feedback email for attempt %s not sent", attempt.pk, exc_info=True)


def _own_feedback(*, grader: AbstractUser, feedback_id: int, attempt: Attempt) -> Feedback:
    feedback = Feedback.objects.select_for_update().filter(pk=feedback_id, attempt=attempt).first()
    if feedback is None:
        raise FeedbackRefused("This attempt has no such feedback.")
    if feedback.grader_id != grader.pk:
        raise FeedbackRefused("Only the grader who wrote this feedback may change it.")
    return feedback


@transaction.atomic
def feedback_edit(*, grader: AbstractUser, attempt: Attempt, feedback_id: int, text: str) -> Feedback:
    """Change one's own feedback; the text it had is kept in the audit trail."""
    feedback = _own_feedback(grader=grader, feedback_id=feedback_id, attempt=attempt)
    text = text.strip()
    if not text:
        raise FeedbackRefused("Feedback cannot be empty: delete it instead.")
    if text == feedback.text:
        return feedback
    FeedbackChange.objects.create(attempt=attempt, feedback=feedback, grader=grader,
                                  action=FeedbackChange.Action.EDITED, text_before=feedback.text, text_after=text)
    feedback.text = text
    feedback.edited_at = timezone.now()
    feedback.save(update_fields=["text", "edited_at"])
    return feedback


@transaction.atomic
def feedback_delete(*, grader: AbstractUser, attempt: Attempt, feedback_id: int) -> None:
    """Delete one's own feedback; the audit trail keeps what it said."""
    feedback = _own_feedback(grader=grader, feedback_id=feedback_id, attempt=attempt)
    FeedbackChange.objects.create(attempt=attempt, feedback=None, grader=grader,
                                  action=FeedbackChange.Action.DELETED, text_before=feedback.text)
    feedback.delete()


def attempt_mark_reviewed(*, grader: AbstractUser, attempt: Attempt, reviewed: bool) -> None:
    """Take an attempt off the needs-review queue (or put it back). A later run puts it back by itself."""
    attempt.reviewed_at = timezone.now() if reviewed else None
    attempt.reviewed_by = grader if reviewed else None
    attempt.save(update_fields=["reviewed_at", "reviewed_by"])


class OverrideRefused(ValueError):
    pass


@transaction.atomic
def grade_override(*, grader: AbstractUser, run: Run, scenario_id: int, passed: bool, reason: str) -> GradeOverride:
    """Flip one scenario's verdict with a reason; the run's passed count follows, the machine's grade stays as is."""
    run = Run.objects.select_for_update().get(pk=run.pk)
    if run.what_if is not None:
        raise OverrideRefused("A what-if run is not graded: it has no verdict to override.")
    if run.status != Run.Status.SUCCEEDED or not run.grade:
        raise OverrideRefused("Only a graded run can be overridden.")
    effective = grade_effective(run=run)
    current = next((s for s in effective["scenarios"] if s["id"] == scenario_id), None)
    if current is None:
        raise OverrideRefused(f"This run has no scenario {scenario_id}.")
    if current["passed"] == passed:
        raise OverrideRefused(f"Scenario {scenario_id} is already marked {'passed' if passed else 'failed'}.")
    if not reason.strip():
        raise OverrideRefused("An override needs a reason.")
    override = GradeOverride.objects.create(run=run, scenario_id=scenario_id, grader=grader,
                                            from_passed=current["passed"], to_passed=passed, reason=reason.strip())
    run.passed = grade_effective(run=run)["passed"]
    run.save(update_fields=["passed"])
    return override


def attempt_feedback_seen(*, attempt: Attempt) -> None:
    """The learner opened the attempt: its feedback so far is no longer new to them."""
    Attempt.objects.filter(pk=attempt.pk).update(feedback_seen_at=timezone.now())


def attempt_share_set(*, attempt: Attempt, shared: bool) -> Attempt:
    """Share the attempt under a fresh unguessable link, or revoke the link (a later share gets a new one)."""
    attempt.share_token = secrets.token_urlsafe(24) if shared else None
    Attempt.objects.filter(pk=attempt.pk).update(share_token=attempt.share_token)
    return attempt
