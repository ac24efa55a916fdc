"""A part's parameters and their ranges as one small table inside the part's row on the kata's admin page, so an
instructor edits them there instead of on each part's own page (Django's admin nests no inlines)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString

from kata.models import PartParameter, PartType

COLUMNS = ("default", "minimum", "maximum", "step")
EXTRA_ROWS = 1


class ParametersWidget(forms.Widget):
    """Rows of name, default, minimum, maximum, step, learner-editable and remove; one blank row to add one."""

    def value_from_datadict(self, data: Any, files: Any, name: str) -> list[dict[str, Any]] | None:
        if f"{name}-count" not in data:
            return None  # not on the form that was posted: the parameters stay as they are
        try:
            count = min(int(data.get(f"{name}-count", 0)), 20)
        except (TypeError, ValueError):
            count = 0
        rows = []
        for i in range(count):
            prefix = f"{name}-{i}"
            row = {"name": data.get(f"{prefix}-name", "").strip(),
                   **{c: data.get(f"{prefix}-{c}", "").strip() for c in COLUMNS},
                   "learner_editable": bool(data.get(f"{prefix}-learner_editable")),
                   "remove": bool(data.get(f"{prefix}-remove"))}
            rows.append(row)
        return rows

    def render(self, name: str, value: Any, attrs: Any = None, renderer: Any = None) -> SafeString:
        rows = [dict(r) for r in (value or [])]
        rows += [{"name": "", "default": "", "minimum": "", "maximum": "", "step": "1", "learner_editable": True}
                 for _ in range(EXTRA_ROWS)]
        choices = [("", "— add a parameter —"), *PartParameter.Name.choices]

        def options(selected: str) -> SafeString:
            return format_html_join("", '<option value="{}"{}>{}</option>',
                                    ((v, " selected" if v == selected else "", label) for v, label in choices))

        def cell(i: int, column: str, row: dict[str, Any]) -> SafeString:
            value = row.get(column, "")
            shown = f"{value:g}" if isinstance(value, float) else str(value)
            return format_html('<td><input type="number" step="any" name="{}-{}-{}" value="{}" aria-label="{}"></td>',
                               name, i, column, shown, column)

        body = format_html_join("", "<tr>{}</tr>", ((format_html(
            '<td><select name="{0}-{1}-name" aria-label="parameter">{2}</select></td>{3}'
            '<td><input type="checkbox" name="{0}-{1}-learner_editable"{4} aria-label="learner may change it"></td>'
            '<td>{5}</td>',
            name, i, options(row.get("name", "")), format_html_join("", "{}", ((cell(i, c, row),) for c in COLUMNS)),
            " checked" if row.get("learner_editable") else "",
            format_html('<input type="checkbox" name="{}-{}-remove" aria-label="remove">', name, i)
            if row.get("name") else ""),) for i, row in enumerate(rows)))
        return format_html(
            '<input type="hidden" name="{}-count" value="{}"><table class="kata-params" data-testid="part-parameters">'
            "<thead><tr><th>Parameter</th><th>Default</th><th>Min</th><th>Max</th><th>Step</th><th>Learner may "
            "change</th><th>Remove</th></tr></thead><tbody>{}</tbody></table>", name, len(rows), body)


class ParametersField(forms.Field):
    widget = ParametersWidget

    def clean(self, value: Any) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        rows, errors, seen = [], [], set()
        for row in value or []:
            if not row.get("name") or row.get("remove"):
                continue
            label = dict(PartParameter.Name.choices).get(row["name"])
            if label is None:
                errors.append(f"unknown parameter '{row['name']}'")
                continue
            if row["name"] in seen:
                errors.append(f"{label}: listed twice")
                continue
            seen.add(row["name"])
            numbers = {}
            for column in COLUMNS:
                try:
                    numbers[column] = float(row[column])
                except (TypeError, ValueError):
                    errors.append(f"{label}: {column} must be a number")
            if len(numbers) < len(COLUMNS):
                continue
            candidate = PartParameter(name=row["name"], learner_editable=row["learner_editable"], **numbers)
            try:
                candidate.clean()
                if candidate.step < 0:
                    raise ValidationError("the step must be at least 0")
            except ValidationError as exc:
                errors.extend(f"{label}: {m}" for m in exc.messages)
                continue
            rows.append({"name": row["name"], **numbers, "learner_editable": row["learner_editable"]})
        if errors:
            raise ValidationError(errors)
        return rows

    def has_changed(self, initial: Any, data: Any) -> bool:
        if data is None:
            return False
        try:
            return self.clean(data) != [{k: r[k] for k in ("name", *COLUMNS, "learner_editable")}
                                        for r in (initial or [])]
        except ValidationError:
            return True


def parameters_initial(part: PartType) -> list[dict[str, Any]]:
    return [{"name": p.name, "default": p.default, "minimum": p.minimum, "maximum": p.maximum, "step": p.step,
             "learner_editable": p.learner_editable} for p in part.parameters.all()] if part.pk else []


def parameters_save(part: PartType, rows: list[dict[str, Any]]) -> None:
    """Make the part's parameters these rows: update, add, and remove the ones gone (each save touches the kata)."""
    keep = {row["name"] for row in rows}
    for parameter in part.parameters.exclude(name__in=keep):
        parameter.delete()
    for row in rows:
        PartParameter.objects.update_or_create(part=part, name=row["name"], defaults={
            k: row[k] for k in (*COLUMNS, "learner_editable")})
