"""Bodies over the limit are refused from Content-Length before any byte is read (issue 10).

Over a raw socket: the request's headers declare a body over the limit and
then nothing more is sent. A server that answers 413 at once has not waited
for the body; one that says nothing is waiting to read it all (daphne did:
a 60 MB body was read before the 413). ``make run``'s server (the one every
e2e test runs on) and ``make run-cluster``'s WSGI workers (granian WSGI)
answer at once, on the CWMP path, the upload path and the portal's; daphne
is shown to wait, which is why it no longer serves HTTP.
"""

from __future__ import annotations

import re
import socket
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings

from tests.e2e.conftest import ROOT, Server, start_server, stop_server

pytestmark = pytest.mark.e2e
MIB = 1024 * 1024


def _port(server: Server) -> int:
    return int(server.base.rsplit(":", 1)[1])


def headers_only(server: Server, path: str, length: int, *, wait: float = 3.0) -> bytes:
    """POST headers declaring ``length`` body bytes, send none, and return what comes back.

    Empty when nothing came within ``wait`` seconds (the server waits for
    the body).
    """
    with socket.create_connection(("127.0.0.1", _port(server)), timeout=wait) as sock:
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {length}\r\n\r\n".encode()
        )
        try:
            return sock.recv(4096)
        except TimeoutError:
            return b""


def status_of(answer: bytes) -> int | None:
    match = re.match(rb"HTTP/1\.[01] (\d{3})", answer)
    return int(match.group(1)) if match else None


def limits() -> list[tuple[str, int]]:
    files = settings.ACS_MAX_FILE_BYTES + 64 * 1024
    return [
        ("/cwmp/e2e/", settings.CWMP_MAX_BODY_BYTES + 1),
        ("/cwmp/e2e/", 60 * MIB),
        ("/files/upload/anything", files + 1),
        ("/admin/provisioning/file/add/", files + 1),
    ]


def test_make_run_refuses_an_oversize_body_before_reading_it(e2e_tenant, acs_server):
    for path, length in limits():
        started = time.monotonic()
        answer = headers_only(acs_server, path, length)
        assert status_of(answer) == 413, (path, answer)
        assert time.monotonic() - started < 2
        assert b"connection: close" in answer.lower()


def test_a_body_at_the_limit_is_read(e2e_tenant, acs_server):
    """The limit is the limit: a declared body of exactly that size is waited for, not refused."""
    assert headers_only(acs_server, "/cwmp/e2e/", settings.CWMP_MAX_BODY_BYTES, wait=1) == b""


def test_a_chunked_body_is_cut_at_the_limit(e2e_tenant, acs_server):
    """Without Content-Length the body is counted as it arrives, and refused past the limit."""
    chunk = b"x" * (256 * 1024)
    sent = 0
    with socket.create_connection(("127.0.0.1", _port(acs_server)), timeout=5) as sock:
        sock.sendall(
            b"POST /cwmp/e2e/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        try:
            while sent <= settings.CWMP_MAX_BODY_BYTES + 4 * MIB:
                sock.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
        except OSError:
            pass  # the server answered and closed while we were still sending
        answer = sock.recv(4096)
    assert status_of(answer) == 413, answer
    assert sent <= settings.CWMP_MAX_BODY_BYTES + 4 * MIB + len(chunk)


def _granian_wsgi(port: int) -> list[str]:
    """One of ``make run-cluster``'s web workers (scripts/run-cluster.sh)."""
    return [
        str(Path(sys.executable).with_name("granian")),
        "--interface", "wsgi", "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1", "--blocking-threads", "2", "--no-access-log",
        "acsportal.wsgi:application",
    ]  # fmt: skip


def _daphne(port: int) -> list[str]:
    return [
        sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port),
        "acsportal.asgi:application",
    ]  # fmt: skip


def test_make_run_clusters_wsgi_workers_refuse_before_reading(e2e_tenant, tmp_path):
    server = start_server(tmp_path, command=_granian_wsgi)
    try:
        for path, length in limits():
            assert status_of(headers_only(server, path, length)) == 413, path
    finally:
        stop_server(server)


def test_daphne_reads_the_whole_body_before_the_application_sees_it(e2e_tenant, tmp_path):
    """Why ``make run`` left daphne: the same application, and no answer until the body is in.

    If this ever fails, daphne learned to hand over a request before its
    body, and could serve HTTP again.
    """
    server = start_server(tmp_path, command=_daphne)
    try:
        assert headers_only(server, "/cwmp/e2e/", 60 * MIB, wait=2) == b""
    finally:
        stop_server(server)


def test_the_e2e_server_is_make_runs():
    makefile = (ROOT / "Makefile").read_text()
    run = makefile.split("\nrun: ", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/python -m acsportal.serve --host $(ACS_HOST) --port $(ACS_PORT)" in run
