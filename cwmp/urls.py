from django.urls import re_path

from cwmp.endpoint.views import cwmp_endpoint

app_name = "cwmp"
# With or without the trailing slash: CPEs are configured by hand and a POST
# cannot follow an APPEND_SLASH redirect.
urlpatterns = [
    # /cwmp/ alone serves the only tenant of a single-tenant installation.
    re_path(r"^$", cwmp_endpoint, {"tenant_slug": ""}, name="default"),
    re_path(r"^(?P<tenant_slug>[-a-zA-Z0-9_]+)/?$", cwmp_endpoint, name="endpoint"),
]
