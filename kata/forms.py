"""Forms. The parameter form is built from a part's palette entry, so its ranges are the kata's."""

from __future__ import annotations

import json
from typing import Any

from django import forms

from kata.palette import ParameterSpec, PartSpec
from kata.selectors import attempt_list_for_learner

HELP = {
    "instances": "Copies of this part. Each one adds its cost per hour.",
    "concurrency": "Requests one instance works on at once.",
    "capacity": "Messages the queue can hold; one more is dropped.",
    "acknowledges": "Answer the caller as soon as the message is queued.",
    "max_attempts": "Tries per message; 1 means a failed call is not retried.",
    "backoff_ms": "Pause before the first retry; it doubles with each further try.",
    "hit_ratio": "Share of reads answered from the cache.",
    "cores": "CPU cores per instance: they do the part's own work, and each costs money.",
    "ttl_seconds": "How long a cached entry lives: longer answers more reads, with older data.",
    "retry_jitter": "Make this share of each backoff random, so retries after one failure burst spread out.",
    "retry_budget": "Retries allowed per new message (a token bucket); past it a failed call is not retried.",
    "dead_letter": "Keep messages out of attempts in a dead-letter queue. They are kept, not settled.",
    "idempotency_key": "Send a key with each call, so a retry after a late failure is not carried out twice.",
    "breaker_threshold": "Stop calling for a while when this share of the recent calls failed; calls then fail fast.",
    "deadline_ms": "Give up a call that has not finished within this time; its work is cancelled.",
    "shed_wait_ms": "Refuse a request that would wait longer than this in the queue (it is an error).",
}


YES_NO = frozenset({"acknowledges", "dead_letter", "idempotency_key"})  # 0/1 parameters, shown as checkboxes


class _OnStep:
    """A value on the parameter's steps from its minimum (100, 200, … for a capacity from 100 in steps of 100).

    Django's own step validator computes in floats and raises OverflowError on a 300-digit integer; this one is
    exact for integers, and the range validators answer such a value anyway."""

    def __init__(self, minimum: float, step: float) -> None:
        self.minimum, self.step = minimum, step

    def __call__(self, value: float) -> None:
        if self.step <= 0 or value is None:
            return
        try:
            if isinstance(value, int) and float(self.step).is_integer() and float(self.minimum).is_integer():
                ok = (value - int(self.minimum)) % int(self.step) == 0
            else:
                steps = (float(value) - self.minimum) / self.step
                ok = abs(steps - round(steps)) < 1e-6
        except (OverflowError, ValueError):
            return  # out of any range: the range validators say so
        if not ok:
            start = f"{self.minimum:g}"
            raise forms.ValidationError(
                f"Choose a value on the steps of {self.step:g} from {start} ({start}, {self.minimum + self.step:g}, "
                f"{self.minimum + 2 * self.step:g}, …).", code="step")


def _allowed(spec: ParameterSpec) -> str:
    """The range beside a field, in the field's own numbers: "Allowed: 100 to 100,000, in steps of 100."."""
    if spec.name in YES_NO:
        return ""

    def shown(value: float) -> str:
        return f"{value:,.0f}" if float(value).is_integer() else f"{value:,g}"

    steps = "" if spec.step in (0, 1) else f", in steps of {shown(spec.step)}"
    return f"Allowed: {shown(spec.minimum)} to {shown(spec.maximum)}{steps}."


class PartParamsForm(forms.Form):
    """The learner-editable parameters of one part, with the kata's ranges."""

    def __init__(self, *args: Any, part: PartSpec, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.part = part
        for spec in part.parameters:
            if not spec.learner_editable:
                continue
            if spec.name in YES_NO:
                field: forms.Field = forms.BooleanField(required=False, label=spec.label)
            elif spec.step >= 1 and float(spec.step).is_integer() and float(spec.minimum).is_integer():
                field = forms.IntegerField(min_value=int(spec.minimum), max_value=int(spec.maximum), label=spec.label,
                                           validators=[_OnStep(spec.minimum, spec.step)])
                field.widget.attrs.update(step=int(spec.step))
            else:
                field = forms.FloatField(min_value=spec.minimum, max_value=spec.maximum, label=spec.label,
                                         validators=[_OnStep(spec.minimum, spec.step)])
                field.widget.attrs.update(step=spec.step)
            field.help_text = " ".join(filter(None, [HELP.get(spec.name, ""), _allowed(spec)]))
            self.fields[spec.name] = field

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        per_core = self.part.concurrency_per_core
        if per_core and data.get("cores") is not None and data.get("concurrency") is not None:
            most = int(data["cores"] * per_core)
            if data["concurrency"] > most:
                self.add_error("concurrency", f"{data['cores']:g} cores hold at most {most} requests in flight "
                                              f"({per_core} per core): raise cores or lower concurrency.")
        return data

    def params(self) -> dict[str, float]:
        return {name: float(value) for name, value in self.cleaned_data.items()}


class CompareForm(forms.Form):
    """Two of the learner's own attempts on one kata."""

    left = forms.ModelChoiceField(queryset=None, label="Attempt A")
    right = forms.ModelChoiceField(queryset=None, label="Attempt B")

    def __init__(self, *args: Any, learner: Any, kata: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        attempts = attempt_list_for_learner(learner=learner, kata=kata)
        for name in ("left", "right"):
            field = self.fields[name]
            field.queryset = attempts
            field.label_from_instance = (
                lambda a: f"#{a.pk} · {a.created_at:%d %b %H:%M}" + (f" · {a.title}" if a.title else "")
            )

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("left") and data.get("left") == data.get("right"):
            raise forms.ValidationError("Choose two different attempts.")
        return data


class ReviewFilterForm(forms.Form):
    kata = forms.ChoiceField(required=False)
    learner = forms.CharField(required=False, max_length=150)
    result = forms.ChoiceField(
        required=False, choices=[("", "Any result"), ("passed", "Passed all"), ("failed", "Failed some")]
    )
    failed_scenario = forms.IntegerField(required=False, min_value=1, max_value=20, label="Failed scenario")
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    review = forms.ChoiceField(required=False, label="Review", choices=[
        ("", "Reviewed or not"), ("needs", "Needs review"), ("reviewed", "Reviewed")])
    order = forms.ChoiceField(required=False, choices=[("newest", "Newest first"), ("oldest", "Oldest first"),
                                                       ("queue", "Review queue (oldest first)"),
                                                       ("learner", "Learner"), ("score", "Score")])

    def __init__(self, *args: Any, katas: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["kata"].choices = [("", "Every kata"), *katas]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError("The start date is after the end date.")
        return data


class FeedbackForm(forms.Form):
    text = forms.CharField(max_length=4000, widget=forms.Textarea(attrs={"rows": 4}), label="Feedback for the learner")


class FeedbackEditForm(FeedbackForm):
    feedback_id = forms.IntegerField(widget=forms.HiddenInput)


class FeedbackDeleteForm(forms.Form):
    feedback_id = forms.IntegerField(widget=forms.HiddenInput)


class OverrideForm(forms.Form):
    scenario_id = forms.TypedChoiceField(coerce=int, label="Scenario")
    passed = forms.TypedChoiceField(coerce=lambda v: v == "true", choices=[("true", "Passed"), ("false", "Failed")],
                                    label="New verdict")
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 3}),
                             help_text="The learner sees this, with your name and the time.")

    def __init__(self, *args: Any, scenarios: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["scenario_id"].choices = [(s["id"], f"{s['id']}. {s['title']}") for s in scenarios]


class AuthorDesignForm(forms.Form):
    """An instructor's "save this design" from the workspace: as the reference, or as one that must fail."""

    action = forms.ChoiceField(choices=[("reference", "Reference"), ("must_fail", "Must fail")])
    design = forms.CharField(required=False, widget=forms.HiddenInput, max_length=200_000)
    title = forms.CharField(required=False, max_length=120)
    fails = forms.TypedMultipleChoiceField(required=False, coerce=int, widget=forms.CheckboxSelectMultiple,
                                           label="Scenarios it must fail")
    why = forms.CharField(required=False, max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                          label="What it does wrong")

    def __init__(self, *args: Any, scenarios: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["fails"].choices = scenarios

    def clean_design(self) -> Any:
        raw = self.cleaned_data.get("design") or ""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise forms.ValidationError("The design sent is not JSON; reload the workspace and try again.") from None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        if cleaned.get("action") == "must_fail":
            if not (cleaned.get("title") or "").strip():
                self.add_error("title", "Name the design, e.g. “gateway on the checkout's path”.")
            if not cleaned.get("fails"):
                self.add_error("fails", "Choose the scenarios it must fail.")
        return cleaned


class SweepForm(forms.Form):
    """A what-if sweep: which part's parameter, and the grid (checked against the parameter by kata.sweeps)."""

    choice = forms.ChoiceField(label="Parameter")
    start = forms.FloatField(label="From")
    stop = forms.FloatField(label="To")
    step = forms.FloatField(label="Step", min_value=0)

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["choice"].choices = choices
