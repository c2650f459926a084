"""Incidents on runs: reporting (the dispatchers are told), edits, deletion, evidence."""

from functools import partial

from django.db import transaction
from django.utils.translation import gettext as _

from fleet.errors import ProofEvidenceError, RunClosedError
from fleet.models import Assignment, AssignmentStatus, Incident, IncidentOrigin
from fleet.services import locks
from identity import catalogue
from identity import services as identity_services
from identity.models import User
from rappi.errors import NotFoundError
from rappi.services import model_update
from tracking import evidence

Upload = tuple[str, bytes]  # (filename as sent, bytes)


def _notify_dispatchers(*, kind: str, title: str, body: str = "", data: dict) -> None:
    for user_id in User.objects.filter(role__name=catalogue.DISPATCHER, is_active=True).values_list(
        "pk", flat=True
    ):
        identity_services.notification_send(
            recipient_user_id=user_id, kind=kind, title=title, body=body, data=data
        )


@transaction.atomic
def incident_report(
    *,
    assignment: Assignment,
    type: str,
    notes: str = "",
    by: User | None,
    origin: str | None = None,
    severity: int | None = None,
    lat: float | None = None,
    lng: float | None = None,
) -> Incident:
    """Record an incident (and where it happened when the system knows it: `lat`/`lng`);
    severity follows from its type unless staff set it; the dispatchers are told. A driver
    reports on its runs still to be driven; staff (and the system) on any run but one
    cancelled before it started, which never happened."""
    assignment = locks.locked_run(assignment)
    if by is not None and not by.is_staff_member and assignment.status not in Assignment.ACTIVE:
        raise RunClosedError(
            _("Incidents are reported on a run still to be driven; tell dispatch about this one."),
            assignment_id=assignment.pk,
            status=assignment.status,
        )
    if assignment.status == AssignmentStatus.CANCELLED and assignment.started_at is None:
        raise RunClosedError(
            _("This run was cancelled before it started: nothing happened on it."),
            assignment_id=assignment.pk,
            status=assignment.status,
        )
    if origin is None:
        origin = (
            IncidentOrigin.DRIVER
            if by is not None and not by.is_staff_member
            else IncidentOrigin.STAFF
        )
    incident = Incident.objects.create(
        assignment=assignment,
        type=type,
        severity=severity or Incident.DEFAULT_SEVERITY[type],
        origin=origin,
        notes=notes,
        reported_by=by,
        lat=lat,
        lng=lng,
    )
    _notify_dispatchers(
        kind="incident.reported",
        title=_("Incident on run #%(id)s") % {"id": assignment.pk},
        body=incident.get_type_display(),
        data={"incident_id": incident.pk, "assignment_id": assignment.pk},
    )
    return incident


@transaction.atomic
def incident_update(*, incident: Incident, **changes) -> Incident:
    model_update(instance=incident, fields=("type", "severity", "notes"), data=changes)
    return incident


def incident_evidence_add(
    *, incident: Incident, kind: str, uploads: list[Upload], note: str = "", by: User
):
    """Attach files to an incident; they are purged with its run."""
    return evidence.evidence_store(
        kind=kind,
        uploads=uploads,
        uploaded_by=by.pk,
        incident_id=incident.pk,
        assignment_id=incident.assignment_id,
        note=note,
    )


@transaction.atomic
def incident_delete(*, incident: Incident) -> None:
    """Staff remove an incident; its evidence files go once the deletion has committed."""
    incident_id = incident.pk
    incident.delete()
    transaction.on_commit(
        partial(evidence.evidence_delete_for_incident, incident_id=incident_id), robust=True
    )


def incident_evidence_delete(*, incident: Incident, evidence_id: str, by: User) -> None:
    """Staff, or whoever uploaded it, delete one of an incident's files; to anyone else it
    does not exist (404). A proof of delivery stays with its run (409)."""
    record = next(
        (r for r in evidence.evidence_list(incident_id=incident.pk) if str(r.pk) == evidence_id),
        None,
    )
    if record is None or not (by.is_staff_member or record.uploaded_by == by.pk):
        raise NotFoundError()
    if record.destination_id is not None:
        raise ProofEvidenceError(evidence_id=evidence_id)
    evidence.evidence_delete(evidence=record)
