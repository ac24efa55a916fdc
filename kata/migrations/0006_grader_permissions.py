"""Graders review every attempt and may override verdicts; instructors see attempts but do not grade them."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    graders, _ = Group.objects.get_or_create(name="graders")
    graders.permissions.add(*Permission.objects.filter(
        content_type__app_label="kata",
        codename__in=["review_attempt", "override_grade", "add_feedback", "view_feedback", "add_gradeoverride", "view_gradeoverride"],
    ))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    graders = Group.objects.filter(name="graders").first()
    if graders:
        graders.permissions.remove(*Permission.objects.filter(
            content_type__app_label="kata", codename__in=["review_attempt", "override_grade", "add_feedback",
                                                          "view_feedback", "add_gradeoverride", "view_gradeoverride"]))


class Migration(migrations.Migration):
    dependencies = [("kata", "0005_review")]
    operations = [migrations.RunPython(grant, revoke)]
