"""The UDP connection request message of TR-069 Annex G: building and signing it.

The datagram is a wire format like the SOAP envelope, and needs neither a
socket nor Django, so it belongs to the protocol layer; sending it (the
allow-list, the copies, the STUN relay) is ``cwmp.wakeup.udp``.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
import time
from urllib.parse import quote

_CNONCE_ALPHABET = string.ascii_uppercase + string.digits


def udp_signature(password: str, ts: str, message_id: str, username: str, cnonce: str) -> str:
    """Annex G ``sig``: HMAC-SHA1, key = ConnectionRequestPassword, text = ts|id|un|cn.

    The four values are concatenated in that order without separators and
    the digest is written in upper-case hex, as in the Annex G example.
    """
    text = f"{ts}{message_id}{username}{cnonce}".encode()
    return hmac.new(password.encode(), text, hashlib.sha1).hexdigest().upper()


def build_udp_connection_request(
    authority: str,
    *,
    username: str,
    password: str,
    ts: int | None = None,
    message_id: str | None = None,
    cnonce: str | None = None,
) -> bytes:
    """The Annex G datagram: ``GET http://host:port?ts=…&id=…&un=…&cn=…&sig=… HTTP/1.1``.

    ``ts`` is seconds since the Unix epoch (the CPE ignores a ts not newer
    than the last one it accepted), ``id`` a random message id (the CPE
    drops repeats of one id, which makes retransmission safe), ``cn`` a random
    cnonce. ``un`` is percent-encoded in the URI but signed as is.
    """
    ts_text = str(int(time.time()) if ts is None else ts)
    message_id = message_id or str(secrets.randbelow(2**31 - 1) + 1)
    cnonce = cnonce or "".join(secrets.choice(_CNONCE_ALPHABET) for _ in range(16))
    sig = udp_signature(password, ts_text, message_id, username, cnonce)
    query = (
        f"ts={ts_text}&id={message_id}&un={quote(username, safe='')}"
        f"&cn={quote(cnonce, safe='')}&sig={sig}"
    )
    return f"GET http://{authority}?{query} HTTP/1.1\r\nHost: {authority}\r\n\r\n".encode()
