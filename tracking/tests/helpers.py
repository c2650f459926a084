"""What tests of tracking and of its callers read back: the evidence files GridFS holds."""

from gridfs import GridFSBucket

from rappi import mongo


def gridfs_count() -> int:
    """Files in the evidence bucket."""
    return len(list(GridFSBucket(mongo.get_db(), bucket_name="evidence").find({})))


def chunk_count() -> int:
    """Chunks in the evidence bucket: none left behind by a file that is gone."""
    return mongo.get_db()["evidence.chunks"].count_documents({})
