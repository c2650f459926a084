"""The README's walk-throughs work as written: `make run` on a fresh data directory (the
embedded defaults: SQLite and a local MongoDB-compatible server), then every walk-through
block pasted in order (scripts/readme_walkthroughs.py), then Ctrl-C stops everything."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from rappi.testing.net import free_port

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import readme_walkthroughs  # noqa: E402


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _wait_ready(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"make run exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - local URL
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"{url} was not ready within {timeout} s")


def test_every_sh_block_of_the_readme_is_marked():
    blocks = readme_walkthroughs.walkthroughs((ROOT / "README.md").read_text())
    assert len(blocks) >= 5
    with pytest.raises(readme_walkthroughs.UnmarkedBlockError):
        readme_walkthroughs.walkthroughs("text\n\n```sh\nmake run\n```\n")


def test_a_line_with_an_expected_value_fails_when_the_value_differs(tmp_path):
    checked = readme_walkthroughs.script(["echo pending   # → delivered"], "http://x")
    result = subprocess.run(["bash", "-c", checked], capture_output=True, text=True)
    assert result.returncode != 0
    assert "expected 'delivered'" in result.stderr
    checked = readme_walkthroughs.script(["echo delivered   # → delivered"], "http://x")
    assert subprocess.run(["bash", "-c", checked], capture_output=True).returncode == 0


def test_the_readme_walkthroughs_run_against_make_run(tmp_path):
    port, mongo_port = free_port(), free_port()
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "MONGODB_URI", "DJANGO_SETTINGS_MODULE", "SECRET_KEY"}
        and not k.startswith("PYTEST")
    }
    env.update(
        HOST="127.0.0.1",
        PORT=str(port),
        MONGOECO_PORT=str(mongo_port),
        VAR_DIR=str(tmp_path / "var"),
        WEB_CONCURRENCY="2",
    )
    log = open(tmp_path / "make-run.log", "w+")  # noqa: SIM115 - read back on failure
    server = subprocess.Popen(
        ["make", "-s", "run"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_ready(f"http://127.0.0.1:{port}/readyz", server, timeout=300)
        result = readme_walkthroughs.run(f"http://127.0.0.1:{port}", env=env)
        assert result.returncode == 0, (
            f"stdout:\n{result.stdout[-4000:]}\nstderr:\n{result.stderr[-4000:]}"
        )
        assert result.stderr.count("--- walk-through") == len(
            readme_walkthroughs.walkthroughs((ROOT / "README.md").read_text())
        )
    except BaseException:
        log.seek(0)
        print(log.read()[-6000:])
        raise
    finally:
        # Ctrl-C, as a reader would: the app and the local server both stop.
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGINT)
        server.wait(timeout=60)
        log.close()
    deadline = time.monotonic() + 10
    while (_listening(port) or _listening(mongo_port)) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not _listening(port)
    assert not _listening(mongo_port)
    assert not (tmp_path / "var" / "mongo.pid").exists()
