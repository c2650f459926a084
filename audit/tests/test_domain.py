"""Services record the domain actions that matter, with actor, target and old → new, and
only once their transaction has committed."""

from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client

from audit.services import audit_record
from fleet import services as fleet_services
from identity import services as identity_services
from identity.models import Role
from identity.tests.factories import UserFactory
from orders import services as order_services
from orders.models import Invoice, Rating, Tariff
from orders.tests.factories import CustomerFactory, make_order

pytestmark = pytest.mark.django_db


class Boom(Exception):
    pass


def test_a_committed_change_is_recorded_with_actor_target_and_old_and_new(
    admin, recorded, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        order_services.tariff_update(by=admin, base_fare=Decimal("6.50"))
    (record,) = recorded(kind="domain")
    assert (record.action, record.target_type, record.target_id) == (
        "tariff.update",
        "tariff",
        str(Tariff.SINGLETON_ID),
    )
    assert (record.user_id, record.username) == (admin.pk, admin.email)
    assert record.changes == {"base_fare": {"old": "5.00", "new": "6.50"}}


def test_an_on_time_target_is_edited_through_the_api_and_audited(
    admin, client_for, recorded, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).put(
            "/api/v1/tariff", {"target_minutes_urgent": 45}, format="json"
        )

    assert response.status_code == 200, response.content
    assert response.json()["target_minutes_urgent"] == 45
    assert Tariff.objects.get().target_minutes() == {"standard": 240, "express": 120, "urgent": 45}
    (record,) = recorded(kind="domain")
    assert record.changes == {"target_minutes_urgent": {"old": "60", "new": "45"}}


@pytest.mark.parametrize("minutes", [0, -5, 10081, "soon"])
def test_an_on_time_target_is_whole_minutes_up_to_a_week(admin, client_for, minutes):
    response = client_for(admin).put(
        "/api/v1/tariff", {"target_minutes_standard": minutes}, format="json"
    )

    assert response.status_code == 400
    assert "target_minutes_standard" in response.json()["error"]["details"]["fields"]


def test_a_rolled_back_change_is_not_recorded(admin, recorded, django_capture_on_commit_callbacks):
    def change_then_fail():
        with transaction.atomic():
            order_services.tariff_update(by=admin, base_fare=Decimal("7.00"))
            raise Boom

    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Boom):
        change_then_fail()
    assert callbacks == []
    assert recorded(kind="domain") == []


def test_a_record_waits_for_the_commit(admin, recorded):
    # The test's own transaction never commits: the record stays pending, unwritten.
    order_services.tariff_update(by=admin, base_fare=Decimal("6.00"))
    assert recorded(kind="domain") == []


def test_the_api_request_and_its_domain_record_are_linked(
    client_for, admin, recorded, django_capture_on_commit_callbacks
):
    role = Role.objects.get(name="dispatcher")
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(admin).put(
            f"/api/v1/roles/{role.pk}/permissions", {"permissions": ["orders:read"]}, format="json"
        )
    assert response.status_code == 200, response.content
    (record,) = recorded(kind="domain")
    assert record.action == "role.permissions_set"
    assert record.user_id == admin.pk
    assert record.request_id == response["X-Request-ID"]
    assert record.changes["permissions"]["new"] == ["orders:read"]
    assert "audit:read" in record.changes["permissions"]["old"]


def test_identity_changes_are_recorded(admin, recorded, django_capture_on_commit_callbacks):
    user = UserFactory(role_name="customer")
    with django_capture_on_commit_callbacks(execute=True):
        identity_services.user_update(user=user, by=admin, role="dispatcher")
        identity_services.user_deactivate(user=user, by=admin)
        role = identity_services.role_create(name="auditor", permissions=["audit:read"], by=admin)
        identity_services.role_update(role=role, by=admin, description="Reads the log")
        identity_services.role_delete(role=role, by=admin)
    records = recorded(kind="domain")
    assert [(r.action, r.changes) for r in records] == [
        ("user.role_change", {"role": {"old": "customer", "new": "dispatcher"}}),
        ("user.deactivate", {"is_active": {"old": True, "new": False}}),
        ("role.create", {"name": {"old": None, "new": "auditor"}}),
        ("role.permissions_set", {"permissions": {"old": [], "new": ["audit:read"]}}),
        ("role.update", {"description": {"old": "", "new": "Reads the log"}}),
        ("role.delete", {"name": {"old": "auditor", "new": None}}),
    ]
    assert {r.user_id for r in records} == {admin.pk}


def test_a_price_adjustment_and_a_manual_payment_are_recorded(
    admin, recorded, django_capture_on_commit_callbacks
):
    order = make_order(customer=CustomerFactory(), by=admin)
    total = order.total
    with django_capture_on_commit_callbacks(execute=True):
        order = order_services.order_adjust_price(
            order=order, amount=Decimal("-1.00"), reason="goodwill", by=admin
        )
        payment = order_services.payment_record_manual(
            order=order, amount=order.total, reference="cash 001", by=admin
        )
    adjusted, paid = recorded(kind="domain")
    assert (adjusted.action, adjusted.target_type, adjusted.target_id) == (
        "order.price_adjust",
        "order",
        str(order.pk),
    )
    assert adjusted.changes["price_adjustment"] == {"old": "0.00", "new": "-1.00"}
    assert adjusted.changes["total"] == {"old": str(total), "new": str(total - 1)}
    assert (paid.action, paid.target_id) == ("payment.manual", str(payment.pk))
    assert paid.changes["amount"] == {"old": None, "new": str(order.total)}


def _invoice(by) -> Invoice:
    order = make_order(customer=CustomerFactory(), by=by)
    order_services.payment_record_manual(order=order, amount=order.total, reference="c", by=by)
    return order_services.invoice_create(
        order=order, ruc="20100070970", business_name="Acme SAC", by=by
    )


def test_an_invoice_deleted_through_the_api_or_the_admin_is_recorded(
    admin, client_for, recorded, django_capture_on_commit_callbacks
):
    by_api, by_admin_page, by_admin_action = (_invoice(admin) for _ in range(3))
    admin_site = Client(headers={"accept-language": "en"})
    admin_site.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        deleted = client_for(admin).delete(f"/api/v1/invoices/{by_api.pk}")
        page = admin_site.post(f"/admin/orders/invoice/{by_admin_page.pk}/delete/", {"post": "yes"})
        action = admin_site.post(
            "/admin/orders/invoice/",
            {"action": "delete_selected", "_selected_action": [by_admin_action.pk], "post": "yes"},
        )

    assert deleted.status_code == 204, deleted.content
    assert page.status_code == 302
    assert action.status_code == 302
    assert not Invoice.objects.exists()
    records = recorded(kind="domain", action="invoice.delete")
    assert [r.target_id for r in records] == [
        str(i.pk) for i in (by_api, by_admin_page, by_admin_action)
    ]
    assert {r.user_id for r in records} == {admin.pk}
    assert records[0].changes["number"] == {"old": by_api.number, "new": None}
    assert records[0].changes["order_id"] == {"old": by_api.order_id, "new": None}
    assert records[0].changes["amount"] == {"old": str(by_api.amount), "new": None}


def test_a_rating_deleted_through_the_admin_is_recorded(
    admin, recorded, django_capture_on_commit_callbacks
):
    by_page, by_action = (
        Rating.objects.create(
            order=make_order(customer=CustomerFactory(), by=admin), score=score, comment="late"
        )
        for score in (2, 5)
    )
    admin_site = Client(headers={"accept-language": "en"})
    admin_site.force_login(admin)
    with django_capture_on_commit_callbacks(execute=True):
        page = admin_site.post(f"/admin/orders/rating/{by_page.pk}/delete/", {"post": "yes"})
        action = admin_site.post(
            "/admin/orders/rating/",
            {"action": "delete_selected", "_selected_action": [by_action.pk], "post": "yes"},
        )

    assert page.status_code == 302
    assert action.status_code == 302
    assert not Rating.objects.exists()
    records = recorded(kind="domain", action="rating.delete")
    assert [r.target_id for r in records] == [str(by_page.pk), str(by_action.pk)]
    assert {r.user_id for r in records} == {admin.pk}
    assert records[0].changes["order_id"] == {"old": by_page.order_id, "new": None}
    assert records[0].changes["score"] == {"old": 2, "new": None}
    assert records[0].changes["comment"] == {"old": "late", "new": None}


def test_a_forced_finish_and_a_reopening_are_recorded(
    admin, recorded, django_capture_on_commit_callbacks
):
    from fleet.tests.factories import VehicleFactory, driver_user

    _user, driver = driver_user()
    run = fleet_services.assignment_create(
        orders=[make_order(customer=CustomerFactory(), by=admin)],
        driver=driver,
        vehicle=VehicleFactory(),
        by=admin,
    )
    fleet_services.assignment_start(assignment=run, by=admin)
    with django_capture_on_commit_callbacks(execute=True):
        fleet_services.assignment_finish(assignment=run, reason="vehicle broke down", by=admin)
        fleet_services.assignment_reopen(assignment=run)
    finished, reopened = recorded(kind="domain")
    assert (finished.action, finished.target_id, finished.user_id) == (
        "assignment.force_finish",
        str(run.pk),
        admin.pk,
    )
    assert finished.changes["status"] == {"old": "in_progress", "new": "finished"}
    assert reopened.action == "assignment.reopen"
    assert reopened.changes["status"] == {"old": "finished", "new": "in_progress"}
    assert reopened.user_id is None  # no request: the system acted


def test_secrets_in_changes_are_redacted(recorded, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        audit_record(action="user.update", target=UserFactory(), changes={"password": ("a", "b")})
    (record,) = recorded(kind="domain")
    assert record.changes == {"password": {"old": "[redacted]", "new": "[redacted]"}}
