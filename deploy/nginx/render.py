#!/usr/bin/env python3
"""Render acsportal.conf.template into an nginx.conf: plain ``@NAME@`` substitution.

Standard library only, so it runs with any Python 3 (scripts/run-tls.sh and
scripts/run-cluster.sh call it). Every value is checked to be one nginx
token (no whitespace, quotes, ``;``, braces or ``$``): a path or port cannot
smuggle a directive into the configuration. A placeholder left unreplaced is
an error. A placeholder with several values (``--upstream`` given more than
once) repeats its line once per value. Lines between ``#@if NAME`` and
``#@end NAME`` are kept only when the section NAME is on: ``tls`` (the
default) or ``plain`` (``--plain``), ``ws`` (``--ws-upstream``),
``upstream_header`` (``--upstream-header``), and ``staff``
(``--staff-listen``: the CPE listener serves the CPE paths only, a second
listener everything else) or ``all_paths`` (one listener serves all).

    # The TLS front of one app server (scripts/run-tls.sh):
    python3 deploy/nginx/render.py --prefix var/nginx --listen 127.0.0.1:8443 \\
        --upstream 127.0.0.1:8000 --server-cert var/tls/server.crt \\
        --server-key var/tls/server.key --client-ca var/tls/ca.crt -o var/nginx/nginx.conf
    # Plain HTTP over two web workers and daphne, CPE and staff listeners
    # apart (scripts/run-cluster.sh):
    python3 deploy/nginx/render.py --plain --prefix var/cluster/nginx \\
        --listen 127.0.0.1:8000 --staff-listen 127.0.0.1:8001 \\
        --upstream 127.0.0.1:18001 --upstream 127.0.0.1:18002 \\
        --ws-upstream 127.0.0.1:18000 -o var/cluster/nginx/nginx.conf
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

TEMPLATE = Path(__file__).with_name("acsportal.conf.template")
_PLACEHOLDER = re.compile(r"@([A-Z_]+)@")
_TOKEN = re.compile(r"^[^\s;{}'\"$#\\]+$")
_HOST_PORT = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):([0-9]{1,5})$")
_SECTION = re.compile(r"^#@(if|end) ([a-z_]+)\s*$")
SECTIONS = ("tls", "plain", "ws", "upstream_header", "staff", "all_paths")


def _host_port(value: str) -> str:
    match = _HOST_PORT.match(value)
    if not match or not 0 < int(match.group(2)) < 65536:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, got {value!r}")
    return value


def _size(value: str) -> str:
    if not re.match(r"^[0-9]+[kKmM]?$", value):
        raise argparse.ArgumentTypeError(f"expected a size in bytes (or 512k, 4m), got {value!r}")
    return value


def _duration(value: str) -> str:
    if not re.match(r"^[0-9]+(ms|s|m|h)?$", value):
        raise argparse.ArgumentTypeError(f"expected an nginx duration (60s, 2m), got {value!r}")
    return value


def _path(value: str) -> str:
    # Absolute: nginx resolves relative paths against its prefix, not our cwd.
    return str(Path(value).resolve())


def sections(template: str, enabled: set[str] | frozenset[str]) -> str:
    """Keep the lines of enabled ``#@if NAME`` … ``#@end NAME`` sections, drop the others."""
    out: list[str] = []
    stack: list[str] = []
    for number, line in enumerate(template.splitlines(keepends=True), 1):
        match = _SECTION.match(line.strip())
        if match is None:
            if all(name in enabled for name in stack):
                out.append(line)
            continue
        kind, name = match.groups()
        if name not in SECTIONS:
            raise ValueError(f"line {number}: unknown section {name!r}")
        if kind == "if":
            stack.append(name)
        elif not stack or stack.pop() != name:
            raise ValueError(f"line {number}: #@end {name} without its #@if")
    if stack:
        raise ValueError(f"section {stack[-1]!r} is never closed")
    return "".join(out)


def render(
    template: str,
    values: dict[str, str | list[str]],
    enabled: set[str] | frozenset[str] = frozenset({"tls"}),
) -> str:
    """Fill the placeholders of the enabled sections; a list value repeats its line."""
    for name, value in values.items():
        for item in value if isinstance(value, list) else [value]:
            if not _TOKEN.match(item):
                raise ValueError(f"{name}: {item!r} is not a plain nginx token")
        if isinstance(value, list) and not value:
            raise ValueError(f"{name}: no value")

    def substitute(line: str, index: int) -> str:
        def one(match: re.Match[str]) -> str:
            name = match.group(1)
            if name not in values:
                raise ValueError(f"no value for placeholder @{name}@")
            value = values[name]
            return value[index] if isinstance(value, list) else value

        return _PLACEHOLDER.sub(one, line)

    out: list[str] = []
    for line in sections(template, enabled).splitlines(keepends=True):
        lists = {
            len(v)
            for n in _PLACEHOLDER.findall(line)
            if isinstance(v := values.get(n), list) and len(v) != 1
        }
        if len(lists) > 1:
            raise ValueError(f"placeholders with different numbers of values on one line: {line!r}")
        repeat = lists.pop() if lists else 1
        out.extend(substitute(line, i if repeat > 1 else 0) for i in range(repeat))
    return "".join(out)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--template", type=Path, default=TEMPLATE)
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p.add_argument("--prefix", type=_path, required=True, help="private dir: logs/, tmp/, pid")
    p.add_argument("--listen", type=_host_port, default="127.0.0.1:8443")
    p.add_argument(
        "--upstream",
        type=_host_port,
        action="append",
        help="an app server (web worker); repeat it for several, balanced per request "
        "(default 127.0.0.1:8000)",
    )
    p.add_argument(
        "--plain", action="store_true", help="plain HTTP listener: no TLS, no client certificates"
    )
    p.add_argument("--server-cert", type=_path, help="required without --plain")
    p.add_argument("--server-key", type=_path, help="required without --plain")
    p.add_argument(
        "--client-ca", type=_path, help="tenants' CA bundle (PEM); required without --plain"
    )
    p.add_argument("--verify-client", choices=("optional", "on"), default="optional")
    p.add_argument(
        "--staff-listen",
        type=_host_port,
        help="a second listener for admin, portal, API and /ws/; --listen then serves "
        "only the CPE paths (/cwmp/, /files/)",
    )
    p.add_argument("--ws-upstream", type=_host_port, help="the ASGI server for /ws/ (daphne)")
    p.add_argument(
        "--upstream-header",
        action="store_true",
        help="add X-Upstream (the worker that answered) to every response: diagnostics only",
    )
    p.add_argument("--keepalive", type=int, default=32, help="idle upstream connections kept")
    p.add_argument("--max-body", type=_size, default="4194304", help="= CWMP_MAX_BODY_BYTES")
    p.add_argument("--read-timeout", type=_duration, default="60s")
    p.add_argument("--workers", default="auto", help="worker_processes (a number or auto)")
    args = p.parse_args(argv)
    if args.workers != "auto" and not args.workers.isdigit():
        p.error("--workers: a number or auto")
    if args.keepalive < 1:
        p.error("--keepalive: at least 1")
    enabled = {"plain" if args.plain else "tls"}
    if args.ws_upstream:
        enabled.add("ws")
    if args.upstream_header:
        enabled.add("upstream_header")
    enabled.add("staff" if args.staff_listen else "all_paths")
    if args.staff_listen and args.staff_listen == args.listen:
        p.error("--staff-listen must differ from --listen")
    tls = {
        "SERVER_CERT": args.server_cert,
        "SERVER_KEY": args.server_key,
        "CLIENT_CA": args.client_ca,
    }
    if not args.plain:
        missing = [f"--{k.lower().replace('_', '-')}" for k, v in tls.items() if not v]
        if missing:
            p.error(f"{', '.join(missing)} required (or --plain)")

    values: dict[str, str | list[str]] = {
        "PREFIX": args.prefix,
        "LISTEN": args.listen,
        "UPSTREAM": args.upstream or ["127.0.0.1:8000"],
        "VERIFY_CLIENT": args.verify_client,
        "MAX_BODY": args.max_body,
        "READ_TIMEOUT": args.read_timeout,
        "WORKERS": args.workers,
        "KEEPALIVE": str(args.keepalive),
        **{k: v for k, v in tls.items() if v},
    }
    if args.ws_upstream:
        values["WS_UPSTREAM"] = args.ws_upstream
    if args.staff_listen:
        values["STAFF_LISTEN"] = args.staff_listen
    try:
        text = render(args.template.read_text(), values, enabled)
    except (OSError, ValueError) as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 1
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
