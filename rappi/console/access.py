"""Who may open a console page: a signed-in user (else the sign-in page), of a staff
role (a customer or a driver is signed out and told so), holding the page's grant (else a
403 page). Commands on a page check their own grant with `require`."""

from functools import wraps

from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _

from rappi.api.permissions import READ
from rappi.errors import NotFoundError


class ConsoleForbidden(Exception):
    """The signed-in staff member lacks the grant a page or a command needs."""


def require(user, resource: str, action: str) -> None:
    if not user.has_permission(resource, action):
        raise ConsoleForbidden(f"{resource}:{action}")


def staff_refused(request):
    """A customer's or driver's session is ended here: the console is for staff."""
    logout(request)
    messages.error(
        request,
        _("The console is for Rappi staff. Customers and drivers use the Rappi app."),
    )
    return redirect("console:login")


def forbidden(request):
    return render(request, "console/403.html", status=403)


def not_found(request):
    return render(request, "console/404.html", status=404)


def console_page(resource: str | None = None, action: str = READ):
    """Decorate a console view: signed in, staff, and `resource:action` (the page's read
    grant; None for pages every staff member sees)."""

    def decorate(view):
        @wraps(view)
        def page(request, *args, **kwargs):
            user = request.user
            if not user.is_authenticated:
                return redirect_to_login(request.get_full_path(), reverse("console:login"))
            if not user.is_staff_member:
                return staff_refused(request)
            try:
                if resource is not None:
                    require(user, resource, action)
                return view(request, *args, **kwargs)
            except ConsoleForbidden:
                return forbidden(request)
            except (NotFoundError, Http404):  # a row outside the user's scope, or none
                return not_found(request)

        page.console_grant = (resource, action) if resource else None
        return page

    return decorate
