"""gunicorn settings shared by `make run` and the Docker image; all from the environment."""

import os

bind = f"{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '8000')}"
# One worker per core, a few threads each: measured in README.md (Serving).
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
keepalive = 5
# rappi.middleware writes one structured line per request; gunicorn's access log would repeat it.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


def post_worker_init(worker):
    # The audit writer starts with the worker, so a spool left by an earlier process is
    # replayed at once rather than on the first request.
    from audit import writer

    writer.start()


def worker_exit(server, worker):
    # Records still queued are written (or spooled) before the worker goes. What MongoDB
    # has not taken within 5 s goes to the spool, for the next worker: requests still
    # finishing share graceful_timeout with this, and the arbiter kills at its end.
    from audit import writer

    writer.shutdown(timeout=5)
