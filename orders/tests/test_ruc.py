"""RUC checksum and the registry lookup, with the registry faked at its HTTP boundary."""

import logging
import threading

import pytest

from orders.ruc import (
    InvalidRucError,
    RucInfo,
    RucNotRegisteredError,
    RucRegistryUnavailableError,
    ruc_is_valid,
    ruc_lookup,
    ruc_validation_error,
)
from rappi.testing.fake_http import FakeHttpServer
from rappi.testing.net import free_port

RUC = "20100070970"
UNVERIFIED = RucInfo(RUC, "", "", "", "", verified=False)

# Check digits worked by hand: weights 5 4 3 2 7 6 5 4 3 2, s = Σ dᵢ·wᵢ, r = 11 - s % 11,
# r = 10 -> 0 and r = 11 -> 1.
VALID_RUCS = [
    "20100070970",  # real; s = 89, 89 % 11 = 1, r = 10 -> 0
    "20131312955",  # real; s = 94, 94 % 11 = 6, r = 5
    "20100047218",  # real; s = 69, 69 % 11 = 3, r = 8
    "20000000061",  # s = 2·5 + 6·2 = 22, 22 % 11 = 0, r = 11 -> 1
    "10000000006",  # s = 1·5 = 5, r = 6
    "15000000008",  # s = 1·5 + 5·4 = 25, 25 % 11 = 3, r = 8
    "16000000004",  # s = 1·5 + 6·4 = 29, 29 % 11 = 7, r = 4
    "17000000001",  # s = 1·5 + 7·4 = 33, 33 % 11 = 0, r = 11 -> 1
    "20000000001",  # s = 2·5 = 10, r = 1
]


def _invalid_reason(ruc: str) -> str:
    with pytest.raises(InvalidRucError) as caught:
        ruc_lookup(ruc)
    error = caught.value
    assert (error.code, error.http_status) == ("invalid_ruc", 400)
    assert error.details["ruc"] == ruc
    assert error.message == ruc_validation_error(ruc)
    assert not ruc_is_valid(ruc)
    return error.details["reason"]


# --- Checksum ---------------------------------------------------------------------------


@pytest.mark.parametrize("ruc", VALID_RUCS)
def test_valid_rucs_pass_the_checksum(ruc):
    assert ruc_is_valid(ruc)
    assert ruc_validation_error(ruc) is None


@pytest.mark.parametrize("ruc", ["20100070970", "20000000061"])
@pytest.mark.parametrize("offset", range(1, 10))
def test_every_other_check_digit_is_rejected(ruc, offset):
    wrong = ruc[:10] + str((int(ruc[10]) + offset) % 10)
    assert _invalid_reason(wrong) == "check_digit"


@pytest.mark.parametrize("ruc", ["", "2", "2010007097", "201000709700", "20100070970" * 2])
def test_a_ruc_without_exactly_eleven_digits_is_rejected(ruc):
    assert _invalid_reason(ruc) == "format"


@pytest.mark.parametrize(
    "ruc",
    [
        "2010007097A",
        "2010007097 ",
        " 2010007097",
        "20100070970\n",  # `$` in a regex would let a trailing newline through
        "-2010007097",
        "+2010007097",
        "2010007097\u0660",  # ARABIC-INDIC DIGIT ZERO: str.isdigit() and \d accept it
        "\uff120100070970",  # FULLWIDTH DIGIT TWO
        "2010007.970",
    ],
)
def test_a_ruc_with_anything_but_ascii_digits_is_rejected(ruc):
    assert _invalid_reason(ruc) == "format"


@pytest.mark.parametrize(
    "ruc",
    [
        "30000000007",  # s = 15, 15 % 11 = 4, r = 7: only the prefix is wrong
        "11000000002",  # s = 9, r = 2
        "21000000008",  # s = 14, 14 % 11 = 3, r = 8
        "00000000001",  # s = 0, r = 11 -> 1
    ],
)
def test_a_ruc_with_an_unknown_prefix_is_rejected(ruc):
    assert _invalid_reason(ruc) == "prefix"


def test_each_rejection_reason_has_its_own_message():
    messages = {ruc_validation_error(r) for r in ("2010007097", "30000000007", "20100070971")}
    assert len(messages) == 3
    assert None not in messages


# --- Registry lookup --------------------------------------------------------------------


@pytest.fixture(scope="module")
def _registry_server():
    # One server for the module: stopping one waits out a 0.5 s poll interval.
    with FakeHttpServer() as fake:
        yield fake


@pytest.fixture
def registry(_registry_server, settings):
    """A fake registry at RUC_LOOKUP_URL (with a base path, as real APIs have one)."""
    fake = _registry_server
    fake.routes.clear()
    fake.requests.clear()
    settings.RUC_LOOKUP_URL = f"{fake.url}/v1/ruc"
    settings.RUC_LOOKUP_TOKEN = ""
    settings.RUC_LOOKUP_FAIL_OPEN = True
    settings.EXTERNAL_HTTP_TIMEOUT_S = 5.0
    return fake


ENGLISH = {
    "ruc": RUC,
    "business_name": "Textiles Yanahuara SAC",
    "status": "ACTIVO",
    "condition": "HABIDO",
    "address": "Av. Arequipa 123, Lima",
}
SPANISH = {
    "numeroDocumento": RUC,
    "razonSocial": "Textiles Yanahuara SAC",
    "estado": "ACTIVO",
    "condicion": "HABIDO",
    "direccion": "Av. Arequipa 123, Lima",
}
FOUND = RucInfo(
    RUC, "Textiles Yanahuara SAC", "ACTIVO", "HABIDO", "Av. Arequipa 123, Lima", verified=True
)


def test_an_invalid_ruc_never_reaches_the_registry(registry):
    with pytest.raises(InvalidRucError):
        ruc_lookup("20100070971")
    assert registry.requests == []


def test_without_a_registry_only_the_checksum_is_checked(settings):
    settings.RUC_LOOKUP_URL = ""
    assert ruc_lookup(RUC) == UNVERIFIED


@pytest.mark.parametrize("body", [ENGLISH, SPANISH], ids=["english", "spanish"])
def test_a_registered_ruc_is_verified_with_the_registry_data(registry, body):
    registry.add("GET", r"/v1/ruc/(?P<ruc>\d+)", lambda req: (200, body))
    assert ruc_lookup(RUC) == FOUND
    [request] = registry.requests
    assert request.path == f"/v1/ruc/{RUC}"
    assert request.headers["Accept"] == "application/json"


def test_a_trailing_slash_in_the_registry_url_is_tolerated(registry, settings):
    settings.RUC_LOOKUP_URL += "/"
    registry.add("GET", r"/v1/ruc/\d+", lambda req: (200, ENGLISH))
    assert ruc_lookup(RUC) == FOUND
    assert registry.requests[0].path == f"/v1/ruc/{RUC}"


def test_padding_and_missing_optional_fields_become_plain_strings(registry):
    body = {"razonSocial": "  Textiles Yanahuara SAC  ", "estado": "ACTIVO", "direccion": None}
    registry.add("GET", r"/v1/ruc/\d+", lambda req: (200, body))
    assert ruc_lookup(RUC) == RucInfo(
        RUC, "Textiles Yanahuara SAC", "ACTIVO", "", "", verified=True
    )


def test_the_token_is_sent_as_a_bearer_header(registry, settings):
    settings.RUC_LOOKUP_TOKEN = "s3cret"
    registry.add("GET", r"/v1/ruc/\d+", lambda req: (200, ENGLISH))
    ruc_lookup(RUC)
    assert registry.requests[0].headers["Authorization"] == "Bearer s3cret"


def test_no_authorization_header_is_sent_without_a_token(registry):
    registry.add("GET", r"/v1/ruc/\d+", lambda req: (200, ENGLISH))
    ruc_lookup(RUC)
    assert "Authorization" not in registry.requests[0].headers


@pytest.mark.parametrize("fail_open", [True, False])
def test_a_ruc_the_registry_does_not_know_is_not_registered(registry, settings, fail_open):
    # A 404 is an answer about the RUC, not an outage: fail-open does not apply.
    settings.RUC_LOOKUP_FAIL_OPEN = fail_open
    registry.add("GET", r"/v1/ruc/\d+", lambda req: (404, {"message": "not found"}))
    with pytest.raises(RucNotRegisteredError) as caught:
        ruc_lookup(RUC)
    assert (caught.value.code, caught.value.http_status) == ("ruc_not_found", 404)
    assert caught.value.details == {"ruc": RUC}


# Answers that say nothing about the RUC: the registry is treated as unavailable.
BAD_ANSWERS = {
    "500": (500, {"message": "boom"}),
    "503": (503, b"", {"Content-Type": "text/plain"}),
    "401 bad token": (401, {"message": "invalid token"}),
    "429 rate limited": (429, {"message": "slow down"}),
    "malformed json": (200, b'{"razonSocial": "Textiles'),
    "not json": (200, b"<html>Service Unavailable</html>", {"Content-Type": "text/html"}),
    "json list": (200, [ENGLISH]),
    "no business name": (200, {"ruc": RUC, "status": "ACTIVO"}),
    "non-string field": (200, {**ENGLISH, "address": {"line": "Av. Arequipa 123"}}),
    "not utf-8": (200, b'{"razonSocial": "\xff"}'),
}


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_fail_open_accepts_the_checksum_when_the_registry_misbehaves(registry, caplog, answer):
    registry.add("GET", r"/v1/ruc/\d+", lambda req: answer)
    with caplog.at_level(logging.WARNING, logger="orders.ruc"):
        assert ruc_lookup(RUC) == UNVERIFIED
    assert any(RUC in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


@pytest.mark.parametrize("answer", BAD_ANSWERS.values(), ids=BAD_ANSWERS.keys())
def test_fail_closed_refuses_when_the_registry_misbehaves(registry, settings, answer):
    settings.RUC_LOOKUP_FAIL_OPEN = False
    registry.add("GET", r"/v1/ruc/\d+", lambda req: answer)
    with pytest.raises(RucRegistryUnavailableError) as caught:
        ruc_lookup(RUC)
    assert (caught.value.code, caught.value.http_status) == ("ruc_registry_unavailable", 503)
    assert caught.value.details == {"ruc": RUC}


@pytest.fixture
def slow_registry(registry, settings):
    """A registry that holds every request until the test ends, past a short timeout."""
    release = threading.Event()

    def hang(req):
        release.wait(timeout=10)
        return 200, ENGLISH

    registry.add("GET", r"/v1/ruc/\d+", hang)
    settings.EXTERNAL_HTTP_TIMEOUT_S = 0.2
    yield registry
    release.set()


def test_fail_open_accepts_the_checksum_when_the_registry_times_out(slow_registry):
    assert ruc_lookup(RUC) == UNVERIFIED
    assert len(slow_registry.requests) == 1  # it did reach the registry and gave up


def test_fail_closed_refuses_when_the_registry_times_out(slow_registry, settings):
    settings.RUC_LOOKUP_FAIL_OPEN = False
    with pytest.raises(RucRegistryUnavailableError):
        ruc_lookup(RUC)


@pytest.fixture
def closed_port_url():
    """A local port nothing listens on: connecting to it is refused."""
    return f"http://127.0.0.1:{free_port()}"


def test_fail_open_accepts_the_checksum_when_the_connection_is_refused(settings, closed_port_url):
    settings.RUC_LOOKUP_URL = closed_port_url
    settings.RUC_LOOKUP_FAIL_OPEN = True
    assert ruc_lookup(RUC) == UNVERIFIED


def test_fail_closed_refuses_when_the_connection_is_refused(settings, closed_port_url):
    settings.RUC_LOOKUP_URL = closed_port_url
    settings.RUC_LOOKUP_FAIL_OPEN = False
    with pytest.raises(RucRegistryUnavailableError):
        ruc_lookup(RUC)


def test_a_redirect_is_not_followed_so_the_token_stays_with_the_registry(registry, settings):
    settings.RUC_LOOKUP_TOKEN = "s3cret"
    settings.RUC_LOOKUP_FAIL_OPEN = False
    elsewhere = f"{registry.url}/elsewhere/{RUC}"
    registry.add("GET", r"/v1/ruc/\d+", lambda req: (302, b"", {"Location": elsewhere}))
    registry.add("GET", r"/elsewhere/\d+", lambda req: (200, ENGLISH))
    with pytest.raises(RucRegistryUnavailableError):
        ruc_lookup(RUC)
    assert [r.path for r in registry.requests] == [f"/v1/ruc/{RUC}"]


@pytest.mark.parametrize("url", ["file:///etc", "ftp://registry.example/ruc", "not a url"])
def test_a_registry_url_that_is_not_http_is_never_opened(settings, url):
    settings.RUC_LOOKUP_URL = url
    settings.RUC_LOOKUP_FAIL_OPEN = False
    with pytest.raises(RucRegistryUnavailableError):
        ruc_lookup(RUC)
