"""What preparing evidence costs in memory, measured as the growth of a fresh process's
peak resident set (VmHWM, reset just before; Pillow allocates in C, where tracemalloc
does not look, and getrusage's ru_maxrss would still count the forking parent): the worst
request the pixel limits admit stays under a stated bound, and a request of
decompression bombs is refused without decoding anything.

The images are solid colours, written here as PNG row by row, so a 64-megapixel file is
about 190 KB and building it costs this process no memory to speak of."""

import json
import os
import struct
import subprocess
import sys
import zlib

from django.conf import settings

# The worst request the limits admit must stay under this (measured: about 8 bytes a
# pixel of its largest image, ~400 MB at the default 52 MP).
WORST_ACCEPTED_BOUND_MB = 600
# A refused request may load its files and read their headers, nothing more.
REFUSED_BOUND_MB = 20

MEASURE = """
import io, json, os, sys, threading
import django
django.setup()
from PIL import Image
from tracking import evidence as ev

def status_kb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])

warm = io.BytesIO()
Image.new("RGBA", (20, 20)).save(warm, "PNG")
ev.evidence_prepare([("warm.png", warm.getvalue())])  # plugins loaded before measuring
uploads = [(os.path.basename(path), open(path, "rb").read()) for path in sys.argv[1:]]
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # the peak (VmHWM) starts again from what is resident now
before = status_kb("VmRSS")
outcomes = []

def prepare():
    try:
        ev.evidence_prepare(uploads)
        outcomes.append("accepted")
    except ev.ImageTooLargeError as exc:
        outcomes.append(exc.code)

# Several requests at once, as a gunicorn worker's threads take them.
threads = [threading.Thread(target=prepare) for _ in range(int(os.environ["THREADS"]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
growth = (status_kb("VmHWM") - before) / 1024
print(json.dumps({"outcome": ",".join(sorted(set(outcomes))), "growth_mb": growth}))
"""


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def solid_png(path, width: int, height: int, *, alpha: bool) -> str:
    """An 8-bit RGB(A) PNG of one colour (half transparent with `alpha`), compressed row
    by row without ever holding the pixels."""
    color_type, pixel = (6, b"\x10\x20\x30\x80") if alpha else (2, b"\x10\x20\x30")
    header = struct.pack(">IIBBBBB", width, height, 8, color_type, 0, 0, 0)
    row = b"\x00" + pixel * width  # filter type 0, then the pixels
    compressor = zlib.compressobj(6)
    pixels = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    with open(path, "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n")
        out.write(_chunk(b"IHDR", header) + _chunk(b"IDAT", pixels) + _chunk(b"IEND", b""))
    return str(path)


def measure(paths: list[str], *, threads: int = 1) -> dict:
    """Prepare `paths` as one request (in each of `threads` threads at once) in a fresh
    process; the outcome and the process's peak growth."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE, *paths],
        cwd=settings.BASE_DIR,
        env={**os.environ, "THREADS": str(threads)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def _dimensions(pixels: int) -> tuple[int, int]:
    """A 4:3-ish width and height with at most `pixels` pixels."""
    height = int((pixels * 3 / 4) ** 0.5)
    return pixels // height, height


def test_the_worst_request_the_pixel_limits_admit_stays_under_the_memory_bound(tmp_path):
    per_image = settings.EVIDENCE_MAX_IMAGE_PIXELS
    rest = settings.EVIDENCE_MAX_REQUEST_PIXELS - per_image
    # Transparency is the dearest case: the decoded image and its flattened copy.
    paths = [
        solid_png(tmp_path / "a.png", *_dimensions(per_image), alpha=True),
        solid_png(tmp_path / "b.png", *_dimensions(min(rest, per_image)), alpha=True),
    ]

    result = measure(paths)

    assert result["outcome"] == "accepted"
    assert result["growth_mb"] < WORST_ACCEPTED_BOUND_MB, result


def test_a_worker_taking_the_worst_request_on_four_threads_at_once_stays_under_the_bound(
    tmp_path,
):
    # gunicorn runs several threads a worker: decodes take turns, so four of the worst
    # requests at once cost what one does, not four times as much.
    per_image = settings.EVIDENCE_MAX_IMAGE_PIXELS
    path = solid_png(tmp_path / "a.png", *_dimensions(per_image), alpha=True)

    result = measure([path], threads=4)

    assert result["outcome"] == "accepted"
    assert result["growth_mb"] < WORST_ACCEPTED_BOUND_MB, result


def test_ten_64_megapixel_pngs_are_refused_before_decoding(tmp_path):
    bomb = solid_png(tmp_path / "bomb.png", 8000, 8000, alpha=False)
    assert os.path.getsize(bomb) < 300_000

    result = measure([bomb] * 10)

    assert result["outcome"] == "image_too_large"
    assert result["growth_mb"] < REFUSED_BOUND_MB, result


def test_images_each_within_the_limit_but_too_many_together_are_refused_before_decoding(
    tmp_path,
):
    each = min(settings.EVIDENCE_MAX_IMAGE_PIXELS, settings.EVIDENCE_MAX_REQUEST_PIXELS // 2)
    path = solid_png(tmp_path / "photo.png", *_dimensions(each), alpha=False)

    result = measure([path] * 3)

    assert result["outcome"] == "image_too_large"
    assert result["growth_mb"] < REFUSED_BOUND_MB, result
