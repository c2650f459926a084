"""The client address rule (rappi.net.client_ip) the audit log, throttling and sessions
share: X-Forwarded-For only from trusted proxies, and never a hop the client wrote."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import RequestFactory

from rappi.net import client_ip


def ip(remote: str, forwarded: str | None = None) -> str | None:
    extra: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_ip(RequestFactory().get("/", REMOTE_ADDR=remote, **extra))


def test_without_trusted_proxies_the_socket_address_counts(settings):
    settings.TRUSTED_PROXIES = []
    assert ip("203.0.113.5", "10.1.1.1") == "203.0.113.5"


def test_a_peer_outside_the_trusted_proxies_cannot_forge_its_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert ip("203.0.113.5", "1.2.3.4") == "203.0.113.5"


@pytest.mark.parametrize(
    ("forwarded", "expected"),
    [
        ("198.51.100.7", "198.51.100.7"),
        ("6.6.6.6, 198.51.100.7", "198.51.100.7"),  # the client's own header, then the proxy's hop
        ("198.51.100.7, 10.0.0.9", "198.51.100.7"),  # two trusted proxies in a row
        ("10.0.0.8, 10.0.0.9", "10.0.0.8"),  # only our own proxies: the leftmost
        ("not-an-ip, 198.51.100.7", "198.51.100.7"),
        ("198.51.100.7, garbage", "10.0.0.1"),  # nothing left of a broken hop is believed
        ("", "10.0.0.1"),
    ],
)
def test_from_a_trusted_proxy_the_first_untrusted_hop_from_the_right_counts(
    settings, forwarded, expected
):
    settings.TRUSTED_PROXIES = ["10.0.0.0/8"]
    assert ip("10.0.0.1", forwarded) == expected


def test_an_ipv4_peer_seen_as_ipv6_mapped_is_trusted_by_its_ipv4_address(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.1"]
    assert ip("::ffff:10.0.0.1", "198.51.100.7") == "198.51.100.7"


def test_a_malformed_trusted_proxy_setting_is_a_configuration_error(settings):
    settings.TRUSTED_PROXIES = ["10.0.0.300"]
    with pytest.raises(ImproperlyConfigured):
        ip("10.0.0.1", "198.51.100.7")


def test_a_malformed_trusted_proxies_variable_stops_the_app_at_start():
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "rappi.settings.local"}
    started = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=Path(__file__).resolve().parents[2],
        env={**env, "TRUSTED_PROXIES": "10.0.0.0/8, proxy.internal"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert started.returncode != 0
    assert "TRUSTED_PROXIES: 'proxy.internal'" in started.stderr
