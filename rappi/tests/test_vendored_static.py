"""The JavaScript libraries under static/vendor/ are the ones scripts/vendor_static.sh
pins, each with its licence and version beside it, and nothing in them points at a file
that is not shipped (the static files manifest would refuse to build)."""

import json
import re
from pathlib import Path

import pytest
from django.core.management import call_command

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "vendor_static.sh"


def _pinned() -> list[tuple[str, str, list[str]]]:
    entries = re.findall(r'^\s+"(\S+)@(\d[\w.-]*) ([^"]+)"$', SCRIPT.read_text(), re.MULTILINE)
    return [(name, version, files.split()) for name, version, files in entries]


def test_the_script_pins_htmx_leaflet_geoman_and_chartjs():
    assert {name for name, _version, _files in _pinned()} == {
        "htmx.org",
        "leaflet",
        "@geoman-io/leaflet-geoman-free",
        "chart.js",
    }


@pytest.mark.parametrize(("name", "version", "files"), _pinned(), ids=lambda v: str(v))
def test_each_pinned_package_is_vendored_with_its_licence_and_version(name, version, files):
    folder = ROOT / "static" / "vendor" / name.rsplit("/", 1)[-1]
    assert (folder / "VERSION").read_text().strip() == f"{name}@{version}"
    licence = next(file for file in files if Path(file).stem == "LICENSE")  # Chart.js: .md
    assert (folder / licence).stat().st_size > 0
    for file in files:
        assert (folder / Path(file).name).exists(), file
    for shipped in [*folder.rglob("*.js"), *folder.rglob("*.css")]:
        assert "sourceMappingURL" not in shipped.read_text(), shipped


def test_the_production_static_files_build_leaves_inlined_icons_whole(tmp_path, settings):
    """The manifest rewrites `url(...)` in CSS to hashed names; the editor's toolbar icons
    are SVG data: URLs whose masks once read `url(%23id)` and came out broken."""
    settings.STATIC_ROOT = tmp_path
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", interactive=False, verbosity=0)
    css = "vendor/leaflet-geoman-free/leaflet-geoman.css"
    served = json.loads((tmp_path / "staticfiles.json").read_text())["paths"][css]  # hashed
    assert served != css
    assert (tmp_path / served).read_text() == (ROOT / "static" / css).read_text()
