"""Instructors author katas here: brief, palette with parameter ranges, traffic, scenarios, budget, reference design."""

from __future__ import annotations

import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.text import capfirst

from kata import selectors, services, throttle
from kata.design import DesignError, design_validate
from kata.models import Attempt, Kata, PartParameter, PartType, Run, Scenario, TrafficSource
from kata.palette import Palette


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
        perms_needed = {m._meta.verbose_name for m in counts.cascades
                        if site.is_registered(m) and not site.get_model_admin(m).has_delete_permission(request)}
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


class PartTypeInline(admin.TabularInline):
    model = PartType
    extra = 0
    show_change_link = True
    fields = ["order", "key", "name", "role", "required", "fixed_servers", "unit_cost_per_hour",
              "service_distribution", "service_mean_ms", "base_error", "error_threshold"]


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
    fields = [("order", "title"), "description", ("metric", "comparator", "threshold", "source")]


class KataAdminForm(forms.ModelForm):
    class Meta:
        model = Kata
        fields = "__all__"

    def clean_reference_design(self) -> Any:
        document = self.cleaned_data.get("reference_design")
        if not document or self.instance.pk is None:
            return document
        try:
            design_validate(document, Palette.from_kata(self.instance))
        except DesignError as exc:
            raise forms.ValidationError([str(p) for p in exc.problems]) from None
        return document


@admin.register(Kata)
class KataAdmin(CountedDeletion, admin.ModelAdmin):
    form = KataAdminForm
    list_display = [
        "title", "slug", "difficulty", "budget_per_hour", "published", "archived", "updated_at", "last_check",
    ]
    list_filter = ["published", "archived", "difficulty"]
    search_fields = ["title", "slug", "summary"]
    prepopulated_fields = {"slug": ["title"]}
    inlines = [PartTypeInline, TrafficSourceInline, ScenarioInline]
    actions = ["check_kata", "archive", "unarchive"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "summary", "published", "archived"]}),
        ("Brief", {"fields": ["overview", "context", "constraints_operational", "constraints_product",
                              "learning_outcomes", "hints"]}),
        ("Shape", {"fields": ["difficulty", "domain", ("minutes_min", "minutes_max")]}),
        ("Grading", {"fields": ["budget_per_hour", "drain_seconds", "grading_seeds", "reference_design"]}),
    ]

    @admin.action(description="Check kata: grade its reference design (in the background)")
    def check_kata(self, request: HttpRequest, queryset: QuerySet[Kata]) -> None:
        for kata in queryset:
            try:
                services.kata_check_request(kata=kata, requested_by=request.user)
            except services.CheckRefused as exc:
                self.message_user(request, f"{kata}: {exc}", messages.WARNING)
                continue
            self.message_user(request, f"{kata}: checking in the background; the result shows in the “Last check” "
                                       "column in a minute or so (reload the page).", messages.INFO)

    @admin.display(description="Last check")
    def last_check(self, kata: Kata) -> str:
        result = selectors.kata_check_result(kata=kata)
        if result is None:
            return "—"
        verdict = {True: "✔", False: "✘", None: "…"}[result["ok"]]
        return f"{verdict} {result['message']}"


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
        ("Errors", {"fields": ["base_error", "error_threshold", "error_max", "error_power", "slowdown_factor"]}),
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
