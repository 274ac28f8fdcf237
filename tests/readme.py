"""The README's quick start as tests read it: the commands a newcomer pastes."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def quick_start_commands(text: str) -> list[str]:
    """The simulator and manage.py commands of a text, one line each, spaces squeezed.

    Continuation lines (a trailing backslash) are joined, so the README's
    wrapped commands compare equal to the one-line ones make run prints.
    """
    joined = re.sub(r"\\\n\s*", " ", text)
    return [
        " ".join(line.split())
        for line in joined.splitlines()
        if line.strip().startswith((".venv/bin/python -m cpesim", ".venv/bin/python manage.py"))
    ]


def readme_quick_start() -> str:
    readme = (ROOT / "README.md").read_text()
    return readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
