"""The API's JSON renderer: DRF's, with orjson doing the encoding.

Encoding a 50-order page (about 50 KB) with the standard library was a tenth of the
list's worker CPU. The bytes are DRF's: compact, UTF-8, U+2028/U+2029 escaped, and what
orjson does not write the way DRF's encoder does (datetimes, decimals, lazy text, named
tuples) goes through DRF's encoder. A float may be spelled differently (`0.00001`, not
`1e-05`), the same number, and NaN or infinity is written null where DRF's renderer
raised (the API's parser and fields refuse them, so none is stored). What orjson refuses
(an integer beyond 64 bits), generators and other one-pass iterators, indented output and
DRF settings other than its defaults (`UNICODE_JSON`, `COMPACT_JSON`, `STRICT_JSON`) take
DRF's own path. orjson reads dicts and lists as they are stored (not through a subclass's
overrides) and writes float keys and values in its own spelling; no output of ours
depends on either."""

import orjson
from rest_framework import renderers
from rest_framework.utils.encoders import JSONEncoder

_OPTIONS = orjson.OPT_PASSTHROUGH_DATETIME | orjson.OPT_NON_STR_KEYS
_drf_default = JSONEncoder().default
_LINE_SEPARATORS = ((b"\xe2\x80\xa8", b"\\u2028"), (b"\xe2\x80\xa9", b"\\u2029"))


def _default(value):
    """What orjson cannot write, as DRF's encoder writes it; a one-pass iterator (a
    generator) is refused before anything reads it, so DRF's path gets it whole."""
    try:
        one_pass = iter(value) is value
    except TypeError:
        one_pass = False
    if one_pass:
        raise TypeError("a one-pass iterator is left to DRF's renderer")
    return _drf_default(value)


class JSONRenderer(renderers.JSONRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if data is None:
            return b""
        if (
            self.ensure_ascii
            or not self.compact
            or not self.strict
            or self.encoder_class is not JSONEncoder
            or self.get_indent(accepted_media_type, renderer_context or {}) is not None
        ):
            return super().render(data, accepted_media_type, renderer_context)
        try:
            encoded = orjson.dumps(data, default=_default, option=_OPTIONS)
        except orjson.JSONEncodeError:
            return super().render(data, accepted_media_type, renderer_context)
        for raw, escaped in _LINE_SEPARATORS:
            if raw in encoded:
                encoded = encoded.replace(raw, escaped)
        return encoded
