"""Fixtures shared by every suite."""

from __future__ import annotations

import pytest

from cwmp.endpoint import overload
from cwmp.endpoint import store as store_module


@pytest.fixture(autouse=True)
def _fresh_cwmp_state(settings):
    """Each test gets an empty session store and no cached tenants."""
    from cwmp.endpoint import transport

    settings.CWMP_TENANT_CACHE_SECONDS = 0
    # Password hashing is deliberately slow; tests only need it to work.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    store_module.reset_store()
    overload.reset_watch()
    if settings.REDIS_URL:
        import redis

        redis.Redis.from_url(settings.REDIS_URL).flushdb()
    transport._tenants.clear()
    from acsportal.infra.http import trusted_proxies

    trusted_proxies.cache_clear()
    yield
    store_module.reset_store()
    overload.reset_watch()
