"""Top-level URL map: the CWMP endpoint, the admin, and later the API and portal."""

from django.contrib import admin
from django.urls import include, path

from acsportal.views import home

urlpatterns = [
    path("", home, name="home"),
    path("cwmp/", include("cwmp.urls")),
    path("files/", include("cwmp.endpoint.files_urls")),
    path("admin/", admin.site.urls),
]
