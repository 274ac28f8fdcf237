"""requirements.txt says the README tells why each requirement is here: keep that true."""

from __future__ import annotations

import re

from tests.readme import ROOT


def _names(lines: list[str], pattern: str) -> set[str]:
    found = (re.match(pattern, line) for line in lines)
    return {m.group(1).lower() for m in found if m}


def test_every_requirement_has_its_line_in_the_readme():
    required = _names(
        (ROOT / "requirements.txt").read_text().splitlines(), r"^([A-Za-z0-9_.-]+)[\[<>=]"
    )
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Requirements\n", 1)[1].split("\n## ", 1)[0]
    explained = _names(
        section.splitlines(), r"^- \*\*([A-Za-z0-9_.-]+)(?:\[[^\]]*\])?\*\*[^:]*: \S"
    )
    assert required and explained == required
