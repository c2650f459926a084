"""The console's incidents board: its filters (the API's, with the reported range), each
incident's evidence as thumbnails (one MongoDB query for the page), uploading evidence
from the board or the run page (the evidence store's limits, refusals as messages), live
refresh and a fixed number of queries."""

from datetime import datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet import selectors, services
from fleet.models import Incident
from fleet.tests.factories import make_run, started_run
from identity.tests.factories import RoleFactory, UserFactory
from rappi.testing.console import console_client, page_text, post_form
from tracking.documents import Evidence
from tracking.tests.factories import PDF_BYTES, small_jpeg

pytestmark = pytest.mark.django_db


@pytest.fixture
def incident(dispatcher):
    run = started_run(dispatcher)
    return services.incident_report(assignment=run, type="traffic", notes="Jam", by=dispatcher)


def jpeg(name="door.jpg", data=None):
    return SimpleUploadedFile(name, data if data is not None else small_jpeg(), "image/jpeg")


def upload(client, incident, *, files=None, follow=True, **fields):
    data = {"files": files if files is not None else [jpeg()], "kind": "photo", **fields}
    return client.post(f"/console/incidents/{incident.pk}/evidence/", data, follow=follow)


def test_the_board_lists_incidents_with_their_run_and_thumbnails(console, dispatcher, incident):
    record = services.incident_evidence_add(
        incident=incident, kind="photo", uploads=[("door.jpg", small_jpeg())], by=dispatcher
    )
    page = page_text(console.get("/console/incidents/"))
    assert "Traffic" in page
    assert "Jam" in page
    assert f'href="/console/runs/{incident.assignment_id}/#incident-{incident.pk}"' in page
    file_url = f"/console/files/{record.files[0].file_id}/"
    assert f'<img src="{file_url}" alt="door.jpg"' in page
    image = console.get(file_url)
    assert image.status_code == 200
    assert image["Content-Type"] == "image/jpeg"


def test_a_pdf_is_a_link_not_a_thumbnail(console, dispatcher, incident):
    services.incident_evidence_add(
        incident=incident, kind="document", uploads=[("report.pdf", PDF_BYTES)], by=dispatcher
    )
    page = page_text(console.get("/console/incidents/"))
    assert '<span class="file-link">report.pdf</span>' in page
    assert 'alt="report.pdf"' not in page


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("severity=4", {"deviation"}),
        ("severity_min=3", {"deviation", "absent"}),
        ("type=traffic", {"traffic"}),
        ("origin=driver", {"absent"}),
        ("created_after={yesterday}", {"traffic", "absent"}),
        ("created_before={yesterday}", {"deviation"}),
        ("assignment_id={other_run}", {"absent"}),
    ],
)
def test_the_board_filters(console, dispatcher, query, found):
    run, other = started_run(dispatcher), started_run(dispatcher)
    incidents = {
        "traffic": services.incident_report(assignment=run, type="traffic", by=dispatcher),
        "deviation": services.incident_report(assignment=run, type="route_deviation", by=None),
        "absent": services.incident_report(
            assignment=other, type="customer_absent", by=dispatcher, origin="driver"
        ),
    }
    two_days_ago = timezone.now() - timedelta(days=2)
    Incident.objects.filter(pk=incidents["deviation"].pk).update(created_at=two_days_ago)
    yesterday = (timezone.now() - timedelta(days=1)).isoformat()
    url = "/console/incidents/?" + query.format(yesterday=yesterday, other_run=other.pk)
    url = url.replace("+", "%2B")
    page = page_text(console.get(url))
    shown = {name for name, item in incidents.items() if f'id="incident-{item.pk}"' in page}
    assert shown == found


def test_a_date_typed_on_the_board_is_a_lima_day(console, incident):
    lima = timezone.get_default_timezone()
    ten_am = datetime(2026, 11, 20, 10, 0, tzinfo=lima)
    Incident.objects.filter(pk=incident.pk).update(created_at=ten_am)
    row = f'id="incident-{incident.pk}"'
    assert row in page_text(console.get("/console/incidents/?created_after=2026-11-20"))
    assert row not in page_text(console.get("/console/incidents/?created_before=2026-11-20"))
    # 10:00 in Lima is 15:00 UTC: a time without an offset is Lima's.
    assert row in page_text(console.get("/console/incidents/?created_after=2026-11-20+09:30"))
    assert row not in page_text(console.get("/console/incidents/?created_after=2026-11-20+10:30"))


def test_the_api_takes_the_reported_range_too(client_for, dispatcher, incident):
    api = client_for(dispatcher)
    later = (timezone.now() + timedelta(minutes=1)).isoformat().replace("+", "%2B")
    assert api.get(f"/api/v1/incidents/?created_before={later}").json()["count"] == 1
    assert api.get(f"/api/v1/incidents/?created_after={later}").json()["count"] == 0


def test_the_board_refresh_answers_only_its_rows(console, incident):
    response = console.get("/console/incidents/", headers={"HX-Request": "true"})
    assert b"<html" not in response.content
    assert b'id="incident-' in response.content


def _many_incidents(by, count: int) -> None:
    run = started_run(by)
    for _ in range(count):
        incident = services.incident_report(assignment=run, type="traffic", by=by)
        services.incident_evidence_add(
            incident=incident, kind="photo", uploads=[("a.jpg", small_jpeg())], by=by
        )


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_the_board_costs_the_same_queries_for_2_and_30_incidents(
    console, dispatcher, django_assert_max_num_queries
):
    _many_incidents(dispatcher, 2)
    few = _queries(console, "/console/incidents/")
    _many_incidents(dispatcher, 28)
    with django_assert_max_num_queries(few):
        page = page_text(console.get("/console/incidents/"))
    assert page.count("<img src=") == 25


def test_the_evidence_of_a_page_comes_grouped_by_incident(dispatcher):
    run = started_run(dispatcher)
    incidents = [
        services.incident_report(assignment=run, type="traffic", by=dispatcher) for _ in range(3)
    ]
    for incident in incidents[:2]:
        services.incident_evidence_add(
            incident=incident, kind="photo", uploads=[("a.jpg", small_jpeg())], by=dispatcher
        )
    found = selectors.evidence_by_incident(incident_ids=[i.pk for i in incidents])
    assert {pk: len(records) for pk, records in found.items()} == {
        incidents[0].pk: 1,
        incidents[1].pk: 1,
    }


# --- Uploading evidence ---------------------------------------------------------------------------


def test_upload_from_the_board_comes_back_to_it(console, incident):
    response = upload(console, incident, next="/console/incidents/?severity=2")
    assert response.redirect_chain[-1][0] == "/console/incidents/?severity=2"
    page = page_text(response)
    assert f"The files were added to incident #{incident.pk}." in page
    records = list(Evidence.objects(incident_id=incident.pk))
    assert len(records) == 1
    assert records[0].files[0].content_type == "image/jpeg"
    assert f'src="/console/files/{records[0].files[0].file_id}/"' in page


def test_upload_from_the_run_page_comes_back_to_it(console, incident):
    run_page = f"/console/runs/{incident.assignment_id}/"
    response = upload(console, incident, files=[jpeg("a.jpg"), jpeg("b.jpg")], next=run_page)
    assert response.redirect_chain[-1][0] == run_page
    assert page_text(response).count("<img src=") == 2
    assert len(Evidence.objects(incident_id=incident.pk).first().files) == 2


def test_a_next_page_elsewhere_is_not_followed(console, incident):
    response = upload(console, incident, follow=False, next="https://evil.example/")
    assert response.status_code == 302
    assert response["Location"] == "/console/incidents/"


def test_a_file_too_large_is_refused_with_the_limit(console, incident, settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 1000
    page = page_text(
        upload(console, incident, files=[jpeg("big.jpg", b"\xff\xd8\xff" + b"0" * 2000)])
    )
    assert "big.jpg is 0.0 MB; a file may have at most 0.000953674 MB." in page
    assert Evidence.objects(incident_id=incident.pk).count() == 0


def test_files_too_large_together_are_refused_with_the_limit(console, incident, settings):
    settings.EVIDENCE_MAX_REQUEST_BYTES = 1024 * 1024
    half = b"\xff\xd8\xff" + b"0" * (600 * 1024)
    page = page_text(upload(console, incident, files=[jpeg("a.jpg", half), jpeg("b.jpg", half)]))
    assert "These files have 1.2 MB in all; at most 1 MB may be sent at once." in page
    assert Evidence.objects(incident_id=incident.pk).count() == 0


def test_a_file_of_the_wrong_type_is_refused(console, incident):
    text = SimpleUploadedFile("notes.png", b"just some text", "image/png")
    page = page_text(upload(console, incident, files=[text]))
    assert "This file type is not accepted: send a JPEG, PNG, WebP, HEIC or PDF." in page
    assert Evidence.objects(incident_id=incident.pk).count() == 0


def test_an_upload_without_files_is_a_message(console, incident):
    page = page_text(upload(console, incident, files=[]))
    assert "Files: No file was submitted." in page or "Files: This field is required." in page


def test_too_many_files_is_a_message(console, incident):
    page = page_text(upload(console, incident, files=[jpeg(f"{n}.jpg") for n in range(11)]))
    assert "Send at most 10 files at a time." in page
    assert Evidence.objects(incident_id=incident.pk).count() == 0


def test_a_role_without_incident_writes_may_not_upload(dispatcher, incident):
    reader = console_client(UserFactory(role=RoleFactory(grants=["incidents:read"])))
    assert "Add evidence" not in page_text(reader.get("/console/incidents/"))
    assert upload(reader, incident, follow=False).status_code == 403
    assert Evidence.objects(incident_id=incident.pk).count() == 0


def test_an_unknown_incident_is_the_404_page(console):
    response = console.post("/console/incidents/999999/evidence/", {"files": [jpeg()]})
    assert response.status_code == 404


def test_a_run_page_lists_its_incidents_with_evidence(console, dispatcher, incident):
    services.incident_evidence_add(
        incident=incident, kind="photo", uploads=[("door.jpg", small_jpeg())], by=dispatcher
    )
    page = page_text(console.get(f"/console/runs/{incident.assignment_id}/"))
    assert f'id="incident-{incident.pk}"' in page
    assert "Severity 2" in page
    assert 'alt="door.jpg"' in page


def test_the_board_of_an_empty_day(console):
    page = page_text(console.get("/console/incidents/"))
    assert "No incident matches these filters." in page


def test_drivers_cannot_open_the_board(dispatcher):
    make_run(dispatcher)
    client = console_client(UserFactory(role_name="driver"))
    response = client.get("/console/incidents/")
    assert response.status_code == 302
    assert response["Location"] == "/console/login/"


def test_a_new_incident_then_its_evidence(console, dispatcher):
    run = started_run(dispatcher)
    post_form(console, f"/console/runs/{run.pk}/incidents/", {"type": "damaged_package"})
    incident = Incident.objects.get(assignment=run)
    page = page_text(upload(console, incident, next=f"/console/runs/{run.pk}/"))
    assert "Damaged package" in page
    assert page.count("<img src=") == 1
