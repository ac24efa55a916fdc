from __future__ import annotations

from django.urls import path

from kata import review, views, views_sweeps, views_traces

urlpatterns = [
    path("", views.home, name="home"),
    path("healthz", views.healthz, name="healthz"),
    path("katas/<slug:slug>/", views.kata_detail, name="kata_detail"),
    path("katas/<slug:slug>/workspace/", views.workspace, name="workspace"),
    path("katas/<slug:slug>/draft/", views.draft_save, name="draft_save"),
    path("katas/<slug:slug>/draft/discard/", views.draft_discard, name="draft_discard"),
    path("katas/<slug:slug>/draft/fit/", views.draft_fit, name="draft_fit"),
    path("katas/<slug:slug>/inspector/", views.inspector, name="inspector"),
    path("katas/<slug:slug>/runs/", views.run_start, name="run_start"),
    path("katas/<slug:slug>/estimate/", views.estimate, name="estimate"),
    path("katas/<slug:slug>/attempts/", views.attempt_history, name="attempt_history"),
    path("katas/<slug:slug>/compare/", views.attempt_compare, name="attempt_compare"),
    path("attempts/<int:attempt_id>/", views.attempt_detail, name="attempt_detail"),
    path("attempts/<int:attempt_id>/share/", views.attempt_share, name="attempt_share"),
    path("shared/<str:token>/", views.attempt_shared, name="attempt_shared"),
    path("katas/<slug:slug>/import/", views.design_import_check, name="design_import_check"),
    path("runs/<int:run_id>/grade/", views.run_grade, name="run_grade"),
    path("katas/<slug:slug>/insights/", review.kata_insights_page, name="kata_insights"),
    path("katas/<slug:slug>/author/designs/", review.author_design_save, name="author_design_save"),
    path("runs/<int:run_id>/replay/", review.run_replay, name="run_replay"),
    path("runs/<int:run_id>/replay/points/", review.run_replay_points, name="run_replay_points"),
    path("runs/<int:run_id>/traces/", views_traces.run_traces, name="run_traces"),
    path("runs/<int:run_id>/traces/<int:seed>/<int:number>/", views_traces.trace_detail, name="trace_detail"),
    path("runs/<int:run_id>/traces/scenario/<int:scenario_id>/", views_traces.scenario_trace, name="scenario_trace"),
    path("katas/<slug:slug>/sweeps/", views_sweeps.sweep_new, name="sweep_new"),
    path("sweeps/<int:sweep_id>/", views_sweeps.sweep_detail, name="sweep_detail"),
    path("sweeps/<int:sweep_id>/cancel/", views_sweeps.sweep_cancel, name="sweep_cancel"),
    path("review/", review.review_list, name="review_list"),
    path("review/attempts/<int:attempt_id>/", review.review_attempt, name="review_attempt"),
]
