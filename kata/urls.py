from __future__ import annotations

from django.urls import path

from kata import views

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("katas/<slug:slug>/", views.kata_detail, name="kata_detail"),
]
