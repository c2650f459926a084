"""Proof of delivery: a drop-off delivered or failed with its photo (and signature), the
order and the run closing when done."""

import logging

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from fleet.errors import AssignmentNotInProgressError
from fleet.models import Assignment, AssignmentStatus, IncidentType, Stop, StopStatus
from fleet.services import locks
from fleet.services.incidents import Upload, incident_report
from fleet.services.routes import _STOP_FOR_DESTINATION
from fleet.services.runs import _close_run, _pending_pickups, order_close_if_done
from identity import services as identity_services
from identity.models import User
from orders.models import Destination, DestinationStatus, Order, OrderEventType, OrderStatus
from orders.timeline import destination_data
from rappi.errors import IllegalTransitionError, NotFoundError
from tracking import evidence

logger = logging.getLogger(__name__)


def _deliverable(*, assignment: Assignment, destination_id: int) -> tuple[Assignment, Order]:
    """Lock the run, then the destination's order (runs before orders, as start, cancel,
    finish, reopen and delete do); the destination must be a drop-off of the run."""
    destination = Destination.objects.filter(
        pk=destination_id, order__in=assignment.orders.all()
    ).first()
    if destination is None:
        raise NotFoundError(_("This run has no such destination."))
    assignment = locks.locked_run(assignment)
    order = Order.objects.select_for_update().get(pk=destination.order_id)
    if assignment.status != AssignmentStatus.IN_PROGRESS:
        raise AssignmentNotInProgressError(status=assignment.status)
    return assignment, order


def _pending_destination(destination_id: int, target: str) -> Destination:
    destination = Destination.objects.select_for_update().get(pk=destination_id)
    if destination.status != DestinationStatus.PENDING:
        raise IllegalTransitionError(
            _("This drop-off is already %(status)s.") % {"status": destination.status},
            current=destination.status,
            target=target,
            allowed=[],
        )
    return destination


def _settle(
    *, assignment: Assignment, order: Order, destination: Destination, by: User, **data
) -> None:
    """After a drop-off is delivered or failed: its stop is done, the customer is told, the
    order closes when all its drop-offs are, and the run when all its orders are. The
    drop-off's change is recorded on the order's timeline with `data` (with the closing)."""
    stop_status, now = _STOP_FOR_DESTINATION[destination.status], timezone.now()
    Stop.objects.filter(
        route__assignment=assignment, destination=destination, status=StopStatus.PENDING
    ).update(status=stop_status, visited_at=now)
    # Whatever was handed over (or tried) was collected: its pickup is made.
    _pending_pickups(assignment, order).update(status=StopStatus.VISITED, visited_at=now)
    delivered = destination.status == DestinationStatus.DELIVERED
    order = order_close_if_done(
        order=order,
        by=by,
        event=OrderEventType.DELIVERED if delivered else OrderEventType.FAILED,
        destination=destination,
        data={"assignment_id": assignment.pk, **destination_data(destination), **data},
    )
    customer_user_id = order.customer.user_id
    if customer_user_id:
        identity_services.notification_send(
            recipient_user_id=customer_user_id,
            kind="destination.delivered" if delivered else "destination.failed",
            title=(_("Delivered to %(name)s") if delivered else _("Delivery to %(name)s failed"))
            % {"name": destination.recipient_name},
            body=destination.received_by if delivered else destination.failure_reason,
            data={
                "order_id": order.pk,
                "destination_id": destination.pk,
                "order_status": order.status,
            },
        )
    open_orders = assignment.orders.exclude(
        status__in=[OrderStatus.DELIVERED, OrderStatus.CANCELLED]
    )
    if not open_orders.exists():
        _close_run(assignment)


def _store_proofs(items: list[dict]) -> list:
    """Store each evidence record; if one fails, the ones already stored are removed."""
    stored = []
    try:
        for item in items:
            stored.append(evidence.evidence_store(**item))
    except Exception:
        _discard_proofs(stored)
        raise
    return stored


def _discard_proofs(stored: list) -> None:
    for record in stored:
        try:
            evidence.evidence_delete(evidence=record)
        except Exception:  # cleanup must not hide the error that made it necessary
            logger.exception("Could not remove evidence %s of a refused delivery", record.pk)


def destination_deliver(
    *,
    assignment: Assignment,
    destination_id: int,
    received_by: str,
    photo: Upload,
    signature: Upload | None = None,
    lat: float | None = None,
    lng: float | None = None,
    by: User,
) -> Destination:
    """The driver hands a drop-off over: the photo (and signature) are stored as proof,
    the drop-off is delivered and its stop visited; the order and run close when done."""
    # Checked and re-encoded before any lock is taken: the slow part blocks nobody.
    photo_file, *signature_file = evidence.evidence_prepare(
        [photo] + ([signature] if signature is not None else [])
    )
    stored = []
    try:
        with transaction.atomic():
            assignment, order = _deliverable(assignment=assignment, destination_id=destination_id)
            destination = _pending_destination(destination_id, DestinationStatus.DELIVERED)
            owner = {
                "uploaded_by": by.pk,
                "destination_id": destination.pk,
                "assignment_id": assignment.pk,
                "order_id": order.pk,
                "lat": lat,
                "lng": lng,
            }
            proofs = [{"kind": "photo", "uploads": [photo_file], **owner}]
            if signature_file:
                proofs.append({"kind": "signature", "uploads": signature_file, **owner})
            stored = _store_proofs(proofs)
            destination.status = DestinationStatus.DELIVERED
            destination.delivered_at = timezone.now()
            destination.received_by = received_by
            destination.save(update_fields=["status", "delivered_at", "received_by"])
            _settle(
                assignment=assignment,
                order=order,
                destination=destination,
                by=by,
                received_by=received_by,
            )
    except Exception:
        _discard_proofs(stored)
        raise
    return destination


def destination_fail(
    *,
    assignment: Assignment,
    destination_id: int,
    reason: str,
    photo: Upload,
    lat: float | None = None,
    lng: float | None = None,
    by: User,
) -> Destination:
    """The driver could not hand a drop-off over: the photo is stored as proof (also as
    evidence of the `failed_delivery` incident recorded), the drop-off fails, its stop is
    skipped; the order and run close when done."""
    photo_files = evidence.evidence_prepare([photo])
    stored = []
    try:
        with transaction.atomic():
            assignment, order = _deliverable(assignment=assignment, destination_id=destination_id)
            destination = _pending_destination(destination_id, DestinationStatus.FAILED)
            incident = incident_report(
                assignment=assignment, type=IncidentType.FAILED_DELIVERY, notes=reason, by=by
            )
            stored = _store_proofs(
                [
                    {
                        "kind": "photo",
                        "uploads": photo_files,
                        "uploaded_by": by.pk,
                        "destination_id": destination.pk,
                        "assignment_id": assignment.pk,
                        "order_id": order.pk,
                        "incident_id": incident.pk,
                        "note": reason,
                        "lat": lat,
                        "lng": lng,
                    }
                ]
            )
            destination.status = DestinationStatus.FAILED
            destination.failure_reason = reason[:300]
            destination.save(update_fields=["status", "failure_reason"])
            _settle(
                assignment=assignment,
                order=order,
                destination=destination,
                by=by,
                reason=reason,
                incident_id=incident.pk,
            )
    except Exception:
        _discard_proofs(stored)
        raise
    return destination
