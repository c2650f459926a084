from django.core.exceptions import ObjectDoesNotExist
from django.utils.translation import gettext_lazy as _
from rest_framework import serializers

from identity import catalogue
from identity.models import Role, User, UserSession
from rappi.api.fields import DocumentDataField
from rappi.api.permissions import ACTIONS
from rappi.api.query import QuerySerializer

# --- Users ----------


class UserOutput(serializers.ModelSerializer):
    role = serializers.SlugRelatedField[Role](slug_field="name", read_only=True)

    class Meta:
        model = User
        fields = [
            "id",
            "email",
            "full_name",
            "phone",
            "role",
            "is_active",
            "created_at",
            "last_login",
        ]
        read_only_fields = fields


def _profile_id(user: User, accessor: str) -> int | None:
    # Profiles belong to orders (customer) and fleet (driver); identity only follows the
    # reverse one-to-one accessor they declare, so it never imports them.
    try:
        return getattr(user, accessor).pk
    except (AttributeError, ObjectDoesNotExist):
        return None


class MeOutput(UserOutput):
    permissions = serializers.SerializerMethodField()
    customer_id = serializers.SerializerMethodField()
    driver_id = serializers.SerializerMethodField()

    class Meta(UserOutput.Meta):
        fields = [*UserOutput.Meta.fields, "permissions", "customer_id", "driver_id"]
        read_only_fields = fields

    def get_permissions(self, user) -> list[str]:
        return user.effective_permissions()

    def get_customer_id(self, user) -> int | None:
        return _profile_id(user, "customer_profile")

    def get_driver_id(self, user) -> int | None:
        return _profile_id(user, "driver_profile")


class _RoleNameField(serializers.SlugRelatedField):
    def __init__(self, **kwargs):
        super().__init__(slug_field="name", queryset=Role.objects.all(), **kwargs)


class UserCreateInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )
    full_name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")
    role = _RoleNameField(required=False, default=None)
    is_active = serializers.BooleanField(required=False, default=True)

    def validate_email(self, value: str) -> str:
        value = value.strip().lower()
        existing = User.objects.filter(email=value)
        instance = self.context.get("instance")
        if instance is not None:
            existing = existing.exclude(pk=instance.pk)
        if existing.exists():
            raise serializers.ValidationError(_("A user with this email already exists."))
        return value


class UserUpdateInput(UserCreateInput):
    """PUT and PATCH: every field optional; a password given is reset."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
        self.fields["role"].default = serializers.empty
        self.fields["is_active"].default = serializers.empty
        self.fields["phone"].default = serializers.empty


# --- Auth ----------


class RegisterInput(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(write_only=True, max_length=128)
    full_name = serializers.CharField(max_length=150)
    phone = serializers.CharField(max_length=30, required=False, allow_blank=True, default="")

    validate_email = UserCreateInput.validate_email


class LoginInput(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=2000)


class TokenPairOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class LoginOutput(TokenPairOutput):
    user = UserOutput()


class SessionOutput(serializers.ModelSerializer):
    current = serializers.SerializerMethodField()

    class Meta:
        model = UserSession
        fields = ["id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"]
        read_only_fields = fields

    def get_current(self, session) -> bool:
        return session.pk == getattr(self.context["request"].user, "current_session_id", None)


# --- Roles ----------


class PermissionListField(serializers.ListField):
    """A list of `resource:action` codes from the catalogue (wildcards allowed)."""

    child = serializers.CharField(max_length=50)

    def to_internal_value(self, data):
        codes = super().to_internal_value(data)
        errors = {}
        for index, code in enumerate(codes):
            try:
                catalogue.parse_permission(code)
            except ValueError as exc:
                errors[index] = [str(exc)]
        if errors:
            raise serializers.ValidationError(errors)
        return sorted(set(codes))


class RoleOutput(serializers.ModelSerializer):
    permissions = serializers.SerializerMethodField()
    user_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Role
        fields = [
            "id",
            "name",
            "description",
            "is_system",
            "permissions",
            "user_count",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_permissions(self, role) -> list[str]:
        return [f"{p.resource}:{p.action}" for p in role.permissions.all()]


class RoleInput(serializers.Serializer):
    name = serializers.CharField(max_length=50)
    description = serializers.CharField(max_length=300, required=False, allow_blank=True)
    permissions = PermissionListField(required=False)


class RoleUpdateInput(RoleInput):
    name = serializers.CharField(max_length=50, required=False)

    def validate(self, attrs):
        if "permissions" in attrs:
            raise serializers.ValidationError(
                {
                    "permissions": [
                        _("Use PUT /api/v1/roles/{id}/permissions to replace permissions.")
                    ]
                }
            )
        return attrs


class RolePermissionsInput(serializers.Serializer):
    permissions = PermissionListField(allow_empty=True)


class PermissionCatalogueOutput(serializers.Serializer):
    resources = serializers.ListField(child=serializers.CharField())
    actions = serializers.ListField(child=serializers.CharField())
    permissions = serializers.ListField(child=serializers.CharField())


def permission_catalogue() -> dict:
    return {
        "resources": list(catalogue.RESOURCES),
        "actions": list(ACTIONS),
        "permissions": catalogue.all_permissions(),
    }


# --- Notifications ----------


class NotificationOutput(serializers.Serializer):
    id = serializers.CharField(read_only=True)
    kind = serializers.CharField()
    title = serializers.CharField()
    body = serializers.CharField()
    data = serializers.DictField()  # type: ignore[assignment]  # a field, not Serializer.data
    read_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class NotificationSendInput(serializers.Serializer):
    recipient_user_id = serializers.IntegerField(min_value=1, max_value=2**63 - 1)
    kind = serializers.RegexField(r"^[a-z][a-z0-9_.]{0,49}$", max_length=50)
    title = serializers.CharField(max_length=200)
    body = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
    data = DocumentDataField(required=False, default=dict)  # type: ignore[assignment]

    def validate_recipient_user_id(self, value: int) -> int:
        if not User.objects.filter(pk=value, is_active=True).exists():
            raise serializers.ValidationError(_("No active user with this id."))
        return value


class NotificationFilterInput(QuerySerializer):
    unread = serializers.BooleanField(required=False, allow_null=True, default=None)
    kind = serializers.CharField(required=False, max_length=50)
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)


class UnreadCountOutput(serializers.Serializer):
    count = serializers.IntegerField()


class ReadAllOutput(serializers.Serializer):
    updated = serializers.IntegerField()
