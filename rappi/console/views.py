"""The console's own pages: sign-in, sign-out and the overview."""

from django.contrib.auth import views as auth_views
from django.shortcuts import render
from django.urls import reverse_lazy
from django.views.decorators.http import require_GET

from identity.forms import throttled_status
from rappi.console.access import console_page
from rappi.console.forms import ConsoleSignInForm
from rappi.console.overview import overview


class SignInView(auth_views.LoginView):
    template_name = "console/sign_in.html"
    authentication_form = ConsoleSignInForm
    redirect_authenticated_user = True
    next_page = reverse_lazy("console:overview")  # type: ignore[assignment]  # lazy is fine

    def form_invalid(self, form):
        response = super().form_invalid(form)
        throttled_status(response, form)
        return response


class SignOutView(auth_views.LogoutView):
    next_page = reverse_lazy("console:login")  # type: ignore[assignment]  # lazy is fine


@require_GET
@console_page()
def overview_page(request):
    context = {"figures": overview()}
    if request.htmx:  # the 10-second refresh: the tiles only
        return render(request, "console/_overview_tiles.html", context)
    return render(request, "console/overview.html", context)
