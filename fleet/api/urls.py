from django.urls import re_path

from fleet.api import views
from rappi.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("vehicles", views.VehicleViewSet, basename="vehicles")
router.register("drivers", views.DriverViewSet, basename="drivers")
router.register("assignments", views.AssignmentViewSet, basename="assignments")
router.register("incidents", views.IncidentViewSet, basename="incidents")
router.register("routes", views.RouteViewSet, basename="routes")

# Like the router's routes, these answer with and without the trailing slash.
urlpatterns = [
    *router.urls,
    re_path(
        r"^files/(?P<file_id>[0-9a-fA-F]{24})/?$",
        views.FileDownloadView.as_view(),
        name="files-detail",
    ),
    re_path(
        r"^orders/(?P<order_id>[0-9]+)/proofs/?$",
        views.OrderProofsView.as_view(),
        name="order-proofs",
    ),
]
