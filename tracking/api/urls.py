from django.urls import re_path

from rappi.api.routers import OptionalSlashRouter
from tracking.api import geofence_views, views

geofence_router = OptionalSlashRouter()
geofence_router.register("geofences", geofence_views.GeofenceViewSet, basename="geofences")

# Like the routers' routes, these answer with and without the trailing slash.
RUN = r"^tracking/assignments/(?P<assignment_id>[0-9]+)"

urlpatterns = [
    *geofence_router.urls,
    re_path(r"^tracking/pings/?$", views.PingIngestView.as_view(), name="tracking-pings"),
    re_path(rf"{RUN}/pings/?$", views.RunTrackView.as_view(), name="tracking-run-pings"),
    re_path(rf"{RUN}/last/?$", views.RunLastFixView.as_view(), name="tracking-run-last"),
    re_path(rf"{RUN}/stats/?$", views.RunTrackStatsView.as_view(), name="tracking-run-stats"),
    re_path(r"^tracking/fleet/?$", views.FleetView.as_view(), name="tracking-fleet"),
    re_path(
        r"^tracking/drivers/nearby/?$",
        views.NearbyDriversView.as_view(),
        name="tracking-drivers-nearby",
    ),
    re_path(
        r"^tracking/orders/(?P<order_id>[0-9]+)/?$",
        views.OrderTrackingView.as_view(),
        name="tracking-order",
    ),
]
