"""Fleet reads, narrowed to the caller: staff see all; a driver its own record."""

from django.db.models import Avg, Count, QuerySet

from fleet.models import Assignment, Driver, Incident, Route, Vehicle
from identity.models import User
from identity.scoping import scoped
from orders.models import Rating
from rappi.selectors import get_or_404


def vehicle_list_for(*, user: User) -> QuerySet[Vehicle]:
    # A driver sees the vehicle it drives by default.
    return scoped(Vehicle.objects.all(), user=user, driver_lookup="default_drivers__user")


def vehicle_get_for(*, user: User, pk) -> Vehicle:
    return get_or_404(vehicle_list_for(user=user), pk)


def driver_list_for(*, user: User) -> QuerySet[Driver]:
    return scoped(Driver.objects.select_related("user"), user=user, driver_lookup="user")


def driver_get_for(*, user: User, pk) -> Driver:
    return get_or_404(driver_list_for(user=user), pk)


def driver_ratings(*, driver: Driver, latest: int = 10) -> dict:
    ratings = Rating.objects.filter(driver_id=driver.pk)
    summary = ratings.aggregate(average=Avg("score"), count=Count("id"))
    return {
        "driver_id": driver.pk,
        "average": round(summary["average"], 2) if summary["average"] is not None else None,
        "count": summary["count"],
        "latest": list(ratings.order_by("-created_at")[:latest]),
    }


def assignment_list_for(*, user: User) -> QuerySet[Assignment]:
    return scoped(
        Assignment.objects.select_related("route").prefetch_related("orders"),
        user=user,
        driver_lookup="driver__user",
    )


def assignment_get_for(*, user: User, pk) -> Assignment:
    return get_or_404(assignment_list_for(user=user), pk)


def incident_list_for(*, user: User) -> QuerySet[Incident]:
    # Customers are not shown incidents (docs/decisions.md); drivers see their runs'.
    return scoped(Incident.objects.all(), user=user, driver_lookup="assignment__driver__user")


def incident_get_for(*, user: User, pk) -> Incident:
    return get_or_404(incident_list_for(user=user), pk)


def route_list_for(*, user: User) -> QuerySet[Route]:
    return scoped(
        Route.objects.prefetch_related("stops"), user=user, driver_lookup="assignment__driver__user"
    )


def route_get_for(*, user: User, pk) -> Route:
    return get_or_404(route_list_for(user=user), pk)
