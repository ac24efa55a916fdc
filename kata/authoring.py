"""Instructors' writes: a kata's versions, Check kata (in the background, with progress) and checked publishing.

The admin's rows are a kata's working copy. A check snapshots them when it is asked for, grades the reference
design (it must pass every scenario) and each must-fail design (each must fail the scenarios it names) on the
kata's grading seeds, and, when it passes and was asked to publish, makes that snapshot the kata's next version:
what learners see and are graded against from then on. A failing check leaves the live version as it was.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from kata.brief import BRIEF_FIELDS, brief_problems
from kata.design import DesignError
from kata.models import Kata, KataCheck, KataVersion, MustFailDesign
from kata.palette import Palette, ScenarioSpec
from kata.versions import palette_from_rules, rules_changes, working_rules

# A check left "running" this long by a process that died no longer holds its person's turn.
CHECK_STALE_AFTER = timedelta(minutes=15)


class CheckRefused(ValueError):
    pass


def kata_version_create(*, kata: Kata, rules: dict[str, Any], reference_design: dict[str, Any],
                        by: AbstractUser | None) -> KataVersion:
    """The kata's next version from these rules, and the kata published on it. The same rules as the live version
    make no new version (a check of an unchanged kata publishes what is there)."""
    with transaction.atomic():
        Kata.objects.select_for_update().filter(pk=kata.pk).first()
        latest = kata.versions.order_by("-number").first()
        if latest is not None and latest.rules == rules and latest.reference_design == reference_design:
            version = latest
        else:
            changes = rules_changes(latest.rules if latest else None, rules)
            if latest is not None and latest.rules == rules:
                changes = ["The reference design changed; the rules did not."]
            version = KataVersion.objects.create(
                kata=kata, number=(latest.number + 1) if latest else 1, rules=rules,
                reference_design=reference_design, changes="\n".join(changes), created_by=by)
        Kata.objects.filter(pk=kata.pk).update(published=True)
    kata.published = True
    return version


def kata_publish_unchecked(*, kata: Kata, by: AbstractUser | None = None) -> KataVersion:
    """Publish the working copy as it is, without a check: for the repository's fixtures (its tests check them)
    and databases from before versions. Instructors publish through a passing check."""
    kata.refresh_from_db()
    return kata_version_create(kata=kata, rules=working_rules(kata), reference_design=kata.reference_design or {},
                               by=by)


def kata_versions_ensure() -> list[KataVersion]:
    """Give every published kata without a version its first one, from its rules as they are (databases from
    before versions; `load_katas` calls it)."""
    return [kata_publish_unchecked(kata=kata) for kata in Kata.objects.filter(published=True, versions__isnull=True)]


def kata_unpublish(*, kata: Kata) -> Kata:
    """Hide a kata from learners; its versions and attempts stay, and publishing again needs a passing check."""
    Kata.objects.filter(pk=kata.pk).update(published=False, updated_at=timezone.now())
    kata.published = False
    return kata


def must_fail_save(*, kata: Kata, title: str, design: dict[str, Any], fails: list[int],
                   why: str = "") -> MustFailDesign:
    """Keep a design that must fail the scenarios it names (drawn in the workspace, or imported)."""
    order = (kata.must_fail.order_by("-order").values_list("order", flat=True).first() or 0) + 1
    row = MustFailDesign(kata=kata, order=order, title=title.strip()[:120], why=why.strip(), design=design,
                         fails=sorted(set(fails)))
    row.full_clean(exclude=["kata"])
    row.save()
    return row


def kata_reference_save(*, kata: Kata, design: dict[str, Any]) -> Kata:
    """The kata's reference design (its working copy: learners see it only through a version)."""
    kata.reference_design = design
    kata.save(update_fields=["reference_design", "updated_at"])
    return kata


def kata_check_request(*, kata: Kata, requested_by: AbstractUser, publish: bool = False) -> KataCheck:
    """Snapshot the kata's working copy and check it in the background; refused while the person has one going."""
    # Local: the execution stack (the seed pool) stays off the import path of the consumer, which calls services.
    from kata.runs import submit

    kata.refresh_from_db()  # the admin's inlines touched it after the form saved it
    going = KataCheck.objects.filter(requested_by=requested_by, status__in=[KataCheck.Status.QUEUED,
                                                                            KataCheck.Status.RUNNING],
                                     created_at__gte=timezone.now() - CHECK_STALE_AFTER)
    if going.exists():
        raise CheckRefused("You have a kata check going already: its progress shows on the kata's page; ask for "
                           "the next one when it has finished.")
    check = KataCheck.objects.create(
        kata=kata, requested_by=requested_by, publish=publish, rules=working_rules(kata),
        reference_design=kata.reference_design or {},
        must_fail=[{"title": m.title, "design": m.design, "fails": m.fails} for m in kata.must_fail.all()],
        total=1 + kata.must_fail.count(), current="Waiting for a simulator…")
    transaction.on_commit(lambda: submit.kata_check_submit(
        check_id=check.pk, finish=lambda: kata_check_finish(check_id=check.pk)))
    return check


def _progress(check: KataCheck, **fields: Any) -> None:
    for name, value in fields.items():
        setattr(check, name, value)
    KataCheck.objects.filter(pk=check.pk).update(**fields)


def _grade_one(palette: Palette, document: Any, parallel: bool, practice: ScenarioSpec | None = None) -> Any:
    from kata.runs.seeds import design_grade, grading_seeds  # local: see kata_check_request

    return design_grade(palette=palette, document=document, seeds=grading_seeds(palette), parallel=parallel,
                        practice=practice).grade


def _check_brief(kata: Kata, palette: Palette) -> dict[str, Any]:
    orders = {s.order for s in palette.scenarios}
    problems = [f"{name.replace('_', ' ')}: {p}" for name in BRIEF_FIELDS
                for p in brief_problems(str(getattr(kata, name) or ""), orders)]
    if problems:
        return {"design": "Brief", "ok": False, "message": "; ".join(problems)}
    return {"design": "Brief", "ok": True, "message": "Its placeholders name scenarios the kata has."}


def _check_reference(check: KataCheck, palette: Palette, parallel: bool) -> dict[str, Any]:
    if not check.reference_design:
        return {"design": "Reference design", "ok": False, "message": "There is no reference design to check."}
    try:
        grade = _grade_one(palette, check.reference_design, parallel)
    except DesignError as exc:
        return {"design": "Reference design", "ok": False, "message": f"The reference design is invalid: {exc}"}
    if grade.passed == grade.total:
        return {"design": "Reference design", "ok": True, "message": f"The reference design passes "
                f"{grade.passed}/{grade.total} on seeds {', '.join(map(str, grade.seeds))}."}
    failing = "; ".join(f"{s.id}. {s.title}: {s.explanation}" for s in grade.scenarios if not s.passed)
    return {"design": "Reference design", "ok": False,
            "message": f"The reference design passes only {grade.passed}/{grade.total}. {failing}"}


def _check_practice(check: KataCheck, palette: Palette, scenario: ScenarioSpec, parallel: bool) -> dict[str, Any]:
    """A practice scenario must be solvable: the reference design passes it, with its incidents, on every seed."""
    name = f"Practice {scenario.order}: {scenario.title}"
    try:
        grade = _grade_one(palette, check.reference_design, parallel, practice=scenario)
    except DesignError as exc:
        return {"design": name, "ok": False, "message": f"The reference design is invalid: {exc}"}
    result = next(s for s in grade.scenarios if s.id == scenario.order)
    if result.passed:
        return {"design": name, "ok": True, "message": f"The reference design passes it with its incidents on seeds "
                f"{', '.join(map(str, grade.seeds))}."}
    return {"design": name, "ok": False, "message": f"The reference design fails it: {result.explanation}"}


def _check_must_fail(entry: dict[str, Any], palette: Palette, parallel: bool) -> dict[str, Any]:
    name = f"Must fail: {entry['title']}"
    named = sorted(int(n) for n in entry.get("fails", []))
    known = {s.order for s in palette.scenarios if not s.practice}  # a practice scenario is never in the grade
    unknown = [n for n in named if n not in known]
    if unknown:
        return {"design": name, "ok": False, "message": f"It names scenario(s) {', '.join(map(str, unknown))}, "
                "which the kata does not have."}
    try:
        grade = _grade_one(palette, entry["design"], parallel)
    except DesignError as exc:
        return {"design": name, "ok": False, "message": f"The design is invalid under these rules: {exc}"}
    verdicts = {s.id: s for s in grade.scenarios}
    passing = [n for n in named if verdicts[n].passed]
    if passing:
        shown = "; ".join(f"{n}. {verdicts[n].title}" for n in passing)
        return {"design": name, "ok": False, "message": f"It should fail {', '.join(map(str, named))} but passes "
                f"{shown}."}
    return {"design": name, "ok": True, "message": f"Fails {', '.join(map(str, named))} as it should."}


def kata_check_finish(*, check_id: int, parallel: bool = True) -> KataCheck:
    """The background half of `kata_check_request`: grade each design, say how far it got, publish if asked."""
    check = KataCheck.objects.select_related("kata", "requested_by").get(pk=check_id)
    report: list[dict[str, Any]] = []
    try:
        kata = check.kata
        palette = palette_from_rules(check.rules, slug=kata.slug, title=kata.title)
        _progress(check, status=KataCheck.Status.RUNNING, current="Grading the reference design…")
        report.append(_check_brief(kata, palette))
        if not palette.scenarios:
            report.append({"design": "Scenarios", "ok": False, "message": "The kata has no scenarios to grade."})
        else:
            report.append(_check_reference(check, palette, parallel))
            if check.reference_design:
                for scenario in sorted((s for s in palette.scenarios if s.practice), key=lambda s: s.order):
                    _progress(check, current=f"Trying practice scenario {scenario.order} on the reference design…")
                    report.append(_check_practice(check, palette, scenario, parallel))
            _progress(check, done=1, report=report)
            for index, entry in enumerate(check.must_fail, start=2):
                _progress(check, current=f"Grading must-fail design “{entry['title']}” ({index} of {check.total})…")
                report.append(_check_must_fail(entry, palette, parallel))
                _progress(check, done=index, report=report)
    except Exception as exc:  # whatever breaks, the instructor reads it and may ask again
        report.append({"design": "Check", "ok": False, "message": f"The check could not run: {exc}"})
    ok = all(r["ok"] for r in report) and bool(report)
    message = _summary(check, report, ok)
    version = None
    if ok and check.publish:
        version = kata_version_create(kata=check.kata, rules=check.rules, reference_design=check.reference_design,
                                      by=check.requested_by)
        message += f" Published as version {version.number}."
    elif check.publish:
        message += " Not published: learners keep the live version."
    _progress(check, status=KataCheck.Status.PASSED if ok else KataCheck.Status.FAILED, report=report,
              message=message, current="", version=version, finished_at=timezone.now(), done=check.total)
    return check


def _summary(check: KataCheck, report: list[dict[str, Any]], ok: bool) -> str:
    title = check.kata.title
    if ok:
        reference = next(r for r in report if r["design"] == "Reference design")
        others = sum(1 for r in report if r["design"].startswith("Must fail"))
        extra = f"; {others} must-fail design(s) fail as they should" if others else ""
        return f"{title}: {reference['message'][:-1]}{extra}."
    failing = [r for r in report if not r["ok"]]
    return f"{title}: " + " ".join(f"{r['design']}: {r['message']}" for r in failing)
