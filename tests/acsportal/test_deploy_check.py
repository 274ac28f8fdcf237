"""``manage.py check --deploy`` is clean with the README's production settings, as documented."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

from cryptography.fernet import Fernet

from tests.readme import ROOT


def production_settings() -> dict[str, str]:
    """The ``sh`` block of README, Configuration, Production settings, as a mapping."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n### Production settings\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "README: the production settings block is missing"
    pairs = (line.split("=", 1) for line in block.group(1).splitlines() if "=" in line)
    return {name.strip(): value.strip() for name, value in pairs}


def _check(env: dict[str, str], tmp: Path) -> subprocess.CompletedProcess[str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("ACS_", "CWMP_", "DATABASE_URL", "REDIS_URL", "SECRET_KEY"))
    }
    base.update(env, ACS_VAR_DIR=str(tmp))
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _filled(documented: dict[str, str]) -> dict[str, str]:
    """The documented values, placeholders filled as an operator would; no server is reached."""
    env = dict(documented)
    env["SECRET_KEY"] = secrets.token_urlsafe(50)
    env["ACS_FIELD_KEYS"] = Fernet.generate_key().decode()
    # check --deploy connects to no database or Redis: SQLite keeps it self-contained.
    env.pop("DATABASE_URL")
    env.pop("REDIS_URL")
    return env


def test_the_documented_settings_are_the_deployment_ones():
    documented = production_settings()
    assert documented["ACS_DEBUG"] == "false" and documented["ACS_TLS"] == "true"
    assert documented["SECRET_KEY"].startswith("<") and documented["ACS_FIELD_KEYS"].startswith("<")
    assert {"ACS_ALLOWED_HOSTS", "CWMP_TRUSTED_PROXIES", "DATABASE_URL", "REDIS_URL"} <= set(
        documented
    )


def test_check_deploy_is_clean_with_the_production_settings(tmp_path):
    done = _check(_filled(production_settings()), tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no issues" in done.stdout


def test_check_deploy_fails_on_the_laptop_defaults(tmp_path):
    """The check is not vacuous: make run's settings are not a deployment."""
    done = _check({}, tmp_path)
    assert done.returncode != 0
    for warning in ("security.W004", "security.W012", "security.W016"):
        assert warning in done.stdout + done.stderr
