"""No signed file link reaches a log line (acsportal/accesslog.py)."""

from __future__ import annotations

import logging

import pytest

from acsportal.accesslog import RedactFileLinks, redact_file_links


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"GET /files/Tok3n/SIG-nature_1/fw.bin HTTP/1.1" 200', '"GET /files/Tok3n/[redacted] HTTP/1.1" 200'),
        ("PUT /files/upload/eyJw.bWFj HTTP/1.1", "PUT /files/upload/[redacted] HTTP/1.1"),
        ("GET /files/Tok3n/fw.bin?d=1&e=2&s=abc", "GET /files/Tok3n/[redacted]"),
        ("GET /files/Tok3n/fw.bin?d=1&amp;e=2", "GET /files/Tok3n/[redacted]"),
        ("Forbidden: /files/upload/eyJw.bWFj", "Forbidden: /files/upload/[redacted]"),
        ("GET /cwmp/demo/ HTTP/1.1", "GET /cwmp/demo/ HTTP/1.1"),
        ("GET /files/ HTTP/1.1", "GET /files/ HTTP/1.1"),
    ],
)  # fmt: skip
def test_redaction(line, expected):
    assert redact_file_links(line) == expected


def test_the_filter_redacts_arguments_too():
    record = logging.LogRecord(
        "django.request",
        logging.WARNING,
        __file__,
        1,
        "%s: %s",
        ("Forbidden", "/files/upload/t.m"),
        None,
    )
    assert RedactFileLinks().filter(record)
    assert record.getMessage() == "Forbidden: /files/upload/[redacted]"
    access = logging.LogRecord(
        "granian.access", logging.INFO, __file__, 1, '"%(method)s %(path)s"',
        ({"method": "GET", "path": "/files/T/S/n"},), None,
    )  # fmt: skip
    RedactFileLinks().filter(access)
    assert access.getMessage() == '"GET /files/T/[redacted]"'
