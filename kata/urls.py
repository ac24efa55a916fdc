from __future__ import annotations

from django.urls import path

from kata import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("katas/<slug:slug>/", views.kata_detail, name="kata_detail"),
    path("katas/<slug:slug>/workspace/", views.workspace, name="workspace"),
    path("katas/<slug:slug>/draft/", views.draft_save, name="draft_save"),
    path("katas/<slug:slug>/inspector/", views.inspector, name="inspector"),
]
