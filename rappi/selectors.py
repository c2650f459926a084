"""Read helpers shared by the apps' selectors."""

from django.db.models import QuerySet

from rappi.errors import NotFoundError

# The largest value of a bigint id column.
MAX_ID = 2**63 - 1


def get_or_404(queryset: QuerySet, pk):
    """The row with this id among those the (already scoped) queryset allows, else 404.
    An id of digits no column can hold (the URL lets any run of digits through) is
    absent too, rather than an error of the integer conversion or of the database."""
    if isinstance(pk, str) and pk.isdigit() and (len(pk) > 19 or int(pk) > MAX_ID):
        raise NotFoundError()
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise NotFoundError()
    return found
