"""One CWMP session whose HTTP requests land on different server processes."""

from __future__ import annotations

import httpx
import pytest
from django.conf import settings

from cwmp.protocol import codec
from cwmp.protocol import messages as m
from devices.models import SessionLog
from tests.cwmp.cpe import basic, inform_body
from tests.e2e.conftest import start_server, stop_server

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not settings.REDIS_URL, reason="several processes share state through Redis"
    ),
]


@pytest.fixture
def second_server(acs_server, tmp_path):
    server = start_server(tmp_path)
    yield server
    stop_server(server)


def test_requests_of_one_session_on_two_workers(e2e_tenant, acs_server, second_server):
    e2e_tenant.provision_cr_credentials = False  # a session with no RPC of ours
    e2e_tenant.save()
    auth = {"Authorization": basic("cpe", "cpe-secret"), "Content-Type": "text/xml"}
    with httpx.Client() as a, httpx.Client() as b:
        first = a.post(
            acs_server.cwmp_url("e2e"), content=inform_body("SN-MW", ("1 BOOT",)), headers=auth
        )
        assert first.status_code == 200
        assert isinstance(codec.parse(first.content).body, m.InformResponse)
        cookie = first.cookies["cwmpsid"]
        # The next request of the session goes to the other process.
        tc = m.TransferComplete(command_key="k1")
        second = b.post(
            second_server.cwmp_url("e2e"),
            content=codec.serialize(m.Envelope(body=tc, cwmp_ns=m.CWMP_NS_1_0, id="2")),
            headers={"Content-Type": "text/xml", "Cookie": f"cwmpsid={cookie}"},
        )
        assert second.status_code == 200, second.text
        assert isinstance(codec.parse(second.content).body, m.TransferCompleteResponse)
        last = a.post(
            acs_server.cwmp_url("e2e"), content=b"", headers={"Cookie": f"cwmpsid={cookie}"}
        )
        assert last.status_code == 204
    log = SessionLog.objects.get(device__serial_number="SN-MW")
    assert log.outcome == "ok"
    assert log.rpcs == ["Inform", "InformResponse", "TransferComplete", "TransferCompleteResponse"]
