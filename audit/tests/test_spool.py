"""The spool on its own: segments are never claimed half-made, a write the disk refuses
half-way leaves nothing behind, and its depth is reported in records."""

import errno
import fcntl

from audit import spool as spool_module
from audit.spool import Spool
from audit.tests.factories import make_record

MAX = 1024 * 1024


def replayed(directory) -> list[str]:
    """What a later process replays from `directory`, by request id."""
    reader = Spool(directory, max_bytes=MAX)
    seen: list[dict] = []
    reader.replay(seen.extend, chunk=100)
    reader.close()
    return [r["request_id"] for r in seen]


def test_a_replay_by_another_worker_cannot_take_a_segment_being_created(tmp_path, monkeypatch):
    creator, other = Spool(tmp_path, max_bytes=MAX), Spool(tmp_path, max_bytes=MAX)
    real_flock = fcntl.flock
    interleaved = []

    def flock(fd, operation):
        # The other worker replays in the instant between the segment's creation and its lock.
        if not interleaved and operation == fcntl.LOCK_EX:
            interleaved.append(other.replay(lambda batch: None, chunk=100))
        return real_flock(fd, operation)

    monkeypatch.setattr(spool_module.fcntl, "flock", flock)
    assert creator.append([make_record(1), make_record(2)]) == 2
    monkeypatch.setattr(spool_module.fcntl, "flock", real_flock)
    assert interleaved == [0]
    assert len(creator.paths()) == 1
    creator.close()
    other.close()
    assert replayed(tmp_path) == ["r1", "r2"]


def test_a_write_the_disk_refuses_half_way_is_cut_back(tmp_path, monkeypatch):
    spool = Spool(tmp_path, max_bytes=MAX)
    spool.append([make_record(1)])
    (segment,) = spool.paths()
    size = segment.stat().st_size
    real_write_all = spool_module._write_all

    def disk_fills(fd, data):
        real_write_all(fd, data[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(spool_module, "_write_all", disk_fills)
    try:
        spool.append([make_record(2), make_record(3)])
    except OSError:
        pass
    else:
        raise AssertionError("the refused write was reported as done")
    monkeypatch.setattr(spool_module, "_write_all", real_write_all)
    assert segment.stat().st_size == size
    assert spool.append([make_record(4)]) == 1
    spool.close()
    reader = Spool(tmp_path, max_bytes=MAX)
    assert [r["request_id"] for r in reader.records()] == ["r1", "r4"]
    assert replayed(tmp_path) == ["r1", "r4"]


def test_the_depth_counts_every_workers_records_and_drops_what_is_replayed(tmp_path):
    worker, other = Spool(tmp_path, max_bytes=MAX), Spool(tmp_path, max_bytes=MAX)
    worker.append([make_record(n) for n in range(3)])
    other.append([make_record(n) for n in range(3, 5)])
    assert worker.depth()["records"] == 5
    worker.append([make_record(5)])
    assert worker.depth() == {
        "segments": 2,
        "bytes": sum(p.stat().st_size for p in worker.paths()),
        "records": 6,
    }
    # Replayed in part: what went through no longer counts.
    fed: list[dict] = []
    worker.replay(fed.extend, chunk=2, pause=lambda: len(fed) >= 2)
    assert (len(fed), worker.depth()["records"]) == (2, 4)
    worker.replay(fed.extend, chunk=2)
    assert worker.depth() == {"segments": 1, "bytes": other.paths()[0].stat().st_size, "records": 2}
    other.close()
    worker.close()
