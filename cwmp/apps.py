from django.apps import AppConfig


class CwmpConfig(AppConfig):
    name = "cwmp"
