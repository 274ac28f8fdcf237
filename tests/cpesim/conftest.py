"""The simulator's tests need no Django: they shadow the project-wide autouse fixture."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _fresh_cwmp_state():
    """Overrides tests/conftest.py's fixture of the same name (it needs Django settings)."""
    yield


@pytest.fixture(autouse=True)
def _private_state_dir(tmp_path, monkeypatch):
    """The command line saves device state (var/cpesim/ by default): not in the checkout."""
    monkeypatch.setenv("CPESIM_STATE_DIR", str(tmp_path / "cpesim-state"))
