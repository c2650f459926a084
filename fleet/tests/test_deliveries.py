"""Proof of delivery over the API: deliver and fail with photos (multipart, stored in
GridFS), order and run closing, idempotent retries, limits, scoped downloads, incident
evidence and purging with the run."""

import io
import threading
import time
from decimal import Decimal

import pytest
from PIL import Image

from fleet import services
from fleet.models import Assignment, Driver, Incident, Stop, StopStatus
from fleet.tests.factories import VehicleFactory, driver_user
from fleet.tests.helpers import assert_untouched, deliver, drops_of, photo
from identity.documents import Notification
from identity.tests.factories import UserFactory, signed_in_client
from orders.models import Destination, Order, Rating
from orders.tests.factories import customer_user, drop, make_order
from rappi.testing.concurrency import deadlocked, race
from tracking.documents import Evidence
from tracking.tests.factories import PDF_BYTES, camera_jpeg, small_jpeg
from tracking.tests.helpers import gridfs_count

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(dispatcher):
    """A run in progress: order A (two drops) of customer A, order B (one drop) of
    customer B; the route is planned."""
    user, driver = driver_user()
    cust_a_user, cust_a = customer_user()
    cust_b_user, cust_b = customer_user()
    order_a = make_order(customer=cust_a, by=dispatcher, drops=[drop(), drop(lat="-16.4100")])
    order_b = make_order(customer=cust_b, by=dispatcher)
    assignment = services.assignment_create(
        orders=[order_a, order_b],
        driver=driver,
        vehicle=VehicleFactory(capacity_kg=Decimal("500")),
        by=dispatcher,
    )
    services.assignment_start(assignment=assignment, by=dispatcher)
    return {
        "assignment": assignment,
        "driver": driver,
        "user": user,
        "orders": [order_a, order_b],
        "customers": [cust_a_user, cust_b_user],
    }


def fail(client, run, destination, **fields):
    body = {"reason": "Nobody home", "photo": photo()} | fields
    return client.post(
        f"/api/v1/assignments/{run['assignment'].pk}/destinations/{destination.pk}/fail",
        body,
        format="multipart",
    )


# --- the whole run -------------------------------------------------------------------------------


def test_delivering_every_drop_closes_orders_and_run(
    client_for, run, django_capture_on_commit_callbacks
):
    driver = client_for(run["user"])
    order_a, order_b = run["orders"]
    first, second = drops_of(order_a)

    with django_capture_on_commit_callbacks(execute=True):
        response = deliver(driver, run, first, lat="-16.40", lng="-71.53")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "delivered"
    assert body["received_by"] == "Marta Ccama"
    assert body["order_status"] == "in_transit"
    assert body["assignment_status"] == "in_progress"
    assert len(body["proofs"]) == 1
    assert body["proofs"][0]["kind"] == "photo"
    assert body["proofs"][0]["lat"] == -16.40
    assert body["proofs"][0]["files"][0]["url"].startswith("/api/v1/files/")
    stop = first.stops.get()
    assert stop.status == StopStatus.VISITED
    assert stop.visited_at is not None
    customer_a = run["customers"][0]
    assert (
        Notification.objects(recipient_user_id=customer_a.pk, kind="destination.delivered").count()
        == 1
    )

    assert deliver(driver, run, second).json()["order_status"] == "delivered"
    last = deliver(driver, run, drops_of(order_b)[0]).json()
    assert last["order_status"] == "delivered"
    assert last["assignment_status"] == "finished"
    assert Driver.objects.get(pk=run["driver"].pk).availability == "available"
    assert Assignment.objects.get(pk=run["assignment"].pk).finished_at is not None
    assert gridfs_count() == 3


def test_partial_delivery_delivers_the_order_and_records_the_failure(client_for, run):
    driver = client_for(run["user"])
    first, second = drops_of(run["orders"][0])
    deliver(driver, run, first)
    response = fail(driver, run, second, reason="Gate locked")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "failed"
    assert body["failure_reason"] == "Gate locked"
    assert body["order_status"] == "delivered"
    assert second.stops.get().status == StopStatus.SKIPPED
    incident = Incident.objects.get(assignment=run["assignment"], type="failed_delivery")
    assert incident.notes == "Gate locked"
    assert incident.origin == "driver"
    # The failure photo is the incident's evidence too.
    assert Evidence.objects(incident_id=incident.pk).count() == 1
    assert body["proofs"][0]["incident_id"] == incident.pk


def test_all_failed_cancels_the_orders_and_finishes_the_run(client_for, run):
    driver = client_for(run["user"])
    for order in run["orders"]:
        for destination in drops_of(order):
            assert fail(driver, run, destination).status_code == 200
    assert set(Order.objects.values_list("status", flat=True)) == {"cancelled"}
    assert Assignment.objects.get(pk=run["assignment"].pk).status == "finished"
    assert Driver.objects.get(pk=run["driver"].pk).availability == "available"


def test_signature_is_a_second_proof(client_for, run):
    first = drops_of(run["orders"][0])[0]
    response = deliver(client_for(run["user"]), run, first, signature=photo("sig.png", _png()))
    kinds = sorted(proof["kind"] for proof in response.json()["proofs"])
    assert kinds == ["photo", "signature"]
    signature = Evidence.objects(kind="signature").get()
    assert signature.files[0].content_type == "image/jpeg"  # re-encoded


def _png() -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (40, 20), (0, 0, 0, 0)).save(out, "PNG")
    return out.getvalue()


def test_stored_photo_has_no_exif_or_gps_and_is_resized(client_for, run):
    first = drops_of(run["orders"][0])[0]
    body = deliver(client_for(run["user"]), run, first, photo=photo(data=camera_jpeg())).json()
    url = body["proofs"][0]["files"][0]["url"]
    download = client_for(run["user"]).get(url)
    assert download.status_code == 200
    data = b"".join(download.streaming_content)
    image = Image.open(io.BytesIO(data))
    assert max(image.size) <= 1600
    assert image.size[1] > image.size[0]  # orientation applied
    assert not image.getexif()
    assert b"secret" not in data
    assert b"PhoneCo" not in data


# --- refusals leave nothing behind -------------------------------------------------------------


def test_photo_is_required(client_for, run):
    first = drops_of(run["orders"][0])[0]
    response = deliver(client_for(run["user"]), run, first, photo=None)
    assert response.status_code == 400
    assert "photo" in response.json()["error"]["details"]["fields"]
    assert_untouched(first)


def test_half_a_position_is_refused(client_for, run):
    first = drops_of(run["orders"][0])[0]
    response = deliver(client_for(run["user"]), run, first, lat="-16.4")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"
    assert_untouched(first)


def test_type_is_checked_from_the_bytes(client_for, run):
    first = drops_of(run["orders"][0])[0]
    fake = photo("door.jpg", b"#!/bin/sh\necho not a photo\n")
    response = deliver(client_for(run["user"]), run, first, photo=fake)
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_file_type"
    assert_untouched(first)


def test_a_pdf_is_kept_as_sent(client_for, run):
    first = drops_of(run["orders"][0])[0]
    response = deliver(client_for(run["user"]), run, first, photo=photo("note.pdf", PDF_BYTES))
    assert response.json()["proofs"][0]["files"][0]["content_type"] == "application/pdf"


def test_file_over_the_limit_is_413(client_for, run, settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 200
    first = drops_of(run["orders"][0])[0]
    response = deliver(client_for(run["user"]), run, first)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert_untouched(first)


def test_request_over_the_limit_is_refused_before_parsing(client_for, run, settings):
    settings.EVIDENCE_MAX_REQUEST_BYTES = 1000
    first = drops_of(run["orders"][0])[0]
    big = photo(data=b"\xff\xd8\xff" + b"0" * 200_000)
    response = deliver(client_for(run["user"]), run, first, photo=big)
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "payload_too_large"
    assert_untouched(first)


def test_json_body_is_415(client_for, run):
    first = drops_of(run["orders"][0])[0]
    response = client_for(run["user"]).post(
        f"/api/v1/assignments/{run['assignment'].pk}/destinations/{first.pk}/deliver",
        {"received_by": "x"},
        format="json",
    )
    assert response.status_code == 415


def test_delivering_twice_is_a_conflict(client_for, run):
    driver = client_for(run["user"])
    first = drops_of(run["orders"][0])[0]
    deliver(driver, run, first)
    again = deliver(driver, run, first)
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "illegal_transition"
    assert gridfs_count() == 1


def test_run_not_started_is_a_conflict(client_for, dispatcher):
    user, driver = driver_user()
    order = make_order(customer=customer_user()[1], by=dispatcher)
    assignment = services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    response = deliver(client_for(user), {"assignment": assignment}, drops_of(order)[0])
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "assignment_not_in_progress"
    assert gridfs_count() == 0


def test_other_driver_and_foreign_destination_are_404(client_for, run, dispatcher):
    other_user, _driver = driver_user()
    first = drops_of(run["orders"][0])[0]
    assert deliver(client_for(other_user), run, first).status_code == 404
    stranger = drops_of(make_order(customer=customer_user()[1], by=dispatcher))[0]
    assert deliver(client_for(run["user"]), run, stranger).status_code == 404
    assert_untouched(first)


def test_idempotent_retry_stores_nothing_twice(client_for, run):
    driver = client_for(run["user"])
    first = drops_of(run["orders"][0])[0]
    data = small_jpeg()
    headers = {"Idempotency-Key": "deliver-1"}
    one = deliver(driver, run, first, photo=photo(data=data), headers=headers)
    two = deliver(driver, run, first, photo=photo(data=data), headers=headers)
    assert one.status_code == two.status_code == 200
    assert two.headers["Idempotent-Replayed"] == "true"
    assert one.json() == two.json()
    assert gridfs_count() == 1
    assert Evidence.objects.count() == 1


# --- who sees the proofs -------------------------------------------------------------------------


@pytest.fixture
def delivered(client_for, run):
    first = drops_of(run["orders"][0])[0]
    body = deliver(client_for(run["user"]), run, first).json()
    return run | {"url": body["proofs"][0]["files"][0]["url"]}


def test_download_scope(client_for, delivered, dispatcher):
    customer_a, customer_b = delivered["customers"]
    allowed = [dispatcher, delivered["user"], customer_a]
    for user in allowed:
        response = client_for(user).get(delivered["url"])
        assert response.status_code == 200, user.email
        assert response["Content-Type"] == "image/jpeg"
        assert response["Content-Disposition"].startswith("attachment")
        assert response["X-Content-Type-Options"] == "nosniff"
    other_driver, _ = driver_user()
    stranger, _ = customer_user()
    # Customer B rides in the same run, but the proof is of customer A's order.
    for user in (customer_b, other_driver, stranger):
        response = client_for(user).get(delivered["url"])
        assert response.status_code == 404, user.email
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("file_id", ["0" * 24, "not-an-id", "zz" * 12])
def test_unknown_file_is_404(client_for, dispatcher, file_id):
    assert client_for(dispatcher).get(f"/api/v1/files/{file_id}").status_code == 404


def test_proof_lists(client_for, delivered, dispatcher):
    assignment_id = delivered["assignment"].pk
    order_a, order_b = delivered["orders"]
    customer_a, customer_b = delivered["customers"]
    for user in (dispatcher, delivered["user"]):
        proofs = client_for(user).get(f"/api/v1/assignments/{assignment_id}/proofs").json()
        assert [p["order_id"] for p in proofs] == [order_a.pk]
    # Customers hold no `assignments:read`: their proofs come through their orders.
    assert (
        client_for(customer_a).get(f"/api/v1/assignments/{assignment_id}/proofs").status_code == 403
    )
    mine = client_for(customer_a).get(f"/api/v1/orders/{order_a.pk}/proofs")
    assert mine.status_code == 200
    assert len(mine.json()) == 1
    assert client_for(customer_b).get(f"/api/v1/orders/{order_a.pk}/proofs").status_code == 404
    assert client_for(customer_b).get(f"/api/v1/orders/{order_b.pk}/proofs").json() == []


# --- incident evidence ---------------------------------------------------------------------------


def test_incident_evidence_upload_list_download_delete(client_for, run, dispatcher):
    driver = client_for(run["user"])
    incident = driver.post(
        "/api/v1/incidents/",
        {"assignment_id": run["assignment"].pk, "type": "damaged_package"},
        format="json",
    ).json()
    path = f"/api/v1/incidents/{incident['id']}/evidence"
    created = driver.post(
        path,
        {"files": [photo("a.jpg"), photo("b.pdf", PDF_BYTES)], "kind": "photo", "note": "box"},
        format="multipart",
    )
    assert created.status_code == 201, created.content
    record = created.json()
    assert len(record["files"]) == 2
    assert record["incident_id"] == incident["id"]
    assert [r["id"] for r in client_for(dispatcher).get(path).json()] == [record["id"]]
    url = record["files"][1]["url"]
    assert driver.get(url).status_code == 200
    customer = run["customers"][0]
    assert client_for(customer).get(url).status_code == 404  # customers see no incidents
    other_user, _ = driver_user()
    assert client_for(other_user).get(path).status_code == 404
    assert client_for(other_user).delete(f"{path}/{record['id']}").status_code == 404

    assert client_for(dispatcher).delete(f"{path}/{record['id']}").status_code == 204
    assert client_for(dispatcher).get(path).json() == []
    assert gridfs_count() == 0


def test_incident_evidence_needs_files(client_for, run):
    incident = services.incident_report(
        assignment=run["assignment"], type="traffic", by=run["user"]
    )
    response = client_for(run["user"]).post(
        f"/api/v1/incidents/{incident.pk}/evidence", {"note": "x"}, format="multipart"
    )
    assert response.status_code == 400
    assert "files" in response.json()["error"]["details"]["fields"]


# --- the run's end -------------------------------------------------------------------------------


def _finish_by_delivering(client_for, run):
    driver = client_for(run["user"])
    for order in run["orders"]:
        for destination in drops_of(order):
            deliver(driver, run, destination)


def test_deleting_a_run_purges_its_proofs(
    client_for, run, dispatcher, django_capture_on_commit_callbacks
):
    _finish_by_delivering(client_for, run)
    services.incident_evidence_add(
        incident=services.incident_report(
            assignment=run["assignment"], type="other", by=dispatcher
        ),
        kind="document",
        uploads=[("n.pdf", PDF_BYTES)],
        by=dispatcher,
    )
    assert Evidence.objects.count() == 4
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(dispatcher).delete(f"/api/v1/assignments/{run['assignment'].pk}")
    assert response.status_code == 204
    assert Evidence.objects.count() == 0
    assert gridfs_count() == 0
    # Delivered orders stay delivered: only unstarted work goes back to pending.
    assert set(Order.objects.values_list("status", flat=True)) == {"delivered"}


def test_rating_is_credited_to_the_delivering_driver(client_for, run):
    _finish_by_delivering(client_for, run)
    order = run["orders"][0]
    response = client_for(run["customers"][0]).post(
        f"/api/v1/orders/{order.pk}/rating", {"score": 5, "comment": "fast"}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["driver_id"] == run["driver"].pk
    assert Rating.objects.get().driver_id == run["driver"].pk
    ratings = client_for(run["user"]).get(f"/api/v1/drivers/{run['driver'].pk}/ratings").json()
    assert ratings["count"] == 1
    assert ratings["average"] == 5


def test_cancelling_an_order_inside_a_run_skips_its_stops(client_for, run, dispatcher):
    order_a, order_b = run["orders"]
    deliver(client_for(run["user"]), run, drops_of(order_b)[0])
    response = client_for(dispatcher).post(
        f"/api/v1/orders/{order_a.pk}/cancel", {"reason": "customer moved"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert set(Destination.objects.filter(order=order_a).values_list("status", flat=True)) == {
        "failed"
    }
    assert {stop.status for d in drops_of(order_a) for stop in d.stops.all()} == {"skipped"}
    # The run had delivered order B: it ends finished, not cancelled, and the driver is free.
    assert Assignment.objects.get(pk=run["assignment"].pk).status == "finished"
    assert Driver.objects.get(pk=run["driver"].pk).availability == "available"


def _two_pickup_run(dispatcher):
    """A run in progress: order A collected at the Plaza, order B a few blocks away."""
    user, driver = driver_user()
    order_a = make_order(customer=customer_user()[1], by=dispatcher)
    order_b = make_order(customer=customer_user()[1], by=dispatcher, drops=[drop(lat="-16.4100")])
    Order.objects.filter(pk=order_b.pk).update(
        origin_lat=Decimal("-16.3900"), origin_lng=Decimal("-71.5400")
    )
    assignment = services.assignment_create(
        orders=[order_a, Order.objects.get(pk=order_b.pk)],
        driver=driver,
        vehicle=VehicleFactory(),
        by=dispatcher,
    )
    services.assignment_start(assignment=assignment, by=dispatcher)
    return {"assignment": assignment, "user": user, "orders": [order_a, order_b]}


def stop_states(run) -> dict[tuple[str, int | None], str]:
    """(kind, order id) → status of each stop of the run's route."""
    route = Assignment.objects.get(pk=run["assignment"].pk).route
    return {(stop.kind, stop.order_id): stop.status for stop in route.stops.all()}


def test_a_delivered_or_failed_drop_off_marks_its_pickup_visited(client_for, dispatcher):
    run = _two_pickup_run(dispatcher)
    order_a, order_b = run["orders"]
    assert set(stop_states(run).values()) == {"pending"}
    deliver(client_for(run["user"]), run, drops_of(order_a)[0])
    assert stop_states(run)[("pickup", order_a.pk)] == "visited"
    assert stop_states(run)[("pickup", order_b.pk)] == "pending"  # not collected yet
    fail(client_for(run["user"]), run, drops_of(order_b)[0])
    assert Assignment.objects.get(pk=run["assignment"].pk).status == "finished"
    assert stop_states(run) == {
        ("pickup", order_a.pk): "visited",
        ("pickup", order_b.pk): "visited",
        ("delivery", order_a.pk): "visited",
        ("delivery", order_b.pk): "skipped",
    }


def test_a_run_closed_by_cancelling_its_last_order_leaves_no_stop_pending(client_for, dispatcher):
    run = _two_pickup_run(dispatcher)
    order_a, order_b = run["orders"]
    deliver(client_for(run["user"]), run, drops_of(order_a)[0])
    client_for(dispatcher).post(
        f"/api/v1/orders/{order_b.pk}/cancel", {"reason": "x"}, format="json"
    )
    assert Assignment.objects.get(pk=run["assignment"].pk).status == "finished"
    assert stop_states(run) == {
        ("pickup", order_a.pk): "visited",
        ("pickup", order_b.pk): "skipped",  # never collected: its order was called off
        ("delivery", order_a.pk): "visited",
        ("delivery", order_b.pk): "skipped",
    }


def test_a_forced_finish_leaves_no_stop_pending_and_reopening_brings_the_drops_back(
    client_for, dispatcher
):
    run = _two_pickup_run(dispatcher)
    order_a, order_b = run["orders"]
    driver, staff = client_for(run["user"]), client_for(dispatcher)
    fail(driver, run, drops_of(order_a)[0])
    finished = staff.post(
        f"/api/v1/assignments/{run['assignment'].pk}/finish", {"reason": "Avería"}, format="json"
    )
    assert finished.status_code == 200, finished.content
    assert stop_states(run) == {
        ("pickup", order_a.pk): "visited",
        ("pickup", order_b.pk): "visited",
        ("delivery", order_a.pk): "skipped",
        ("delivery", order_b.pk): "skipped",
    }
    reopened = staff.post(f"/api/v1/assignments/{run['assignment'].pk}/reopen", {}, format="json")
    assert reopened.status_code == 200, reopened.content
    assert stop_states(run)[("delivery", order_a.pk)] == "pending"
    assert stop_states(run)[("delivery", order_b.pk)] == "pending"
    assert deliver(driver, run, drops_of(order_a)[0]).status_code == 200
    assert stop_states(run)[("delivery", order_a.pk)] == "visited"


def test_admin_shows_proofs_route_and_downloads(client, client_for, delivered):
    client.force_login(UserFactory(role_name="admin"))
    page = client.get(f"/admin/fleet/assignment/{delivered['assignment'].pk}/change/")
    assert page.status_code == 200
    file_id = delivered["url"].rsplit("/", 1)[1]
    admin_url = f"/admin/fleet/assignment/evidence/{file_id}/"
    assert admin_url in page.content.decode()
    download = client.get(admin_url)
    assert download.status_code == 200
    assert download["Content-Type"] == "image/jpeg"
    assert client.get("/admin/fleet/assignment/evidence/" + "0" * 24 + "/").status_code == 404
    route = delivered["assignment"].route
    route_page = client.get(f"/admin/fleet/route/{route.pk}/change/")
    assert route_page.status_code == 200
    assert "delivery" in route_page.content.decode().lower()
    assert client.get("/admin/fleet/route/").status_code == 200


# --- review regressions --------------------------------------------------------------------------


def test_deleting_an_old_cancelled_run_leaves_the_order_in_its_new_run(dispatcher, client_for):
    _user, driver = driver_user()
    order = make_order(customer=customer_user()[1], by=dispatcher)
    old = services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    services.assignment_cancel(assignment=old)
    new = services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    assert client_for(dispatcher).delete(f"/api/v1/assignments/{old.pk}").status_code == 204
    assert Order.objects.get(pk=order.pk).status == "assigned"
    assert Driver.objects.get(pk=driver.pk).availability == "busy"
    assert Assignment.objects.get(pk=new.pk).status == "assigned"


def test_a_failure_photo_cannot_be_deleted_through_its_incident(client_for, run, dispatcher):
    second = drops_of(run["orders"][0])[1]
    body = fail(client_for(run["user"]), run, second).json()
    proof = body["proofs"][0]
    path = f"/api/v1/incidents/{proof['incident_id']}/evidence/{proof['id']}"
    for user in (run["user"], dispatcher):
        response = client_for(user).delete(path)
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "proof_of_delivery"
    assert Evidence.objects.count() == 1


def test_incident_evidence_is_deleted_by_staff_or_its_uploader_only(client_for, run, dispatcher):
    incident = services.incident_report(assignment=run["assignment"], type="traffic", by=dispatcher)
    by_staff, by_driver = (
        services.incident_evidence_add(
            incident=incident, kind="photo", uploads=[("x.jpg", small_jpeg())], by=user
        )
        for user in (dispatcher, run["user"])
    )
    driver, staff = client_for(run["user"]), client_for(dispatcher)
    path = f"/api/v1/incidents/{incident.pk}/evidence/"

    refused = driver.delete(path + str(by_staff.pk))
    assert refused.status_code == 404  # the driver may not tell it exists
    assert refused.json()["error"]["code"] == "not_found"
    assert driver.delete(path + str(by_driver.pk)).status_code == 204
    assert staff.delete(path + str(by_staff.pk)).status_code == 204
    assert staff.delete(path + str(by_staff.pk)).status_code == 404
    assert Evidence.objects.count() == 0


def test_deleting_an_incident_removes_its_files_but_keeps_proofs(
    client_for, run, dispatcher, django_capture_on_commit_callbacks
):
    second = drops_of(run["orders"][0])[1]
    proof = fail(client_for(run["user"]), run, second).json()["proofs"][0]
    other = services.incident_report(assignment=run["assignment"], type="traffic", by=dispatcher)
    services.incident_evidence_add(
        incident=other, kind="photo", uploads=[("x.jpg", small_jpeg())], by=dispatcher
    )
    staff = client_for(dispatcher)
    with django_capture_on_commit_callbacks(execute=True):
        assert staff.delete(f"/api/v1/incidents/{other.pk}").status_code == 204
        assert staff.delete(f"/api/v1/incidents/{proof['incident_id']}").status_code == 204
    remaining = Evidence.objects.get()
    assert str(remaining.pk) == proof["id"]
    assert remaining.incident_id is None
    assert gridfs_count() == 1


def test_too_many_files_is_a_400_not_a_500(client_for, run):
    incident = services.incident_report(assignment=run["assignment"], type="other", by=run["user"])
    files = [photo(f"{i}.jpg", b"x") for i in range(101)]
    response = client_for(run["user"]).post(
        f"/api/v1/incidents/{incident.pk}/evidence", {"files": files}, format="multipart"
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid"


def test_evidence_upload_and_fail_are_idempotent(client_for, run):
    driver = client_for(run["user"])
    incident = services.incident_report(assignment=run["assignment"], type="other", by=run["user"])
    path = f"/api/v1/incidents/{incident.pk}/evidence"
    data = small_jpeg()
    key = {"Idempotency-Key": "evidence-1"}
    first = driver.post(path, {"files": [photo(data=data)]}, format="multipart", headers=key)
    again = driver.post(path, {"files": [photo(data=data)]}, format="multipart", headers=key)
    assert first.status_code == again.status_code == 201
    assert again.headers["Idempotent-Replayed"] == "true"
    assert first.json() == again.json()
    other = driver.post(path, {"files": [photo(data=_png())]}, format="multipart", headers=key)
    assert other.status_code == 422
    assert Evidence.objects.count() == 1

    second = drops_of(run["orders"][0])[1]
    url = f"/api/v1/assignments/{run['assignment'].pk}/destinations/{second.pk}/fail"
    body = {"reason": "closed"}
    key = {"Idempotency-Key": "fail-1"}
    one = driver.post(url, body | {"photo": photo(data=data)}, format="multipart", headers=key)
    two = driver.post(url, body | {"photo": photo(data=data)}, format="multipart", headers=key)
    assert one.status_code == two.status_code == 200
    assert one.json() == two.json()
    assert Incident.objects.filter(type="failed_delivery").count() == 1
    assert Evidence.objects.count() == 2


def test_the_schema_offers_idempotency_on_every_upload(client_for, dispatcher):
    schema = client_for(dispatcher).get("/api/schema/", {"format": "json"}).json()
    for path in (
        "/api/v1/incidents/{id}/evidence",
        "/api/v1/assignments/{id}/destinations/{destination_id}/deliver",
        "/api/v1/assignments/{id}/destinations/{destination_id}/fail",
    ):
        operation = schema["paths"][path]["post"]
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        assert "Idempotency-Key" in headers, path


def test_optimize_keeps_done_stops_and_starts_from_the_last_one(client_for, run, dispatcher):
    first = drops_of(run["orders"][0])[0]
    deliver(client_for(run["user"]), run, first)
    route = Assignment.objects.get(pk=run["assignment"].pk).route
    visited_before = {s.pk: s.visited_at for s in route.stops.exclude(status="pending")}
    optimised = client_for(dispatcher).post(f"/api/v1/routes/{route.pk}/optimize")
    assert optimised.status_code == 200, optimised.content
    stops = optimised.json()["stops"]
    done = [s for s in stops if s["status"] != "pending"]
    assert [s["status"] for s in stops[: len(done)]] == [s["status"] for s in done]
    delivered = next(s for s in stops if s["destination_id"] == first.pk)
    assert delivered["status"] == "visited"
    assert delivered["visited_at"] is not None
    assert sorted(v for v in visited_before.values() if v) == sorted(
        Stop.objects.filter(route_id=optimised.json()["id"], status="visited")
        .exclude(visited_at=None)
        .values_list("visited_at", flat=True)
    )
    pending_etas = [s["eta"] for s in stops if s["status"] == "pending"]
    assert pending_etas == sorted(pending_etas)


def test_a_finished_run_is_not_replanned(client_for, run, dispatcher):
    services.assignment_finish(assignment=run["assignment"], reason="end of day", by=dispatcher)
    route_id = Assignment.objects.get(pk=run["assignment"].pk).route.pk
    staff = client_for(dispatcher)
    for response in (
        staff.post(f"/api/v1/routes/{route_id}/optimize"),
        staff.post(f"/api/v1/assignments/{run['assignment'].pk}/regenerate-route"),
    ):
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "run_closed"


def test_a_cancelled_order_skips_its_own_pickup_only(client_for, run, dispatcher):
    order_a, order_b = run["orders"]
    client_for(dispatcher).post(
        f"/api/v1/orders/{order_a.pk}/cancel", {"reason": "x"}, format="json"
    )
    route = Assignment.objects.get(pk=run["assignment"].pk).route
    # Both demo orders share the origin: order B still needs the pickup, already visited
    # since the run is under way; the delivery stops of order A are skipped.
    assert set(route.stops.filter(destination__order=order_a).values_list("status", flat=True)) == {
        "skipped"
    }
    assert route.stops.filter(destination__order=order_b, status="pending").count() == 1


def _run_under_way(dispatcher):
    """A driver's run in progress carrying one order of one drop-off."""
    user, driver = driver_user()
    order = make_order(customer=customer_user()[1], by=dispatcher)
    assignment = services.assignment_create(
        orders=[order], driver=driver, vehicle=VehicleFactory(), by=dispatcher
    )
    services.assignment_start(assignment=assignment, by=dispatcher)
    return user, order, assignment


def _race_deliver_and_finish(dispatcher) -> None:
    user, order, assignment = _run_under_way(dispatcher)
    destination = drops_of(order)[0]

    def deliver_it():
        return deliver(signed_in_client(user), {"assignment": assignment}, destination)

    def finish_it():
        return signed_in_client(dispatcher).post(
            f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "closing"}, format="json"
        )

    delivered, finished = (r.status_code for r in race(deliver_it, finish_it))
    destination.refresh_from_db()
    assert finished in (200, 409), finished
    if delivered == 200:
        assert destination.status == "delivered"
    else:
        assert delivered == 409, delivered
        assert destination.status == "failed"
    assert Assignment.objects.get(pk=assignment.pk).status == "finished"


@pytest.mark.django_db(transaction=True)
def test_delivering_while_staff_finish_the_run_never_deadlocks():
    """Deliver and forced finish lock the run before its orders: one waits for the other,
    and the drop-off ends delivered (deliver first) or failed (finish first), never both."""
    from identity import services as identity_services

    identity_services.roles_seed()
    staff_user = UserFactory(role_name="dispatcher")
    for _attempt in range(3):
        _race_deliver_and_finish(staff_user)


# --- One lock order: runs before orders (docs/architecture.md, Lock order) -------------------


def _cancel_meets(run_action, dispatcher, monkeypatch):
    """Staff cancel the order of a run under way while `run_action(user, order, assignment)`
    (the driver's or staff's request on the run) runs, interleaved the way that used to
    deadlock: the run request takes the run's lock only once the cancellation holds the
    order, and the cancellation goes on only once the run is locked (or after 2 s, when
    the run request is waiting for it). Returns (cancel answer, run answer, order, run)."""
    from fleet.services import locks
    from orders.services import orders as order_writes  # where the cancel looks _locked up

    user, order, assignment = _run_under_way(dispatcher)
    order_locked, run_locked = threading.Event(), threading.Event()
    lock_order, lock_run = order_writes._locked, locks.locked_run

    def order_lock_then_wait(order):
        locked = lock_order(order)
        if threading.current_thread().name == "cancel_it":
            order_locked.set()
            if run_locked.wait(2):
                time.sleep(0.3)  # the run request is now waiting for the order
        return locked

    def run_lock_after_the_order(assignment):
        order_locked.wait(2)
        locked = lock_run(assignment)
        run_locked.set()
        return locked

    monkeypatch.setattr(order_writes, "_locked", order_lock_then_wait)
    monkeypatch.setattr(locks, "locked_run", run_lock_after_the_order)

    def cancel_it():
        return signed_in_client(dispatcher).post(
            f"/api/v1/orders/{order.pk}/cancel", {"reason": "customer called"}, format="json"
        )

    def run_it():
        return run_action(user, order, assignment)

    cancelled, acted = race(cancel_it, run_it)
    order.refresh_from_db()
    assignment.refresh_from_db()
    return cancelled, acted, order, assignment


def _seeded_dispatcher():
    from identity import services as identity_services

    identity_services.roles_seed()
    return UserFactory(role_name="dispatcher")


@pytest.mark.django_db(transaction=True)
def test_staff_cancelling_an_order_while_its_driver_delivers_it_never_deadlocks(monkeypatch):
    """The cancellation locks the order's run before the order, as delivering does: the
    delivery waits, then finds the run closed. (Order first, it was a deadlock: 503.)"""

    def deliver_it(user, order, assignment):
        return deliver(signed_in_client(user), {"assignment": assignment}, drops_of(order)[0])

    cancelled, delivered, order, assignment = _cancel_meets(
        deliver_it, _seeded_dispatcher(), monkeypatch
    )

    assert cancelled.status_code == 200, cancelled.content
    assert delivered.status_code == 409, delivered.content
    assert delivered.json()["error"]["code"] == "assignment_not_in_progress"
    assert order.status == "cancelled"
    assert drops_of(order)[0].status == "failed"
    assert assignment.status == "cancelled"
    assert Driver.objects.get(pk=assignment.driver_id).availability == "available"


@pytest.mark.django_db(transaction=True)
def test_staff_cancelling_an_order_while_the_run_finishes_never_deadlocks(monkeypatch):
    staff_user = _seeded_dispatcher()

    def finish_it(user, order, assignment):
        return signed_in_client(staff_user).post(
            f"/api/v1/assignments/{assignment.pk}/finish", {"reason": "end of day"}, format="json"
        )

    cancelled, finished, order, assignment = _cancel_meets(finish_it, staff_user, monkeypatch)

    assert cancelled.status_code == 200, cancelled.content
    assert finished.status_code == 409, finished.content
    assert finished.json()["error"]["code"] == "illegal_transition"
    assert order.status == "cancelled"
    assert assignment.status == "cancelled"
    assert not Incident.objects.filter(assignment=assignment, type="forced_finish").exists()


def test_a_transaction_aborted_by_a_deadlock_is_a_409_not_an_outage(client_for, monkeypatch):
    """A deadlock PostgreSQL breaks is a lost race, not an unreachable database."""
    from orders import services as order_services

    staff_user = _seeded_dispatcher()
    order = make_order(customer=customer_user()[1], by=staff_user)
    monkeypatch.setattr(order_services, "order_cancel", deadlocked)
    response = client_for(staff_user).post(
        f"/api/v1/orders/{order.pk}/cancel", {"reason": "x"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "concurrent_update"
