"""Forms of the console's run and incident pages. They post the API's field names
(`reason`, `include_delivered`, `stop_ids`, `type`, `notes`, `files`, `kind`, `note`) and
check only the shape of the input: the rules are the services'."""

from django import forms
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from fleet.api.serializers import EVIDENCE_FILES_PER_REQUEST, MAX_STOPS
from fleet.models import REPORTABLE_INCIDENT_TYPES
from tracking import evidence
from tracking.documents import EVIDENCE_KINDS

EVIDENCE_KIND_LABELS = {"photo": _("Photo"), "signature": _("Signature"), "document": _("Document")}


class RunCancelForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300, required=False)


class RunFinishForm(forms.Form):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=300,
        help_text=_("Pending drop-offs fail with this reason."),
    )


class RunReopenForm(forms.Form):
    include_delivered = forms.BooleanField(label=_("Include delivered drop-offs"), required=False)


class IncidentReportForm(forms.Form):
    type = forms.ChoiceField(label=_("Type"), choices=REPORTABLE_INCIDENT_TYPES)
    notes = forms.CharField(
        label=_("Notes"),
        max_length=2000,
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g}"


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files under one name (Django's documented recipe)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput())
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        single = super().clean
        if isinstance(data, list | tuple) and data:
            return [single(item, initial) for item in data]
        # None, or an empty list (the recipe's gap): "required" as for a single file.
        return [single(data or None, initial)]


class IncidentEvidenceForm(forms.Form):
    """Files for an incident. Their sizes are checked here, before any is read, against
    the evidence store's limits; their types and pixels by the store."""

    files = MultipleFileField(  # type: ignore[assignment]  # a field, not BaseForm.files
        label=_("Files"),
        widget=MultipleFileInput(
            attrs={"accept": "image/jpeg,image/png,image/webp,image/heic,application/pdf"}
        ),
    )
    kind = forms.ChoiceField(
        label=_("Kind"),
        choices=[(kind, EVIDENCE_KIND_LABELS[kind]) for kind in EVIDENCE_KINDS],
        initial="photo",
    )
    note = forms.CharField(label=_("Note"), max_length=2000, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = _(
            "JPEG, PNG, WebP, HEIC or PDF; up to %(count)s files of %(file_mb)s MB, "
            "%(total_mb)s MB in all."
        ) % {
            "count": EVIDENCE_FILES_PER_REQUEST,
            "file_mb": _megabytes(evidence.max_file_bytes()),
            "total_mb": _megabytes(evidence.max_request_bytes()),
        }

    def clean_files(self):
        files = self.cleaned_data["files"]
        if len(files) > EVIDENCE_FILES_PER_REQUEST:
            raise forms.ValidationError(
                ngettext(
                    "Send at most %(count)d file at a time.",
                    "Send at most %(count)d files at a time.",
                    EVIDENCE_FILES_PER_REQUEST,
                )
                % {"count": EVIDENCE_FILES_PER_REQUEST}
            )
        per_file = evidence.max_file_bytes()
        for upload in files:
            if upload.size > per_file:
                raise forms.ValidationError(
                    _("%(name)s is %(size)s MB; a file may have at most %(limit)s MB.")
                    % {
                        "name": evidence.clean_filename(upload.name or ""),
                        "size": f"{upload.size / (1024 * 1024):.1f}",
                        "limit": _megabytes(per_file),
                    }
                )
        total, in_all = sum(upload.size for upload in files), evidence.max_request_bytes()
        if total > in_all:
            raise forms.ValidationError(
                _("These files have %(size)s MB in all; at most %(limit)s MB may be sent at once.")
                % {"size": f"{total / (1024 * 1024):.1f}", "limit": _megabytes(in_all)}
            )
        return files

    def uploads(self) -> list[tuple[str, bytes]]:
        """(name, bytes) of each file, as the evidence store takes them."""
        return [(upload.name or "", upload.read()) for upload in self.cleaned_data["files"]]


class StopSequenceForm(forms.Form):
    """The pending stops in the dispatcher's order. The form lists them (`stop_ids`, in
    their current order) with a `position` number each; or one of its ↑/↓ buttons (`up`
    or `down`, naming a stop) moves that stop one place. `stop_ids()` is the new order,
    as `route_resequence` and the API's `stop_ids` take it."""

    def clean(self):
        ids = self._integers("stop_ids", _("Stop ids are whole numbers."))
        if not ids:
            raise forms.ValidationError(_("There is no pending stop to put in order."))
        if len(ids) > MAX_STOPS:
            raise forms.ValidationError(_("Too many stops."))
        for direction, step in (("up", -1), ("down", 1)):
            moved = self.data.get(direction)
            if moved is None:
                continue
            if not moved.isdigit() or int(moved) not in ids:
                raise forms.ValidationError(_("That stop is not in the list any more."))
            here = ids.index(int(moved))
            there = here + step
            if 0 <= there < len(ids):
                ids[here], ids[there] = ids[there], ids[here]
            return {"stop_ids": ids}
        positions = self._integers("position", _("Positions are whole numbers."))
        if len(positions) != len(ids):
            raise forms.ValidationError(_("Give every stop a position."))
        # Equal numbers keep the stops' current order between them.
        ranked = sorted(range(len(ids)), key=lambda index: (positions[index], index))
        return {"stop_ids": [ids[index] for index in ranked]}

    def _integers(self, name: str, message) -> list[int]:
        # Bound to request.POST, a QueryDict: a name may come several times.
        values = [value.strip() for value in self.data.getlist(name)]  # type: ignore[attr-defined]
        if not all(value.isascii() and value.isdigit() and len(value) < 19 for value in values):
            raise forms.ValidationError(message)
        return [int(value) for value in values]

    def stop_ids(self) -> list[int]:
        return self.cleaned_data["stop_ids"]
