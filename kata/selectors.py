"""Reads. Views, consumers and commands call these; access rules live here."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.base_user import AbstractBaseUser
from django.db.models import CASCADE, PROTECT, RESTRICT, Count, F, Model, Q, QuerySet, TextField
from django.db.models.functions import Cast, Length

from kata import charts
from kata.design import Design, DesignProblem
from kata.drafts import draft_shape_problems
from kata.models import (
    Attempt,
    Draft,
    Feedback,
    GradeOverride,
    Kata,
    PartParameter,
    PartType,
    Run,
    RunFrame,
    RunTraces,
    Scenario,
    Sweep,
    TrafficSource,
)
from kata.palette import Palette
from kata.usernames import username_normalize, username_skeleton
from kata.versions import palette_for_run
from kata.whatif import incident_label


def user_lookalike_exists(*, username: str) -> bool:
    """Whether an account whose username looks like this one (same skeleton, see kata/usernames.py) exists."""
    name = username_normalize(username)
    skeleton = username_skeleton(name)
    if get_user_model().objects.filter(username__iexact=skeleton).exists():
        return True
    # A look-alike keeps the length of what it imitates: only names as long as this one can be one.
    same_length = get_user_model().objects.annotate(n=Length("username")).filter(n=len(name))
    return any(
        username_skeleton(other) == skeleton for other in same_length.values_list("username", flat=True).iterator()
    )


def kata_list_published() -> QuerySet[Kata]:
    """The katas learners see: published and not archived."""
    return Kata.objects.filter(published=True, archived=False).order_by("title")


def kata_get_published(*, slug: str) -> Kata | None:
    return kata_list_published().filter(slug=slug).first()


def kata_for_command(*, slug: str, seeds: int | None) -> tuple[Kata | None, str]:
    """The kata a management command names, and what is wrong with its arguments ("" when nothing is)."""
    kata = kata_get_by_slug(slug=slug)
    if kata is None:
        return None, f"no kata '{slug}' (known: {', '.join(kata_slugs()) or 'none'})"
    if seeds is not None and not 1 <= seeds <= 20:
        return kata, "--seeds must be from 1 to 20"
    return kata, ""


def kata_get_by_slug(*, slug: str) -> Kata | None:
    """Any kata, published or not (graders and instructors grade drafts too)."""
    return Kata.objects.filter(slug=slug).first()


def kata_slugs() -> list[str]:
    return list(Kata.objects.order_by("slug").values_list("slug", flat=True))


@dataclass(frozen=True)
class StoredDraft:
    design: Any  # as stored: a design only when `problems` is empty
    problems: list[DesignProblem]  # why the editor cannot open it (empty: it can)
    text: str  # the stored document, shortened, to show the learner what an unusable draft held


def draft_get(*, learner: AbstractBaseUser, kata: Kata) -> StoredDraft | None:
    """The learner's draft of a kata, whatever it holds: a row that does not even decode is reported, not raised."""
    drafts = Draft.objects.filter(learner=learner, kata=kata)
    try:
        draft = drafts.first()
    except (ValueError, RecursionError):  # stored JSON that Python cannot read back (nested too deep, say)
        raw = drafts.values_list(Cast("design", output_field=TextField()), flat=True).first() or ""
        return StoredDraft(
            design=None, problems=[DesignProblem("", "the saved draft cannot be read back")], text=raw[:2000]
        )
    if draft is None:
        return None
    problems = draft_shape_problems(draft.design)
    try:
        text = json.dumps(draft.design)[:2000] if problems else ""
    except (ValueError, RecursionError):
        text = ""
    return StoredDraft(design=draft.design, problems=problems, text=text)


# Columns of the starter layout by role, left to right along a request's path.
_COLUMN = {"load_balancer": 1, "service": 2, "queue": 3, "worker": 4, "cache": 4, "external": 5, "database": 6}


def starter_design(*, palette: Palette) -> dict[str, Any]:
    """A blank canvas with the parts every design needs: traffic sources down the left, the rest in columns along a
    request's path (a second part of a column goes below the first)."""
    nodes: list[dict[str, Any]] = []
    taken: dict[int, int] = {}
    for part in (p for p in palette.parts if p.required):
        column = 0 if part.role == "source" else _COLUMN.get(part.role, 3)
        row = taken.get(column, 0)
        taken[column] = row + 1
        nodes.append(
            {"id": part.key, "part": part.key, "params": part.defaults(), "x": 60 + 170 * column, "y": 160 + 260 * row}
        )
    return {"nodes": nodes, "edges": []}


def run_get_for_learner(*, learner: AbstractBaseUser, run_id: int) -> Run | None:
    """A run of the learner's own; someone else's id gives None (the caller answers 404, so ids do not leak)."""
    return Run.objects.select_related("attempt__kata").filter(pk=run_id, attempt__learner=learner).first()


def run_get_visible(*, user: AbstractBaseUser, run_id: int) -> Run | None:
    """The user's own run, or any run for a grader."""
    run = run_get_for_learner(learner=user, run_id=run_id)
    if run is None and can_review(user):
        run = Run.objects.select_related("attempt__kata", "attempt__learner").filter(pk=run_id).first()
    return run


def sweep_get_for_learner(*, learner: AbstractBaseUser, sweep_id: int) -> Sweep | None:
    return Sweep.objects.select_related("kata", "version").filter(pk=sweep_id, learner=learner).first()


def sweep_list_for_learner(*, learner: AbstractBaseUser, kata: Kata) -> list[Sweep]:
    return list(Sweep.objects.filter(learner=learner, kata=kata).order_by("-created_at")[:20])


def run_traces_get(*, run: Run) -> RunTraces | None:
    return RunTraces.objects.filter(run=run).first()


def run_active_for_learner(*, learner: AbstractBaseUser, kata: Kata) -> Run | None:
    return (
        Run.objects.filter(attempt__learner=learner, attempt__kata=kata, status__in=Run.ACTIVE_STATUSES)
        .order_by("-created_at")
        .first()
    )


def run_waiting_message(*, run: Run) -> str:
    """What a queued run's learner reads while it waits for a simulator."""
    ahead = Run.objects.filter(status=Run.Status.QUEUED, created_at__lt=run.created_at).count()
    if ahead == 0:
        return "Waiting for a simulator: yours is next."
    return f"Waiting for a simulator: {ahead} run{'s' if ahead != 1 else ''} ahead of yours."


def run_frames(*, run: Run, after: int = 0, limit: int | None = None) -> list[dict[str, Any]]:
    """The run's saved frames in order, those numbered above `after` only, at most `limit` of them."""
    frames = RunFrame.objects.filter(run=run, seq__gt=after).order_by("seq").values_list("payload", flat=True)
    return list(frames if limit is None else frames[:limit])


def run_replay_source(*, run: Run) -> dict[str, Any]:
    """What a replay of the run can play: the streamed seed's saved frames, else (pruned after
    KATA_FRAME_RETENTION_DAYS) the downsampled series; with the seeds that were graded without frames."""
    frames = RunFrame.objects.filter(run=run).count()
    points = len((run.series or {}).get("points", []))
    source = "frames" if frames else ("series" if points else "")
    seed = (run.series or {}).get("seed") or (run.seeds[0] if run.seeds else None)
    return {"source": source, "frames": frames, "series_points": points, "seed": seed,
            "unsaved_seeds": [s for s in run.seeds if s != seed]}


def run_replay_points(*, run: Run, source: str) -> list[dict[str, Any]]:
    if source == "series":
        return list((run.series or {}).get("points", []))
    if source != "frames":
        return []
    points: list[dict[str, Any]] = []
    latest = RunFrame.objects.filter(run=run).order_by("-seq").values_list("payload", flat=True).first() or {}
    # A run taken over by a new execution started again: only the last execution's frames are one run.
    execution = latest.get("execution")
    for payload in RunFrame.objects.filter(run=run).order_by("seq").values_list("payload", flat=True).iterator():
        if payload.get("execution") == execution:
            points.extend(payload.get("points", []))
    return points


def attempt_list_for_learner(*, learner: AbstractBaseUser, kata: Kata) -> QuerySet[Attempt]:
    return Attempt.objects.filter(learner=learner, kata=kata).prefetch_related("runs").order_by("-created_at")


def attempt_get_for_learner(*, learner: AbstractBaseUser, attempt_id: int) -> Attempt | None:
    return Attempt.objects.select_related("kata").filter(pk=attempt_id, learner=learner).first()


def attempt_latest_run(*, attempt: Attempt) -> Run | None:
    """The run that gives the attempt its grade: its latest graded run (what-if runs never do)."""
    return attempt.runs.filter(what_if__isnull=True).order_by("-created_at").first()


def attempt_what_if_runs(*, attempt: Attempt) -> list[Run]:
    """The attempt's what-if runs, newest first: shown apart, labelled not graded."""
    return list(attempt.runs.filter(what_if__isnull=False).order_by("-created_at"))


def run_figures(*, run: Run) -> dict[str, Any]:
    """The run's charts, labelled from its design: empty while it starts, filled from the stored series after."""
    palette = palette_for_run(run)
    # The saved design was validated when the run started: read its parts back for the labels, in network order
    # (the compiler's stations: every part but the sources, along the connections).
    design = Design.from_saved(run.attempt.design, palette)
    stations = [(n.id, n.label, n.part.role) for n in design.topological() if n.part.role != "source"]
    targets = {s.metric: s.threshold for s in palette.scenarios if not s.practice}
    sources = [(n.id, n.label) for n in design.of_role("source")]
    graded_traffic = palette.graded_traffic
    graded = next((n.id for n in design.of_role("source")
                   if graded_traffic is not None and n.part.key == graded_traffic.part), None)
    figures = charts.live_figures(
        stations=stations,
        budget=palette.budget_per_hour,
        accept_target_ms=targets.get("accept_p99_ms"),
        error_target_pct=targets.get("error_rate_pct"),
        sources=sources,
        graded=graded,
    )
    if run.what_if and run.what_if.get("incidents"):
        names = {p.key: p.name for p in palette.parts}
        charts.incident_bands(figures, [(inc["start"], inc["end"], incident_label(inc, names))
                                        for inc in run.what_if["incidents"]])
    return charts.fill(figures, (run.series or {}).get("points", []))


def grade_effective(*, run: Run) -> dict[str, Any]:
    """The run's grade with graders' overrides applied (the latest one per scenario wins)."""
    grade = dict(run.grade or {})
    latest = {o.scenario_id: o for o in run.overrides.select_related("grader").order_by("created_at")}
    scenarios = []
    for scenario in grade.get("scenarios", []):
        override = latest.get(scenario["id"])
        if override is not None:
            scenario = {**scenario, "passed": override.to_passed, "overridden": True,
                        "machine_passed": scenario["passed"], "override_reason": override.reason,
                        "override_by": override.grader.get_username(), "override_at": override.created_at}
        scenarios.append(scenario)
    grade["scenarios"] = scenarios
    grade["passed"] = sum(1 for s in scenarios if s["passed"])
    return grade


def deletion_summary(*, model: type[Any], objects: list[Any]) -> tuple[dict[str, int], list[str]]:
    """What deleting `objects` would take with it, counted (a run has thousands of frames: never list them), and
    what stops it: (count per kind, reasons it is refused)."""
    pks = [o.pk for o in objects]
    counts: dict[str, int] = {}
    refused: list[str] = []
    if model is Kata:
        for kata in objects:
            attempts, drafts = kata.attempts.count(), kata.drafts.count()
            if attempts or drafts:
                refused.append(
                    f"{kata}: {attempts} attempt(s) and {drafts} draft(s) of learners are kept; "
                    "archive the kata instead (the “Archive” action)."
                )
        counts = {
            "parts": PartType.objects.filter(kata__in=pks).count(),
            "part parameters": PartParameter.objects.filter(part__kata__in=pks).count(),
            "traffic sources": TrafficSource.objects.filter(kata__in=pks).count(),
            "scenarios": Scenario.objects.filter(kata__in=pks).count(),
        }
    elif model is Attempt:
        counts = {
            "runs": Run.objects.filter(attempt__in=pks).count(),
            "run frames": RunFrame.objects.filter(run__attempt__in=pks).count(),
            "feedback notes": Feedback.objects.filter(attempt__in=pks).count(),
            "grade overrides": GradeOverride.objects.filter(run__attempt__in=pks).count(),
        }
    elif model is get_user_model():
        counts = {
            "attempts": Attempt.objects.filter(learner__in=pks).count(),
            "runs": Run.objects.filter(attempt__learner__in=pks).count(),
            "run frames": RunFrame.objects.filter(run__attempt__learner__in=pks).count(),
            "drafts": Draft.objects.filter(learner__in=pks).count(),
        }
        for user in objects:
            notes = Feedback.objects.filter(grader=user).count() + GradeOverride.objects.filter(grader=user).count()
            if notes:
                refused.append(
                    f"{user} wrote {notes} feedback note(s) or override(s) that learners read; they are kept."
                )
    return {kind: n for kind, n in counts.items() if n}, refused


def can_author(user: AbstractBaseUser) -> bool:
    """An instructor: writes katas, and works on their unpublished rules in the workspace."""
    return bool(user.is_authenticated and user.has_perm("kata.change_kata"))


def can_review(user: AbstractBaseUser) -> bool:
    return bool(user.is_authenticated and user.has_perm("kata.review_attempt"))


def attempt_get_for_reviewer(*, reviewer: AbstractBaseUser, attempt_id: int) -> Attempt | None:
    if not can_review(reviewer):
        return None
    return Attempt.objects.select_related("kata", "learner").filter(pk=attempt_id).first()


def attempt_get_visible(*, user: AbstractBaseUser, attempt_id: int) -> Attempt | None:
    """The learner's own attempt, or any attempt for a reviewer."""
    return attempt_get_for_learner(learner=user, attempt_id=attempt_id) or attempt_get_for_reviewer(
        reviewer=user, attempt_id=attempt_id
    )


def attempt_needs_review(*, attempt: Attempt, run: Run | None) -> bool:
    """A graded run that no grader has looked at since it finished."""
    if run is None or run.status != Run.Status.SUCCEEDED or not run.total:
        return False
    return attempt.reviewed_at is None or (run.finished_at is not None and run.finished_at > attempt.reviewed_at)


def review_rows(*, reviewer: AbstractBaseUser, kata: str = "", learner: str = "", result: str = "",
                failed_scenario: int | None = None, date_from: Any = None, date_to: Any = None, review: str = "",
                order: str = "newest") -> list[dict[str, Any]]:
    """Attempts with their latest run, filtered and sorted, for graders. `order="queue"` is the needs-review
    queue: oldest graded run first."""
    if not can_review(reviewer):
        return []
    attempts = Attempt.objects.select_related("kata", "learner").prefetch_related("runs")
    if kata:
        attempts = attempts.filter(kata__slug=kata)
    if learner:
        attempts = attempts.filter(learner__username__icontains=learner)
    if date_from:
        attempts = attempts.filter(created_at__date__gte=date_from)
    if date_to:
        attempts = attempts.filter(created_at__date__lte=date_to)
    rows = []
    for attempt in attempts:
        run = max((r for r in attempt.runs.all() if r.what_if is None), key=lambda r: r.created_at, default=None)
        graded = run is not None and run.total
        if result == "passed" and not (graded and run.passed == run.total):
            continue
        if result == "failed" and not (graded and run.passed < run.total):
            continue
        if failed_scenario is not None:
            verdicts = {s["id"]: s["passed"] for s in grade_effective(run=run)["scenarios"]} if graded else {}
            if verdicts.get(failed_scenario, True):
                continue
        needs = attempt_needs_review(attempt=attempt, run=run)
        if (review == "needs" and not needs) or (review == "reviewed" and attempt.reviewed_at is None):
            continue
        rows.append({"attempt": attempt, "run": run, "needs_review": needs})
    keys = {
        "queue": (lambda r: (not r["needs_review"], r["run"].finished_at if r["run"] and r["run"].finished_at
                             else r["attempt"].created_at), False),
        "newest": (lambda r: r["attempt"].created_at, True),
        "oldest": (lambda r: r["attempt"].created_at, False),
        "learner": (lambda r: (r["attempt"].learner.username, r["attempt"].created_at), False),
        "score": (lambda r: (r["run"].passed or 0) if r["run"] else -1, True),
    }
    key, reverse = keys.get(order, keys["newest"])
    return sorted(rows, key=key, reverse=reverse)


@dataclass(frozen=True)
class DeletionCounts:
    """What deleting some rows would take with them, counted in the database (never loaded)."""

    cascades: dict[type[Model], int]  # model → rows deleted along, the rows themselves included
    protected: dict[type[Model], int]  # model → rows that forbid the deletion


def deletion_counts(*, queryset: QuerySet[Any]) -> DeletionCounts:
    """Count, model by model, what deleting `queryset` cascades to: one COUNT per relation, whatever the history.

    Django's admin collects every related object to list it, frames of every run included (gigabytes, minutes);
    this follows the same `on_delete` rules with subqueries instead.
    """
    reached: dict[type[Model], list[QuerySet[Any]]] = {}
    blocking: dict[type[Model], list[QuerySet[Any]]] = {}

    def walk(rows: QuerySet[Any], depth: int) -> None:
        if not rows.exists():
            return
        reached.setdefault(rows.model, []).append(rows)
        if depth > 6:  # the schema is shallow; a cycle must not recurse forever
            return
        for relation in rows.model._meta.related_objects:
            if relation.many_to_many or not relation.field.concrete:
                continue  # join rows go with their owner; generic relations are not foreign keys
            related = relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": rows.values("pk")})
            on_delete = getattr(relation, "on_delete", None)
            if on_delete is CASCADE:
                walk(related, depth + 1)
            elif on_delete in (PROTECT, RESTRICT):
                blocking.setdefault(relation.related_model, []).append(related)

    def count(model: type[Model], paths: list[QuerySet[Any]]) -> int:
        # A row reached along two paths (a kata's traffic, and its part's) is one row.
        union = Q()
        for rows in paths:
            union |= Q(pk__in=rows.values("pk"))
        return model._base_manager.filter(union).count()

    walk(queryset, 0)
    cascades = {model: count(model, paths) for model, paths in reached.items()}
    protected = {model: n for model, paths in blocking.items() if (n := count(model, paths))}
    return DeletionCounts(cascades=cascades, protected=protected)


# ---- the learner's own progress ----------------------------------------------------------------------------------
def _new_feedback(seen_field: str = "feedback_seen_at") -> Q:
    """Feedback the learner has not seen: written or edited after they last opened its attempt (or never opened)."""
    return (Q(**{f"attempt__{seen_field}__isnull": True}) | Q(created_at__gt=F(f"attempt__{seen_field}"))
            | Q(edited_at__gt=F(f"attempt__{seen_field}")))


def attempts_with_new_feedback(*, learner: AbstractBaseUser, kata: Kata | None = None) -> set[int]:
    """Ids of the learner's attempts with grader feedback they have not opened yet."""
    feedback = Feedback.objects.filter(attempt__learner=learner)
    if kata is not None:
        feedback = feedback.filter(attempt__kata=kata)
    return set(feedback.filter(_new_feedback()).values_list("attempt_id", flat=True))


@dataclass(frozen=True)
class KataProgress:
    attempts: int
    best_passed: int | None
    best_total: int | None
    new_feedback: int  # attempts with feedback not yet opened


def kata_progress_for_learner(*, learner: AbstractBaseUser) -> dict[int, KataProgress]:
    """Per kata the learner has tried: how many attempts, the best grade of a finished run, new feedback."""
    if not learner.is_authenticated:
        return {}
    counts = dict(Attempt.objects.filter(learner=learner).values("kata_id").annotate(n=Count("id"))
                  .values_list("kata_id", "n"))
    best: dict[int, tuple[int, int]] = {}
    for kata_id, passed, total in (Run.objects.filter(attempt__learner=learner, status=Run.Status.SUCCEEDED,
                                                      total__isnull=False, what_if__isnull=True)
                                   .values_list("attempt__kata_id", "passed", "total")):
        if kata_id not in best or (passed or 0) / (total or 1) > best[kata_id][0] / (best[kata_id][1] or 1):
            best[kata_id] = (passed or 0, total or 0)
    fresh: dict[int, set[int]] = {}
    for kata_id, attempt_id in (Feedback.objects.filter(attempt__learner=learner).filter(_new_feedback())
                                .values_list("attempt__kata_id", "attempt_id")):
        fresh.setdefault(kata_id, set()).add(attempt_id)
    return {
        kata_id: KataProgress(attempts=n, best_passed=best.get(kata_id, (None, None))[0],
                              best_total=best.get(kata_id, (None, None))[1], new_feedback=len(fresh.get(kata_id, ())))
        for kata_id, n in counts.items()
    }


def attempt_get_shared(*, token: str) -> Attempt | None:
    """The attempt its learner shares under `token`; None once they revoke it."""
    if not token or len(token) > 64:
        return None
    return Attempt.objects.select_related("kata").filter(share_token=token).first()


# ---- one part's figures after a run ------------------------------------------------------------------------------
def run_worst_seed(*, run: Run) -> int | None:
    """The seed the grade speaks of: the worst seed of the first failing scenario, else of the first scenario."""
    scenarios = (run.grade or {}).get("scenarios") or []
    failing = [s for s in scenarios if not s.get("passed")]
    for scenario in failing or scenarios:
        if scenario.get("worst_seed") is not None:
            return int(scenario["worst_seed"])
    seeds = sorted(int(s) for s in (run.results or {}))
    return seeds[0] if seeds else None


def run_part_figures(*, run: Run, node_id: str) -> dict[str, Any] | None:
    """What one part did in a finished run, on the worst seed: wait and sojourn percentiles (ms), utilization,
    errors, retries and drops; None when the run has no results for it."""
    seed = run_worst_seed(run=run)
    if seed is None or run.status != Run.Status.SUCCEEDED:
        return None
    stations = ((run.results or {}).get(str(seed)) or {}).get("stations") or []
    station = next((s for s in stations if s.get("name") == node_id), None)
    if station is None:
        return None

    def ms(summary: dict[str, Any] | None, key: str) -> float | None:
        value = (summary or {}).get(key)
        return None if value is None else value * 1000

    wait, sojourn = station.get("wait"), station.get("sojourn")
    return {
        "seed": seed, "seeds": len(run.seeds or []), "kind": station.get("kind"),
        "wait": [ms(wait, k) for k in ("p50", "p95", "p99")],
        "sojourn": [ms(sojourn, k) for k in ("p50", "p95", "p99")],
        "utilization": station.get("utilization"), "utilization_peak": station.get("utilization_peak"),
        "arrivals": station.get("arrivals") or 0, "errors": station.get("errors") or 0,
        "rejected": station.get("rejected") or 0, "recovered": station.get("recovered") or 0,
        "exhausted": station.get("exhausted") or 0, "lost": station.get("lost") or 0,
        "max_queue": station.get("max_queue"),
    }
