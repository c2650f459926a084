"""The compiled Spanish catalogue is the one its .po file compiles to, and says what the
.po says (a .po edited without `compilemessages` would silently not show)."""

import gettext
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po"))


def _catalogue(mo: Path) -> dict:
    with mo.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)  # type: ignore[attr-defined]


@pytest.mark.parametrize("po", CATALOGUES, ids=lambda po: po.parts[-3])
def test_each_compiled_catalogue_is_in_step_with_its_po_file(po, tmp_path):
    if shutil.which("msgfmt") is None:
        pytest.skip("GNU gettext's msgfmt is not installed (make test installs it)")
    fresh = tmp_path / "django.mo"
    subprocess.run(["msgfmt", "--check", "-o", str(fresh), str(po)], check=True)
    assert _catalogue(po.with_suffix(".mo")) == _catalogue(fresh)


def test_spanish_is_shipped_and_used():
    assert [po.parts[-3] for po in CATALOGUES] == ["es"]
    with translation.override("es"):
        assert translation.gettext("Approve payment") == "Aprobar pago"


SOURCES = ["manage.py", "rappi", "identity", "orders", "fleet", "tracking", "audit", "templates"]


def test_every_string_of_ours_has_a_spanish_translation(tmp_path):
    """`makemessages` over a copy of the sources, merged into the committed catalogue:
    nothing may come out untranslated or fuzzy (a new string without its Spanish, or one
    whose English changed)."""
    for tool in ("xgettext", "msgmerge", "msgattrib"):
        if shutil.which(tool) is None:
            pytest.skip(f"GNU gettext's {tool} is not installed (make test installs it)")
    for name in SOURCES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / name)
    shutil.copytree(ROOT / "locale", tmp_path / "locale")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "rappi.settings.local",
        "VAR_DIR": str(tmp_path / "var"),
        "SECRET_KEY": "x" * 50,
    }
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "es", "--no-location", "-v0"],
        cwd=tmp_path,
        env=env,
        check=True,
    )
    merged = tmp_path / "locale" / "es" / "LC_MESSAGES" / "django.po"
    missing = []
    for flag in ("--untranslated", "--only-fuzzy"):
        listed = subprocess.run(
            ["msgattrib", flag, "--no-obsolete", str(merged)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        missing += [
            line.removeprefix("msgid ").strip('"')
            for line in listed.splitlines()
            if line.startswith('msgid "') and line != 'msgid ""'
        ]
    assert missing == [], (
        f"{len(missing)} strings lack Spanish: run `manage.py makemessages -l es "
        f"--no-location`, translate them in locale/es, then `manage.py compilemessages`: "
        f"{missing[:40]}"
    )
