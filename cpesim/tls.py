"""The TLS context CPEs use towards the ACS and for https transfers.

Built once per process and shared by every device (`CPEOptions.ssl_context`):
a context per session or per device would cost more than the session.
"""

from __future__ import annotations

import ssl


def make_ssl_context(
    *,
    ca: str | None = None,
    cert: str | None = None,
    key: str | None = None,
    insecure: bool = False,
) -> ssl.SSLContext:
    """A client context: verify the server against `ca` (default: the system's CAs).

    `cert` (+ `key`, unless the key is in the same PEM file) is the client
    certificate presented for mutual TLS. `insecure` turns verification off
    (labs with self-signed ACS certificates). Raises OSError/ssl.SSLError for
    unreadable files.
    """
    context = ssl.create_default_context(cafile=ca)
    if insecure:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if cert:
        context.load_cert_chain(cert, key or None)
    elif key:
        raise ValueError("--key needs --cert")
    return context
