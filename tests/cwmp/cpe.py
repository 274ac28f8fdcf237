"""A scripted CPE for view tests: builds messages and Digest answers by hand.

Independent of cwmp.protocol.digest on purpose (the Digest response is computed here
from RFC 7616 directly), so a symmetric bug cannot hide.
"""

from __future__ import annotations

import base64
import hashlib
import re
from dataclasses import dataclass, field
from typing import Any

from django.test import Client

from cwmp.protocol import codec
from cwmp.protocol import messages as m

IGD = "InternetGatewayDevice"


def inform_envelope(
    serial: str = "SN0001",
    events: tuple[str, ...] = ("2 PERIODIC",),
    *,
    oui: str = "00259E",
    product_class: str = "EG8145V5",
    params: dict[str, str] | None = None,
    ns: str = m.CWMP_NS_1_0,
    id: str = "1",
) -> m.Envelope:
    values = {
        f"{IGD}.DeviceSummary": "InternetGatewayDevice:1.4[](Baseline:1)",
        f"{IGD}.DeviceInfo.HardwareVersion": "HW1",
        f"{IGD}.DeviceInfo.SoftwareVersion": "V5R019",
        f"{IGD}.DeviceInfo.ProvisioningCode": "",
        f"{IGD}.ManagementServer.ConnectionRequestURL": "http://127.0.0.1:7547/cr",
        f"{IGD}.ManagementServer.ParameterKey": "",
        f"{IGD}.WANDevice.1.WANConnectionDevice.1.WANIPConnection.1.ExternalIPAddress": "192.0.2.10",
    }
    values.update(params or {})
    body = m.Inform(
        device_id=m.DeviceIdStruct(
            manufacturer="Huawei", oui=oui, product_class=product_class, serial_number=serial
        ),
        event=[m.EventStruct(event_code=e, command_key="") for e in events],
        max_envelopes=1,
        retry_count=0,
        parameter_list=[
            m.ParameterValueStruct(name=k, value=v, type="xsd:string") for k, v in values.items()
        ],
    )
    return m.Envelope(body=body, cwmp_ns=ns, id=id)


def inform_body(*args, **kwargs) -> bytes:
    return codec.serialize(inform_envelope(*args, **kwargs))


def basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def digest_answer(
    challenge: str,
    username: str,
    password: str,
    *,
    uri: str,
    nc: int = 1,
    cnonce: str = "0a4f113b",
    method: str = "POST",
) -> str:
    params = {k: a or b for k, a, b in re.findall(r'(\w+)=(?:"([^"]*)"|([^\s,]+))', challenge)}
    algorithm = params.get("algorithm", "MD5")
    h = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}[algorithm]

    def hx(s: str) -> str:
        return h(s.encode()).hexdigest()

    ha1 = hx(f"{username}:{params['realm']}:{password}")
    ha2 = hx(f"{method}:{uri}")
    ncs = f"{nc:08x}"
    response = hx(f"{ha1}:{params['nonce']}:{ncs}:{cnonce}:auth:{ha2}")
    return (
        f'Digest username="{username}", realm="{params["realm"]}", nonce="{params["nonce"]}", '
        f'uri="{uri}", algorithm={algorithm}, qop=auth, nc={ncs}, cnonce="{cnonce}", '
        f'response="{response}", opaque="{params.get("opaque", "")}"'
    )


@dataclass
class ScriptedCPE:
    """Drives the endpoint through Django's test client, one connection at a time."""

    client: Client
    url: str
    username: str = "cpe"
    password: str = "cpe-secret"
    address: str = "198.51.100.7"
    port: int = 40001
    auth: str = "basic"
    use_cookies: bool = True
    # Over TLS, as CPEs reach a deployment (through its TLS proxy); plain HTTP
    # is where Basic is refused (cwmp.endpoint.cpeauth.basic_permitted).
    tls: bool = True
    authorization: str | None = None
    log: list[int] = field(default_factory=list)

    def post(self, body: bytes = b"", **extra):
        if not self.use_cookies:
            self.client.cookies.clear()
        headers: dict[str, Any] = {"REMOTE_ADDR": self.address, "REMOTE_PORT": str(self.port)}
        if self.authorization:
            headers["HTTP_AUTHORIZATION"] = self.authorization
        headers.update(extra)
        response = self.client.post(
            self.url, data=body, content_type="text/xml", secure=self.tls, **headers
        )
        self.log.append(response.status_code)
        return response

    def inform(self, body: bytes):
        """POST the Inform, answering a challenge the way the CPE is set up to."""
        if self.auth == "basic":
            self.authorization = basic(self.username, self.password)
            return self.post(body)
        self.authorization = None
        first = self.post(body)
        if first.status_code != 401:
            return first
        self.authorization = digest_answer(
            first["WWW-Authenticate"], self.username, self.password, uri=self.url
        )
        return self.post(body)

    def session(self, body: bytes):
        """A whole periodic session: Inform, empty POST; returns both responses."""
        first = self.inform(body)
        assert first.status_code == 200, (first.status_code, first.content)
        last = self.post(b"")
        return first, last
