"""The ACS file server, mounted at ``/files/`` (TR-069 A.3.2.8 Download, A.4.1.5 Upload)."""

from django.urls import path

from cwmp.endpoint import files as views

app_name = "files"

# "upload/<token>" first: a download token never is the word "upload"
# (tokens are 22 random URL-safe characters).
urlpatterns = [
    path("upload/<str:token>", views.upload, name="upload"),
    path("<str:token>/<str:name>", views.download, name="download"),
]
