from django.urls import re_path

from identity.api import views
from rappi.api.routers import OptionalSlashRouter

# Paths are served with or without the trailing slash: clients follow the documented spelling
# and no POST is ever redirected.
router = OptionalSlashRouter()
router.register("users", views.UserViewSet, basename="users")
router.register("roles", views.RoleViewSet, basename="roles")
router.register("notifications", views.NotificationViewSet, basename="notifications")

urlpatterns = [
    re_path(r"^auth/register/?$", views.RegisterView.as_view(), name="auth-register"),
    re_path(r"^auth/login/?$", views.LoginView.as_view(), name="auth-login"),
    re_path(r"^auth/refresh/?$", views.RefreshView.as_view(), name="auth-refresh"),
    re_path(r"^auth/logout/?$", views.LogoutView.as_view(), name="auth-logout"),
    re_path(r"^auth/me/?$", views.MeView.as_view(), name="auth-me"),
    re_path(r"^auth/sessions/?$", views.SessionListView.as_view(), name="auth-sessions"),
    re_path(
        r"^auth/sessions/(?P<session_id>[0-9]+)/?$",
        views.SessionDetailView.as_view(),
        name="auth-session-detail",
    ),
    re_path(r"^permissions/?$", views.PermissionCatalogueView.as_view(), name="permissions"),
    *router.urls,
]
