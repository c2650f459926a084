from django.contrib import admin
from django.urls import include, path
from django.views.decorators.cache import never_cache
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from identity.admin import admin_login
from rappi import health
from rappi.api import views as api_views

api_v1 = [
    path("", include("identity.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("fleet.api.urls")),
    path("", include("tracking.api.urls")),
    path("", include("audit.api.urls")),
]

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    # The split view serves Swagger UI's start-up script as a file (`?script`), not inline,
    # so the page runs under the content security policy.
    # Never cached: the script carries the visitor's CSRF token.
    path(
        "api/docs/",
        never_cache(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("api/v1/", include(api_v1)),
    # Before the admin's own URLs: its login page, throttled like the API's sign-in.
    path("admin/login/", admin_login, name="admin-login"),
    path("admin/", admin.site.urls),
    path("", include("orders.urls")),
    path("", api_views.home, name="home"),
]

handler400 = api_views.bad_request
handler403 = api_views.permission_denied
handler404 = api_views.page_not_found
handler500 = api_views.server_error
