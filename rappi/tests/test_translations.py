"""The compiled Spanish catalogue is the one its .po file compiles to, and says what the
.po says (a .po edited without `compilemessages` would silently not show)."""

import gettext
import shutil
import subprocess
from pathlib import Path

import pytest
from django.utils import translation

ROOT = Path(__file__).resolve().parents[2]
CATALOGUES = sorted((ROOT / "locale").glob("*/LC_MESSAGES/django.po"))


def _catalogue(mo: Path) -> dict:
    with mo.open("rb") as handle:
        return dict(gettext.GNUTranslations(handle)._catalog)


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
