from django.core.management.base import BaseCommand

from rappi import mongo


class Command(BaseCommand):
    help = "Create the MongoDB indexes every document declares (run at deploy; idempotent)."

    def handle(self, *args, **options):
        collections = mongo.ensure_indexes()
        self.stdout.write(f"MongoDB indexes ensured for: {', '.join(collections) or 'none'}")
