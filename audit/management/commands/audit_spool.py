from django.core.management.base import BaseCommand, CommandError
from pymongo.errors import PyMongoError

from audit.writer import AuditWriter


class Command(BaseCommand):
    help = (
        "Report the local audit spool (records waiting for MongoDB) and, with --replay, "
        "write them to MongoDB now, in order, each once. Segments a running worker holds "
        "are left to it."
    )

    def add_arguments(self, parser):
        parser.add_argument("--replay", action="store_true", help="Replay the spool now")

    def handle(self, *args, replay: bool = False, **options):
        writer = AuditWriter.from_settings(background=False)
        try:
            self._report(writer)
            if replay:
                try:
                    replayed = writer.replay()
                except PyMongoError as exc:
                    raise CommandError(
                        f"MongoDB unreachable, spool kept: {exc.__class__.__name__}"
                    ) from None
                self.stdout.write(
                    f"Replayed {replayed} record(s) "
                    f"({writer.counts['duplicates']} already in MongoDB, "
                    f"{writer.spool.corrupt} unreadable line(s) skipped)."
                )
                self._report(writer)
        finally:
            writer.shutdown(timeout=1)

    def _report(self, writer: AuditWriter) -> None:
        spool = writer.spool
        count, oldest, newest = 0, None, None
        for record in spool.records():  # streamed: the spool may be large
            count += 1
            stamp = record.get("timestamp")
            oldest = stamp if oldest is None or stamp < oldest else oldest
            newest = stamp if newest is None or stamp > newest else newest
        self.stdout.write(
            f"Spool {spool.directory}: {len(spool.paths())} segment(s), "
            f"{spool.total_bytes()} bytes, {count} record(s)"
        )
        if oldest is not None and newest is not None:
            self.stdout.write(f"  oldest {oldest.isoformat()}, newest {newest.isoformat()}")
