"""Read helpers shared by the apps' selectors."""

from django.db.models import QuerySet

from rappi.errors import NotFoundError

# The largest value of a bigint id column.
MAX_ID = 2**63 - 1


def checked_id(pk):
    """`pk` as given, unless it is a number no column can hold (the URL lets any run of
    digits through): absent then (404), rather than an error of the integer conversion
    or of the database."""
    if isinstance(pk, str) and pk.isdigit() and (len(pk) > 19 or int(pk) > MAX_ID):
        raise NotFoundError()
    if isinstance(pk, int) and not -MAX_ID <= pk <= MAX_ID:
        raise NotFoundError()
    return pk


def get_or_404(queryset: QuerySet, pk):
    """The row with this id among those the (already scoped) queryset allows, else 404."""
    found = queryset.filter(pk=checked_id(pk)).first()
    if found is None:
        raise NotFoundError()
    return found
