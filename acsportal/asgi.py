"""ASGI entry point: HTTP through Django, WebSockets through Channels routing.

CPE-facing paths skip the portal's middleware (acsportal/handlers.py).
"""

import os

from channels.routing import ProtocolTypeRouter
from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")
# Settings that differ under ASGI (database connections from a pool).
os.environ.setdefault("ACS_SERVER", "asgi")
django_asgi_app = get_asgi_application()  # sets Django up

from acsportal.handlers import CpeASGIHandler, asgi_dispatcher  # noqa: E402
from acsportal.infra.forwarded import asgi_scheme_guard  # noqa: E402

# Outermost: X-Forwarded-Proto only from CWMP_TRUSTED_PROXIES, on every path.
application = asgi_scheme_guard(
    ProtocolTypeRouter({"http": asgi_dispatcher(django_asgi_app, CpeASGIHandler())})
)
