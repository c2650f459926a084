"""Reports as CSV: UTF-8 with a byte order mark (so a spreadsheet reads the accents),
RFC 4180 (CRLF, quotes doubled), one header row, the cells exactly the JSON's strings."""

import csv
import io

from django.http import HttpResponse

BOM = "\ufeff"
# A cell a spreadsheet would run as a formula (a customer called "=HYPERLINK(…)"): text
# only, so a negative amount stays a number.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    text = str(value)
    if text.startswith(_FORMULA_STARTS) and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_text(header: list[str], rows: list[list]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return BOM + buffer.getvalue()


def csv_response(filename: str, header: list[str], rows: list[list]) -> HttpResponse:
    response = HttpResponse(
        csv_text(header, rows).encode("utf-8"), content_type="text/csv; charset=utf-8"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def section_rows(sections: list[tuple[str, list[tuple]]]) -> list[list]:
    """Rows of a report with several parts in one table: `[section, *values]` each."""
    return [[name, *values] for name, values_list in sections for values in values_list]
