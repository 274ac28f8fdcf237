"""Settings that depend on how the server runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _database_settings(**env: str) -> dict:
    code = (
        "import json; from acsportal import settings as s; "
        "d = s.DATABASES['default']; "
        "print(json.dumps({'age': d.get('CONN_MAX_AGE'), 'pool': d.get('OPTIONS', {}).get('pool')}))"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith("ACS_")}
    base.update(env)
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=base, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


def test_under_asgi_postgresql_connections_come_from_a_pool():
    """Daphne's per-request threads would each leave a persistent connection open."""
    url = "postgres://postgres@127.0.0.1:5432/test"
    asgi = _database_settings(DATABASE_URL=url, ACS_SERVER="asgi")
    assert asgi["age"] == 0 and asgi["pool"]["max_size"] == 16
    wsgi = _database_settings(DATABASE_URL=url)
    assert wsgi["age"] == 60 and wsgi["pool"] is None
    assert (
        _database_settings(DATABASE_URL=url, ACS_SERVER="asgi", ACS_DB_POOL="false")["pool"] is None
    )
