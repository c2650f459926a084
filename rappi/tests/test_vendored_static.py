"""The JavaScript libraries under static/vendor/ are the ones scripts/vendor_static.sh
pins, each with its licence and version beside it, and nothing in them points at a file
that is not shipped (the static files manifest would refuse to build)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vendor_static.sh"


def _pinned() -> list[tuple[str, str, list[str]]]:
    entries = re.findall(r'^\s+"(\S+)@(\d[\w.-]*) ([^"]+)"$', SCRIPT.read_text(), re.MULTILINE)
    return [(name, version, files.split()) for name, version, files in entries]


def test_the_script_pins_htmx_leaflet_and_geoman():
    assert {name for name, _version, _files in _pinned()} == {
        "htmx.org",
        "leaflet",
        "@geoman-io/leaflet-geoman-free",
    }


@pytest.mark.parametrize("name, version, files", _pinned(), ids=lambda v: str(v))
def test_each_pinned_package_is_vendored_with_its_licence_and_version(name, version, files):
    folder = ROOT / "static" / "vendor" / name.rsplit("/", 1)[-1]
    assert (folder / "VERSION").read_text().strip() == f"{name}@{version}"
    assert (folder / "LICENSE").stat().st_size > 0
    for file in files:
        assert (folder / Path(file).name).exists(), file
    for shipped in [*folder.rglob("*.js"), *folder.rglob("*.css")]:
        assert "sourceMappingURL" not in shipped.read_text(), shipped
