"""Identity reads, already scoped to the caller."""

from datetime import datetime
from typing import Any

from bson import ObjectId
from django.db import connection
from django.db.models import Count, Field, Prefetch, QuerySet
from django.utils import timezone

from identity.documents import Notification
from identity.models import Role, RolePermission, User, UserSession
from rappi.errors import NotFoundError


def user_list_for(*, user: User) -> QuerySet[User]:
    # Only holders of users:read reach here (the viewset's permission); they are staff.
    return User.objects.select_related("role")


def user_get_for(*, user: User, pk) -> User:
    found = user_list_for(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFoundError()
    return found


def role_list_for(*, user: User) -> QuerySet[Role]:
    return Role.objects.annotate(user_count=Count("users")).prefetch_related(
        Prefetch("permissions", queryset=RolePermission.objects.order_by("resource", "action"))
    )


def role_get_for(*, user: User, pk) -> Role:
    found = role_list_for(user=user).filter(pk=pk).first()
    if found is None:
        raise NotFoundError()
    return found


# --- Authentication: one query per API request ----------------------------------------------

# The largest id a bigint column holds: a token naming more is forged, never a lookup.
_MAX_ID = 2**63 - 1


class _SessionUserQuery:
    """The SQL that loads a live session's user and role in one statement, written once
    per database vendor from the models' metadata, with the converters the ORM would apply
    to each column. Authentication runs it on every API request: building and compiling
    a queryset each time cost more than the query itself."""

    def __init__(self, conn) -> None:
        quote = conn.ops.quote_name
        self.user_fields = list(User._meta.concrete_fields)
        self.role_fields = list(Role._meta.concrete_fields)
        session = UserSession._meta

        def column(alias, field):
            return f"{alias}.{quote(field.column)}"

        columns = [column("s", session.pk)]
        columns += [column("u", f) for f in self.user_fields]
        columns += [column("r", f) for f in self.role_fields]

        def field(name: str) -> Field:
            found = session.get_field(name)
            assert isinstance(found, Field)  # a column of the table, not a reverse relation
            return found

        self.sql = (
            f"SELECT {', '.join(columns)} "  # noqa: S608 - names from the models' metadata
            f"FROM {quote(session.db_table)} s "
            f"INNER JOIN {quote(User._meta.db_table)} u "
            f"ON u.{quote(User._meta.pk.column)} = s.{quote(field('user').column)} "
            f"INNER JOIN {quote(Role._meta.db_table)} r "
            f"ON r.{quote(Role._meta.pk.column)} = u.{quote(User._meta.get_field('role').column)} "
            f"WHERE s.{quote(field('public_id').column)} = %s "
            f"AND s.{quote(field('user').column)} = %s "
            f"AND s.{quote(field('revoked_at').column)} IS NULL "
            f"AND s.{quote(field('expires_at').column)} > %s "
            f"AND u.{quote(User._meta.get_field('is_active').column)} = %s"
        )
        self.converters = [
            self._converters(conn, f, alias)
            for alias, fields in (("u", self.user_fields), ("r", self.role_fields))
            for f in fields
        ]

    @staticmethod
    def _converters(conn, field, alias) -> tuple[list, Any]:
        col = field.get_col(alias)
        return conn.ops.get_db_converters(col) + field.get_db_converters(conn), col

    def run(self, *, public_id: str, user_id: int, now: datetime) -> User | None:
        params: list[Any] = [
            public_id,
            user_id,
            connection.ops.adapt_datetimefield_value(now),
            True,
        ]
        with connection.cursor() as cursor:
            cursor.execute(self.sql, params)
            row = cursor.fetchone()
        if row is None:
            return None
        values = list(row[1:])
        for i, (converters, col) in enumerate(self.converters):
            for convert in converters:
                values[i] = convert(values[i], col, connection)
        split = len(self.user_fields)
        user = User.from_db(connection.alias, [f.attname for f in self.user_fields], values[:split])
        role = Role.from_db(connection.alias, [f.attname for f in self.role_fields], values[split:])
        user.role = role
        user.current_session_id = row[0]  # type: ignore[attr-defined]  # for the session list
        return user


_session_user_queries: dict[str, _SessionUserQuery] = {}


def session_user(*, public_id: str, user_id, now: datetime | None = None) -> User | None:
    """The active user of a live session (`public_id` issued to `user_id`, not revoked, not
    expired), with its role and the role's grants, or None: one query, plus one more the
    first time a process sees this version of the role's grants."""
    try:
        user_id = int(user_id)
    except (TypeError, ValueError):
        return None
    if not (0 < user_id <= _MAX_ID) or not isinstance(public_id, str):
        return None
    query = _session_user_queries.get(connection.vendor)
    if query is None:
        query = _session_user_queries[connection.vendor] = _SessionUserQuery(connection)
    user = query.run(public_id=public_id, user_id=user_id, now=now or timezone.now())
    if user is not None:
        user.granted = role_grants(user.role)  # sets the cached property
    return user


# role id -> ((version, created_at), grants): the last grants this process loaded for each
# role. The version moves with every change of the grants; created_at tells apart a role
# that took the id of a deleted one (a test database flushed between tests).
_role_grants: dict[int, tuple[tuple, frozenset]] = {}


def role_grants(role: Role) -> frozenset[tuple[str, str]]:
    """The role's (resource, action) grants at its current `permissions_version`."""
    key = (role.permissions_version, role.created_at)
    cached = _role_grants.get(role.pk)
    if cached is not None and cached[0] == key:
        return cached[1]
    grants = frozenset(
        RolePermission.objects.filter(role_id=role.pk).values_list("resource", "action")
    )
    _role_grants[role.pk] = (key, grants)
    return grants


def session_list_for(*, user: User) -> QuerySet[UserSession]:
    """The caller's own sessions that can still be used."""
    return UserSession.objects.filter(
        user=user, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).order_by("-last_used_at")


def notification_list_for(*, user: User, filters: dict | None = None):
    """The caller's own inbox; nobody, staff included, reads another user's inbox.
    Filters (the API's query): unread (True: unread only, False: read only), kind,
    created_after (inclusive), created_before (exclusive)."""
    inbox = Notification.objects(recipient_user_id=user.pk)
    filters = filters or {}
    if filters.get("unread") is not None:
        inbox = inbox.filter(read_at=None) if filters["unread"] else inbox.filter(read_at__ne=None)
    if filters.get("kind"):
        inbox = inbox.filter(kind=filters["kind"])
    if filters.get("created_after"):
        inbox = inbox.filter(created_at__gte=filters["created_after"])
    if filters.get("created_before"):
        inbox = inbox.filter(created_at__lt=filters["created_before"])
    return inbox


def notification_inbox_for(*, user: User, filters: dict | None = None):
    """The caller's inbox as a person reads it: (its unread, its read), newest first within
    each, a tie broken by id. Filters: as `notification_list_for`."""
    inbox = notification_list_for(user=user, filters=filters)
    return (
        inbox.filter(read_at=None).order_by("-created_at", "-id"),
        inbox.filter(read_at__ne=None).order_by("-created_at", "-id"),
    )


def notification_unread_count(*, user: User) -> int:
    return notification_list_for(user=user, filters={"unread": True}).count()


def notification_get_for(*, user: User, pk: str) -> Notification:
    if not ObjectId.is_valid(pk):
        raise NotFoundError()
    found = Notification.objects(pk=ObjectId(pk), recipient_user_id=user.pk).first()
    if found is None:
        raise NotFoundError()
    return found
