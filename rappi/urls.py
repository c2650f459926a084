from django.contrib import admin
from django.urls import include, path
from django.views.decorators.cache import never_cache
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from audit.urls import console_urlpatterns as audit_console
from fleet.urls import console_urlpatterns as fleet_console
from identity.admin import admin_login
from identity.urls import console_urlpatterns as identity_console
from orders.urls import console_urlpatterns as orders_console
from rappi import health
from rappi.api import views as api_views
from rappi.console.urls import urlpatterns as console_own
from rappi.reports.console_urls import console_urlpatterns as reports_console
from tracking.urls import console_urlpatterns as tracking_console

# The dispatcher console: its own pages (sign-in, overview) and each app's.
console = console_own + orders_console + fleet_console
console += tracking_console
console += identity_console
console += audit_console
console += reports_console

api_v1 = [
    path("", include("identity.api.urls")),
    path("", include("orders.api.urls")),
    path("", include("fleet.api.urls")),
    path("", include("tracking.api.urls")),
    path("", include("audit.api.urls")),
    path("", include("rappi.reports.urls")),
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
    path("console/", include((console, "console"))),
    path("i18n/", include("django.conf.urls.i18n")),
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
