"""Read helpers shared by the apps' selectors."""

from django.db.models import QuerySet

from rappi.errors import NotFoundError


def get_or_404(queryset: QuerySet, pk):
    """The row with this id among those the (already scoped) queryset allows, else 404."""
    found = queryset.filter(pk=pk).first()
    if found is None:
        raise NotFoundError()
    return found
