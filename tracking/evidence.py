"""Evidence files (photos, signatures, documents): checked, cleaned and stored in the GridFS
bucket `evidence`, described by `Evidence` documents.

Uploads are trusted by their bytes only: the type is sniffed from magic bytes, images are
decoded and re-encoded as JPEG (orientation applied, every metadata block dropped, longest
side at most MAX_IMAGE_SIDE), PDFs are kept as sent. Access checks belong to the callers,
which know the owner row (incident, or destination of a run) and the user's scope.

Decoding is what costs memory, not the upload: a 187 KB PNG can hold 64 million pixels. So
every image's size is read from its header before any is decoded, and refused past
EVIDENCE_MAX_IMAGE_PIXELS (one image) or EVIDENCE_MAX_REQUEST_PIXELS (all of a request).
Images are then decoded one at a time with at most two full-size copies alive (JPEGs at a
reduced scale), so the peak is about 8 bytes per pixel of the largest image allowed."""

import hashlib
import io
import logging
import re
import struct
import threading
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from typing import cast

from bson import ObjectId
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from gridfs import GridFSBucket, GridOut
from gridfs.errors import NoFile
from PIL import ExifTags, Image
from pymongo.errors import PyMongoError

from rappi.mongo import get_db
from tracking.documents import Evidence, StoredFile
from tracking.errors import (
    FileNotFoundInStoreError,
    ImageTooLargeError,
    UnsupportedFileTypeError,
    UploadTooLargeError,
)

logger = logging.getLogger(__name__)

BUCKET_NAME = "evidence"
MAX_IMAGE_SIDE = 1600
JPEG_QUALITY = 85
MAX_FILENAME_CHARS = 120
IN_BATCH = 400  # $in lists stay this short (mongoeco's SQLite engine rejects ~500+)

PDF = "application/pdf"
JPEG = "image/jpeg"
HEIC = "image/heic"
_HEIF_BRANDS = (b"heic", b"heix", b"mif1")
# The Pillow plugin allowed to decode each sniffed type; None lets any registered plugin
# (pillow-heif, if installed) try HEIC.
WEBP = "image/webp"
_PILLOW_FORMATS: dict[str, list[str] | None] = {
    JPEG: ["JPEG"],
    "image/png": ["PNG"],
    WEBP: ["WEBP"],
    HEIC: None,
}
# Decoding takes up to two full-size copies at 4 bytes a pixel (see _flatten_to_rgb_or_l);
# Pillow's WebP decoder holds two more, so a WebP image may have half the pixels.
_DECODE_COST = {WEBP: 2}
_EXTENSIONS = {JPEG: ".jpg", PDF: ".pdf"}
# What Pillow raises on malformed input: its plugins are not consistent about it.
_DECODE_ERRORS = (
    OSError,  # includes UnidentifiedImageError and truncated data
    SyntaxError,
    ValueError,
    TypeError,
    IndexError,
    EOFError,
    struct.error,
)
# Pillow's own guard against huge images (Image.MAX_IMAGE_PIXELS); the warning is raised,
# not warned, when warnings are errors.
_BOMB_ERRORS = (Image.DecompressionBombError, Image.DecompressionBombWarning)
_ORIENTATIONS = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class PreparedFile:
    """A checked upload, ready to store; `sha256` is of `data`, the bytes stored."""

    filename: str
    content_type: str
    data: bytes
    sha256: str


def max_file_bytes() -> int:
    return settings.EVIDENCE_MAX_FILE_BYTES


def max_request_bytes() -> int:
    return settings.EVIDENCE_MAX_REQUEST_BYTES


def max_image_pixels() -> int:
    return settings.EVIDENCE_MAX_IMAGE_PIXELS


def max_request_pixels() -> int:
    return settings.EVIDENCE_MAX_REQUEST_PIXELS


def configure_pillow() -> None:
    """Pillow's own decompression-bomb guard, for any image opened anywhere in the
    process: warn past the per-image limit, refuse past twice it (evidence checks first)."""
    Image.MAX_IMAGE_PIXELS = max_image_pixels()


def _megapixels(pixels: int) -> str:
    return f"{pixels / 1_000_000:g}"


def sniff_content_type(head: bytes) -> str | None:
    """The content type named by the first bytes of a file (16 are enough), or None."""
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return WEBP
    if head[4:8] == b"ftyp" and head[8:12] in _HEIF_BRANDS:
        return HEIC
    if head.startswith(b"%PDF-"):
        return PDF
    return None


def clean_filename(filename: str, *, extension: str | None = None) -> str:
    """`filename` safe to store and show: the last path component, without control or
    bidi-override characters, at most MAX_FILENAME_CHARS; `extension` (".jpg") replaces
    the one sent, so a name never contradicts the stored type."""
    name = re.split(r"[\\/]", filename or "")[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] != "C")
    name = name.strip().strip(".")  # no hidden files, no Windows-invalid trailing dot
    if extension is None:
        stem, ext = name, ""
        if "." in name:
            stem, dot_ext = name.rsplit(".", 1)
            ext = "." + dot_ext[:10]
    else:
        stem, ext = (name.rsplit(".", 1)[0] if "." in name else name), extension
    stem = stem.strip()[: MAX_FILENAME_CHARS - len(ext)].strip() or "file"
    return stem + ext


def prepare_upload(*, filename: str, data: bytes) -> PreparedFile:
    """Check one upload and turn it into the bytes to store.

    Raises UploadTooLargeError over the per-file limit, ImageTooLargeError for an image
    with more pixels than one may have (read from its header, before decoding),
    UnsupportedFileTypeError when the bytes are not a JPEG, PNG, WebP, HEIC (decodable
    here) or PDF, or do not decode.
    Images come back as a metadata-free JPEG named `<stem>.jpg`."""
    limit = max_file_bytes()
    if len(data) > limit:
        raise UploadTooLargeError(filename=clean_filename(filename), limit_bytes=limit)
    detected = sniff_content_type(data[:16])
    if detected is None:
        raise UnsupportedFileTypeError(filename=clean_filename(filename), detected=None)
    if detected == PDF:
        stored = data
    else:
        stored = _reencode_image(data, filename=filename, detected=detected)
    content_type = PDF if detected == PDF else JPEG
    return PreparedFile(
        filename=clean_filename(filename, extension=_EXTENSIONS[content_type]),
        content_type=content_type,
        data=stored,
        sha256=hashlib.sha256(stored).hexdigest(),
    )


def _pixels_allowed(detected: str) -> int:
    return max_image_pixels() // _DECODE_COST.get(detected, 1)


def _header_size(data: bytes, *, filename: str, detected: str) -> tuple[int, int]:
    """(width, height) from the header alone, refused with ImageTooLargeError past what
    one image of its type may have. Pillow opens PNG and JPEG lazily; its WebP plugin
    allocates the canvas on open, so a WebP's size is read here, before Pillow sees it."""
    if detected == WEBP:
        size = _webp_size(data)
        if size is None:
            raise UnsupportedFileTypeError(filename=clean_filename(filename), detected=detected)
    else:
        try:
            with Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[detected]) as image:
                size = image.size
        except _BOMB_ERRORS:
            size = None  # Pillow's own guard spoke first: larger still
    limit = _pixels_allowed(detected)
    if size is None or size[0] * size[1] > limit:
        raise ImageTooLargeError(
            _("An image of this type may have at most %(megapixels)s megapixels.")
            % {"megapixels": _megapixels(limit)},
            filename=clean_filename(filename),
            limit_pixels=limit,
        )
    return size


def _webp_size(data: bytes) -> tuple[int, int] | None:
    """A WebP's canvas from its first 30 bytes: lossy (VP8), lossless (VP8L) or extended
    (VP8X) layout; None for anything else."""
    chunk = data[12:16]
    if chunk == b"VP8 " and len(data) >= 30 and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and len(data) >= 25 and data[20] == 0x2F:
        bits = int.from_bytes(data[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(data) >= 30:
        return int.from_bytes(data[24:27], "little") + 1, int.from_bytes(data[27:30], "little") + 1
    return None


def _header_pixels(*, filename: str, data: bytes) -> int:
    """Pixels of an upload from its header: 0 for a PDF, or for bytes that are no image
    Pillow reads (prepare_upload refuses those)."""
    detected = sniff_content_type(data[:16])
    if detected is None or detected == PDF:
        return 0
    try:
        width, height = _header_size(data, filename=filename, detected=detected)
    except _DECODE_ERRORS:
        return 0
    return width * height


_decode_slots: threading.BoundedSemaphore | None = None
_decode_slots_lock = threading.Lock()


def _decoding():
    """The process-wide gate every image decode passes (EVIDENCE_DECODE_CONCURRENCY at
    once): the pixel limits bound one request, this bounds a worker with many threads."""
    global _decode_slots
    with _decode_slots_lock:
        if _decode_slots is None:
            _decode_slots = threading.BoundedSemaphore(settings.EVIDENCE_DECODE_CONCURRENCY)
    return _decode_slots


def _reencode_image(data: bytes, *, filename: str, detected: str) -> bytes:
    try:
        _header_size(data, filename=filename, detected=detected)
        with _decoding():
            out = _decoded_as_jpeg(data, detected=detected)
    except _BOMB_ERRORS:
        # Only if Pillow's guard disagrees with the header check (a plugin re-checking).
        raise ImageTooLargeError(
            filename=clean_filename(filename), limit_pixels=max_image_pixels()
        ) from None
    except _DECODE_ERRORS as exc:
        raise UnsupportedFileTypeError(
            filename=clean_filename(filename), detected=detected
        ) from exc
    return out


def _decoded_as_jpeg(data: bytes, *, detected: str) -> bytes:
    """The image upright, at most 1600 px a side, as a JPEG without metadata."""
    source = Image.open(io.BytesIO(data), formats=_PILLOW_FORMATS[detected])
    try:
        # JPEGs decode at 1/2..1/8 scale when that still leaves room to downscale well.
        source.draft("RGB", _draft_size(source.size))
        source.load()
        tag = source.getexif().get(ExifTags.Base.Orientation)
        orientation = None if tag is None else _ORIENTATIONS.get(tag)
        image = _flatten_to_rgb_or_l(source)
        # Shrunk first (in place: reduce, then Lanczos), so rotating and converting work
        # on at most 1600 px a side.
        image.thumbnail((MAX_IMAGE_SIDE, MAX_IMAGE_SIDE), Image.Resampling.LANCZOS)
        if orientation is not None:
            image = image.transpose(orientation)
        # A fresh image carries no info dict: Pillow would otherwise copy the JPEG
        # comment across, and EXIF (GPS), XMP or ICC must never reach the file.
        clean = Image.new("RGB", image.size)
        clean.paste(image.convert("RGB"))
        out = io.BytesIO()
        clean.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    finally:
        source.close()
    return out.getvalue()


def _draft_size(size: tuple[int, int]) -> tuple[int, int]:
    # Twice the final size, as Image.thumbnail asks of draft(), keeps the downscale sharp.
    ratio = max(size) / MAX_IMAGE_SIDE
    if ratio <= 1:
        return size
    return (max(1, int(size[0] / ratio * 2)), max(1, int(size[1] / ratio * 2)))


def _flatten_to_rgb_or_l(source: Image.Image) -> Image.Image:
    """The decoded `source` as RGB or L, which downscale well (Pillow shrinks palette
    images by nearest neighbour), with transparent areas on white: JPEG has no alpha, and
    a signature pad's transparent background must not turn black. Returns `source` itself
    when it already fits; otherwise its pixels are released as soon as they are copied,
    so no more than two full-size images exist at once."""
    if source.mode in ("RGB", "L") and not source.has_transparency_data:
        return source
    if not source.has_transparency_data:
        return _released_after(source, source.convert("RGB"))
    alpha = (
        source if source.mode in ("RGBA", "LA") else _released_after(source, source.convert("RGBA"))
    )
    flat = Image.new("RGB", alpha.size, (255, 255, 255))
    flat.paste(alpha, mask=alpha)
    return _released_after(alpha, flat)


def _released_after(old: Image.Image, new: Image.Image) -> Image.Image:
    if new is not old:
        old.close()  # drops the decoded pixels now, not when the request ends
    return new


def _bucket() -> GridFSBucket:
    return GridFSBucket(get_db(), bucket_name=BUCKET_NAME)


def evidence_prepare(uploads: list[tuple[str, bytes]]) -> list[PreparedFile]:
    """Check and convert uploads ([(filename, bytes)]) without storing anything: callers
    that store inside a transaction prepare first, so the slow part holds no lock.
    Besides prepare_upload's errors, UploadTooLargeError past the request's bytes and
    ImageTooLargeError past its pixels, both before any image is decoded."""
    limit, total = max_request_bytes(), 0
    for filename, data in uploads:
        total += len(data)
        if total > limit:
            raise UploadTooLargeError(filename=clean_filename(filename), limit_bytes=limit)
    # Every image's size is read before any is decoded: the request's pixels are refused
    # as a whole, not after decoding the first few.
    pixel_limit, pixels = max_request_pixels(), 0
    for filename, data in uploads:
        pixels += _header_pixels(filename=filename, data=data)
    if pixels > pixel_limit:
        raise ImageTooLargeError(
            _("The images of one request may have at most %(megapixels)s megapixels in all.")
            % {"megapixels": _megapixels(pixel_limit)},
            limit_pixels=pixel_limit,
            pixels=pixels,
        )
    return [prepare_upload(filename=filename, data=data) for filename, data in uploads]


def evidence_store(
    *,
    kind: str,
    uploads: list[tuple[str, bytes]] | list[PreparedFile],
    uploaded_by: int,
    incident_id: int | None = None,
    destination_id: int | None = None,
    assignment_id: int | None = None,
    order_id: int | None = None,
    note: str = "",
    lat: float | None = None,
    lng: float | None = None,
) -> Evidence:
    """Store `uploads` ([(filename, bytes)], or files from `evidence_prepare`) as one
    evidence record of `kind`.

    The owner is an incident (give its run's `assignment_id` too, so the evidence is
    purged with the run) or a destination with its `assignment_id`. Every file is checked
    before anything is written, and files already written are removed if a later step
    fails, so a refused request leaves nothing behind. Raises UploadTooLargeError
    (per file or in total), UnsupportedFileTypeError; ValueError without uploads and
    mongoengine's ValidationError for an invalid kind or owner (caller bugs)."""
    if not uploads:
        raise ValueError("evidence_store needs at least one upload.")
    evidence = Evidence(
        kind=kind,
        uploaded_by=uploaded_by,
        incident_id=incident_id,
        destination_id=destination_id,
        assignment_id=assignment_id,
        order_id=order_id,
        note=note,
        lat=lat,
        lng=lng,
    )
    evidence.validate()
    ready = [item for item in uploads if isinstance(item, PreparedFile)]
    if len(ready) == len(uploads):
        prepared = ready
    else:
        # Not all prepared: by the signature, then, all (filename, bytes).
        prepared = evidence_prepare(cast(list[tuple[str, bytes]], uploads))

    bucket = _bucket()
    written: list[ObjectId] = []
    try:
        for item in prepared:
            file_id = bucket.upload_from_stream(
                item.filename,
                item.data,
                metadata={"sha256": item.sha256, "content_type": item.content_type},
            )
            written.append(file_id)
            evidence.files.append(
                StoredFile(
                    file_id=file_id,
                    filename=item.filename,
                    content_type=item.content_type,
                    size=len(item.data),
                    sha256=item.sha256,
                )
            )
        evidence.save()
    except Exception:
        _discard_files(written)
        raise
    return evidence


def evidence_open(file_id: str | ObjectId) -> tuple[StoredFile, Evidence, GridOut]:
    """The stored file `file_id`, the evidence record that lists it and a stream of its
    bytes (close it when done). No access check here: the caller checks the scope of
    the record's owner. Raises FileNotFoundInStoreError for a malformed or unknown id."""
    if isinstance(file_id, ObjectId):
        oid = file_id
    elif isinstance(file_id, str) and ObjectId.is_valid(file_id):
        oid = ObjectId(file_id)
    else:
        raise FileNotFoundInStoreError()
    evidence = Evidence.objects(files__file_id=oid).first()
    if evidence is None:
        raise FileNotFoundInStoreError()
    stored = next(item for item in evidence.files if item.file_id == oid)
    try:
        stream = _bucket().open_download_stream(oid)
    except NoFile:
        raise FileNotFoundInStoreError() from None
    return stored, evidence, stream


def evidence_list(
    *,
    incident_id: int | None = None,
    assignment_id: int | None = None,
    destination_id: int | None = None,
    order_id: int | None = None,
) -> list[Evidence]:
    """Evidence records matching every filter given, oldest first. At least one filter is
    required (ValueError otherwise): an unfiltered list would be the whole collection."""
    filters = {
        name: value
        for name, value in (
            ("incident_id", incident_id),
            ("assignment_id", assignment_id),
            ("destination_id", destination_id),
            ("order_id", order_id),
        )
        if value is not None
    }
    if not filters:
        raise ValueError("evidence_list needs an incident, run, destination or order id.")
    return list(Evidence.objects(**filters).order_by("created_at", "id"))


def evidence_delete(*, evidence: Evidence) -> None:
    """Delete the record's files, then the record (a crash in between leaves a record
    whose files answer not found, never unreachable bytes)."""
    _delete_files([item.file_id for item in evidence.files])
    evidence.delete()


def evidence_delete_for(*, assignment_id: int) -> int:
    """Delete every evidence record of a run and its files; returns how many records."""
    records = list(Evidence.objects(assignment_id=assignment_id))
    _delete_files([item.file_id for record in records for item in record.files])
    # By id, not by assignment_id: a record stored meanwhile keeps its files and itself.
    for batch in _batches([record.pk for record in records]):
        Evidence.objects(pk__in=batch).delete()
    return len(records)


def evidence_delete_for_incident(*, incident_id: int) -> int:
    """An incident is deleted: its own evidence goes with its files; a proof of delivery it
    shared (a failed drop-off's photo) stays with the drop-off. Returns records deleted."""
    Evidence.objects(incident_id=incident_id, destination_id__ne=None).update(set__incident_id=None)
    records = list(Evidence.objects(incident_id=incident_id))
    for record in records:
        evidence_delete(evidence=record)
    return len(records)


def _delete_files(file_ids: list[ObjectId]) -> None:
    # Bulk deletes on the bucket's two collections (GridFS layout): GridFSBucket.delete
    # costs two round trips per file.
    db = get_db()
    for batch in _batches(file_ids):
        db[f"{BUCKET_NAME}.files"].delete_many({"_id": {"$in": batch}})
        db[f"{BUCKET_NAME}.chunks"].delete_many({"files_id": {"$in": batch}})


def _discard_files(file_ids: list[ObjectId]) -> None:
    # Cleanup after a failed store must not mask the error that caused it.
    try:
        _delete_files(file_ids)
    except PyMongoError:
        logger.exception("Could not remove %d evidence files of a failed upload", len(file_ids))


def _batches(items: list, size: int = IN_BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
