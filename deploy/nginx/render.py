#!/usr/bin/env python3
"""Render acsportal.conf.template into an nginx.conf: plain ``@NAME@`` substitution.

Standard library only, so it runs with any Python 3 (scripts/run-tls.sh
calls it). Every value is checked to be one nginx token (no whitespace,
quotes, ``;``, braces or ``$``): a path or port cannot smuggle a directive
into the configuration. A placeholder left unreplaced is an error.

    python3 deploy/nginx/render.py --prefix var/nginx --listen 127.0.0.1:8443 \\
        --upstream 127.0.0.1:8000 --server-cert var/tls/server.crt \\
        --server-key var/tls/server.key --client-ca var/tls/ca.crt -o var/nginx/nginx.conf
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


def render(template: str, values: dict[str, str]) -> str:
    for name, value in values.items():
        if not _TOKEN.match(value):
            raise ValueError(f"{name}: {value!r} is not a plain nginx token")

    def substitute(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise ValueError(f"no value for placeholder @{name}@")
        return values[name]

    return _PLACEHOLDER.sub(substitute, template)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--template", type=Path, default=TEMPLATE)
    p.add_argument("-o", "--output", type=Path, help="file to write (default: stdout)")
    p.add_argument("--prefix", type=_path, required=True, help="private dir: logs/, tmp/, pid")
    p.add_argument("--listen", type=_host_port, default="127.0.0.1:8443")
    p.add_argument("--upstream", type=_host_port, default="127.0.0.1:8000", help="the app")
    p.add_argument("--server-cert", type=_path, required=True)
    p.add_argument("--server-key", type=_path, required=True)
    p.add_argument("--client-ca", type=_path, required=True, help="tenants' CA bundle (PEM)")
    p.add_argument("--verify-client", choices=("optional", "on"), default="optional")
    p.add_argument("--max-body", type=_size, default="4194304", help="= CWMP_MAX_BODY_BYTES")
    p.add_argument("--read-timeout", type=_duration, default="60s")
    p.add_argument("--workers", default="auto", help="worker_processes (a number or auto)")
    args = p.parse_args(argv)
    if args.workers != "auto" and not args.workers.isdigit():
        p.error("--workers: a number or auto")

    values = {
        "PREFIX": args.prefix,
        "LISTEN": args.listen,
        "UPSTREAM": args.upstream,
        "SERVER_CERT": args.server_cert,
        "SERVER_KEY": args.server_key,
        "CLIENT_CA": args.client_ca,
        "VERIFY_CLIENT": args.verify_client,
        "MAX_BODY": args.max_body,
        "READ_TIMEOUT": args.read_timeout,
        "WORKERS": args.workers,
    }
    try:
        text = render(args.template.read_text(), values)
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
