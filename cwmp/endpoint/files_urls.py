"""The ACS file server, mounted at ``/files/`` (TR-069 A.3.2.8 Download, A.4.1.5 Upload)."""

from django.urls import path

from cwmp.endpoint import files as views

app_name = "files"

# "upload/<token>" first: a download token never is the word "upload"
# (tokens are 22 random URL-safe characters). "signed" carries a signed
# link's proof as its middle segment (provisioning.files.file_download_url);
# "download" is for CPE credentials, and for links made before issue 10,
# whose proof was in the query string.
urlpatterns = [
    path("upload/<str:token>", views.upload, name="upload"),
    path("<str:token>/<str:link>/<str:name>", views.download, name="signed"),
    path("<str:token>/<str:name>", views.download, name="download"),
]
