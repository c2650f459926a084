from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from identity import selectors, services
from identity.api import serializers as s
from identity.filters import UserFilter
from identity.models import Role, User
from identity.throttling import LoginIpThrottle, LoginThrottle
from rappi.api.filters import OrderingFilter, SearchFilter
from rappi.api.idempotency import idempotent
from rappi.api.inputs import validated
from rappi.api.permissions import DELETE, READ, WRITE, DeclaredQueryParameters
from rappi.api.schema import error_response
from rappi.api.throttling import AnonRateThrottle
from rappi.api.viewsets import ScopedViewSetMixin
from rappi.errors import PermissionDeniedError
from rappi.net import client_ip


def _client(request) -> services.ClientInfo:
    return services.ClientInfo(
        user_agent=request.headers.get("User-Agent", ""), ip=client_ip(request)
    )


# --- Auth ----------


class PublicView(APIView):
    """No token needed; a wrong credential still answers 401 (DRF turns a 401 into a 403
    when the view announces no authentication scheme)."""

    # Open to all, but a query parameter it does not document is refused as everywhere.
    permission_classes = [AllowAny, DeclaredQueryParameters]
    authentication_classes = []

    def get_authenticate_header(self, request):
        return 'Bearer realm="api"'


class RegisterView(PublicView):
    throttle_classes = [AnonRateThrottle, LoginIpThrottle]

    @extend_schema(request=s.RegisterInput, responses={201: s.LoginOutput}, tags=["auth"])
    def post(self, request):
        data = validated(s.RegisterInput, request.data)
        user, tokens = services.user_register(**data, client=_client(request))
        return Response({**tokens, "user": s.UserOutput(user).data}, status=status.HTTP_201_CREATED)


class LoginView(PublicView):
    throttle_classes = [AnonRateThrottle, LoginThrottle]

    @extend_schema(
        request=s.LoginInput,
        responses={200: s.LoginOutput, 401: error_response("`invalid_credentials`")},
        tags=["auth"],
    )
    def post(self, request):
        data = validated(s.LoginInput, request.data)
        user, tokens = services.session_login(
            **data, client=_client(request), request=request._request
        )
        return Response({**tokens, "user": s.UserOutput(user).data})


class RefreshView(PublicView):
    @extend_schema(
        request=s.RefreshInput,
        responses={200: s.TokenPairOutput, 401: error_response("`token_invalid`")},
        tags=["auth"],
    )
    def post(self, request):
        data = validated(s.RefreshInput, request.data)
        return Response(services.session_refresh(raw_refresh=data["refresh"]))


class LogoutView(APIView):
    resource = None

    @extend_schema(request=s.RefreshInput, responses={204: None}, tags=["auth"])
    def post(self, request):
        data = validated(s.RefreshInput, request.data)
        services.session_logout(user=request.user, raw_refresh=data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeView(APIView):
    resource = None

    @extend_schema(responses=s.MeOutput, tags=["auth"])
    def get(self, request):
        return Response(s.MeOutput(request.user).data)


class SessionListView(APIView):
    resource = None

    @extend_schema(responses=s.SessionOutput(many=True), tags=["auth"])
    def get(self, request):
        sessions = selectors.session_list_for(user=request.user)
        return Response(s.SessionOutput(sessions, many=True, context={"request": request}).data)

    @extend_schema(
        responses={204: None},
        tags=["auth"],
        summary="Revoke all own sessions",
        operation_id="auth_sessions_destroy_all",
    )
    def delete(self, request):
        services.session_revoke_all(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SessionDetailView(APIView):
    resource = None

    @extend_schema(responses={204: None}, tags=["auth"], summary="Revoke one own session")
    def delete(self, request, session_id: int):
        services.session_revoke(user=request.user, session_id=session_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Users ----------


@extend_schema_view(
    list=extend_schema(responses=s.UserOutput(many=True)),
    retrieve=extend_schema(responses=s.UserOutput),
    create=extend_schema(request=s.UserCreateInput, responses={201: s.UserOutput}),
    update=extend_schema(
        request=s.UserUpdateInput,
        responses={200: s.UserOutput, 409: error_response("`self_lockout`")},
    ),
    partial_update=extend_schema(
        request=s.UserUpdateInput,
        responses={200: s.UserOutput, 409: error_response("`self_lockout`")},
    ),
    destroy=extend_schema(
        responses={204: None, 409: error_response("`self_lockout`")},
        summary="Deactivate a user (soft delete) and revoke its sessions",
    ),
)
class UserViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    resource = "users"
    serializer_class = s.UserOutput
    filterset_class = UserFilter
    search_fields = ["email", "full_name", "phone"]
    ordering_fields = ["id", "email", "full_name", "created_at", "last_login"]
    ordering = ["email"]

    scoped_model = User
    list_selector = staticmethod(selectors.user_list_for)
    get_selector = staticmethod(selectors.user_get_for)

    def create(self, request):
        fields = validated(s.UserCreateInput, request.data)
        fields["role"] = fields["role"] or "customer"
        user = services.user_create(**fields, by=request.user)
        return Response(s.UserOutput(user).data, status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        user = self.get_object()
        data = validated(
            s.UserUpdateInput, request.data, partial=partial, context={"instance": user}
        )
        user = services.user_update(user=user, by=request.user, **data)
        return Response(s.UserOutput(selectors.user_get_for(user=request.user, pk=user.pk)).data)

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.user_deactivate(user=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- Roles and permissions ----------


@extend_schema_view(
    list=extend_schema(responses=s.RoleOutput(many=True)),
    retrieve=extend_schema(responses=s.RoleOutput),
    create=extend_schema(request=s.RoleInput, responses={201: s.RoleOutput}),
    update=extend_schema(
        request=s.RoleUpdateInput,
        responses={200: s.RoleOutput, 409: error_response("`protected_role`")},
    ),
    partial_update=extend_schema(
        request=s.RoleUpdateInput,
        responses={200: s.RoleOutput, 409: error_response("`protected_role`")},
    ),
    destroy=extend_schema(
        responses={204: None, 409: error_response("`protected_role`, `role_in_use`")}
    ),
)
class RoleViewSet(ScopedViewSetMixin, viewsets.ModelViewSet):
    resource = "roles"
    serializer_class = s.RoleOutput
    filter_backends = [SearchFilter, OrderingFilter]
    search_fields = ["name", "description"]
    ordering_fields = ["id", "name", "created_at"]
    ordering = ["name"]

    scoped_model = Role
    list_selector = staticmethod(selectors.role_list_for)
    get_selector = staticmethod(selectors.role_get_for)

    def _output(self, role):
        return s.RoleOutput(selectors.role_get_for(user=self.request.user, pk=role.pk)).data

    def create(self, request):
        data = validated(s.RoleInput, request.data)
        role = services.role_create(**data, by=request.user)
        return Response(self._output(role), status=status.HTTP_201_CREATED)

    def update(self, request, pk=None, partial=False):
        role = self.get_object()
        data = validated(s.RoleUpdateInput, request.data, partial=partial)
        role = services.role_update(role=role, by=request.user, **data)
        return Response(self._output(role))

    def partial_update(self, request, pk=None):
        return self.update(request, pk=pk, partial=True)

    def destroy(self, request, pk=None):
        services.role_delete(role=self.get_object(), by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=s.RolePermissionsInput,
        responses={200: s.RoleOutput, 409: error_response("`protected_role`")},
        summary="Replace the role's permissions",
    )
    @action(detail=True, methods=["put"], url_path="permissions")
    def permissions(self, request, pk=None):
        role = self.get_object()
        data = validated(s.RolePermissionsInput, request.data)
        services.role_set_permissions(role=role, permissions=data["permissions"], by=request.user)
        return Response(self._output(role))


class PermissionCatalogueView(APIView):
    resource = "roles"
    is_collection = True

    @extend_schema(responses=s.PermissionCatalogueOutput, tags=["roles"])
    def get(self, request):
        return Response(s.permission_catalogue())


# --- Notifications ----------


@extend_schema_view(
    list=extend_schema(
        parameters=[
            OpenApiParameter("unread", OpenApiTypes.BOOL),
            OpenApiParameter("kind", OpenApiTypes.STR),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
        ],
        responses=s.NotificationOutput(many=True),
    ),
    retrieve=extend_schema(responses=s.NotificationOutput),
    destroy=extend_schema(responses={204: None}),
)
class NotificationViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """The caller's own inbox. Staff holding notifications:write may also send."""

    resource = "notifications"
    permission_actions = {"read": WRITE, "read_all": WRITE, "unread_count": READ, "destroy": DELETE}
    serializer_class = s.NotificationOutput
    filter_backends = [SearchFilter, OrderingFilter]
    search_fields = ["title", "body"]
    ordering_fields = ["created_at", "read_at"]
    ordering = ["-created_at"]
    # MongoDB ids: 24 hex digits. Anything else is no notification (404), and never
    # mistaken for the `read-all` or `unread-count` routes.
    lookup_value_regex = "[0-9a-fA-F]{24}"

    def get_queryset(self):
        params = validated(s.NotificationFilterInput, self.request.query_params)
        return selectors.notification_list_for(user=self.request.user, filters=params)

    def get_object(self):
        return selectors.notification_get_for(user=self.request.user, pk=self.kwargs["pk"])

    def perform_destroy(self, instance):
        services.notification_delete(notification=instance)

    @extend_schema(request=s.NotificationSendInput, responses={201: s.NotificationOutput})
    @idempotent
    def create(self, request):
        if not request.user.is_staff_member:
            raise PermissionDeniedError(_("Only staff may send notifications."))
        data = validated(s.NotificationSendInput, request.data)
        notification = services.notification_send(**data)
        return Response(s.NotificationOutput(notification).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=None, responses=s.NotificationOutput)
    @action(detail=True, methods=["post"])
    def read(self, request, pk=None):
        notification = services.notification_mark_read(notification=self.get_object())
        return Response(s.NotificationOutput(notification).data)

    @extend_schema(request=None, responses=s.ReadAllOutput)
    @action(detail=False, methods=["post"], url_path="read-all")
    def read_all(self, request):
        return Response({"updated": services.notification_mark_all_read(user=request.user)})

    @extend_schema(responses=s.UnreadCountOutput)
    @action(detail=False, methods=["get"], url_path="unread-count", pagination_class=None)
    def unread_count(self, request):
        return Response({"count": selectors.notification_unread_count(user=request.user)})
