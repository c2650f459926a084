"""Evidence files: type sniffing, image cleaning, limits, GridFS storage and deletion.
Images are generated with Pillow; MongoDB is the real test server from conftest."""

import hashlib
import io

import pytest
from bson import ObjectId
from gridfs import GridFSBucket
from mongoengine import ValidationError
from PIL import ExifTags, Image, ImageFile, WebPImagePlugin

from rappi import mongo
from tracking import evidence as ev
from tracking.documents import Evidence
from tracking.tests.factories import PDF_BYTES, camera_jpeg, image_bytes, small_jpeg
from tracking.tests.helpers import chunk_count, gridfs_count


def read_back(file_id: ObjectId) -> bytes:
    return GridFSBucket(mongo.get_db(), bucket_name="evidence").open_download_stream(file_id).read()


def store(uploads: list[tuple[str, bytes]], **owner) -> Evidence:
    owner = owner or {"assignment_id": 7, "destination_id": 70}
    return ev.evidence_store(kind="photo", uploads=uploads, uploaded_by=1, **owner)


# --- sniffing -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "image/png"),
        (b"RIFF\x24\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x18ftypheix\x00\x00", "image/heic"),
        (b"\x00\x00\x00\x1cftypmif1\x00\x00", "image/heic"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b"GIF89a", None),
        (b"\x00\x00\x00\x18ftypmp42", None),
        (b"RIFF\x24\x00\x00\x00WAVEfmt ", None),
        (b"<svg xmlns=", None),
        (b"", None),
    ],
)
def test_sniff_content_type_reads_the_magic_bytes(head, expected):
    assert ev.sniff_content_type(head) == expected


# --- images are cleaned -----------------------------------------------------------------


def test_photo_is_turned_upright_by_its_exif_orientation_and_shrunk_to_1600():
    prepared = ev.prepare_upload(filename="IMG_0001.JPG", data=camera_jpeg())

    image = Image.open(io.BytesIO(prepared.data))
    assert image.format == "JPEG"
    # 4000x3000 landscape pixels shown rotated: portrait, longest side 1600.
    assert image.size == (1200, 1600)
    # The left (red) half of the sensor is the top of the upright photo.
    red, _, blue = image.getpixel((600, 300))
    assert red > 200
    assert blue < 60
    red, _, blue = image.getpixel((600, 1300))
    assert blue > 200
    assert red < 60


def test_stored_photo_has_no_exif_gps_xmp_icc_or_comment():
    source = camera_jpeg((800, 600))
    original = Image.open(io.BytesIO(source))
    assert original.getexif().get_ifd(ExifTags.IFD.GPSInfo)  # the input really has GPS
    assert {"xmp", "icc_profile", "comment"} <= set(original.info)

    prepared = ev.prepare_upload(filename="IMG_0002.jpg", data=source)

    image = Image.open(io.BytesIO(prepared.data))
    assert dict(image.getexif()) == {}
    assert not image.getexif().get_ifd(ExifTags.IFD.GPSInfo)
    assert not {"exif", "xmp", "icc_profile", "comment"} & set(image.info)
    for marker in (b"Exif\x00", b"PhoneCo", b"secret-xmp", b"secret-comment", b"not-really"):
        assert marker not in prepared.data


def test_png_with_transparency_becomes_a_jpeg_on_white():
    signature = Image.new("RGBA", (300, 100), (0, 0, 0, 0))
    signature.paste((0, 0, 0, 255), (0, 40, 300, 60))  # an opaque black stroke
    prepared = ev.prepare_upload(filename="firma.png", data=image_bytes(signature, "PNG"))

    assert prepared.content_type == "image/jpeg"
    assert prepared.filename == "firma.jpg"
    image = Image.open(io.BytesIO(prepared.data))
    assert image.format == "JPEG"
    assert image.mode == "RGB"
    assert min(image.getpixel((150, 10))) > 240  # transparent → white, not black
    assert max(image.getpixel((150, 50))) < 20


def test_palette_png_with_transparency_is_flattened_on_white():
    palette = Image.new("P", (50, 50), 0)
    palette.putpalette([0, 0, 0] * 256)
    data = image_bytes(palette, "PNG", transparency=0)

    image = Image.open(io.BytesIO(ev.prepare_upload(filename="p.png", data=data).data))

    assert min(image.getpixel((25, 25))) > 240


def test_webp_is_reencoded_as_jpeg():
    data = image_bytes(Image.new("RGB", (2000, 500), "orange"), "WEBP")

    prepared = ev.prepare_upload(filename="foto.webp", data=data)

    assert (prepared.content_type, prepared.filename) == ("image/jpeg", "foto.jpg")
    assert Image.open(io.BytesIO(prepared.data)).size == (1600, 400)


def test_small_image_keeps_its_size():
    prepared = ev.prepare_upload(filename="x.jpg", data=small_jpeg())

    assert Image.open(io.BytesIO(prepared.data)).size == (64, 48)


# --- types are judged by the bytes ---------------------------------------------------------


def test_pdf_named_jpg_is_stored_as_pdf_unchanged():
    prepared = ev.prepare_upload(filename="guia.jpg", data=PDF_BYTES)

    assert prepared.content_type == "application/pdf"
    assert prepared.filename == "guia.pdf"
    assert prepared.data == PDF_BYTES


def test_text_named_png_is_refused_as_unsupported():
    with pytest.raises(ev.UnsupportedFileTypeError) as caught:
        ev.prepare_upload(filename="photo.png", data=b"just some text, not a picture\n")

    assert caught.value.http_status == 415
    assert caught.value.code == "unsupported_file_type"
    assert caught.value.details == {"filename": "photo.png", "detected": None}


@pytest.mark.parametrize(
    "data",
    [
        pytest.param(camera_jpeg((400, 300))[:2000], id="truncated"),
        pytest.param(b"\xff\xd8\xff\xe0" + b"\x13\x37" * 500, id="garbage-after-header"),
    ],
)
def test_corrupt_jpeg_is_refused(data):
    with pytest.raises(ev.UnsupportedFileTypeError) as caught:
        ev.prepare_upload(filename="broken.jpg", data=data)

    assert caught.value.details["detected"] == "image/jpeg"


def test_heic_that_pillow_cannot_decode_is_refused():
    data = b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 200

    with pytest.raises(ev.UnsupportedFileTypeError) as caught:
        ev.prepare_upload(filename="IMG_0003.HEIC", data=data)

    assert caught.value.details == {"filename": "IMG_0003.HEIC", "detected": "image/heic"}


def png_of(size: tuple[int, int], mode: str = "L") -> bytes:
    return image_bytes(Image.new(mode, size), "PNG")


@pytest.fixture
def no_decoding(monkeypatch):
    """Decoding any image fails the test: what is refused is refused from the header."""

    def refuse(self, *args, **kwargs):
        raise AssertionError("an image was decoded")

    monkeypatch.setattr(ImageFile.ImageFile, "load", refuse)


def test_image_with_more_pixels_than_allowed_is_413_before_decoding(settings, no_decoding):
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 100 * 100

    with pytest.raises(ev.ImageTooLargeError) as caught:
        ev.prepare_upload(filename="bomb.png", data=png_of((101, 100)))

    assert (caught.value.http_status, caught.value.code) == (413, "image_too_large")
    assert caught.value.details == {"filename": "bomb.png", "limit_pixels": 100 * 100}
    assert "0.01 megapixels" in caught.value.message


def test_image_at_the_pixel_limit_is_accepted(settings):
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 100 * 100

    assert ev.prepare_upload(filename="ok.png", data=png_of((100, 100))).data


def test_pillow_decompression_bomb_guard_is_image_too_large_not_raised(monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)  # Pillow errors above twice this

    with pytest.raises(ev.ImageTooLargeError):
        ev.prepare_upload(filename="bomb.png", data=png_of((100, 100)))


def test_pillow_guard_is_set_to_the_per_image_limit(settings):
    assert Image.MAX_IMAGE_PIXELS == settings.EVIDENCE_MAX_IMAGE_PIXELS


def test_images_over_the_request_pixel_limit_are_refused_before_any_is_decoded(
    settings, no_decoding
):
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 100 * 100
    settings.EVIDENCE_MAX_REQUEST_PIXELS = 3 * 100 * 100
    uploads = [(f"{n}.png", png_of((100, 100))) for n in range(4)] + [("a.pdf", PDF_BYTES)]

    with pytest.raises(ev.ImageTooLargeError) as caught:
        ev.evidence_prepare(uploads)

    assert caught.value.http_status == 413
    assert caught.value.details == {"limit_pixels": 30_000, "pixels": 40_000}
    assert gridfs_count() == 0


def test_images_up_to_the_request_pixel_limit_are_accepted(settings):
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 100 * 100
    settings.EVIDENCE_MAX_REQUEST_PIXELS = 3 * 100 * 100
    uploads = [(f"{n}.png", png_of((100, 100))) for n in range(3)] + [("a.pdf", PDF_BYTES)]

    assert len(ev.evidence_prepare(uploads)) == 4


WEBP_LAYOUTS = {
    "lossy": ("RGB", {"quality": 80}),
    "lossless": ("RGB", {"lossless": True}),
    "extended": ("RGBA", {"quality": 80}),  # alpha makes it a VP8X file
}


@pytest.mark.parametrize("layout", sorted(WEBP_LAYOUTS))
def test_a_webp_may_have_half_the_pixels_read_before_pillow_opens_it(settings, monkeypatch, layout):
    mode, params = WEBP_LAYOUTS[layout]
    data = image_bytes(Image.new(mode, (120, 50)), "WEBP", **params)
    settings.EVIDENCE_MAX_IMAGE_PIXELS = 2 * 120 * 50 - 2
    with monkeypatch.context() as patched:
        # Pillow's WebP plugin allocates the whole canvas as it opens a file.
        patched.setattr(WebPImagePlugin.WebPImageFile, "_open", _fail_if_called)
        with pytest.raises(ev.ImageTooLargeError) as caught:
            ev.prepare_upload(filename="w.webp", data=data)
    assert caught.value.details["limit_pixels"] == 120 * 50 - 1

    settings.EVIDENCE_MAX_IMAGE_PIXELS = 2 * 120 * 50
    assert ev.prepare_upload(filename="w.webp", data=data).content_type == "image/jpeg"


def _fail_if_called(*args, **kwargs):
    raise AssertionError("Pillow opened the file")


def test_default_limits_admit_full_resolution_phone_photos(settings):
    fifty_megapixels = 8160 * 6144  # the largest common full-resolution phone sensor mode
    assert fifty_megapixels <= settings.EVIDENCE_MAX_IMAGE_PIXELS
    assert 2 * fifty_megapixels <= settings.EVIDENCE_MAX_REQUEST_PIXELS


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "L", "P", "1", "I;16", "CMYK"], ids=str)
def test_every_mode_pillow_may_decode_to_becomes_an_rgb_jpeg(mode):
    fmt = "JPEG" if mode == "CMYK" else "PNG"
    data = image_bytes(Image.new(mode, (2000, 1000)), fmt)

    image = Image.open(io.BytesIO(ev.prepare_upload(filename="m", data=data).data))

    assert (image.mode, image.size) == ("RGB", (1600, 800))


# --- filenames ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent", "expected"),
    [
        ("../../etc/passwd.png", "passwd.jpg"),
        ("C:\\Users\\ana\\Desktop\\entrega.png", "entrega.jpg"),
        ("evil\u202egpj.exe.png", "evilgpj.exe.jpg"),  # bidi override dropped
        ("line\r\nbreak\x00.png", "linebreak.jpg"),
        (".hidden.png", "hidden.jpg"),
        ("", "file.jpg"),
        ("../", "file.jpg"),
        ("a" * 300 + ".png", "a" * 116 + ".jpg"),
    ],
)
def test_filename_is_reduced_to_a_safe_basename(sent, expected):
    prepared = ev.prepare_upload(filename=sent, data=small_jpeg())

    assert prepared.filename == expected
    assert len(prepared.filename) <= ev.MAX_FILENAME_CHARS


# --- size limits ----------------------------------------------------------------------------


def test_file_over_the_per_file_setting_is_refused_as_too_large(settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 500

    with pytest.raises(ev.UploadTooLargeError) as caught:
        store([("big.pdf", PDF_BYTES + b"%" * 500)])

    assert caught.value.http_status == 413
    assert caught.value.code == "payload_too_large"
    assert caught.value.details == {"filename": "big.pdf", "limit_bytes": 500}
    assert gridfs_count() == 0
    assert Evidence.objects.count() == 0


def test_per_file_limit_is_checked_before_the_type(settings):
    settings.EVIDENCE_MAX_FILE_BYTES = 10

    with pytest.raises(ev.UploadTooLargeError):
        ev.prepare_upload(filename="junk.bin", data=b"not a known type at all")


def test_file_exactly_at_the_limit_is_accepted(settings):
    settings.EVIDENCE_MAX_FILE_BYTES = len(PDF_BYTES)

    assert ev.prepare_upload(filename="a.pdf", data=PDF_BYTES).data == PDF_BYTES


def test_request_over_the_total_limit_is_refused_and_writes_nothing(settings):
    settings.EVIDENCE_MAX_REQUEST_BYTES = len(PDF_BYTES) * 2

    with pytest.raises(ev.UploadTooLargeError) as caught:
        store([("a.pdf", PDF_BYTES), ("b.pdf", PDF_BYTES), ("c.pdf", PDF_BYTES)])

    assert caught.value.details == {"filename": "c.pdf", "limit_bytes": len(PDF_BYTES) * 2}
    assert gridfs_count() == 0
    assert Evidence.objects.count() == 0


# --- storing ---------------------------------------------------------------------------------


def test_store_writes_files_to_gridfs_with_their_sha256():
    record = ev.evidence_store(
        kind="photo",
        uploads=[("entrega.jpg", camera_jpeg((800, 600))), ("guia.pdf", PDF_BYTES)],
        uploaded_by=5,
        assignment_id=7,
        destination_id=70,
        order_id=700,
        note="left with the doorman",
    )

    record = Evidence.objects.get(pk=record.pk)
    assert (record.kind, record.uploaded_by, record.order_id) == ("photo", 5, 700)
    assert record.created_at is not None
    assert [f.filename for f in record.files] == ["entrega.jpg", "guia.pdf"]
    assert [f.content_type for f in record.files] == ["image/jpeg", "application/pdf"]
    for stored in record.files:
        data = read_back(stored.file_id)
        assert stored.size == len(data)
        assert stored.sha256 == hashlib.sha256(data).hexdigest()
        grid_file = mongo.get_db()["evidence.files"].find_one({"_id": stored.file_id})
        assert grid_file["metadata"] == {
            "sha256": stored.sha256,
            "content_type": stored.content_type,
        }
    assert read_back(record.files[1].file_id) == PDF_BYTES


def test_unsupported_second_file_writes_nothing():
    with pytest.raises(ev.UnsupportedFileTypeError):
        store([("ok.jpg", small_jpeg()), ("bad.png", b"plain text")])

    assert gridfs_count() == 0
    assert chunk_count() == 0
    assert Evidence.objects.count() == 0


def test_failure_after_files_were_written_removes_them(monkeypatch):
    def refuse_save(self, *args, **kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(Evidence, "save", refuse_save)

    with pytest.raises(RuntimeError, match="went away"):
        store([("a.jpg", small_jpeg()), ("b.pdf", PDF_BYTES)])

    assert gridfs_count() == 0
    assert chunk_count() == 0


@pytest.mark.parametrize(
    "owner",
    [
        pytest.param({}, id="no-owner"),
        pytest.param({"destination_id": 70}, id="destination-without-run"),
        pytest.param({"assignment_id": 7}, id="run-only"),
    ],
)
def test_store_refuses_evidence_without_a_checkable_owner(owner):
    with pytest.raises(ValidationError):
        ev.evidence_store(kind="photo", uploads=[("a.jpg", small_jpeg())], uploaded_by=1, **owner)

    assert gridfs_count() == 0


def test_store_refuses_an_unknown_kind_before_writing():
    with pytest.raises(ValidationError):
        ev.evidence_store(
            kind="video", uploads=[("a.jpg", small_jpeg())], uploaded_by=1, incident_id=3
        )

    assert gridfs_count() == 0


def test_store_needs_at_least_one_upload():
    with pytest.raises(ValueError, match="at least one"):
        store([])


# --- opening ---------------------------------------------------------------------------------


def test_open_returns_the_file_its_record_and_a_stream_of_the_bytes():
    record = store([("guia.pdf", PDF_BYTES)], incident_id=3, assignment_id=7)
    file_id = record.files[0].file_id

    stored, owner, stream = ev.evidence_open(str(file_id))

    assert stored.file_id == file_id
    assert stored.filename == "guia.pdf"
    assert owner.pk == record.pk
    assert owner.incident_id == 3
    assert stream.read() == PDF_BYTES


@pytest.mark.parametrize(
    "file_id",
    ["nope", "", "0123456789abcdef0123456z", "123456789012", "../evidence.files", None, 42],
)
def test_open_with_a_malformed_id_is_not_found(file_id):
    store([("guia.pdf", PDF_BYTES)])

    with pytest.raises(ev.FileNotFoundInStoreError) as caught:
        ev.evidence_open(file_id)

    assert (caught.value.code, caught.value.http_status) == ("not_found", 404)


def test_open_with_an_unknown_id_is_not_found():
    store([("guia.pdf", PDF_BYTES)])

    with pytest.raises(ev.FileNotFoundInStoreError):
        ev.evidence_open(str(ObjectId()))


def test_open_of_a_gridfs_file_no_record_lists_is_not_found():
    orphan = GridFSBucket(mongo.get_db(), bucket_name="evidence").upload_from_stream("x", b"x")

    with pytest.raises(ev.FileNotFoundInStoreError):
        ev.evidence_open(str(orphan))


def test_open_of_a_listed_file_whose_bytes_are_gone_is_not_found():
    record = store([("guia.pdf", PDF_BYTES)])
    GridFSBucket(mongo.get_db(), bucket_name="evidence").delete(record.files[0].file_id)

    with pytest.raises(ev.FileNotFoundInStoreError):
        ev.evidence_open(str(record.files[0].file_id))


# --- listing and deleting ----------------------------------------------------------------------


def test_list_filters_by_owner_oldest_first():
    first = store([("a.pdf", PDF_BYTES)], assignment_id=7, destination_id=70)
    second = store([("b.pdf", PDF_BYTES)], assignment_id=7, destination_id=71)
    incident = store([("c.pdf", PDF_BYTES)], incident_id=3, assignment_id=7)
    store([("d.pdf", PDF_BYTES)], assignment_id=8, destination_id=80)

    assert [e.pk for e in ev.evidence_list(assignment_id=7)] == [
        first.pk,
        second.pk,
        incident.pk,
    ]
    assert [e.pk for e in ev.evidence_list(assignment_id=7, destination_id=71)] == [second.pk]
    assert [e.pk for e in ev.evidence_list(incident_id=3)] == [incident.pk]
    assert ev.evidence_list(incident_id=4) == []


def test_list_without_a_filter_is_refused():
    with pytest.raises(ValueError, match="needs"):
        ev.evidence_list()


def test_delete_removes_the_files_and_the_record():
    record = store([("a.jpg", small_jpeg()), ("b.pdf", PDF_BYTES)])
    kept = store([("c.pdf", PDF_BYTES)], assignment_id=7, destination_id=71)

    ev.evidence_delete(evidence=record)

    assert gridfs_count() == 1
    assert [e.pk for e in Evidence.objects] == [kept.pk]
    assert read_back(kept.files[0].file_id) == PDF_BYTES
    with pytest.raises(ev.FileNotFoundInStoreError):
        ev.evidence_open(str(record.files[0].file_id))


def test_delete_for_a_run_purges_its_evidence_and_files_only():
    store([("a.jpg", small_jpeg())], assignment_id=7, destination_id=70)
    store([("b.pdf", PDF_BYTES), ("c.pdf", PDF_BYTES)], incident_id=3, assignment_id=7)
    other = store([("d.pdf", PDF_BYTES)], assignment_id=8, destination_id=80)

    assert ev.evidence_delete_for(assignment_id=7) == 2

    assert [e.pk for e in Evidence.objects] == [other.pk]
    assert gridfs_count() == 1
    assert chunk_count() == 1
    assert ev.evidence_delete_for(assignment_id=7) == 0


def test_evidence_indexes_are_created_by_ensure_indexes():
    assert "evidence" in mongo.ensure_indexes()

    indexes = Evidence._get_collection().index_information()

    assert {"incident", "run_destination", "file"} <= set(indexes)
    assert indexes["file"]["key"] == [("files.file_id", 1)]
