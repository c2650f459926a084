"""Ports for tests that start servers of their own, or need an address nothing answers."""

import socket


def free_port() -> int:
    """A local TCP port nothing listens on (until something takes it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def dead_uri() -> str:
    """A MongoDB URI nothing listens on."""
    return f"mongodb://127.0.0.1:{free_port()}/?directConnection=true"
