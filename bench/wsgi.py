"""The project's WSGI application as the benchmark serves it: counted by the probe.

``/cwmp/`` requests skip Django's request signals (acsportal/handlers.py,
``CwmpWSGIApplication``), so the probe's ``request_started`` receiver does
not see them; this wrapper counts them instead, one Python call each. Every
other request still fires the signal and is counted there.
"""

from __future__ import annotations

from typing import Any

from acsportal.handlers import is_direct_cwmp_path
from acsportal.wsgi import application as project_application
from bench import probe


def application(environ: dict[str, Any], start_response: Any) -> Any:
    if is_direct_cwmp_path(environ.get("PATH_INFO", "")):
        probe.count_request()
    return project_application(environ, start_response)
