import secrets
from functools import cached_property

from django.apps import apps
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from identity import catalogue
from rappi.api.permissions import ACTIONS, DELETE, READ, WRITE

ROLE_NAME_VALIDATOR = RegexValidator(
    r"^[a-z][a-z0-9_-]{1,49}$",
    _("Lowercase letters, digits, '-' or '_', starting with a letter (2-50 characters)."),
)


class Role(models.Model):
    rbac_resource = "roles"

    name = models.CharField(_("name"), max_length=50, unique=True, validators=[ROLE_NAME_VALIDATOR])
    description = models.CharField(_("description"), max_length=300, blank=True)
    is_system = models.BooleanField(
        _("system role"), default=False, help_text=_("Seeded roles cannot be renamed or deleted.")
    )
    # Moves on every change of the grants: authentication reads it with the session and
    # reuses the grants a process has cached for that version (identity.selectors).
    permissions_version = models.PositiveIntegerField(default=1, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("role")
        verbose_name_plural = _("roles")

    def __str__(self) -> str:
        return self.name

    @property
    def is_scoped(self) -> bool:
        return self.name in catalogue.SCOPED_ROLES

    @staticmethod
    def grants_changed(role_id: int) -> None:
        """Move the role's `permissions_version`, so every process reloads its grants."""
        Role.objects.filter(pk=role_id).update(
            permissions_version=models.F("permissions_version") + 1
        )

    def permission_codes(self) -> list[str]:
        return sorted(f"{p.resource}:{p.action}" for p in self.permissions.all())


class RolePermission(models.Model):
    """One `resource:action` grant; either side may be the `*` wildcard."""

    rbac_resource = "roles"

    role = models.ForeignKey(Role, related_name="permissions", on_delete=models.CASCADE)
    resource = models.CharField(
        max_length=30, choices=[(r, r) for r in (catalogue.WILDCARD, *catalogue.RESOURCES)]
    )
    action = models.CharField(
        max_length=10, choices=[(a, a) for a in (catalogue.WILDCARD, *ACTIONS)]
    )

    class Meta:
        ordering = ["resource", "action"]
        constraints = [
            models.UniqueConstraint(
                fields=["role", "resource", "action"], name="rolepermission_unique_grant"
            ),
            models.CheckConstraint(
                condition=models.Q(action__in=[catalogue.WILDCARD, *ACTIONS]),
                name="rolepermission_known_action",
            ),
        ]
        verbose_name = _("permission")
        verbose_name_plural = _("permissions")

    def __str__(self) -> str:
        return f"{self.resource}:{self.action}"

    # Grants written or deleted one by one (the admin's inline, a script) move the role's
    # version too; the services' bulk writes move it themselves (role_set_permissions).
    def save(self, *args, **kwargs):
        super().save(*args, **kwargs)
        Role.grants_changed(self.role_id)

    def delete(self, *args, **kwargs):
        result = super().delete(*args, **kwargs)
        Role.grants_changed(self.role_id)
        return result


class UserManager(BaseUserManager):
    use_in_migrations = True

    def get_by_natural_key(self, email):
        return self.get(email=(email or "").strip().lower())

    def create_user(self, email, password=None, *, role=None, **fields):
        if not email:
            raise ValueError("An email is required.")
        if role is None or isinstance(role, str):
            role = Role.objects.get(name=role or catalogue.CUSTOMER)
        user = self.model(email=self.normalize(email), role=role, **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        return self.create_user(email, password, role=catalogue.ADMIN, **fields)

    @staticmethod
    def normalize(email: str) -> str:
        return email.strip().lower()


# Django admin permission verbs → RBAC actions.
_ADMIN_ACTIONS = {"view": READ, "add": WRITE, "change": WRITE, "delete": DELETE}


class User(AbstractBaseUser):
    """A person who signs in with an email. What they may do comes from their role."""

    rbac_resource = "users"

    email = models.EmailField(_("email"), max_length=254, unique=True)
    full_name = models.CharField(_("full name"), max_length=150)
    phone = models.CharField(_("phone"), max_length=30, blank=True)
    role = models.ForeignKey(Role, related_name="users", on_delete=models.PROTECT)
    is_active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["full_name"]

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]
        verbose_name = _("user")
        verbose_name_plural = _("users")

    def __str__(self) -> str:
        return self.email

    def save(self, *args, **kwargs):
        self.email = UserManager.normalize(self.email or "")
        super().save(*args, **kwargs)

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.full_name.split(" ")[0] if self.full_name else self.email

    # --- Role-based access -----------------------------------------------------------

    @cached_property
    def granted(self) -> frozenset[tuple[str, str]]:
        """The role's grants, loaded once per request (the API's authenticator sets them
        from the process cache of `identity.selectors.role_grants`)."""
        if not self.role_id:
            return frozenset()
        return frozenset((p.resource, p.action) for p in self.role.permissions.all())

    def has_permission(self, resource: str, action: str) -> bool:
        return self.is_active and catalogue.grants(self.granted, resource, action)

    def effective_permissions(self) -> list[str]:
        """Every concrete `resource:action` the role grants, wildcards expanded."""
        return [
            f"{resource}:{action}"
            for resource in catalogue.RESOURCES
            for action in ACTIONS
            if self.has_permission(resource, action)
        ]

    @property
    def scope(self) -> str:
        """`customer`, `driver` or `staff`: which rows this user may see (docs/domain.md,
        Roles and access)."""
        name = self.role.name if self.role_id else catalogue.CUSTOMER
        return name if name in catalogue.SCOPED_ROLES else "staff"

    @property
    def is_staff_member(self) -> bool:
        return self.is_active and self.scope == "staff"

    # --- Django admin integration: staff roles only, permissions from the role ------

    @property
    def is_staff(self) -> bool:
        return self.is_staff_member and bool(self.granted)

    @property
    def is_superuser(self) -> bool:
        return self.is_active and (catalogue.WILDCARD, catalogue.WILDCARD) in self.granted

    def has_perm(self, perm: str, obj=None) -> bool:
        if not self.is_staff:
            return False
        app_label, _sep, codename = perm.partition(".")
        verb, _sep, model_name = codename.partition("_")
        try:
            model = apps.get_model(app_label, model_name)
        except LookupError:
            return self.is_superuser
        resource = getattr(model, "rbac_resource", None)
        if resource is None or verb not in _ADMIN_ACTIONS:
            return self.is_superuser
        return self.has_permission(resource, _ADMIN_ACTIONS[verb])

    def has_perms(self, perm_list, obj=None) -> bool:
        return all(self.has_perm(perm, obj) for perm in perm_list)

    def has_module_perms(self, app_label: str) -> bool:
        if not self.is_staff:
            return False
        return any(
            self.has_perm(f"{app_label}.view_{model._meta.model_name}")
            for model in apps.get_app_config(app_label).get_models()
        )


def new_session_public_id() -> str:
    return secrets.token_urlsafe(24)  # 32 characters, 192 random bits


class UserSession(models.Model):
    """One sign-in: follows its refresh token through every rotation until it expires or
    is revoked. Tokens carry its `public_id` (`sid`), so revoking it cuts them off at
    once; random rather than the row id, so no one can name a session they were not given."""

    public_id = models.CharField(
        max_length=32, unique=True, default=new_session_public_id, editable=False
    )
    user = models.ForeignKey(User, related_name="auth_sessions", on_delete=models.CASCADE)
    refresh_jti = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    user_agent = models.CharField(max_length=300, blank=True)
    ip = models.GenericIPAddressField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=30, blank=True)

    rbac_resource = "users"

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at", "expires_at"])]
        verbose_name = _("session")
        verbose_name_plural = _("sessions")

    def __str__(self) -> str:
        return f"{self.user_id} since {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > timezone.now()
