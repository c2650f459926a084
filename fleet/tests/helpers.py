"""What several fleet test modules do: a driver's proof of delivery over the API (and
what a refused one leaves), and a driver's last position as tracking keeps it."""

from datetime import timedelta

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from tracking.documents import DriverPosition, Evidence
from tracking.tests.factories import small_jpeg
from tracking.tests.helpers import gridfs_count


def photo(name="door.jpg", data=None, content_type="image/jpeg"):
    return SimpleUploadedFile(name, data if data is not None else small_jpeg(), content_type)


def deliver(client, run, destination, *, headers=None, **fields):
    """The driver's `client` delivers `destination` of `run` ({"assignment": …}), with a
    photo unless `photo=None`."""
    body = {"received_by": "Marta Ccama", "photo": photo()} | fields
    body = {k: v for k, v in body.items() if v is not None}
    return client.post(
        f"/api/v1/assignments/{run['assignment'].pk}/destinations/{destination.pk}/deliver",
        body,
        format="multipart",
        headers=headers or {},
    )


def drops_of(order):
    return list(order.destinations.order_by("sequence"))


def assert_untouched(destination):
    """A refused proof left the drop-off pending and stored no evidence."""
    destination.refresh_from_db()
    assert destination.status == "pending"
    assert gridfs_count() == 0
    assert Evidence.objects.count() == 0


def put_position(driver, *, lat, lng, age_s, run_id=1):
    """`driver`'s last position, recorded `age_s` seconds ago."""
    now = timezone.now()
    DriverPosition(
        driver_id=driver.pk,
        assignment_id=run_id,
        vehicle_plate="V1A-101",
        location=[lng, lat],
        recorded_at=now - timedelta(seconds=age_s),
        received_at=now,
    ).save()
