"""Keeping signed file links out of logs.

A download link's signature and an upload link's token are credentials:
whoever holds one fetches the file, or stores one against the device, until
it expires. They travel in the request path (``/files/<file>/<signature>/<name>``,
``/files/upload/<token>``; the older form put the signature in the query
string), and every request line a server logs would copy them into log
files that are kept, shipped and read by more people than the database.

So every log line that may hold a request path goes through one rule:
after ``/files/<first segment>`` everything (further segments, the query
string) becomes ``[redacted]``. The first segment is a file's token, which
alone grants nothing (a fetch with it needs the signature or CPE
credentials), or the word ``upload``. The same rule is in nginx's
``log_format`` (``deploy/nginx/acsportal.conf.template``, the
``$acs_log_uri`` map), so the logs of ``make run`` (granian, through
``acsportal.serve``), of the app itself (Django's ``django.request``
warnings name the path) and of the nginx fronts agree.

Standard library only: granian loads it before Django is set up.
"""

from __future__ import annotations

import logging
import re

REDACTED = "[redacted]"
_FILE_LINK = re.compile(r"(/files/[^/?#\s\"]*)[/?][^\s\"]*")


def redact_file_links(text: str) -> str:
    """``text`` with every ``/files/<first segment>/…`` path cut after that segment."""
    if "/files/" not in text:
        return text
    return _FILE_LINK.sub(rf"\1/{REDACTED}", text)


class RedactFileLinks(logging.Filter):
    """A logging filter (handler or logger) that applies ``redact_file_links`` to the message.

    The message is formatted first, so a path passed as an argument (Django's
    ``"%s: %s", reason, path``, granian's dict of fields) is caught too; the
    record then carries the finished text and no arguments.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = redact_file_links(message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True
