"""``/`` says what is where until the portal exists (it used to answer a bare 404)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest
from django.test import Client


class _Page(HTMLParser):
    """The few things a screen reader and a newcomer need from the page."""

    def __init__(self) -> None:
        super().__init__()
        self.lang = ""
        self.tags: list[str] = []
        self.links: list[str] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        if tag == "html":
            self.lang = dict(attrs).get("lang") or ""
        if tag == "a":
            self.links.append(dict(attrs).get("href") or "")
        self._in_title = tag == "title"

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title += data

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False


@pytest.mark.django_db
def test_the_root_sends_people_to_the_admin_and_says_what_is_where():
    response = Client().get("/")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    text = response.content.decode()
    page = _Page()
    page.feed(text)
    assert page.lang == "en" and page.title.strip()
    assert "main" in page.tags and page.tags.count("h1") == 1
    assert "/admin/" in page.links
    assert "/cwmp/&lt;tenant&gt;/" in text and "/files/&lt;token&gt;/&lt;name&gt;" in text


def test_the_root_takes_only_reads():
    assert Client().post("/").status_code == 405
    assert Client().head("/").status_code == 200
