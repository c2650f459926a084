"""Writes audit records without a request ever waiting for MongoDB, and without losing
them when MongoDB is away.

`submit()` only puts the record on a bounded in-process queue. A background thread
takes what has piled up (up to AUDIT_BATCH_SIZE at a time) and inserts it with one
`insert_many`. When MongoDB does not answer within AUDIT_MONGODB_TIMEOUT_MS (the
writer's own client; the app's connection keeps its settings) the batch goes to the
local spool (audit.spool), and so does everything after it, in order, until a retry
every AUDIT_RETRY_SECONDS finds MongoDB back and replays the spool. Segments left by a
previous or dead process are replayed the same way, at startup and then periodically.

Each record carries its `_id` from birth; a replay skips the records MongoDB already
has (a batch it had partly taken when the connection broke) and inserts the rest in
order, so each record is written exactly once. A full queue or spool drops the
record, counts it and logs; nothing here ever raises into a request."""

import atexit
import contextlib
import logging
import os
import queue
import threading
import time
from pathlib import Path

from django.conf import settings
from pymongo import MongoClient
from pymongo.errors import BulkWriteError, PyMongoError

from audit.documents import COLLECTION
from audit.spool import Spool

logger = logging.getLogger("audit.writer")

DUPLICATE_KEY = 11000
# Replayed chunks are looked up with `$in`, which mongoeco's SQLite engine limits.
_IN_LIMIT = 400
_LOG_EVERY_S = 60


class AuditWriter:
    def __init__(
        self,
        *,
        uri: str,
        db_name: str,
        spool_dir: Path | str,
        collection: str = COLLECTION,
        queue_size: int = 10000,
        batch_size: int = 50,
        spool_max_bytes: int = 512 * 1024 * 1024,
        timeout_ms: int = 500,
        retry_seconds: float = 2.0,
        background: bool = True,
    ):
        self.uri, self.db_name, self.collection_name = uri, db_name, collection
        self.batch_size = batch_size
        self.timeout_ms = timeout_ms
        self.retry_seconds = retry_seconds
        self.background = background
        self.spool = Spool(spool_dir, max_bytes=spool_max_bytes)
        self.counts = {
            "written": 0,
            "spooled": 0,
            "replayed": 0,
            "duplicates": 0,
            "rejected": 0,
            "dropped_queue_full": 0,
            "dropped_spool_full": 0,
            "dropped_at_exit": 0,
        }
        self._queue: queue.Queue[dict] = queue.Queue(maxsize=queue_size)
        self._pending = 0  # submitted, not yet written, spooled or dropped
        self._pending_changed = threading.Condition()
        self._work = threading.Lock()  # one batch at a time: the thread, flush or shutdown
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._client: MongoClient | None = None
        self._down = False
        self._next_replay_at = 0.0  # at once: a previous process may have left a spool
        self._last_drop_log: dict[str, float] = {}
        self._closed = False

    @classmethod
    def from_settings(cls, **overrides) -> "AuditWriter":
        from rappi.mongo import database_name

        options = {
            "uri": settings.MONGODB_URI,
            "db_name": database_name(settings.MONGODB_URI),
            "spool_dir": settings.AUDIT_SPOOL_DIR,
            "queue_size": settings.AUDIT_QUEUE_SIZE,
            "batch_size": settings.AUDIT_BATCH_SIZE,
            "spool_max_bytes": settings.AUDIT_SPOOL_MAX_BYTES,
            "timeout_ms": settings.AUDIT_MONGODB_TIMEOUT_MS,
            "retry_seconds": settings.AUDIT_RETRY_SECONDS,
        }
        return cls(**{**options, **overrides})

    # --- Called from requests ------------------------------------------------------------

    def submit(self, record: dict) -> None:
        """Queue one record; never blocks, never raises."""
        if self._closed:  # after shutdown: straight to disk, for the next process
            with self._work:
                self._to_spool([record])
            return
        with self._pending_changed:
            self._pending += 1
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._settled(1)
            self._dropped("dropped_queue_full", 1)
            return
        if self.background and self._thread is None:
            self.start()

    # --- Lifecycle ---------------------------------------------------------------------

    def start(self) -> None:
        with self._work:
            if self._thread is not None or not self.background or self._closed:
                return
            self._thread = threading.Thread(target=self._run, name="audit-writer", daemon=True)
            self._thread.start()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted record is written, spooled or dropped (the thread
        does the work; without one, it is done here). True when nothing is left."""
        if self._thread is None:
            with self._work:
                while not self._queue.empty():
                    self._process(self._take_nowait())
            return True
        deadline = time.monotonic() + timeout
        with self._pending_changed:
            while self._pending > 0:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._pending_changed.wait(remaining)
        return True

    def replay(self) -> int:
        """Replay the spool now; returns the records replayed. Raises PyMongoError if
        MongoDB is still unreachable (the spool is kept)."""
        with self._work:
            return self._replay()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Stop the thread and write what is still queued: to MongoDB if it answers within
        the time left, else to the spool. Idempotent; registered for interpreter exit."""
        if self._closed:
            return
        self._closed = True
        deadline = time.monotonic() + timeout
        self._stop.set()
        if self._thread is not None:
            self._thread.join(max(0.0, deadline - time.monotonic()))
        if not self._work.acquire(timeout=max(0.1, deadline - time.monotonic())):
            # The thread is still in a slow write: what is queued goes to a segment of
            # its own, which the next process replays.
            self._spool_at_exit()
            return
        try:
            while not self._queue.empty():
                if time.monotonic() > deadline:
                    self._down = True  # out of time: what is left goes to disk
                self._process(self._take_nowait())
            self.spool.close()
            if self._client is not None:
                self._client.close()
                self._client = None
        finally:
            self._work.release()

    # --- The background thread --------------------------------------------------------

    def _spool_at_exit(self) -> None:
        batch = self._take_nowait(self._queue.qsize() + 1)
        spool = Spool(self.spool.directory, max_bytes=self.spool.max_bytes)
        try:
            kept = spool.append(batch)
        except OSError:
            logger.exception("Audit spool unwritable")
            kept = 0
        finally:
            spool.close()
        self.counts["spooled"] += kept
        if kept < len(batch):
            self._dropped("dropped_at_exit", len(batch) - kept)
        self._settled(len(batch))

    def _run(self) -> None:
        wait = min(1.0, self.retry_seconds)
        while not self._stop.is_set():
            try:
                first = self._queue.get(timeout=wait)
                batch = [first, *self._take_nowait(self.batch_size - 1)]
            except queue.Empty:
                batch = []
            try:
                with self._work:
                    self._process(batch)
            except Exception:  # the thread must survive anything
                logger.exception("Audit writer error")

    def _take_nowait(self, limit: int | None = None) -> list[dict]:
        limit = self.batch_size if limit is None else limit
        batch = []
        while len(batch) < limit:
            try:
                batch.append(self._queue.get_nowait())
            except queue.Empty:
                break
        return batch

    def _process(self, batch: list[dict]) -> None:
        """Write one batch, keeping order: while this process has spooled records, or
        MongoDB is known to be down, new ones go to the spool behind them."""
        try:
            # No replay once stopping: the time left is for what is still queued.
            if not self._stop.is_set() and time.monotonic() >= self._next_replay_at:
                self._next_replay_at = time.monotonic() + self.retry_seconds
                if self._down or self.spool.has_segments():
                    with contextlib.suppress(PyMongoError):  # still down; retried later
                        self._replay()
            if not batch:
                return
            if not self._down and not self.spool.holds_records():
                try:
                    self._insert(batch)
                    self.counts["written"] += len(batch)
                    return
                except PyMongoError as exc:
                    self._went_down(exc)
            self._to_spool(batch)
        finally:
            self._settled(len(batch))

    def _replay(self) -> int:
        self._next_replay_at = time.monotonic() + self.retry_seconds
        try:
            if self._down:
                self._database().command("ping")
            replayed = self.spool.replay(
                self._insert_missing, chunk=min(self.batch_size, _IN_LIMIT)
            )
        except PyMongoError as exc:
            self._went_down(exc)
            raise
        if self._down:
            logger.warning("MongoDB is back: audit spool replayed", extra={"records": replayed})
        elif replayed:
            logger.info("Audit spool replayed", extra={"records": replayed})
        self._down = False
        self.counts["replayed"] += replayed
        return replayed

    def _went_down(self, exc: Exception) -> None:
        if not self._down:
            logger.warning(
                "MongoDB unreachable: audit records go to the local spool",
                extra={"error": f"{exc.__class__.__name__}: {exc}"[:300]},
            )
        self._down = True
        self._next_replay_at = time.monotonic() + self.retry_seconds

    def _to_spool(self, batch: list[dict]) -> None:
        try:
            kept = self.spool.append(batch)
        except OSError:
            logger.exception(
                "Audit spool unwritable", extra={"spool_dir": str(self.spool.directory)}
            )
            kept = 0
        self.counts["spooled"] += kept
        if kept < len(batch):
            self._dropped("dropped_spool_full", len(batch) - kept)

    # --- MongoDB -------------------------------------------------------------------------

    def _database(self):
        if self._client is None:
            self._client = MongoClient(
                self.uri,
                serverSelectionTimeoutMS=self.timeout_ms,
                connectTimeoutMS=self.timeout_ms,
                # A batch into a slow server may take a while; only this thread waits.
                socketTimeoutMS=60000,
                tz_aware=True,
                uuidRepresentation="standard",
                appname="rappi-audit",
            )
        return self._client[self.db_name]

    def _insert_missing(self, records: list[dict]) -> None:
        """For replays: records MongoDB already has (a batch it took in part before the
        connection broke) are looked up in one query instead of failing one by one."""
        present = {
            doc["_id"]
            for doc in self._database()[self.collection_name].find(
                {"_id": {"$in": [r["_id"] for r in records]}}, {"_id": 1}
            )
        }
        self.counts["duplicates"] += len(present)
        missing = [r for r in records if r["_id"] not in present]
        if missing:
            self._insert(missing)

    def _insert(self, records: list[dict]) -> None:
        """Ordered insert; a record already there (duplicate `_id`) or refused by the
        server is skipped and the rest still inserted."""
        collection = self._database()[self.collection_name]
        start = 0
        while start < len(records):
            try:
                collection.insert_many(records[start:], ordered=True)
                return
            except BulkWriteError as exc:
                error = exc.details["writeErrors"][0]
                if error.get("code") == DUPLICATE_KEY:
                    self.counts["duplicates"] += 1
                else:
                    self.counts["rejected"] += 1
                    logger.error(
                        "Audit record refused by MongoDB",
                        extra={"error": str(error.get("errmsg", ""))[:300]},
                    )
                start += error["index"] + 1

    # --- Bookkeeping -----------------------------------------------------------------

    def _settled(self, count: int) -> None:
        if not count:
            return
        with self._pending_changed:
            self._pending -= count
            self._pending_changed.notify_all()

    def _dropped(self, reason: str, count: int) -> None:
        self.counts[reason] += count
        now = time.monotonic()
        if now - self._last_drop_log.get(reason, -_LOG_EVERY_S) >= _LOG_EVERY_S:
            self._last_drop_log[reason] = now
            logger.error(
                "Audit records dropped",
                extra={"reason": reason, "dropped_total": self.counts[reason]},
            )

    def state(self) -> dict:
        return {
            "mongodb": "down" if self._down else "up",
            "queued": self._queue.qsize(),
            "spool_segments": len(self.spool.paths()),
            "spool_bytes": self.spool.total_bytes(),
            "corrupt_spool_lines": self.spool.corrupt,
            **self.counts,
        }


# --- The process's writer --------------------------------------------------------------

_writer: AuditWriter | None = None
_writer_pid: int | None = None
_writer_lock = threading.Lock()


def get_writer() -> AuditWriter:
    """This process's writer, made on first use (after a fork, anew: threads, locks and
    sockets do not survive one)."""
    global _writer, _writer_pid
    if _writer is None or _writer_pid != os.getpid():
        with _writer_lock:
            if _writer is None or _writer_pid != os.getpid():
                _writer, _writer_pid = AuditWriter.from_settings(), os.getpid()
    return _writer


def install(writer: AuditWriter | None) -> AuditWriter | None:
    """Make `writer` this process's writer (tests point it at their own server and
    spool); returns the previous one."""
    global _writer, _writer_pid
    with _writer_lock:
        previous = _writer if _writer_pid == os.getpid() else None
        _writer, _writer_pid = writer, os.getpid()
    return previous


def submit(record: dict) -> None:
    try:
        get_writer().submit(record)
    except Exception:  # never into a request
        logger.exception("Audit record could not be queued")


def start() -> None:
    """Start the writer now (gunicorn's post_worker_init), so a spool left by a previous
    process is replayed without waiting for traffic."""
    get_writer().start()


def shutdown(timeout: float = 5.0) -> None:
    if _writer is not None and _writer_pid == os.getpid():
        _writer.shutdown(timeout)


def status() -> dict:
    """For /readyz: this process's writer, or only the spool on disk if none runs here."""
    if _writer is not None and _writer_pid == os.getpid():
        return _writer.state()
    spool = Spool(settings.AUDIT_SPOOL_DIR, max_bytes=settings.AUDIT_SPOOL_MAX_BYTES)
    return {"spool_segments": len(spool.paths()), "spool_bytes": spool.total_bytes()}


atexit.register(shutdown)
