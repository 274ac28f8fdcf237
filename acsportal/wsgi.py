"""WSGI entry point (HTTP only); see asgi.py for HTTP plus WebSockets.

CPE-facing paths skip the portal's middleware (acsportal/handlers.py).
"""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")
portal_application = get_wsgi_application()  # sets Django up

from acsportal.handlers import (  # noqa: E402
    CpeWSGIHandler,
    CwmpWSGIApplication,
    wsgi_dispatcher,
)
from acsportal.infra.forwarded import wsgi_scheme_guard  # noqa: E402

# Outermost: X-Forwarded-Proto only from CWMP_TRUSTED_PROXIES, on every path.
application = wsgi_scheme_guard(
    wsgi_dispatcher(portal_application, CwmpWSGIApplication(CpeWSGIHandler()))
)
