from __future__ import annotations

from django.contrib import admin

from kata.models import Kata


@admin.register(Kata)
class KataAdmin(admin.ModelAdmin):
    list_display = ["title", "slug", "difficulty", "domain", "published", "updated_at"]
    list_filter = ["published", "difficulty"]
    search_fields = ["title", "slug", "summary"]
    prepopulated_fields = {"slug": ["title"]}
