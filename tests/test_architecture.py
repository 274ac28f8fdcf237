"""The house rules of ARCHITECTURE.md, held by tests so that a change that breaks one fails CI.

The layers themselves are import-linter contracts (``.importlinter``, run by
``make test``); these tests prove the contracts can fail, that every module
of the project stands in a layer, and the rules import-linter cannot see.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / ".importlinter"
PACKAGES = ("acsportal", "tenants", "devices", "provisioning", "cwmp", "cpesim", "bench")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
# Modules no layer needs to hold: Django's app and migration plumbing, and the
# package roots (empty, or the docstring of what their subpackages are).
UNLAYERED = re.compile(r"(\.migrations(\.|$)|\.apps$|^[a-z]+$)")
APPS = ("acsportal", "tenants", "devices", "provisioning", "cwmp")


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), str(cwd / ".importlinter"), "--no-cache"],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(cwd), "PATH": "/usr/bin:/bin"},
        check=False,
    )


def _layers() -> list[str]:
    parser = configparser.ConfigParser()
    parser.read(CONFIG)
    text = parser["importlinter:contract:layers"]["layers"]
    return [m.strip() for line in text.splitlines() for m in re.split(r"[|:]", line) if m.strip()]


def _modules(package: str) -> list[str]:
    found = []
    for path in (ROOT / package).rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found.append(".".join(parts))
    return sorted(found)


def test_the_contracts_hold():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.parametrize(
    ("importer", "line", "contract"),
    [
        # tenants sits below devices: it may not know what a device is.
        ("tenants/models.py", "import devices.models", "Layers go one way"),
        # The protocol layer is plain Python.
        ("cwmp/protocol/engine.py", "import django.db", "The protocol layer is plain Python"),
        # Shared infrastructure imports no app.
        ("acsportal/infra/db.py", "import provisioning.models", "Shared infrastructure"),
        # The simulator is a CPE, not the ACS.
        ("cpesim/model.py", "import cwmp.protocol.codec", "The CPE simulator is a CPE"),
    ],
)
def test_an_upward_import_breaks_a_contract(tmp_path, importer, line, contract):
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("*.pyc"))
    shutil.copy(CONFIG, tmp_path / ".importlinter")
    target = tmp_path / importer
    target.write_text(target.read_text() + f"\n{line}  # the test's deliberate violation\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    broken = result.stdout.split("Broken contracts", 1)[-1]
    assert contract in broken, result.stdout[-4000:]


def test_every_module_of_the_apps_stands_in_a_layer():
    layers = _layers()
    stray = [
        module
        for package in APPS
        for module in _modules(package)
        if not UNLAYERED.search(module)
        and not any(module == layer or module.startswith(layer + ".") for layer in layers)
    ]
    assert not stray, f"modules in no layer of .importlinter: {stray}"


def test_settings_are_read_with_their_defaults_in_settings_py_only():
    # getattr(settings, NAME, default) scatters a second default through the
    # apps; every setting has its one default in acsportal/settings.py.
    offenders = [
        f"{path.relative_to(ROOT)}:{number}"
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for number, text in enumerate(path.read_text().splitlines(), 1)
        if re.search(r"getattr\(\s*settings\s*,", text)
    ]
    assert not offenders, offenders


def test_no_module_is_over_600_lines():
    # A module that outgrows one idea is split along its concerns
    # (ARCHITECTURE.md); tests and migrations are exempt.
    limit = 600
    long = {
        str(path.relative_to(ROOT)): lines
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "migrations" not in path.parts and (lines := len(path.read_text().splitlines())) > limit
    }
    assert not long, long
