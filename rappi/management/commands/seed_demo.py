import importlib

from django.core.management.base import BaseCommand
from django.db import connection

# The apps with a `demo` module, in the order they seed: each part finds what the ones
# before it made (fleet's runs use identity's users and orders' orders, and its pings meet
# the tracking zones).
DEMO_APPS = ("identity", "orders", "tracking", "fleet")


class Command(BaseCommand):
    help = (
        "Load the Arequipa demo dataset: identity, orders, tracking and fleet each seed their "
        "part, in that order. Idempotent unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete demo data first")

    def handle(self, *args, reset: bool = False, **options):
        for app in DEMO_APPS:
            importlib.import_module(f"{app}.demo").seed(reset=reset, stdout=self.stdout)
        if connection.vendor == "postgresql":
            # Fresh planner statistics for the rows just loaded: tables the planner still
            # believes empty get nested loops that a report over the demo month took
            # minutes to run (autovacuum analyzes them only later).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
