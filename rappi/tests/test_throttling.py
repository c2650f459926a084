"""Throttle counters live in the database and increment atomically, so parallel requests
from several worker processes share one exact count."""

import pytest

from rappi.api.throttling import counter_hit, parse_rate, purge_expired_counters
from rappi.models import RateCounter
from rappi.testing.concurrency import race


@pytest.mark.parametrize(
    ("rate", "parsed"),
    [
        ("5/min", (5, 60)),
        ("20/m", (20, 60)),
        ("100/hour", (100, 3600)),
        ("1/s", (1, 1)),
        ("off", None),
        ("", None),
    ],
)
def test_parse_rate(rate, parsed):
    assert parse_rate(rate) == parsed


@pytest.mark.django_db(transaction=True)
def test_parallel_hits_from_many_connections_are_counted_exactly():
    def worker():
        return [counter_hit("parallel-key", 3600, now=1_800_000_000)[0] for _ in range(5)]

    hits = [count for counts in race(*[worker] * 8) for count in counts]
    assert sorted(hits) == list(range(1, 41))
    assert RateCounter.objects.get(key="parallel-key").count == 40


@pytest.mark.django_db
def test_windows_are_separate_and_expired_ones_are_purged():
    assert counter_hit("k", 60, now=1000.0) == (1, 20.0)
    assert counter_hit("k", 60, now=1019.0)[0] == 2
    assert counter_hit("k", 60, now=1020.0)[0] == 1  # next window
    assert purge_expired_counters(now=1090.0) == 2
    assert RateCounter.objects.count() == 0
