"""The console's sign-in form: the same users, password hashing and sign-in budgets as
the API and the admin; staff roles only."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.utils.translation import gettext_lazy as _

from identity.forms import ThrottledSignInMixin


class ConsoleSignInForm(ThrottledSignInMixin, AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "invalid_login": _("Wrong email or password."),
        "staff_only": _("The console is for Rappi staff. Customers and drivers use the Rappi app."),
    }

    def __init__(self, request=None, *args, **kwargs):
        super().__init__(request, *args, **kwargs)
        self.fields["username"].label = _("Email")
        self.fields["username"].widget.attrs.update({"autocomplete": "username", "type": "email"})

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not user.is_staff_member:
            raise forms.ValidationError(self.error_messages["staff_only"], code="staff_only")
