"""WSGI entry point (HTTP only); see asgi.py for HTTP plus WebSockets."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")
application = get_wsgi_application()
