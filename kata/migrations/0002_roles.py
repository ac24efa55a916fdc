"""The three roles as groups, with exactly the model permissions each needs.

Learners get none: what they may see (their own attempts) is enforced in selectors, not by model permissions.
"""

from __future__ import annotations

from django.contrib.auth.management import create_permissions
from django.db import migrations

AUTHORING = ["kata", "parttype", "partparameter", "trafficsource", "scenario"]
ROLES = {
    "learners": [],
    "instructors": [f"{action}_{model}" for model in AUTHORING for action in ("add", "change", "delete", "view")]
    + ["view_attempt", "view_run"],
    "graders": ["view_kata", "view_attempt", "view_run"],
}


def create_roles(apps, schema_editor):
    # Permissions are normally created after all migrations; the groups need them now.
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in ROLES.items():
        group, _ = Group.objects.get_or_create(name=name)
        group.permissions.set(Permission.objects.filter(content_type__app_label="kata", codename__in=codenames))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("kata", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]
