"""Command line: `python -m cpesim --acs-url URL [...]` (documented in cpesim/README.md)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from .fleet import Fleet
from .model import list_dumps
from .quirks import FLAGS, VALUED, Quirks
from .state import DEFAULT_DIR, ENV_DIR, StateStore, default_dir
from .tls import make_ssl_context
from .udpcr import split_host_port


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m cpesim",
        description="Simulate TR-069 CPEs (built from real device dumps) against an ACS.",
    )
    p.add_argument("--acs-url", help="ACS URL, e.g. http://127.0.0.1:8000/cwmp/default/")
    p.add_argument("--username", default="", help="ACS username ({serial} is replaced per device)")
    p.add_argument("--password", default="", help="ACS password ({serial} is replaced per device)")
    p.add_argument(
        "--dump",
        action="append",
        help="dump name or CSV path; repeat to mix (default huawei-eg8145v5)",
    )
    p.add_argument(
        "--count", type=int, default=1, help="number of devices (round-robin over the dumps)"
    )
    p.add_argument("--serial-prefix", help="serials are PREFIX000001, PREFIX000002, …")
    p.add_argument("--concurrency", type=int, default=100, help="max sessions in flight at once")
    p.add_argument(
        "--periodic-interval", type=float, help="override PeriodicInformInterval (0: back-to-back)"
    )
    p.add_argument(
        "--jitter", type=float, default=0.0, help="random extra delay per periodic inform (s)"
    )
    p.add_argument(
        "--quirk", action="append", default=[], help="comma-separated quirks (see --list-quirks)"
    )
    p.add_argument(
        "--unsupported", default="", help="RPCs answered with fault 9000, e.g. Reboot,FactoryReset"
    )
    p.add_argument(
        "--ns", default="cwmp-1-0", help="cwmp namespace of the device's requests (cwmp-1-0 … 1-4)"
    )
    p.add_argument(
        "--bootstrap",
        action="store_true",
        help="force 0 BOOTSTRAP + 1 BOOT on the first Inform (a device without saved state sends"
        " it anyway)",
    )
    p.add_argument(
        "--state-dir",
        metavar="DIR",
        help="where each device keeps what the ACS configured across restarts, one"
        f" SERIAL.json per device (default: ${ENV_DIR}, else {DEFAULT_DIR}/)",
    )
    p.add_argument(
        "--factory-reset",
        action="store_true",
        help="ignore the saved state: every device starts factory-fresh (0 BOOTSTRAP)"
        " and its saved state is replaced",
    )
    p.add_argument(
        "--no-state",
        action="store_true",
        help="read and write no state (load tests): devices boot with 1 BOOT unless --bootstrap",
    )
    p.add_argument("--cr-host", default="127.0.0.1", help="connection-request listener host")
    p.add_argument(
        "--cr-port", type=int, default=0, help="connection-request listener port (0: any free port)"
    )
    p.add_argument(
        "--cr-username", help="ConnectionRequestUsername ({serial} allowed; default: the dump's)"
    )
    p.add_argument(
        "--cr-password", help="ConnectionRequestPassword ({serial} allowed; default: the dump's)"
    )
    p.add_argument(
        "--udp-cr",
        action="store_true",
        help="also listen for UDP connection requests (TR-069 Annex G) on --cr-host",
    )
    p.add_argument(
        "--udp-cr-port", type=int, help="UDP connection-request port (implies --udp-cr; 0: any)"
    )
    p.add_argument(
        "--stun",
        metavar="HOST:PORT",
        help="STUN server for TR-111 Binding Requests (loopback only; implies --udp-cr)",
    )
    p.add_argument(
        "--stun-username", help="STUNUsername ({serial}, {id} allowed; default OUI-Class-Serial)"
    )
    p.add_argument(
        "--stun-interval",
        type=float,
        help="seconds between Binding Requests (default STUNMinimumKeepAlivePeriod, else 30)",
    )
    p.add_argument("--ca", metavar="FILE", help="CA bundle to verify the ACS (default: system)")
    p.add_argument("--cert", metavar="FILE", help="client certificate (PEM) for mutual TLS")
    p.add_argument("--key", metavar="FILE", help="private key of --cert (if not in the same file)")
    p.add_argument(
        "--insecure", action="store_true", help="do not verify the ACS certificate (labs only)"
    )
    p.add_argument("--once", action="store_true", help="one boot session per device, then exit")
    p.add_argument("--sessions", type=int, help="run until every device completed K sessions")
    p.add_argument("--duration", type=float, help="run for S seconds")
    p.add_argument(
        "--retries", type=int, default=2, help="with --once: retries of a failed session"
    )
    p.add_argument("--timeout", type=float, default=30.0, help="HTTP timeout per request (s)")
    p.add_argument("--retry-min-wait", type=float, default=5.0, help="first retry back-off (s)")
    p.add_argument(
        "--reboot-delay", type=float, default=0.0, help="simulated boot time after Reboot (s)"
    )
    p.add_argument(
        "--answer-delay", type=float, default=0.0, help="seconds to answer each ACS request (s)"
    )
    p.add_argument("--firmware-version", help="SoftwareVersion after a firmware download")
    p.add_argument("--quiet", action="store_true", help="no per-device lines, totals only")
    p.add_argument("--verbose", "-v", action="store_true", help="log every session's transcript")
    p.add_argument("--list-dumps", action="store_true", help="list the shipped dumps and exit")
    p.add_argument("--list-quirks", action="store_true", help="list the quirks and exit")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.list_dumps:
        print("\n".join(list_dumps()))
        return 0
    if args.list_quirks:
        for name, what in FLAGS.items():
            print(f"{name:30} {what}")
        for name, values in VALUED.items():
            print(f"{name + '=…':30} {', '.join(values) if values else 'free value'}")
        return 0
    if not args.acs_url:
        print("--acs-url is required", file=sys.stderr)
        return 2
    if args.no_state and (args.state_dir or args.factory_reset):
        print("--no-state cannot go with --state-dir or --factory-reset", file=sys.stderr)
        return 2
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(name)s %(message)s",
    )
    try:
        quirks = Quirks.parse(args.quirk)
        ssl_context = None
        if args.ca or args.cert or args.key or args.insecure:
            ssl_context = make_ssl_context(
                ca=args.ca, cert=args.cert, key=args.key, insecure=args.insecure
            )
        if args.stun is not None:
            split_host_port(args.stun)  # a bad value is a usage error, not a device error
        store = None
        if not args.no_state:
            store = StateStore(args.state_dir or default_dir(), factory_reset=args.factory_reset)
        fleet = Fleet(
            acs_url=args.acs_url,
            username=args.username,
            password=args.password,
            dumps=args.dump or ["huawei-eg8145v5"],
            count=args.count,
            serial_prefix=args.serial_prefix,
            concurrency=args.concurrency,
            quirks=quirks,
            cr_host=args.cr_host,
            cr_port=args.cr_port,
            cr_username=args.cr_username,
            cr_password=args.cr_password,
            udp_cr=args.udp_cr or args.udp_cr_port is not None or bool(args.stun),
            udp_cr_port=args.udp_cr_port or 0,
            stun_server=args.stun,
            stun_username=args.stun_username,
            stun_interval=args.stun_interval,
            ssl_context=ssl_context,
            unsupported=args.unsupported,
            cwmp_ns=args.ns,
            bootstrap=args.bootstrap,
            state_store=store,
            periodic_interval=args.periodic_interval,
            jitter=args.jitter,
            timeout=args.timeout,
            retry_min_wait=args.retry_min_wait,
            reboot_delay=args.reboot_delay,
            answer_delay=args.answer_delay,
            firmware_version=args.firmware_version,
            verbose=args.verbose,
        )
    except (ValueError, OSError) as exc:  # ssl.SSLError is an OSError
        print(f"cpesim: {exc}", file=sys.stderr)
        return 2

    async def go() -> None:
        if args.once:
            try:
                await fleet.run_once(retries=args.retries)
            finally:
                await fleet.close()
        elif args.sessions is None and args.duration is None:
            printer = asyncio.create_task(_progress(fleet))
            try:
                await fleet.run()
            finally:
                printer.cancel()
        else:
            await fleet.run(duration=args.duration, sessions=args.sessions)

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        pass
    if not args.quiet:
        for line in fleet.summary_lines():
            print(line)
    print(f"total: {fleet.stats}")
    ok = all(d.last_result is not None and d.last_result.ok for d in fleet.devices)
    return 0 if ok else 1


async def _progress(fleet: Fleet) -> None:
    while True:
        await asyncio.sleep(10)
        print(f"progress: {fleet.stats}", flush=True)
