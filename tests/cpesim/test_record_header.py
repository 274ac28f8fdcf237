"""`record_header`: a response header recorded per request (the benchmark's X-Upstream)."""

from __future__ import annotations

from cpesim import SimulatedCPE

from .fakeacs import FakeACS
from .helpers import async_test


async def _session(**options):
    async with FakeACS(auth="digest") as acs:
        cpe = SimulatedCPE(
            "huawei-eg8145v5",
            acs_url=acs.url,
            username="cpe",
            password="secret",
            auto_sessions=False,
            **options,
        )
        return await cpe.run_session()


@async_test
async def test_off_by_default():
    result = await _session()
    assert result.ok
    assert result.recorded_headers is None


@async_test
async def test_one_value_per_request_in_order():
    # The fake ACS sets its cookie on the InformResponse only: 401, 200 (cookie), 204.
    result = await _session(record_header="Set-Cookie")
    assert result.ok and result.statuses == [401, 200, 204]
    assert result.recorded_headers == [None, "acs_session=1; Path=/; HttpOnly", None]
