"""Spanish as written in Peru: Django's Spanish formats, but numbers with a decimal point
and a thousands comma (S/ 1,234.50 and 5.3 km read alike)."""

from django.conf.locale.es.formats import *  # noqa: F403

DECIMAL_SEPARATOR = "."
THOUSAND_SEPARATOR = ","
