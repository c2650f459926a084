import importlib

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import connection


class Command(BaseCommand):
    help = (
        "Load the Arequipa demo dataset: every app with a `demo` module seeds its part, in "
        "INSTALLED_APPS order. Idempotent unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="delete demo data first")

    def handle(self, *args, reset: bool = False, **options):
        for config in apps.get_app_configs():
            try:
                demo = importlib.import_module(f"{config.name}.demo")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.demo":
                    raise
                continue
            demo.seed(reset=reset, stdout=self.stdout)
        if connection.vendor == "postgresql":
            # Fresh planner statistics for the rows just loaded: tables the planner still
            # believes empty get nested loops that a report over the demo month took
            # minutes to run (autovacuum analyzes them only later).
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
