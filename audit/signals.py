"""Who a sign-in request was about, noted on the request for its audit record: a failed
attempt names an account but authenticates nobody, and a JWT sign-in authenticates the
user only for the tokens it returns, not for the request itself."""

from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models.signals import post_save
from django.dispatch import receiver

from audit import context


@receiver(user_login_failed)
def note_failed_sign_in(sender, credentials, request=None, **kwargs):
    # Django has already masked secrets in `credentials`; only the account name is kept.
    username = credentials.get("username") or credentials.get("email") or ""
    context.note(context.ATTEMPTED, str(username))


@receiver(post_save, sender=settings.AUTH_USER_MODEL)
def note_sign_in(sender, instance, update_fields=None, **kwargs):
    # Every sign-in stamps last_login with exactly this save (Django's own
    # update_last_login, and the API's session_login).
    if update_fields is not None and set(update_fields) == {"last_login"}:
        context.note(context.SIGNED_IN, (instance.pk, instance.get_username()))
