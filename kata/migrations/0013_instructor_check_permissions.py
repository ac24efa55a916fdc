"""Instructors write must-fail designs and read their katas' versions and checks; graders read versions."""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

INSTRUCTORS = [f"{action}_mustfaildesign" for action in ("add", "change", "delete", "view")] + [
    "view_kataversion", "view_katacheck"]
GRADERS = ["view_kataversion"]


def _permissions(apps, codenames):
    return apps.get_model("auth", "Permission").objects.filter(content_type__app_label="kata", codename__in=codenames)


def grant(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    for name, codenames in (("instructors", INSTRUCTORS), ("graders", GRADERS)):
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.add(*_permissions(apps, codenames))


def revoke(apps, schema_editor):
    Group = apps.get_model("auth", "Group")
    for name, codenames in (("instructors", INSTRUCTORS), ("graders", GRADERS)):
        group = Group.objects.filter(name=name).first()
        if group:
            group.permissions.remove(*_permissions(apps, codenames))


class Migration(migrations.Migration):
    dependencies = [("kata", "0012_kata_versions_and_checks")]
    operations = [migrations.RunPython(grant, revoke)]
