"""The two collections the ingest and the reads share, and the length of their `$in` lists."""

from collections.abc import Iterator

from tracking.documents import DriverPosition, GpsPing

IN_BATCH = 400  # $in lists stay this short (mongoeco's SQLite engine rejects ~500+)


def in_chunks(values: list, size: int = IN_BATCH) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def gps_pings():
    """The fixes (`GpsPing`), as a pymongo collection: written and read in bulk."""
    return GpsPing._get_collection()


def driver_positions():
    """The drivers' heads (`DriverPosition`): the last position of each."""
    return DriverPosition._get_collection()
