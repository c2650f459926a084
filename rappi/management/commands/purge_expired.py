from django.core.management.base import BaseCommand

from rappi.api.idempotency import purge_expired_idempotency_records
from rappi.api.throttling import purge_expired_counters


class Command(BaseCommand):
    help = "Delete expired idempotency records and throttle counters (run daily)."

    def handle(self, *args, **options):
        records = purge_expired_idempotency_records()
        counters = purge_expired_counters()
        self.stdout.write(f"purged {records} idempotency record(s), {counters} rate counter(s)")
