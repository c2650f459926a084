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


def page_text(response) -> str:
    """A page that answered 200, as text."""
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def post_form(client, url: str, data: dict | None = None) -> str:
    """POST a console form, follow its redirect (PRG) and return the page shown."""
    response = client.post(url, data or {}, follow=True)
    assert response.redirect_chain, "a console command always redirects"
    return page_text(response)


def messages_of(response) -> list[str]:
    """The messages a page shows (Django's messages framework)."""
    return [str(message) for message in response.context["messages"]]
