"""Staff logins are throttled and locked out after repeated failures (django-axes).

Before issue 10 nothing stopped a password guesser: every wrong admin
password got the login form again, as fast as it could be posted.
"""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

pytestmark = pytest.mark.django_db
LOGIN = "/admin/login/?next=/admin/"


@pytest.fixture
def staff(settings):
    settings.AXES_FAILURE_LIMIT = 3
    return get_user_model().objects.create_user("ops", password="right-pw-1", is_staff=True)


def _login(client: Client, password: str, address: str) -> int:
    response = client.post(LOGIN, {"username": "ops", "password": password}, REMOTE_ADDR=address)
    return response.status_code


def test_repeated_failures_lock_the_login_out_from_that_address(staff):
    client = Client()
    assert [_login(client, "wrong", "192.0.2.7") for _ in range(3)] == [200, 200, 429]
    # Locked out: even the right password is refused from there, with 429.
    assert _login(client, "right-pw-1", "192.0.2.7") == 429
    # From elsewhere the person still logs in (an attacker cannot lock staff out
    # of the portal from one address), and a success forgets the failures.
    assert _login(Client(), "right-pw-1", "198.51.100.9") == 302


def test_one_address_guessing_many_usernames_is_locked_out(staff):
    client = Client()
    codes = [
        client.post(
            LOGIN, {"username": f"user{i}", "password": "x"}, REMOTE_ADDR="192.0.2.8"
        ).status_code
        for i in range(4)
    ]
    assert codes[-1] == 429
