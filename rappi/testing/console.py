"""Console pages in tests: a signed-in browser session through Django's test client."""

from django.conf import settings
from django.test import Client


def console_client(user, language: str = "en") -> Client:
    """`user` signed in to the console, reading it in `language` (English by default,
    since tests assert English words; the console's own default is Spanish)."""
    client = Client()
    client.force_login(user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client
