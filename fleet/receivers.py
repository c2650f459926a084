"""Reactions to other apps' signals: a driver login always has its driver record, and the
record follows the login's active state; an order cancelled inside a run updates the run;
a rating is credited to the driver who delivered the order; leaving a run's route corridor
is a route-deviation incident, at most one per 10 minutes of the run."""

from datetime import timedelta

from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from django.utils import formats, timezone
from django.utils.translation import gettext as _

from fleet.models import (
    Assignment,
    AssignmentStatus,
    Driver,
    Incident,
    IncidentOrigin,
    IncidentType,
)
from identity import catalogue
from identity.signals import role_assigned, user_deactivated, user_reactivated
from orders.models import Rating
from orders.signals import order_cancelled, order_cancelling
from tracking.signals import corridor_exited


@receiver(role_assigned)
def link_driver_record(sender, user, previous_role, **kwargs):
    if user.role.name == catalogue.DRIVER:
        from fleet import services

        services.driver_link_user(user=user)


@receiver(user_deactivated)
def deactivate_driver_record(sender, user, **kwargs):
    from fleet import services

    driver = Driver.objects.filter(user=user).first()
    if driver is not None:
        driver.user = user  # inactive already: the service does not deactivate it again
        services.driver_deactivate(driver=driver)


@receiver(user_reactivated)
def reactivate_driver_record(sender, user, **kwargs):
    from fleet import services

    driver = Driver.objects.filter(user=user, is_active=False).first()
    if driver is not None:
        driver.user = user
        services.driver_reactivate(driver=driver)


@receiver(order_cancelling)
def lock_runs_of_cancelled_order(sender, order, **kwargs):
    from fleet import services

    services.assignments_lock_for_order(order=order)


@receiver(order_cancelled)
def close_emptied_run(sender, order, **kwargs):
    from fleet import services

    services.assignment_order_cancelled(order=order)


@receiver(pre_save, sender=Rating)
def credit_rating_to_driver(sender, instance, **kwargs):
    if instance.driver_id is None:
        from fleet import selectors

        instance.driver_id = selectors.delivering_driver_id(order_id=instance.order_id)


# At most one route-deviation incident per 10 minutes of a run (docs/domain.md).
DEVIATION_INTERVAL = timedelta(minutes=10)


@receiver(corridor_exited)
def report_route_deviation(sender, assignment_id, event_id, at, lat, lng, **kwargs):
    """A system incident for a confirmed exit from the run's corridor, unless another exit
    less than 10 minutes away from it (by device time, either side: an offline batch comes
    late and may hold several) already raised one. The run row lock makes two concurrent
    exits of one run wait for each other."""
    from fleet import services
    from tracking import events

    with transaction.atomic():
        run = (
            Assignment.objects.select_for_update()
            .filter(pk=assignment_id, status=AssignmentStatus.IN_PROGRESS)
            .first()
        )
        if run is None:
            return
        linked = events.corridor_exit_incidents_near(
            assignment_id=run.pk, at=at, within=DEVIATION_INTERVAL
        )
        # A link whose incident never committed (the request failed after marking the
        # event) does not count.
        if Incident.objects.filter(pk__in=linked, type=IncidentType.ROUTE_DEVIATION).exists():
            return
        incident = services.incident_report(
            assignment=run,
            type=IncidentType.ROUTE_DEVIATION,
            origin=IncidentOrigin.SYSTEM,
            by=None,
            lat=lat,  # the first fix outside the corridor
            lng=lng,
            notes=_("Left the route corridor at %(at)s near %(lat).5f, %(lng).5f.")
            % {
                "at": formats.date_format(timezone.localtime(at), "DATETIME_FORMAT"),
                "lat": lat,
                "lng": lng,
            },
        )
        # Marked before the commit, inside the lock, so the next exit sees it.
        events.event_link_incident(event_id=event_id, incident_id=incident.pk)
