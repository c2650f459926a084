"""The permission catalogue (docs/domain.md, Roles and access) and the seeded roles."""

from collections.abc import Set as AbstractSet

from rappi.api.permissions import ACTIONS

WILDCARD = "*"

RESOURCES = (
    "users",
    "roles",
    "customers",
    "orders",
    "payments",
    "invoices",
    "tariff",
    "vehicles",
    "drivers",
    "assignments",
    "routes",
    "incidents",
    "tracking",
    "geofences",
    "notifications",
    "audit",
    "reports",
    "ratings",
)

ADMIN, DISPATCHER, DRIVER, CUSTOMER = "admin", "dispatcher", "driver", "customer"
# Roles whose users see only their own rows; every other role is staff.
SCOPED_ROLES = (CUSTOMER, DRIVER)

# What a dispatcher runs day to day: everything but identity, pricing, audit and ratings.
_OPERATIONAL = [r for r in RESOURCES if r not in {"users", "roles", "tariff", "audit", "ratings"}]

SEEDED_ROLES: dict[str, dict] = {
    ADMIN: {"description": "Everything.", "permissions": ["*:*"]},
    DISPATCHER: {
        "description": "Runs daily operations: all operational data, audit read-only; "
        "no user, role or tariff changes.",
        "permissions": [f"{resource}:*" for resource in _OPERATIONAL]
        + ["ratings:read", "audit:read", "users:read", "roles:read", "tariff:read"],
    },
    DRIVER: {
        "description": "A courier: own profile, own runs, their routes, deliveries, "
        "incidents and pings; own notifications.",
        "permissions": [
            "drivers:read",
            "vehicles:read",
            "assignments:read",
            "assignments:write",
            "routes:read",
            "routes:write",
            "incidents:read",
            "incidents:write",
            "tracking:read",
            "tracking:write",
            "ratings:read",
            "notifications:*",
        ],
    },
    CUSTOMER: {
        "description": "A shipper: own profile, addresses, orders, payments, invoices, "
        "ratings, tracking of own orders; own notifications.",
        "permissions": [
            "customers:read",
            "customers:write",
            "customers:delete",
            "orders:read",
            "orders:write",
            "payments:read",
            "payments:write",
            "invoices:read",
            "invoices:write",
            "ratings:read",
            "ratings:write",
            "tracking:read",
            "notifications:*",
        ],
    },
}


def all_permissions() -> list[str]:
    return [f"{resource}:{action}" for resource in RESOURCES for action in ACTIONS]


def parse_permission(value: str) -> tuple[str, str]:
    """ "orders:read" → ("orders", "read"); raises ValueError for anything outside the
    catalogue (wildcards allowed on either side)."""
    resource, sep, action = (value or "").strip().partition(":")
    if not sep:
        raise ValueError(f"{value!r} is not of the form resource:action")
    if resource != WILDCARD and resource not in RESOURCES:
        raise ValueError(f"unknown resource {resource!r}")
    if action != WILDCARD and action not in ACTIONS:
        raise ValueError(f"unknown action {action!r}")
    return resource, action


def grants(granted: AbstractSet[tuple[str, str]], resource: str, action: str) -> bool:
    return any((r, a) in granted for r in (resource, WILDCARD) for a in (action, WILDCARD))


def expand(granted: AbstractSet[tuple[str, str]]) -> set[tuple[str, str]]:
    """Concrete (resource, action) pairs a set of grants covers, wildcards resolved."""
    return {
        (resource, action)
        for resource in RESOURCES
        for action in ACTIONS
        if grants(granted, resource, action)
    }
