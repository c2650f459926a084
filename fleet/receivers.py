"""Reactions to identity's signals: a driver login always has its driver record, and the
record follows the login's active state."""

from django.dispatch import receiver
from django.utils import timezone

from fleet.models import Availability, Driver
from identity import catalogue
from identity.signals import role_assigned, user_deactivated, user_reactivated
from orders.signals import order_cancelled


@receiver(role_assigned)
def link_driver_record(sender, user, previous_role, **kwargs):
    if user.role.name == catalogue.DRIVER:
        from fleet import services

        services.driver_link_user(user=user)


@receiver(user_deactivated)
def deactivate_driver_record(sender, user, **kwargs):
    Driver.objects.filter(user=user).update(
        is_active=False, availability=Availability.INACTIVE, updated_at=timezone.now()
    )


@receiver(user_reactivated)
def reactivate_driver_record(sender, user, **kwargs):
    Driver.objects.filter(user=user, is_active=False).update(
        is_active=True, availability=Availability.AVAILABLE, updated_at=timezone.now()
    )


@receiver(order_cancelled)
def close_emptied_run(sender, order, **kwargs):
    from fleet import services

    services.assignment_order_cancelled(order=order)
