"""The pinned query counts of the hot and list paths, read from ``tests/query_counts.json``.

One table for every path, so a regression (an N+1, a statement more per
session) is one diff line there, and the reason for a new number has one
place to be argued. Transaction control (BEGIN, COMMIT, savepoints) is left
out: tests run inside a transaction, where a service's ``atomic()`` shows as
a savepoint that production sends as BEGIN/COMMIT.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from django.db import connection
from django.test.utils import CaptureQueriesContext

TABLE_PATH = Path(__file__).with_name("query_counts.json")
TABLE: dict[str, dict[str, int]] = {
    k: v for k, v in json.loads(TABLE_PATH.read_text()).items() if not k.startswith("_")
}
CONTROL = re.compile(r"^\s*(SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT|BEGIN|COMMIT)", re.I)


def expected(path: str) -> int:
    return TABLE[path][connection.vendor]


@contextmanager
def pinned(path: str) -> Iterator[CaptureQueriesContext]:
    """Assert that the block runs exactly the statements the table pins for ``path``."""
    with CaptureQueriesContext(connection) as ctx:
        yield ctx
    work = [q["sql"] for q in ctx.captured_queries if not CONTROL.match(q["sql"])]
    want = expected(path)
    assert len(work) == want, (
        f"{path}: {len(work)} statements on {connection.vendor}, {TABLE_PATH.name} pins {want}:\n"
        + "\n".join(work)
    )
