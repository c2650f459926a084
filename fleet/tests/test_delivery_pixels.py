"""Proofs of delivery whose images have more pixels than allowed: 413 `image_too_large`
naming the limit, judged from the headers, and nothing is recorded."""

import io

import pytest
from PIL import Image

from fleet.tests.helpers import assert_untouched, deliver, drops_of, photo
from tracking.tests.factories import run_in_progress

pytestmark = pytest.mark.django_db


@pytest.fixture
def run(dispatcher):
    made = run_in_progress(dispatcher)
    return {
        "assignment": made["run"],
        "user": made["user"],
        "orders": list(made["run"].orders.all()),
    }


def png(size: tuple[int, int], name: str):
    out = io.BytesIO()
    Image.new("RGB", size, "white").save(out, "PNG")
    return photo(name, out.getvalue(), "image/png")


def test_a_photo_with_too_many_pixels_is_413_image_too_large(client_for, run, settings):
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 1_000_000
    first = drops_of(run["orders"][0])[0]

    response = deliver(client_for(run["user"]), run, first, photo=png((1001, 1000), "door.png"))

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "image_too_large"
    assert error["details"] == {"filename": "door.png", "limit_pixels": 1_000_000}
    assert "1 megapixels" in error["message"]
    assert_untouched(first)


def test_photo_and_signature_over_the_request_pixels_are_413_together(client_for, run, settings):
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 1_000_000
    settings.EVIDENCE_MAX_REQUEST_PIXELS = 1_000_000
    first = drops_of(run["orders"][0])[0]

    response = deliver(
        client_for(run["user"]),
        run,
        first,
        photo=png((1000, 600), "door.png"),
        signature=png((1000, 500), "firma.png"),
    )

    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "image_too_large"
    assert error["details"] == {"limit_pixels": 1_000_000, "pixels": 1_100_000}
    assert_untouched(first)
