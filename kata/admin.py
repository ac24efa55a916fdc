"""Instructors author katas here: brief, palette with parameter ranges, traffic, scenarios, budget, reference design."""

from __future__ import annotations

import json
import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils.text import capfirst

from kata import authoring, katafile, selectors, services, throttle
from kata.design import DesignError, design_validate
from kata.admin_parameters import ParametersField, parameters_initial, parameters_save
from kata.brief import BRIEF_FIELDS, brief_problems
from kata.diagram import design_svg
from kata.models import (Attempt, Kata, KataCheck, KataVersion, MustFailDesign, PartParameter, PartType, Run, Scenario,
                         TrafficSource)
from kata.palette import Palette
from kata.versions import rules_changes, version_live, working_rules


audit = logging.getLogger("kata.audit")
admin.site.login_form = throttle.ThrottledAdminAuthenticationForm


class CountedDeletion:
    """The delete page (and "delete selected") counts what a deletion takes along instead of loading all of it.

    Django's own page lists every related object, down to every frame of every run: minutes of CPU and gigabytes
    for a kata with some history. This shows the same summary from COUNT queries, the rows themselves named only
    for the objects being deleted (at most a hundred), and the same permission and protection checks per model.
    """

    LISTED = 100

    def get_deleted_objects(
        self, objs: Any, request: HttpRequest
    ) -> tuple[list[Any], dict[str, int], set[str], list[str]]:
        model = self.model  # type: ignore[attr-defined]
        pks = [obj.pk for obj in objs] if not isinstance(objs, QuerySet) else None
        queryset = model._base_manager.filter(pk__in=pks) if pks is not None else objs
        counts = selectors.deletion_counts(queryset=queryset)
        site = self.admin_site  # type: ignore[attr-defined]
        # A kata's versions are never deleted on their own, only along with a kata nobody worked on.
        perms_needed = {m._meta.verbose_name for m in counts.cascades
                        if site.is_registered(m) and m is not KataVersion
                        and not site.get_model_admin(m).has_delete_permission(request)}
        summary = {m._meta.verbose_name_plural: n for m, n in counts.cascades.items()}
        listed = [f"{capfirst(model._meta.verbose_name)}: {obj}" for obj in queryset[:self.LISTED]]
        others = [f"{capfirst(m._meta.verbose_name_plural)}: {n}" for m, n in counts.cascades.items() if m is not model]
        to_delete: list[Any] = [*listed, others] if others else listed
        _, refused = selectors.deletion_summary(model=model, objects=list(queryset[:self.LISTED]))
        protected = refused + [f"{capfirst(m._meta.verbose_name_plural)}: {n}" for m, n in counts.protected.items()]
        return to_delete, summary, perms_needed, protected

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        audit.warning("%s deleted %s %s (%s)", request.user, obj._meta.verbose_name, obj.pk, obj)
        super().delete_model(request, obj)  # type: ignore[misc]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        audit.warning("%s deleted %s %s", request.user, queryset.model._meta.verbose_name_plural,
                      list(queryset.values_list("pk", flat=True)))
        super().delete_queryset(request, queryset)  # type: ignore[misc]


class SuperuserDeletes(CountedDeletion):
    """Learners' work and accounts: only a superuser deletes them."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_superuser)


class PartInlineForm(forms.ModelForm):
    parameters = ParametersField(required=False, label="Parameters and ranges",
                                 help_text="What a learner may tune, within [min, max] on steps from min.")

    class Meta:
        model = PartType
        fields = "__all__"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parameters"].initial = parameters_initial(self.instance)


class PartTypeInline(admin.StackedInline):
    """Each part with its parameters and ranges, on the kata's page; the rest of a part on its own page."""

    model = PartType
    form = PartInlineForm
    extra = 0
    show_change_link = True
    classes = ["kata-parts"]
    fields = [("order", "key", "name", "role"), ("required", "max_per_design", "fixed_servers"),
              ("unit_cost_per_hour", "core_cost_per_hour", "concurrency_per_core"),
              ("service_distribution", "service_mean_ms", "base_error", "error_threshold"), "parameters"]


class _SourcePartChoices:
    """Limits a link to a part to this kata's traffic sources."""

    source_field = "part"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == self.source_field:
            kata_id = request.resolver_match.kwargs.get("object_id") if request.resolver_match else None
            kwargs["queryset"] = PartType.objects.filter(kata_id=kata_id, role=PartType.Role.SOURCE)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)  # type: ignore[misc]


class TrafficSourceInline(_SourcePartChoices, admin.TabularInline):
    model = TrafficSource
    extra = 0
    fields = ["part", "base_rate", "spike_rate", "warmup_seconds", "ramp_seconds", "hold_seconds", "cooldown_seconds"]


class ScenarioInline(_SourcePartChoices, admin.StackedInline):
    model = Scenario
    extra = 0
    source_field = "source"
    fields = [("order", "title"), "description", ("metric", "comparator", "threshold", "source"), "practice",
              "incidents"]


class KataAdminForm(forms.ModelForm):
    class Meta:
        model = Kata
        fields = "__all__"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        for name in BRIEF_FIELDS:
            problems = brief_problems(str(cleaned.get(name) or ""))
            if problems:
                self.add_error(name, problems)
        return cleaned

    def clean_reference_design(self) -> Any:
        document = self.cleaned_data.get("reference_design")
        if not document or self.instance.pk is None:
            return document
        try:
            design_validate(document, Palette.from_kata(self.instance))
        except DesignError as exc:
            raise forms.ValidationError([str(p) for p in exc.problems]) from None
        return document


class KataImportForm(forms.Form):
    file = forms.FileField(help_text="A kata file exported from here (or a fixture with its designs inline), "
                                     "at most 1 MiB.")

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > 1024 * 1024:
            raise forms.ValidationError("The file is larger than 1 MiB; a kata is a few dozen KiB.")
        return upload


class MustFailInline(admin.StackedInline):
    model = MustFailDesign
    extra = 0
    fields = [("order", "title", "fails"), "why", "diagram", "design"]
    readonly_fields = ["diagram"]
    verbose_name = "design that must fail"
    verbose_name_plural = "designs that must fail (Check kata proves each fails the scenarios it names)"

    @admin.display(description="Diagram")
    def diagram(self, obj: MustFailDesign) -> str:
        return design_svg(obj.design, Palette.from_kata(obj.kata)) if obj.pk else "—"


@admin.register(Kata)
class KataAdmin(CountedDeletion, admin.ModelAdmin):
    form = KataAdminForm
    change_form_template = "admin/kata/kata/change_form.html"
    change_list_template = "admin/kata/kata/change_list.html"
    list_display = [
        "title", "slug", "difficulty", "budget_per_hour", "published", "live_version", "archived", "updated_at",
        "last_check",
    ]
    list_filter = ["published", "archived", "difficulty"]
    search_fields = ["title", "slug", "summary"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [PartTypeInline, TrafficSourceInline, ScenarioInline, MustFailInline]
    actions = ["check_kata", "check_and_publish", "unpublish", "archive", "unarchive"]
    readonly_fields = ["published", "reference_diagram"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", ("published", "archived")]}),
        ("Brief", {"fields": ["overview", "context", "constraints_operational", "constraints_product",
                              "learning_outcomes", "hints"],
                   "description": "Write a scenario's threshold as a placeholder so the brief always says what is "
                                  "graded: {threshold:1} gives “300 ms”, {rule:1} “p99 accept latency ≤ 300 ms”, "
                                  "{budget} “$2.50/h”, and {scenarios} the list of every scenario's rule."}),
        ("Shape", {"fields": ["difficulty", "domain", ("minutes_min", "minutes_max")]}),
        ("Grading", {"fields": [("budget_per_hour", "drain_seconds", "grading_seeds"), "reference_diagram",
                                "reference_design"]}),
    ]

    def save_formset(self, request: HttpRequest, form: Any, formset: Any, change: bool) -> None:
        super().save_formset(request, form, formset, change)
        if formset.model is PartType:
            for part_form in formset.forms:
                part = part_form.instance
                deleted = formset.can_delete and part_form.cleaned_data.get("DELETE")
                rows = part_form.cleaned_data.get("parameters")
                if part.pk and not deleted and rows is not None and "parameters" in part_form.changed_data:
                    parameters_save(part, rows)

    def get_urls(self) -> list[Any]:
        return [
            path("<int:object_id>/check/", self.admin_site.admin_view(self.check_panel_view),
                 name="kata_kata_check_panel"),
            path("<int:object_id>/export/", self.admin_site.admin_view(self.export_view), name="kata_kata_export"),
            path("import/", self.admin_site.admin_view(self.import_view), name="kata_kata_import"),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The kata as one JSON file in the fixture format (its working copy, designs inline)."""
        kata = self.get_object(request, str(object_id))
        if kata is None or not self.has_view_permission(request, kata):
            raise Http404("No such kata.")
        response = HttpResponse(json.dumps(katafile.kata_export(kata=kata), indent=2, ensure_ascii=False),
                                content_type="application/json; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{kata.slug}.json"'
        return response

    def import_view(self, request: HttpRequest) -> HttpResponse:
        """A new kata from an exported file: validated with every problem listed; it arrives unpublished."""
        if not self.has_add_permission(request):
            raise PermissionDenied("You may not add katas.")
        form = KataImportForm(request.POST, request.FILES) if request.method == "POST" else KataImportForm()
        problems: list[str] = []
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                kata = katafile.kata_import(text=upload.read())
            except katafile.KataFileError as exc:
                problems = exc.problems
            else:
                audit.warning("%s imported kata %s (%s)", request.user, kata.pk, kata.slug)
                self.message_user(request, f"Imported “{kata}”, unpublished: check and publish it when it is "
                                           "ready.", messages.SUCCESS)
                return redirect("admin:kata_kata_change", kata.pk)
        context = {**self.admin_site.each_context(request), "opts": self.model._meta, "form": form,
                   "problems": problems, "title": "Import a kata"}
        return render(request, "admin/kata/kata/import.html", context, status=400 if problems or form.errors else 200)

    def check_panel_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        """The check panel alone, which the change page polls while a check runs."""
        kata = self.get_object(request, str(object_id))
        if kata is None or not self.has_view_permission(request, kata):
            raise Http404("No such kata.")
        return render(request, "admin/kata/kata/check_panel.html", check_panel_context(kata))

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        kata = self.get_object(request, object_id)
        extra = {**(extra_context or {}), **(check_panel_context(kata) if kata is not None else {})}
        return super().change_view(request, object_id, form_url, extra)

    def response_change(self, request: HttpRequest, obj: Kata) -> HttpResponse:
        if "_check" in request.POST or "_check_publish" in request.POST:
            self._request_check(request, obj, publish="_check_publish" in request.POST)
            return redirect("admin:kata_kata_change", obj.pk)
        return super().response_change(request, obj)

    def response_add(self, request: HttpRequest, obj: Kata, post_url_continue: str | None = None) -> HttpResponse:
        if "_check" in request.POST or "_check_publish" in request.POST:
            self._request_check(request, obj, publish="_check_publish" in request.POST)
            return redirect("admin:kata_kata_change", obj.pk)
        return super().response_add(request, obj, post_url_continue)

    def _request_check(self, request: HttpRequest, kata: Kata, *, publish: bool) -> bool:
        try:
            authoring.kata_check_request(kata=kata, requested_by=request.user, publish=publish)
        except authoring.CheckRefused as exc:
            self.message_user(request, f"{kata}: {exc}", messages.WARNING)
            return False
        then = " and, if it passes, published" if publish else ""
        self.message_user(request, f"{kata}: checking in the background{then}; the progress shows on the kata's "
                                   "page.", messages.INFO)
        return True

    @admin.action(description="Check kata: grade its reference and must-fail designs (in the background)")
    def check_kata(self, request: HttpRequest, queryset: QuerySet[Kata]) -> None:
        for kata in queryset:
            self._request_check(request, kata, publish=False)

    @admin.action(description="Check and publish: make the rules live if the check passes")
    def check_and_publish(self, request: HttpRequest, queryset: QuerySet[Kata]) -> None:
        for kata in queryset:
            self._request_check(request, kata, publish=True)

    @admin.action(description="Unpublish: hide from learners (publishing again needs a passing check)")
    def unpublish(self, request: HttpRequest, queryset: QuerySet[Kata]) -> None:
        for kata in queryset:
            authoring.kata_unpublish(kata=kata)
        self.message_user(request, f"Unpublished {len(queryset)} kata(s).", messages.SUCCESS)

    @admin.display(description="Last check")
    def last_check(self, kata: Kata) -> str:
        check = kata.checks.order_by("-created_at").first()
        if check is None:
            return "—"
        if not check.finished:
            return f"… {check.get_status_display()} ({check.done}/{check.total})"
        return f"{'✔' if check.status == KataCheck.Status.PASSED else '✘'} {check.message}"

    @admin.display(description="Live version")
    def live_version(self, kata: Kata) -> str:
        version = version_live(kata)
        return f"v{version.number}" if version else "—"

    @admin.display(description="Reference design")
    def reference_diagram(self, kata: Kata) -> str:
        return design_svg(kata.reference_design, Palette.from_kata(kata)) if kata.pk else "—"

    @admin.action(description="Archive: hide from learners, keep every attempt")
    def archive(self, request: HttpRequest, queryset: QuerySet[Kata]) -> None:
        for kata in queryset:
            services.kata_archive(kata=kata, archived=True)
        self.message_user(
            request, f"Archived {len(queryset)} kata(s); their attempts stay, reviewable.", messages.SUCCESS
        )

    @admin.action(description="Unarchive: show to learners again (if published)")
    def unarchive(self, request: HttpRequest, queryset: QuerySet[Kata]) -> None:
        for kata in queryset:
            services.kata_archive(kata=kata, archived=False)
        self.message_user(request, f"Unarchived {len(queryset)} kata(s).", messages.SUCCESS)


def check_panel_context(kata: Kata) -> dict[str, Any]:
    """What the kata page says about publishing: the live version, what the working copy changes, the last check."""
    live = version_live(kata) or kata.versions.order_by("-number").first()
    working = working_rules(kata)
    if live is None:
        pending = ["Not published yet: a passing check publishes it."]
    else:
        pending = rules_changes(live.rules, working) if live.rules != working else []
        if (kata.reference_design or {}) != live.reference_design:
            pending.append("The reference design changed.")
    return {"kata": kata, "live": version_live(kata), "latest_version": live, "pending": pending,
            "check": kata.checks.order_by("-created_at").first(),
            "versions": kata.versions.order_by("-number")[:10]}


@admin.register(KataVersion)
class KataVersionAdmin(admin.ModelAdmin):
    list_display = ["kata", "number", "created_at", "created_by", "changes"]
    list_filter = ["kata"]
    readonly_fields = ["kata", "number", "created_at", "created_by", "changes", "rules", "reference_design"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PartParameterInline(admin.TabularInline):
    model = PartParameter
    extra = 0
    fields = ["name", "default", "minimum", "maximum", "step", "learner_editable"]


@admin.register(PartType)
class PartTypeAdmin(CountedDeletion, admin.ModelAdmin):
    list_display = ["name", "key", "kata", "role", "unit_cost_per_hour", "required"]
    list_filter = ["kata", "role"]
    search_fields = ["name", "key"]
    inlines = [PartParameterInline]
    fieldsets = [
        (None, {"fields": ["kata", "key", "name", "role", "description", "order"]}),
        ("In a design", {"fields": ["required", "max_per_design", "fixed_servers", "unit_cost_per_hour"]}),
        ("Latency", {"fields": ["service_distribution", "service_mean_ms", "service_scv", "service_k",
                                "jitter_mean_ms", "timeout_ms"]}),
        ("Errors", {"fields": ["base_error", "error_threshold", "error_max", "error_power", "slowdown_factor",
                               "errors_after_work"]}),
    ]


class RunInline(admin.TabularInline):
    model = Run
    extra = 0
    can_delete = False
    fields = ["status", "passed", "total", "seeds", "created_at", "finished_at", "error_message"]
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_queryset(self, request: HttpRequest) -> QuerySet[Run]:
        # Results, series and grade are the bulk of a run and the inline shows none of them.
        return super().get_queryset(request).defer("results", "series", "grade")


@admin.register(Attempt)
class AttemptAdmin(SuperuserDeletes, admin.ModelAdmin):
    list_display = ["__str__", "learner", "kata", "created_at"]
    list_select_related = ["learner", "kata"]
    list_filter = ["kata"]
    search_fields = ["learner__username", "title"]
    readonly_fields = ["learner", "kata", "design", "created_at", "updated_at"]
    inlines = [RunInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


User = get_user_model()
admin.site.unregister(User)


@admin.register(User)
class KataUserAdmin(SuperuserDeletes, DjangoUserAdmin):
    """Django's user admin; deleting an account (and with it its attempts) is for superusers, counted and audited."""
