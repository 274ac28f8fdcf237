"""Field-behaviour switches ("quirks") that make a simulated CPE misbehave like real ones.

An ACS has to survive what deployed CPEs actually send, not what TR-069 says
they send. Each quirk reproduces one such habit seen in the field. A parsed
`Quirks` object is immutable and cached, so 10,000 devices sharing the same
quirk spec share one object.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache

#: Boolean quirks, with the behaviour each one switches on.
FLAGS: dict[str, str] = {
    "no-cookies": "never send cookies back (session continues on the keep-alive connection)",
    "cookie-attrs": "echo cookies back with their attributes (`Path=/; HttpOnly`) verbatim",
    "cookie-comma": (
        "send cookies comma-separated instead of `; `, a cookie of the device's own"
        " (`cpesim=1`) first, so the ACS's cookie is always the second of several"
    ),
    "connection-per-request": (
        "open a new TCP connection for every HTTP request (`Connection: close`):"
        " only the cookie can carry the session"
    ),
    "stale-cookie": "send the previous session's cookies with the new session's Inform",
    "preemptive-basic": "send Basic Authorization on the first POST without waiting for a challenge",
    "preemptive-basic-digest-only": "send preemptive Basic but only answer a Digest challenge",
    "nonce-reuse": "reuse the first nonce with nc=00000001 on every later request",
    "event-case": "event codes in title case (`1 Boot`, `2 Periodic`)",
    "vendor-event": "add a vendor event code `X <OUI> VENDOR EVENT` to every Inform",
    "no-header": "no SOAP Header (no cwmp:ID) on the Inform",
    "pretty": "pretty-printed XML",
    "no-xsi-type": "parameter values without xsi:type",
    "bool-words": "booleans as true/false",
    "bool-digits": "booleans as 1/0",
    "time-naive": "CurrentTime without a time zone",
    "time-micro": "CurrentTime with microseconds",
    "bad-arraytype": "wrong element counts in SOAP-ENC:arrayType",
    "empty-envelope": "the empty POST is an empty SOAP envelope",
    "empty-whitespace": "the empty POST is whitespace",
    "same-id": "the same cwmp:ID on every Inform",
    "gzip": "gzip request bodies (Content-Encoding: gzip) and accept gzip responses",
    "abandon-after-inform": "drop the connection right after the InformResponse",
    "resend-inform": "drop the connection after sending the Inform once, then re-send it",
    "first-boot-periodic": "first contact with `2 PERIODIC` only",
    "first-boot-boot": "first contact with `1 BOOT` only (no `0 BOOTSTRAP`)",
    "crash-on-partial-gpv": "drop the connection (a crashed CWMP client) on GetParameterValues of a partial path",
    "literal-cwmp-prefix": (
        "find the ACS's messages by the literal text `<cwmp:Method` (and `<cwmp:ID`) and"
        " require unqualified elements inside them; fail the session otherwise"
    ),
    "download-no-fetch": "answer Download with Status 0 (done) and never fetch the file",
    "transfer-complete-no-event": (
        "report TransferComplete without `7 TRANSFER COMPLETE` / `M Download` in the Inform,"
        " and only in whatever session comes next (it starts none for it)"
    ),
    "reboot-after-download": (
        "reboot as soon as a Download is answered: drop the session, fetch, then"
        " `1 BOOT` with the TransferComplete"
    ),
}

#: Quirks that take a value (`name=value`), with the values allowed (None: free text).
VALUED: dict[str, tuple[str, ...] | None] = {
    "prefix": None,  # envelope prefix, e.g. SOAP-ENV, soap_env, soapenv, soap
    "ns": None,  # cwmp namespace of the CPE's own requests, e.g. cwmp-1-3
    "soapaction": ("missing", "empty", "quoted-empty", "unquoted"),
    "content-type": ("text/xml", "text/html", "none", "empty"),
    # METHOD:CODE[:N]: the first N (default 1) calls of METHOD get CWMP fault CODE.
    "fault": None,
}

DEFAULT_PREFIX = "SOAP-ENV"


@dataclass(frozen=True, slots=True)
class Quirks:
    """An immutable set of quirks; `"gzip" in quirks` tests a flag."""

    flags: frozenset[str] = frozenset()
    prefix: str = DEFAULT_PREFIX
    ns: str | None = None
    soapaction: str | None = None
    content_type: str | None = None
    #: (method, fault code, how many calls) from `fault=METHOD:CODE[:N]`.
    fault: tuple[str, int, int] | None = None
    spec: str = field(default="", compare=False)

    def __contains__(self, flag: object) -> bool:
        return flag in self.flags

    def __str__(self) -> str:
        return self.spec

    @classmethod
    def parse(cls, spec: Quirks | str | Iterable[str] | Mapping[str, object] | None) -> Quirks:
        """Accept the CLI form (`"no-cookies,prefix=soap"`), a set/list of items, or a dict."""
        if isinstance(spec, Quirks):
            return spec
        if spec is None:
            return NO_QUIRKS
        if isinstance(spec, Mapping):
            items = []
            for key, value in spec.items():
                if value is True:
                    items.append(str(key))
                elif value not in (None, False):
                    items.append(f"{key}={value}")
        elif isinstance(spec, str):
            items = [spec]
        else:
            items = [str(s) for s in spec]
        parts: list[str] = []
        for item in items:
            parts.extend(p.strip() for p in item.split(",") if p.strip())
        return _parse_cached(",".join(sorted(set(parts))))


@lru_cache(maxsize=256)
def _parse_cached(spec: str) -> Quirks:
    flags: set[str] = set()
    values: dict[str, str] = {}
    for part in spec.split(",") if spec else ():
        name, sep, value = part.partition("=")
        name = name.strip().lower()
        if sep:
            if name not in VALUED:
                raise ValueError(f"unknown quirk {name!r} (valued quirks: {', '.join(VALUED)})")
            allowed = VALUED[name]
            value = value.strip()
            if allowed is not None and value not in allowed:
                raise ValueError(f"quirk {name}= takes one of {', '.join(allowed)}, not {value!r}")
            if not value:
                raise ValueError(f"quirk {name}= needs a value")
            values[name] = value
        elif name in FLAGS:
            flags.add(name)
        else:
            raise ValueError(
                f"unknown quirk {name!r}; known: {', '.join(sorted(FLAGS))}, {', '.join(VALUED)}=…"
            )
    if {"bool-words", "bool-digits"} <= flags:
        raise ValueError("bool-words and bool-digits exclude each other")
    if {"first-boot-periodic", "first-boot-boot"} <= flags:
        raise ValueError("first-boot-periodic and first-boot-boot exclude each other")
    ns = values.get("ns")
    if ns is not None:
        ns = normalize_ns(ns)
    fault = parse_fault(values["fault"]) if "fault" in values else None
    return Quirks(
        flags=frozenset(flags),
        prefix=values.get("prefix", DEFAULT_PREFIX),
        ns=ns,
        soapaction=values.get("soapaction"),
        content_type=values.get("content-type"),
        fault=fault,
        spec=spec,
    )


def parse_fault(value: str) -> tuple[str, int, int]:
    """`GetParameterValues:9002:2` -> ("GetParameterValues", 9002, 2); N defaults to 1."""
    parts = value.split(":")
    if len(parts) not in (2, 3) or not parts[0].isalpha():
        raise ValueError(f"quirk fault= takes METHOD:CODE[:N], not {value!r}")
    try:
        code = int(parts[1])
        count = int(parts[2]) if len(parts) == 3 else 1
    except ValueError:
        raise ValueError(f"quirk fault= takes METHOD:CODE[:N], not {value!r}") from None
    if not 8000 <= code <= 9899 or count < 1:
        raise ValueError(f"quirk fault=: {code} is not a CWMP fault code or {count} < 1")
    return parts[0], code, count


def normalize_ns(ns: str) -> str:
    """Turn `1-2`, `cwmp-1-2` or a full URN into `urn:dslforum-org:cwmp-1-2`."""
    ns = ns.strip()
    if ns.startswith("urn:"):
        return ns
    if not ns.startswith("cwmp-"):
        ns = "cwmp-" + ns.replace(".", "-")
    return "urn:dslforum-org:" + ns


NO_QUIRKS = Quirks()
