"""var/ and the secrets in it are readable by their owner only (created so, tightened by acs_seed)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tenants.management.commands.acs_seed import _owner_only

ROOT = Path(__file__).resolve().parents[2]


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_settings_create_var_the_key_and_the_database_owner_only(tmp_path):
    var = tmp_path / "fresh" / "var"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ACS_", "DATABASE_URL"))}
    env.pop("SECRET_KEY", None)
    env["ACS_VAR_DIR"] = str(var)
    # A permissive umask, as on many desktops: what settings create stays private anyway.
    code = "import os; os.umask(0o022); import acsportal.settings"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    assert _mode(var) == 0o700
    assert _mode(var / "secret_key") == 0o600
    assert _mode(var / "acsportal.sqlite3") == 0o600
    assert len((var / "secret_key").read_text().strip()) >= 50
    # Run again: the same key, nothing recreated.
    key = (var / "secret_key").read_text()
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, check=True)
    assert (var / "secret_key").read_text() == key


def test_acs_seed_tightens_an_older_var(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    var.chmod(0o755)
    database = var / "acsportal.sqlite3"
    loose = [var / "secret_key", var / "credentials.json", database, Path(f"{database}-wal")]
    for path in loose:
        path.write_text("x")
        path.chmod(0o644)
    other = var / "media-file"
    other.write_text("not a secret")
    other.chmod(0o644)
    _owner_only(var, database)
    assert _mode(var) == 0o700
    assert all(_mode(path) == 0o600 for path in loose)
    assert _mode(other) == 0o644  # not a secret: left alone (var/ itself is closed)


@pytest.mark.django_db
def test_acs_seed_runs_it(tmp_path, settings, monkeypatch):
    settings.VAR_DIR = tmp_path
    tmp_path.chmod(0o755)
    seen = []
    monkeypatch.setattr(
        "tenants.management.commands.acs_seed._owner_only", lambda *a: seen.append(a)
    )
    from django.core.management import call_command

    call_command("acs_seed", "--quiet")
    assert seen and seen[0][0] == tmp_path
