"""Form widgets of the console's filter forms, used by default by the shared filter fields
(rappi/api/filters.py), so every board's form is the same."""

from datetime import datetime

from django import forms
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext_lazy as _


class LimaDateTimeInput(forms.DateTimeInput):
    """A `datetime-local` input: the person types Lima time, which the filters read as
    Lima time (a value without an offset). A value with an offset (the overview's links)
    is shown in Lima time too, so submitting the form again keeps the same instant."""

    input_type = "datetime-local"

    def format_value(self, value):
        if value in (None, ""):
            return None
        when = value if isinstance(value, datetime) else parse_datetime(str(value))
        if when is None:
            return str(value)  # not a time: shown as typed, the field's error says why
        if timezone.is_aware(when):
            when = timezone.localtime(when, timezone.get_default_timezone())
        if when.second or when.microsecond:
            return when.strftime("%Y-%m-%dT%H:%M:%S")
        return when.strftime("%Y-%m-%dT%H:%M")

    def get_context(self, name, value, attrs):
        context = super().get_context(name, value, attrs)
        shown = context["widget"]["value"] or ""
        if shown.count(":") > 1:  # with seconds: the browser must accept them
            context["widget"]["attrs"]["step"] = "1"
        return context


class BooleanSelect(forms.Select):
    """Any / Yes / No, sending the `true`/`false` the API's boolean filters read."""

    def __init__(self, attrs=None):
        super().__init__(attrs, choices=[("", _("Any")), ("true", _("Yes")), ("false", _("No"))])

    def format_value(self, value):
        if value in (True, "True", "true", "1"):
            return ["true"]
        if value in (False, "False", "false", "0"):
            return ["false"]
        return [""]
