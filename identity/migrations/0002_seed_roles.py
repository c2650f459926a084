"""Seed the four roles of docs/domain.md, Roles and access so that every database has them right after migrate."""

from django.db import migrations


def seed_roles(apps, schema_editor):
    from identity import catalogue

    Role = apps.get_model("identity", "Role")
    RolePermission = apps.get_model("identity", "RolePermission")
    for name, spec in catalogue.SEEDED_ROLES.items():
        role, created = Role.objects.get_or_create(
            name=name, defaults={"description": spec["description"], "is_system": True}
        )
        if created:
            RolePermission.objects.bulk_create(
                RolePermission(role=role, resource=resource, action=action)
                for resource, action in (catalogue.parse_permission(p) for p in spec["permissions"])
            )


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    operations = [migrations.RunPython(seed_roles, migrations.RunPython.noop)]
