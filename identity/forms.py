"""Forms of the server-rendered pages. The sign-in forms (the admin's and the console's)
spend the same per-IP and per-account budgets as the API's sign-in before the password is
looked at, so a throttled client is refused even with the right password. The console
inbox's filters are the API's inbox query, shown as a form."""

import math

from django import forms
from django.utils.translation import gettext_lazy as _

from identity.throttling import login_attempt_wait
from rappi.net import client_ip


class ThrottledSignInMixin:
    """For Django's AuthenticationForm and its subclasses: `retry_after` (seconds) is set
    when the attempt was refused for being over budget."""

    retry_after: int | None = None

    def clean(self):
        wait = login_attempt_wait(
            ip=client_ip(self.request) if self.request else None,
            email=self.data.get("username"),
        )
        if wait is not None:
            self.retry_after = max(1, math.ceil(wait))
            raise forms.ValidationError(
                _("Too many sign-in attempts. Try again in %(seconds)s seconds."),
                code="throttled",
                params={"seconds": self.retry_after},
            )
        return super().clean()


def throttled_status(response, form) -> None:
    """Mark a sign-in page answered while throttled: 429 with Retry-After."""
    if getattr(form, "retry_after", None):
        response.status_code = 429
        response["Retry-After"] = str(form.retry_after)


class InboxFilterForm(forms.Form):
    """The fields of the API's inbox query a person filters by."""

    unread = forms.CharField(
        label=_("Show"),
        required=False,
        widget=forms.Select(
            choices=[
                ("", _("All")),
                ("true", _("Unread")),
                ("false", _("Read")),
            ]
        ),
    )
    kind = forms.CharField(
        label=_("Kind"),
        required=False,
        widget=forms.TextInput(attrs={"placeholder": "incident.reported"}),
    )
