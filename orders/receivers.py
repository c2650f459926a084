"""Reactions to identity's signals: a customer login always has its customer record, and
the record follows the login's active state and email."""

from django.dispatch import receiver

from identity import catalogue
from identity.signals import (
    role_assigned,
    user_deactivated,
    user_email_changed,
    user_reactivated,
)
from orders.models import Customer


@receiver(role_assigned)
def link_customer_record(sender, user, previous_role, by=None, **kwargs):
    if user.role.name == catalogue.CUSTOMER:
        from orders import services  # at call time: services pull in the provider clients

        # Only staff vouch that a login is the walk-in customer with the same email;
        # a self-registration with that email gets a record of its own.
        staff = by is not None and by.is_staff_member
        services.customer_link_user(user=user, link_by_email=staff)


@receiver(user_deactivated)
def deactivate_customer_record(sender, user, **kwargs):
    Customer.objects.filter(user=user).update(is_active=False)


@receiver(user_reactivated)
def reactivate_customer_record(sender, user, **kwargs):
    Customer.objects.filter(user=user).update(is_active=True)


@receiver(user_email_changed)
def follow_login_email(sender, user, **kwargs):
    from orders import services  # at call time, as above

    services.customer_follow_user_email(user=user)
