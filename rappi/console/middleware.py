"""The console speaks Spanish (Peru) until its user picks another language (Django's
language cookie, set by the switcher); the API keeps Accept-Language."""

from django.conf import settings
from django.utils import translation


class ConsoleLanguageMiddleware:
    """After LocaleMiddleware: on /console/ pages with no language chosen, Spanish."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/console/") and not request.COOKIES.get(
            settings.LANGUAGE_COOKIE_NAME
        ):
            translation.activate(settings.CONSOLE_LANGUAGE)
            request.LANGUAGE_CODE = settings.CONSOLE_LANGUAGE
        return self.get_response(request)
