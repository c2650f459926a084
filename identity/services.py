"""Identity writes: sign-in sessions and token rotation, users and roles."""

import copy
import re
from contextlib import contextmanager
from dataclasses import dataclass

import bson
from django.contrib.auth import authenticate
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from audit.services import audit_record
from identity import catalogue
from identity.documents import Notification
from identity.errors import (
    InvalidCredentials,
    ProtectedRoleError,
    RoleInUseError,
    SelfLockoutError,
    TokenInvalid,
)
from identity.models import Role, RolePermission, User, UserSession, new_session_public_id
from identity.signals import (
    role_assigned,
    user_deactivated,
    user_email_changed,
    user_reactivated,
)
from identity.tokens import (
    SESSION_CLAIM,
    decode_refresh,
    expiry_of,
    new_refresh_token,
    token_pair,
)
from rappi.errors import NotFoundError, PermissionDeniedError
from rappi.services import model_update

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class ClientInfo:
    """Who is signing in from where, recorded on the session."""

    user_agent: str = ""
    ip: str | None = None

    def __post_init__(self):
        # Client-supplied header: keep it printable and within the column.
        object.__setattr__(self, "user_agent", _CONTROL_CHARACTERS.sub("", self.user_agent)[:300])


# --- Sessions and tokens -------------------------------------------------------------


def session_open(*, user: User, client: ClientInfo) -> dict[str, str]:
    public_id = new_session_public_id()
    refresh = new_refresh_token(user=user, session_id=public_id)
    UserSession.objects.create(
        public_id=public_id,
        user=user,
        refresh_jti=refresh["jti"],
        expires_at=expiry_of(refresh),
        user_agent=client.user_agent,
        ip=client.ip,
    )
    return token_pair(refresh)


@transaction.atomic
def session_login(
    *, email: str, password: str, client: ClientInfo, request=None
) -> tuple[User, dict]:
    """Check the credentials and open a session; returns the user and its token pair."""
    user = authenticate(request, username=(email or "").strip().lower(), password=password)
    if user is None:
        raise InvalidCredentials()
    user.last_login = timezone.now()
    user.save(update_fields=["last_login"])
    return user, session_open(user=user, client=client)


def session_refresh(*, raw_refresh: str) -> dict[str, str]:
    """Rotate a refresh token. The presented token must be its session's current one: a
    token used twice means it leaked, so the whole session is revoked."""
    token = decode_refresh(raw_refresh)
    reused = False
    with transaction.atomic():
        session = (
            UserSession.objects.select_for_update()
            .select_related("user")
            .filter(public_id=token[SESSION_CLAIM], user_id=token["user_id"])
            .first()
        )
        if session is None or not session.is_active or not session.user.is_active:
            raise TokenInvalid()
        if session.refresh_jti != token["jti"]:
            session.revoked_at = timezone.now()
            session.revoked_reason = "refresh_reuse"
            session.save(update_fields=["revoked_at", "revoked_reason"])
            reused = True
        else:
            refresh = new_refresh_token(user=session.user, session_id=session.public_id)
            session.refresh_jti = refresh["jti"]
            session.expires_at = expiry_of(refresh)
            session.last_used_at = timezone.now()
            session.save(update_fields=["refresh_jti", "expires_at", "last_used_at"])
    if reused:  # raised after the commit so the revocation sticks
        raise TokenInvalid()
    return token_pair(refresh)


def session_logout(*, user: User, raw_refresh: str) -> None:
    """Revoke the session behind a refresh token of the caller's own."""
    token = decode_refresh(raw_refresh)
    if str(token["user_id"]) != str(user.pk):
        raise TokenInvalid()
    _revoke(UserSession.objects.filter(public_id=token[SESSION_CLAIM], user=user), reason="logout")


def _revoke(sessions, *, reason: str) -> int:
    return sessions.filter(revoked_at__isnull=True).update(
        revoked_at=timezone.now(), revoked_reason=reason
    )


def session_revoke(*, user: User, session_id: int) -> None:
    revoked = UserSession.objects.filter(pk=session_id, user=user)
    if not revoked.exists():
        raise NotFoundError()
    _revoke(revoked, reason="revoked")


def session_revoke_for(*, session: UserSession, by: User) -> None:
    """Staff revoking someone's session (admin action)."""
    if session.user_id != by.pk:
        _check_may_manage_user(by, session.user)
    _revoke(UserSession.objects.filter(pk=session.pk), reason="revoked_by_staff")


def session_revoke_all(*, user: User, reason: str = "revoked") -> int:
    return _revoke(UserSession.objects.filter(user=user), reason=reason)


# --- Who may change whom ----------------------------------------------------------------
# Holding users:write or roles:write must not be a way up: a caller can only hand out,
# or act on someone holding, permissions the caller holds itself. `by=None` is the system
# (seeding, management commands).


def _check_may_grant(by: User | None, grants: set[tuple[str, str]]) -> None:
    if by is None:
        return
    beyond = catalogue.expand(grants) - catalogue.expand(by.granted)
    if beyond:
        raise PermissionDeniedError(
            _("You cannot grant permissions you do not hold."),
            permissions=sorted(f"{r}:{a}" for r, a in beyond)[:20],
        )


def _role_grants(role: Role) -> set[tuple[str, str]]:
    return set(RolePermission.objects.filter(role=role).values_list("resource", "action"))


def _check_may_manage_user(by: User | None, user: User) -> None:
    _check_may_grant(by, _role_grants(user.role))


def _check_may_manage_role(by: User | None, role: Role) -> None:
    if by is not None and by.role_id == role.pk:
        raise SelfLockoutError(_("You cannot change your own role."))
    _check_may_grant(by, _role_grants(role))


# --- Users ---------------------------------------------------------------------------


def _check_password(password: str, user: User) -> None:
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.messages}) from None


@contextmanager
def _unique_email():
    """Around a user's save: the race two sign-ups with one email can still lose is a 400."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError:
        raise ValidationError({"email": [_("A user with this email already exists.")]}) from None


@transaction.atomic
def user_register(
    *, email: str, password: str, full_name: str, phone: str = "", client: ClientInfo
):
    """Self-service sign-up: always the `customer` role; signs the user in."""
    user = user_create(
        email=email,
        password=password,
        full_name=full_name,
        phone=phone,
        role=catalogue.CUSTOMER,
        by=None,
    )
    return user, session_open(user=user, client=client)


@transaction.atomic
def user_create(
    *,
    email: str,
    password: str,
    full_name: str,
    phone: str = "",
    role: Role | str = catalogue.CUSTOMER,
    is_active: bool = True,
    by: User | None,
    check_password_strength: bool = True,
) -> User:
    if isinstance(role, str):
        role = Role.objects.get(name=role)
    _check_may_grant(by, _role_grants(role))
    user = User(email=email, full_name=full_name, phone=phone, role=role, is_active=is_active)
    if check_password_strength:
        _check_password(password, user)
    user.set_password(password)
    user.full_clean(exclude=["password", "email"])
    with _unique_email():
        user.save()
    role_assigned.send(sender=User, user=user, previous_role=None, by=by)
    if by is not None:  # staff handing out a role; self sign-up is always `customer`
        audit_record(
            action="user.create", target=user, changes={"role": (None, role.name)}, actor=by
        )
    return user


# What `user_update` edits itself; a password and `is_active` have their own paths.
USER_FIELDS = ("email", "full_name", "phone", "role")


@transaction.atomic
def user_update(*, user: User, by: User | None, **changes) -> User:
    """Edit a user. Role changes fire `role_assigned`; `is_active` goes through
    deactivate/reactivate so sessions and profiles follow."""
    user = User.objects.select_for_update().select_related("role").get(pk=user.pk)
    previous_role, previous_email = user.role, user.email
    if "role" in changes and isinstance(changes["role"], str):
        changes["role"] = Role.objects.get(name=changes["role"])
    new_role = changes.get("role", previous_role)
    if (
        by is not None
        and user.pk == by.pk
        and (changes.get("is_active") is False or new_role.pk != previous_role.pk)
    ):
        raise SelfLockoutError()
    if by is not None and user.pk != by.pk:
        _check_may_manage_user(by, user)
    if new_role.pk != previous_role.pk:
        _check_may_grant(by, _role_grants(new_role))
    password = changes.pop("password", None)
    is_active = changes.pop("is_active", None)
    if password:
        # Checked against the user as edited: a password like the new email is refused.
        edited = copy.copy(user)
        for field, value in changes.items():
            setattr(edited, field, value)
        _check_password(password, edited)
        user.set_password(password)
    with _unique_email():
        model_update(
            instance=user,
            fields=USER_FIELDS,
            data=changes,
            exclude=["password", "email"],
            also_save=["password"] if password else [],
        )
    if password:
        # A new password ends every sign-in made with the old one.
        session_revoke_all(user=user, reason="password_changed")
    if user.email != previous_email:
        user_email_changed.send(sender=User, user=user, previous_email=previous_email)
    if user.role_id != previous_role.pk:
        role_assigned.send(sender=User, user=user, previous_role=previous_role, by=by)
        audit_record(
            action="user.role_change",
            target=user,
            changes={"role": (previous_role.name, user.role.name)},
            actor=by,
        )
    if is_active is False and user.is_active:
        user = user_deactivate(user=user, by=by)
    elif is_active is True and not user.is_active:
        user = user_reactivate(user=user)
    return user


@transaction.atomic
def user_deactivate(*, user: User, by: User | None) -> User:
    """Soft delete: the account stays for history, every session is revoked at once."""
    if by is not None and by.pk == user.pk:
        raise SelfLockoutError()
    _check_may_manage_user(by, user)
    User.objects.filter(pk=user.pk).update(is_active=False, updated_at=timezone.now())
    user.is_active = False
    session_revoke_all(user=user, reason="deactivated")
    user_deactivated.send(sender=User, user=user)
    audit_record(
        action="user.deactivate", target=user, changes={"is_active": (True, False)}, actor=by
    )
    return user


@transaction.atomic
def user_reactivate(*, user: User) -> User:
    User.objects.filter(pk=user.pk).update(is_active=True, updated_at=timezone.now())
    user.is_active = True
    user_reactivated.send(sender=User, user=user)
    audit_record(action="user.reactivate", target=user, changes={"is_active": (False, True)})
    return user


# --- Roles ---------------------------------------------------------------------------


def _parsed(permissions: list[str]) -> set[tuple[str, str]]:
    return {catalogue.parse_permission(code) for code in permissions}


@transaction.atomic
def role_create(
    *, name: str, description: str = "", permissions: list[str] | None = None, by: User | None
) -> Role:
    role = Role(name=name, description=description)
    role.full_clean()
    role.save()
    audit_record(action="role.create", target=role, changes={"name": (None, name)}, actor=by)
    if permissions:
        role_set_permissions(role=role, permissions=permissions, by=by)
    return role


@transaction.atomic
def role_update(*, role: Role, by: User | None, **changes) -> Role:
    role = Role.objects.select_for_update().get(pk=role.pk)
    if role.is_system and changes.get("name", role.name) != role.name:
        raise ProtectedRoleError(role=role.name)
    _check_may_manage_role(by, role)
    changed = model_update(instance=role, fields=("name", "description"), data=changes)
    if changed:
        audit_record(action="role.update", target=role, changes=changed, actor=by)
    return role


@transaction.atomic
def role_set_permissions(*, role: Role, permissions: list[str], by: User | None) -> Role:
    """Replace the role's grants with exactly `permissions` (validated, deduplicated)."""
    grants = _parsed(permissions)
    role = Role.objects.select_for_update().get(pk=role.pk)
    if role.name == catalogue.ADMIN and (catalogue.WILDCARD, catalogue.WILDCARD) not in grants:
        raise ProtectedRoleError(role=role.name)
    _check_may_manage_role(by, role)
    _check_may_grant(by, grants)
    before = _role_grants(role)
    RolePermission.objects.filter(role=role).delete()
    RolePermission.objects.bulk_create(
        RolePermission(role=role, resource=resource, action=action) for resource, action in grants
    )
    Role.objects.filter(pk=role.pk).update(
        updated_at=timezone.now(), permissions_version=F("permissions_version") + 1
    )
    if before != grants:
        codes = [sorted(f"{r}:{a}" for r, a in each) for each in (before, grants)]
        audit_record(
            action="role.permissions_set", target=role, changes={"permissions": codes}, actor=by
        )
    return role


@transaction.atomic
def role_delete(*, role: Role, by: User | None) -> None:
    if role.is_system:
        raise ProtectedRoleError(role=role.name)
    _check_may_manage_role(by, role)
    if role.users.exists():
        raise RoleInUseError(role=role.name, users=role.users.count())
    audit_record(action="role.delete", target=role, changes={"name": (role.name, None)}, actor=by)
    role.delete()


@transaction.atomic
def roles_seed() -> list[Role]:
    """Create the seeded roles that are missing, with their default grants. Idempotent,
    and an existing role's grants, which an admin may have edited, are left alone."""
    roles = []
    for name, spec in catalogue.SEEDED_ROLES.items():
        role, created = Role.objects.get_or_create(
            name=name, defaults={"description": spec["description"], "is_system": True}
        )
        if created:
            RolePermission.objects.bulk_create(
                RolePermission(role=role, resource=r, action=a)
                for r, a in _parsed(spec["permissions"])
            )
        elif not role.is_system:
            Role.objects.filter(pk=role.pk).update(is_system=True)
        roles.append(role)
    return roles


# --- Notifications (MongoDB) ----------------------------------------------------------


def notification_send(
    *, recipient_user_id: int, kind: str, title: str, body: str = "", data: dict | None = None
) -> Notification:
    """Put a notification in a user's inbox. Called inside a database transaction, the
    write waits for the commit (and a MongoDB failure then is logged, not raised), so an
    inbox never announces something that was rolled back."""
    notification = Notification(
        recipient_user_id=recipient_user_id, kind=kind, title=title, body=body, data=data or {}
    )
    notification.validate()
    # Encode now so a document MongoDB would refuse fails here, in the caller's request,
    # rather than later in a commit hook where nobody could answer for it.
    bson.encode(notification.to_mongo())
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(notification.save, robust=True)
    else:
        notification.save()
    return notification


def notification_mark_read(*, notification: Notification) -> Notification:
    if notification.read_at is None:
        now = timezone.now()
        # Conditional update: a concurrent mark keeps the first timestamp.
        Notification.objects(pk=notification.pk, read_at=None).update(set__read_at=now)
        notification.reload()
    return notification


def notification_mark_all_read(*, user: User) -> int:
    return Notification.objects(recipient_user_id=user.pk, read_at=None).update(
        set__read_at=timezone.now()
    )


def notification_delete(*, notification: Notification) -> None:
    notification.delete()
