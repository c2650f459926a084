"""Identity reads, already scoped to the caller."""

from bson import ObjectId
from django.db.models import Count, Prefetch, QuerySet
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


def notification_unread_count(*, user: User) -> int:
    return notification_list_for(user=user, filters={"unread": True}).count()


def notification_get_for(*, user: User, pk: str) -> Notification:
    if not ObjectId.is_valid(pk):
        raise NotFoundError()
    found = Notification.objects(pk=ObjectId(pk), recipient_user_id=user.pk).first()
    if found is None:
        raise NotFoundError()
    return found
