"""Top-level pages that belong to no app."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def home(request: HttpRequest) -> HttpResponse:
    """``/``: where things are, until the portal takes this page.

    A bare 404 at the root is the first thing a newcomer's browser shows
    after ``make run``; this page sends them to the admin and names the
    other entry points. It shows paths, never the tenants: it is public.
    """
    return render(request, "home.html")
