"""Row scoping (docs/domain.md, Roles and access) for the apps' selectors: staff see every
row their permissions allow, a customer only rows of its own customer record, a driver only
rows of its own runs. Each selector says how its rows reach the caller; a row outside the
scope is then simply absent, so the access-checked getter answers 404."""

from django.db.models import QuerySet

from identity import catalogue
from identity.models import User

STAFF = "staff"


def scope_of(user: User) -> str:
    """`staff`, `customer` or `driver`."""
    return user.scope


def scoped(
    queryset: QuerySet,
    *,
    user: User,
    customer_lookup: str | None = None,
    driver_lookup: str | None = None,
) -> QuerySet:
    """Narrow `queryset` to the caller's rows.

    `customer_lookup` / `driver_lookup` are ORM paths from the row to the owning *user*
    (e.g. `"customer__user"`, `"assignments__driver__user"`); a scope without a lookup
    sees nothing. Lookups that cross a to-many relation get `distinct()`."""
    scope = scope_of(user)
    if scope == STAFF:
        return queryset
    lookup = customer_lookup if scope == catalogue.CUSTOMER else driver_lookup
    if lookup is None or not user.is_active:
        return queryset.none()
    narrowed = queryset.filter(**{lookup: user})
    return narrowed.distinct() if "__" in lookup else narrowed
