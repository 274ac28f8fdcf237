"""``make run``'s web server: granian serving ``acsportal.asgi`` (HTTP and WebSockets, one port).

``python -m acsportal.serve [--host H] [--port P]``; the end-to-end tests
start their server with the same command, so what they test is what
``make run`` serves.

Why granian and not daphne, which served ``make run`` before issue 10:
daphne (Twisted) reads a request's whole body before the application sees
the request, so a body declaring a Content-Length far over
``CWMP_MAX_BODY_BYTES`` was read and buffered before its 413. granian
hands the application the request once its headers are in and streams the
body, so ``acsportal.handlers`` refuses it from the Content-Length before a
byte of it is read (``tests/e2e/test_body_limits.py`` holds both servers to
it).

Why its ASGI interface and not WSGI, which ``make run-cluster``'s workers
use behind nginx: granian's WSGI environ carries no ``REMOTE_PORT``, and
with no proxy in front to send ``X-Client-Port`` the CWMP endpoint keys a
cookie-less CPE's session on its address and port; ASGI gives the port and
keeps WebSockets on the same port for the live views. One worker process:
without ``REDIS_URL`` the session store, cache and channel layer live in
its memory. ``asginl``: Django's ASGI application speaks no lifespan
protocol.

granian's access log is on, every line through
``acsportal.accesslog.RedactFileLinks``, so no signed file link reaches it.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from acsportal.accesslog import RedactFileLinks


def log_config() -> dict[str, Any]:
    """granian's logging, its own shape, with file links redacted from every line.

    granian replaces its defaults section by section with what it is
    given, so each section is complete here.
    """
    filters = {"file_links": {"()": RedactFileLinks}}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": filters,
        "formatters": {
            "generic": {"()": "logging.Formatter", "fmt": "[%(levelname)s] %(message)s"},
            "access": {"()": "logging.Formatter", "fmt": "%(message)s"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": "generic",
                "filters": ["file_links"],
                "stream": "ext://sys.stdout",
            },
            "access": {
                "class": "logging.StreamHandler",
                "formatter": "access",
                "filters": ["file_links"],
                "stream": "ext://sys.stdout",
            },
        },
        "loggers": {
            "_granian": {"handlers": ["console"], "level": "INFO", "propagate": False},
            "granian.access": {"handlers": ["access"], "level": "INFO", "propagate": False},
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m acsportal.serve",
        description="make run's web server: granian, ASGI, HTTP and WebSockets on one port.",
    )
    parser.add_argument("--host", default=os.environ.get("ACS_HOST") or "127.0.0.1")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ACS_PORT") or 8000))
    parser.add_argument("--no-access-log", action="store_true")
    args = parser.parse_args(argv)

    from granian import Granian
    from granian.constants import Interfaces

    # What acsportal/asgi.py sets too; here before the workers start, so
    # settings read in any process agree.
    os.environ.setdefault("ACS_SERVER", "asgi")
    Granian(
        "acsportal.asgi:application",
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGINL,
        workers=1,
        websockets=True,
        log_dictconfig=log_config(),
        log_access=not args.no_access_log,
    ).serve()


if __name__ == "__main__":
    main(sys.argv[1:])
