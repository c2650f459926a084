"""Seed the four roles of docs/domain.md (Roles and access) so that every database has them
right after migrate.

The data is frozen here as it was when this migration was written: a migration must give
the same database whatever the code looks like later. A later change to the seeded grants
in `identity.catalogue` needs its own data migration (or `roles_seed` for new roles)."""

from django.db import migrations

_OPERATIONAL = [
    "assignments",
    "customers",
    "drivers",
    "geofences",
    "incidents",
    "invoices",
    "notifications",
    "orders",
    "payments",
    "reports",
    "routes",
    "tracking",
    "vehicles",
]

ROLES = {
    "admin": ("Everything.", [("*", "*")]),
    "dispatcher": (
        "Runs daily operations: all operational data, audit read-only; "
        "no user, role or tariff changes.",
        [(resource, "*") for resource in _OPERATIONAL]
        + [
            ("ratings", "read"),
            ("audit", "read"),
            ("users", "read"),
            ("roles", "read"),
            ("tariff", "read"),
        ],
    ),
    "driver": (
        "A courier: own profile, own runs, their routes, deliveries, incidents and pings; "
        "own notifications.",
        [
            ("drivers", "read"),
            ("vehicles", "read"),
            ("assignments", "read"),
            ("assignments", "write"),
            ("routes", "read"),
            ("routes", "write"),
            ("incidents", "read"),
            ("incidents", "write"),
            ("tracking", "read"),
            ("tracking", "write"),
            ("ratings", "read"),
            ("notifications", "*"),
        ],
    ),
    "customer": (
        "A shipper: own profile, addresses, orders, payments, invoices, ratings, tracking of "
        "own orders; own notifications.",
        [
            ("customers", "read"),
            ("customers", "write"),
            ("customers", "delete"),
            ("orders", "read"),
            ("orders", "write"),
            ("payments", "read"),
            ("payments", "write"),
            ("invoices", "read"),
            ("invoices", "write"),
            ("ratings", "read"),
            ("ratings", "write"),
            ("tracking", "read"),
            ("notifications", "*"),
        ],
    ),
}


def seed_roles(apps, schema_editor):
    Role = apps.get_model("identity", "Role")
    RolePermission = apps.get_model("identity", "RolePermission")
    for name, (description, grants) in ROLES.items():
        role, created = Role.objects.get_or_create(
            name=name, defaults={"description": description, "is_system": True}
        )
        if created:
            RolePermission.objects.bulk_create(
                RolePermission(role=role, resource=resource, action=action)
                for resource, action in grants
            )


class Migration(migrations.Migration):
    dependencies = [("identity", "0001_initial")]

    operations = [migrations.RunPython(seed_roles, migrations.RunPython.noop)]
