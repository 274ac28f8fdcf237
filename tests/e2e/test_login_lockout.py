"""A password guesser against the real server's admin login gets 429 (django-axes)."""

from __future__ import annotations

import re

import httpx
import pytest
from django.contrib.auth import get_user_model

LOGIN = "/admin/login/?next=/admin/"


@pytest.mark.e2e
def test_the_real_server_answers_a_password_guesser_with_429(
    transactional_db, acs_server, settings
):
    get_user_model().objects.create_user("guessed", password="right-pw-1", is_staff=True)
    with httpx.Client(base_url=acs_server.base, timeout=10) as http:
        codes = []
        for _ in range(settings.AXES_FAILURE_LIMIT):
            page = http.get(LOGIN)
            token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
            assert token, page.text[:500]
            response = http.post(
                LOGIN,
                data={
                    "username": "guessed",
                    "password": "wrong",
                    "csrfmiddlewaretoken": token.group(1),
                },
                headers={"Referer": acs_server.base + LOGIN},
            )
            codes.append(response.status_code)
    # The failure that reaches the limit is already answered 429.
    assert codes == [200] * (settings.AXES_FAILURE_LIMIT - 1) + [429], codes
