from fleet.api import views
from rappi.api.routers import OptionalSlashRouter

router = OptionalSlashRouter()
router.register("vehicles", views.VehicleViewSet, basename="vehicles")
router.register("drivers", views.DriverViewSet, basename="drivers")
router.register("assignments", views.AssignmentViewSet, basename="assignments")
router.register("incidents", views.IncidentViewSet, basename="incidents")
router.register("routes", views.RouteViewSet, basename="routes")

urlpatterns = router.urls
