"""The durable local spool: records MongoDB could not take, kept on disk until it can.

One directory per host, shared by every worker process. Records are appended as
canonical Extended JSON (ObjectIds and dates survive), one per line, to segment files
named by creation time, so sorting the names gives the order they were written in. A
process appends only to segments it holds an exclusive `flock` on, and keeps holding
them until they are replayed; a segment nobody holds (its process stopped or died) is
claimed by whichever process replays next. The kernel drops a dead process's locks, so
a crash never leaves a segment stranded.

Every appended batch is fsynced before the writer moves on: the spool is only used
during an outage, batches are small and the cost falls on the writer thread, never on a
request, while a record acknowledged to the queue and lost to a power cut would be
exactly the silent loss the spool exists to prevent."""

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from bson import json_util

logger = logging.getLogger("audit.spool")

SUFFIX = ".jsonl"
_JSON_OUT = json_util.CANONICAL_JSON_OPTIONS
_JSON_IN = json_util.JSONOptions(tz_aware=True, tzinfo=json_util.utc)


class _Segment:
    def __init__(self, path: Path, handle):
        self.path, self.handle = path, handle

    def close(self) -> None:
        self.handle.close()  # releases the lock


class Spool:
    def __init__(
        self, directory: Path | str, *, max_bytes: int, segment_bytes: int = 4 * 1024 * 1024
    ):
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self.segment_bytes = segment_bytes
        self._own: list[_Segment] = []  # ours, locked, oldest first
        self._sequence = 0
        self.corrupt = 0

    # --- State -----------------------------------------------------------------------

    def paths(self) -> list[Path]:
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return []
        return sorted(Path(e.path) for e in entries if e.name.endswith(SUFFIX) and e.is_file())

    def total_bytes(self) -> int:
        total = 0
        for path in self.paths():
            with contextlib.suppress(FileNotFoundError):  # replayed and removed meanwhile
                total += path.stat().st_size
        return total

    def holds_records(self) -> bool:
        """True while this process has spooled records not yet replayed: new records must
        queue behind them to keep the order."""
        return bool(self._own)

    def has_segments(self) -> bool:
        return bool(self.paths())

    # --- Writing ---------------------------------------------------------------------

    def append(self, records: list[dict]) -> int:
        """Append what fits under the size bound; returns how many records were kept."""
        lines = [(json_util.dumps(r, json_options=_JSON_OUT) + "\n").encode() for r in records]
        room = self.max_bytes - self.total_bytes()
        kept: list[bytes] = []
        for line in lines:
            if len(line) > room:
                break
            kept.append(line)
            room -= len(line)
        if not kept:
            return 0
        segment = self._writable_segment()
        segment.handle.write(b"".join(kept))
        segment.handle.flush()
        os.fsync(segment.handle.fileno())
        return len(kept)

    def _writable_segment(self) -> _Segment:
        if self._own:
            last = self._own[-1]
            if last.handle.seek(0, os.SEEK_END) < self.segment_bytes:
                return last
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._sequence += 1
        name = f"{time.time_ns():020d}-{os.getpid()}-{self._sequence:06d}{SUFFIX}"
        path = self.directory / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_APPEND, 0o600)
        handle = os.fdopen(fd, "a+b")
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        _fsync_directory(self.directory)  # the new name survives a power cut too
        segment = _Segment(path, handle)
        self._own.append(segment)
        return segment

    # --- Replaying -------------------------------------------------------------------

    def replay(self, sink: Callable[[list[dict]], None], *, chunk: int) -> int:
        """Feed every segment this process holds or can claim to `sink`, oldest first,
        `chunk` records at a time; a segment is removed once all of it went through.
        Returns the records fed. A failing sink stops the replay (the exception
        propagates) and the unfinished segment stays for the next attempt."""
        fed = 0
        own = {segment.path: segment for segment in self._own}
        for path in self.paths():
            segment = own.get(path) or self._claim(path)
            if segment is None:
                continue  # another live process holds it and will replay it
            try:
                for batch in self._batches(segment, chunk):
                    sink(batch)
                    fed += len(batch)
            except BaseException:
                if path not in own:
                    segment.close()
                raise
            path.unlink()
            segment.close()
            if path in own:
                self._own.remove(segment)
        return fed

    def _claim(self, path: Path) -> _Segment | None:
        try:
            handle = open(path, "rb")  # noqa: SIM115 - kept open while it is replayed
        except FileNotFoundError:
            return None
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            return None
        if os.fstat(handle.fileno()).st_nlink == 0:  # replayed and removed before our lock
            handle.close()
            return None
        return _Segment(path, handle)

    def _batches(self, segment: _Segment, chunk: int) -> Iterator[list[dict]]:
        segment.handle.seek(0)
        batch: list[dict] = []
        for number, line in enumerate(segment.handle, start=1):
            try:
                batch.append(json_util.loads(line, json_options=_JSON_IN))
            except ValueError:
                # A line cut short by a crash mid-write: nothing in it can be recovered.
                self.corrupt += 1
                logger.error(
                    "Unreadable audit spool line skipped",
                    extra={"spool_file": segment.path.name, "line": number},
                )
                continue
            if len(batch) >= chunk:
                yield batch
                batch = []
        if batch:
            yield batch

    def records(self) -> Iterator[dict]:
        """Every spooled record, oldest first, without claiming anything (for reports)."""
        for path in self.paths():
            try:
                with open(path, "rb") as handle:
                    for line in handle:
                        try:
                            yield json_util.loads(line, json_options=_JSON_IN)
                        except ValueError:
                            continue
            except FileNotFoundError:
                continue

    def close(self) -> None:
        """Release this process's segments; their records stay on disk for the next one."""
        for segment in self._own:
            segment.close()
        self._own = []


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
