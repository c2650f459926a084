"""Route deviation (docs/domain.md, Tracking and geofences): a confirmed exit from a run's corridor, from the fixes its
driver sends, is a system `route_deviation` incident of severity 4 that the dispatchers
are told of; at most one per 10 minutes of the run, by device time, offline batches
included; a failure there never fails the ping request."""

import logging
import math
from datetime import timedelta
from decimal import Decimal
from functools import partial

import pytest
from bson import ObjectId
from django.db import IntegrityError, transaction
from django.utils import timezone

from fleet import services
from fleet.models import Assignment, AssignmentStatus, Incident
from fleet.tests.factories import VehicleFactory, driver_user
from identity.documents import Notification
from identity.tests.factories import UserFactory
from orders.tests.factories import CustomerFactory, make_order
from rappi.testing.concurrency import race
from tracking import geofences
from tracking.documents import GeofenceEvent
from tracking.signals import corridor_exited

PINGS = "/api/v1/tracking/pings"
# The run's route, as its corridor is drawn in these tests: 1.1 km due north.
LNG, LAT = -71.5369, -16.4038
NORTH_LINE = {"type": "LineString", "coordinates": [[LNG, -16.4088], [LNG, -16.3988]]}
METRES_PER_DEGREE_LNG = 6_371_008.8 * math.pi / 180 * math.cos(math.radians(-LAT))


def make_run(dispatcher) -> Assignment:
    """A run in progress since an hour ago whose corridor runs along NORTH_LINE."""
    _user, driver = driver_user()
    order = make_order(customer=CustomerFactory(), by=dispatcher)
    vehicle = VehicleFactory(capacity_kg=Decimal("500"))
    run = services.assignment_create(orders=[order], driver=driver, vehicle=vehicle, by=dispatcher)
    services.assignment_start(assignment=run, by=dispatcher)
    Assignment.objects.filter(pk=run.pk).update(started_at=timezone.now() - timedelta(hours=1))
    geofences.corridor_replace(assignment_id=run.pk, route_id=1, line=NORTH_LINE)
    return Assignment.objects.select_related("driver__user").get(pk=run.pk)


@pytest.fixture
def run(dispatcher):
    return make_run(dispatcher)


@pytest.fixture
def phone(client_for, run):
    return client_for(run.driver.user)


def fix(metres_east: float, *, seconds_ago: float) -> dict:
    return {
        "lat": LAT,
        "lng": LNG + metres_east / METRES_PER_DEGREE_LNG,
        "recorded_at": (timezone.now() - timedelta(seconds=seconds_ago)).isoformat(),
        "accuracy_m": 5,
    }


def detour(*, seconds_ago: float) -> list[dict]:
    """On the route, then off it: a corridor exit at `seconds_ago` (its first fix outside),
    confirmed by the third fix outside."""
    offsets = [0, 0, 150, 250, 350]
    return [fix(m, seconds_ago=seconds_ago + 20 - 10 * i) for i, m in enumerate(offsets)]


def send(phone, run, fixes):
    response = phone.post(PINGS, {"assignment_id": run.pk, "pings": fixes}, format="json")
    assert response.status_code == 202, response.content
    assert response.json()["accepted"] == len(fixes), response.json()
    return response


def deviations(run) -> list[Incident]:
    return list(Incident.objects.filter(assignment=run, type="route_deviation").order_by("pk"))


def corridor_exits(run) -> list[GeofenceEvent]:
    return list(
        GeofenceEvent.objects(
            assignment_id=run.pk, geofence_kind="route_corridor", type="exit"
        ).order_by("at")
    )


@pytest.mark.django_db
def test_leaving_the_corridor_is_one_system_deviation_the_dispatchers_hear_of(
    phone, run, dispatcher, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        send(phone, run, [*detour(seconds_ago=600), fix(450, seconds_ago=570)])
    [incident] = deviations(run)
    assert (incident.origin, incident.severity, incident.reported_by) == ("system", 4, None)
    assert incident.notes.startswith("Left the route corridor at ")
    [exit_] = corridor_exits(run)
    assert exit_.incident_id == incident.pk
    # Placed at the fix that left the corridor: the first of them outside, 150 m east.
    first_outside = detour(seconds_ago=600)[2]
    assert (incident.lat, incident.lng) == pytest.approx(
        (first_outside["lat"], first_outside["lng"]), abs=1e-7
    )
    assert exit_.location["coordinates"] == pytest.approx([incident.lng, incident.lat])
    [note] = Notification.objects(recipient_user_id=dispatcher.pk, kind="incident.reported")
    assert note.data == {"incident_id": incident.pk, "assignment_id": run.pk}


@pytest.mark.django_db
def test_a_second_exit_within_10_minutes_is_no_second_incident(phone, run):
    send(phone, run, detour(seconds_ago=1500))
    send(phone, run, detour(seconds_ago=1200))  # 5 minutes later
    assert len(corridor_exits(run)) == 2
    assert len(deviations(run)) == 1
    send(phone, run, detour(seconds_ago=850))  # 10 min 50 s after the first
    assert len(corridor_exits(run)) == 3
    assert len(deviations(run)) == 2
    assert [e.incident_id is not None for e in corridor_exits(run)] == [True, False, True]


@pytest.mark.django_db
@pytest.mark.parametrize(("minutes_apart", "incidents"), [(5, 1), (15, 2)])
def test_an_offline_batch_is_rate_limited_by_the_time_of_its_exits(
    phone, run, minutes_apart, incidents
):
    # Uploaded now, recorded 50 minutes ago onwards: wall-clock time would see one burst.
    first = 3000
    send(phone, run, detour(seconds_ago=first) + detour(seconds_ago=first - minutes_apart * 60))
    assert len(corridor_exits(run)) == 2
    assert len(deviations(run)) == incidents


def exit_event(run, *, at) -> str:
    event_id = ObjectId()
    GeofenceEvent._get_collection().insert_one(
        {
            "_id": event_id,
            "geofence_id": ObjectId(),
            "geofence_kind": "route_corridor",
            "driver_id": run.driver_id,
            "assignment_id": run.pk,
            "type": "exit",
            "at": at,
            "confirmed_at": at,
            "location": {"type": "Point", "coordinates": [LNG, LAT]},
            "received_at": timezone.now(),
            "incident_id": None,
        }
    )
    return str(event_id)


def announce(run, *, at, event_id):
    corridor_exited.send(
        sender=GeofenceEvent,
        assignment_id=run.pk,
        driver_id=run.driver_id,
        event_id=event_id,
        at=at,
        lat=LAT,
        lng=LNG,
    )


@pytest.mark.django_db
def test_a_late_exit_shortly_before_a_reported_one_is_no_second_incident(run):
    reported = timezone.now() - timedelta(minutes=5)
    announce(run, at=reported, event_id=exit_event(run, at=reported))
    earlier = reported - timedelta(minutes=9)
    announce(run, at=earlier, event_id=exit_event(run, at=earlier))
    assert len(deviations(run)) == 1
    much_earlier = reported - timedelta(minutes=11)
    announce(run, at=much_earlier, event_id=exit_event(run, at=much_earlier))
    assert len(deviations(run)) == 2


@pytest.mark.django_db
@pytest.mark.parametrize("status", [AssignmentStatus.FINISHED, AssignmentStatus.CANCELLED])
def test_a_run_no_longer_under_way_gets_no_deviation(run, status):
    Assignment.objects.filter(pk=run.pk).update(status=status)
    at = timezone.now()
    announce(run, at=at, event_id=exit_event(run, at=at))
    assert deviations(run) == []


@pytest.mark.django_db
def test_a_failing_deviation_report_never_fails_the_ping_request(phone, run, monkeypatch, caplog):
    def broken(**kwargs):
        raise RuntimeError("incident store down")

    monkeypatch.setattr(services, "incident_report", broken)
    with caplog.at_level(logging.ERROR):
        send(phone, run, detour(seconds_ago=600))
    assert len(corridor_exits(run)) == 1  # the event stays
    assert deviations(run) == []
    assert any("incident store down" in str(r.exc_info) for r in caplog.records if r.exc_info)
    # The failed report marked nothing: a later exit is reported.
    monkeypatch.undo()
    send(phone, run, detour(seconds_ago=500))
    assert len(deviations(run)) == 1


@pytest.mark.django_db(transaction=True)
def test_two_exits_of_one_run_racing_raise_one_incident():
    from identity import services as identity_services

    identity_services.roles_seed()
    run = make_run(UserFactory(role_name="dispatcher"))
    now = timezone.now()
    exits = [now - timedelta(minutes=m) for m in (3, 2)]
    race(*(partial(announce, run, at=at, event_id=exit_event(run, at=at)) for at in exits))
    assert len(deviations(run)) == 1
    assert sum(e.incident_id is not None for e in corridor_exits(run)) == 1


@pytest.mark.django_db
def test_an_exit_linked_to_an_incident_that_never_committed_does_not_suppress_the_next(phone, run):
    send(phone, run, detour(seconds_ago=1500))
    [incident] = deviations(run)
    # As if the first report's transaction had failed after marking its exit.
    Incident.objects.filter(pk=incident.pk).delete()
    send(phone, run, detour(seconds_ago=1200))
    assert len(deviations(run)) == 1


@pytest.mark.django_db
def test_the_api_shows_where_a_deviation_happened_and_no_position_for_a_reported_one(
    phone, run, client_for, dispatcher
):
    send(phone, run, detour(seconds_ago=600))
    [deviation] = deviations(run)
    reported = services.incident_report(assignment=run, type="traffic", by=dispatcher)
    staff = client_for(dispatcher)
    shown = staff.get(f"/api/v1/incidents/{deviation.pk}").json()
    assert (shown["lat"], shown["lng"]) == (deviation.lat, deviation.lng)
    assert shown["lat"] == pytest.approx(LAT)
    assert shown["lng"] > LNG  # east of the route
    shown = staff.get(f"/api/v1/incidents/{reported.pk}").json()
    assert (shown["lat"], shown["lng"]) == (None, None)
    # Read-only: an update cannot move it.
    staff.patch(f"/api/v1/incidents/{deviation.pk}", {"lat": 0, "lng": 0}, format="json")
    deviation.refresh_from_db()
    assert deviation.lat == pytest.approx(LAT)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("lat", "lng"), [(-16.4, None), (None, -71.5), (91.0, -71.5), (-16.4, 181.0)]
)
def test_the_database_keeps_an_incidents_position_whole_and_on_earth(run, dispatcher, lat, lng):
    incident = services.incident_report(assignment=run, type="traffic", notes="", by=dispatcher)
    with pytest.raises(IntegrityError), transaction.atomic():
        Incident.objects.filter(pk=incident.pk).update(lat=lat, lng=lng)
    Incident.objects.filter(pk=incident.pk).update(lat=-16.4, lng=-71.5)  # a whole one is kept
    assert Incident.objects.values_list("lat", "lng").get(pk=incident.pk) == (-16.4, -71.5)
