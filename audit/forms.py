"""The audit log page's filters: the fields of the API's `/audit/events` query, shown as a
form. What a value means (and which are refused) is the API's query serializer's say."""

from django import forms
from django.utils.translation import gettext_lazy as _

from audit.api.serializers import HTTP_METHODS
from audit.documents import DOMAIN, REQUEST

KIND_LABELS = {REQUEST: _("Request"), DOMAIN: _("Domain record")}


class AuditFilterForm(forms.Form):
    kind = forms.CharField(
        label=_("Kind"),
        required=False,
        widget=forms.Select(choices=[("", _("Any")), *KIND_LABELS.items()]),
    )
    user_id = forms.CharField(
        label=_("User id"), required=False, widget=forms.NumberInput(attrs={"min": 1})
    )
    method = forms.CharField(
        label=_("Method"),
        required=False,
        widget=forms.Select(choices=[("", _("Any")), *((m, m) for m in HTTP_METHODS)]),
    )
    status_code = forms.CharField(
        label=_("Status"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": _("404 or 5xx"), "size": 8}),
    )
    path = forms.CharField(
        label=_("Path starts with"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "/api/v1/orders"}),
    )
    action = forms.CharField(
        label=_("Action"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "order.cancel"}),
    )
    since = forms.CharField(
        label=_("From (Lima)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )
    until = forms.CharField(
        label=_("Until (Lima)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": 1}),
    )
