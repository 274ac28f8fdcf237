"""The periodic-session hot path in one process, without HTTP: for profiling.

    DATABASE_URL=... REDIS_URL=... python -m bench.inproc [--sessions N] [--devices N]
        [--app acs|floor] [--profile out.prof] [--json]

Calls the project's WSGI application directly with the three requests of a
periodic session as CPEs send them (Inform without credentials -> 401,
Inform with Digest -> InformResponse, empty POST with the next nonce count
-> 204), for known devices with nothing queued: exactly what ``make bench``
sends over HTTP, minus the server and the network. It reports this
process's CPU per session (Django, middleware, codec, auth, store, ORM,
driver) and, on PostgreSQL, the CPU of the database backend serving it (read
from /proc), so a change on the hot path can be measured in seconds and
with little noise; ``--profile`` writes a cProfile of the measured loop.
``--app floor`` sends the same requests to ``bench/floor.py`` (Django, the
codec and the Digest arithmetic, nothing else), the baseline of the ratio.
The database must be one the benchmark may fill (a fresh one is best): it
is migrated and the tenant ``bench`` is seeded with the devices.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "acsportal.settings")


def _environ(path: str, body: bytes, headers: dict[str, str], port: int) -> dict[str, Any]:
    env = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "SCRIPT_NAME": "",
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "8000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "REMOTE_PORT": str(port),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": 'text/xml; charset="utf-8"',
        "wsgi.input": io.BytesIO(body),
        "wsgi.url_scheme": "http",
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": True,
        "wsgi.run_once": False,
        "wsgi.version": (1, 0),
    }
    for name, value in headers.items():
        env["HTTP_" + name.upper().replace("-", "_")] = value
    return env


class _Response:
    def __init__(self) -> None:
        self.status = 0
        self.headers: list[tuple[str, str]] = []

    def __call__(self, status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        self.status = int(status.split()[0])
        self.headers = headers

    def header(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


def _call(app: Any, env: dict[str, Any]) -> tuple[_Response, bytes]:
    response = _Response()
    chunks = app(env, response)
    try:
        body = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close:
            close()
    return response, body


def _floor_setup(devices: int) -> tuple[Any, str, str, str, list[bytes]]:
    os.environ["DJANGO_SETTINGS_MODULE"] = "bench.floor"
    from bench import floor
    from cpesim import SimulatedCPE
    from cpesim.fleet import make_serials
    from cpesim.model import DeviceModel

    model = DeviceModel.from_dump("huawei-eg8145v5")
    cpes = [
        SimulatedCPE(model, serial=serial, acs_url="http://127.0.0.1:1/cwmp/bench/")
        for model, serial in make_serials([model], devices, "INPROC")
    ]
    informs = [cpe.build_inform([("2 PERIODIC", "")])[0] for cpe in cpes]
    return floor.wsgi_app, floor.USERNAME, floor.PASSWORD, "/cwmp/bench/", informs


def run(sessions: int, devices: int, profile: str | None, app_name: str = "acs") -> dict[str, Any]:

    if app_name == "floor":
        app, username, password, path, informs = _floor_setup(devices)
        return _measure(app, username, password, path, informs, sessions, profile, None, "floor")
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from bench import ops

    call_command("migrate", verbosity=0)
    username, password = "bench-cpe", "bench-password"
    ops.seed({"username": username, "password": password, "cr_username": "cr", "cr_password": "cr"})
    from devices.models import Device

    Device.objects.filter(tenant__slug=ops.TENANT).delete()
    args = {
        "dumps": ["huawei-eg8145v5"],
        "count": devices,
        "serial_prefix": "INPROC",
        "username": username,
        "password": password,
    }
    ops.preload(args)
    cpes = ops._devices(args)
    informs = [cpe.build_inform([("2 PERIODIC", "")])[0] for cpe in cpes]

    from acsportal.wsgi import application as app

    backend_pid = None
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            backend_pid = cursor.fetchone()[0]
    path = f"/cwmp/{ops.TENANT}/"
    result = _measure(app, username, password, path, informs, sessions, profile, backend_pid, "acs")
    return {"vendor": connection.vendor, "redis": bool(os.environ.get("REDIS_URL")), **result}


def _measure(
    app: Any,
    username: str,
    password: str,
    path: str,
    informs: list[bytes],
    sessions: int,
    profile: str | None,
    backend_pid: int | None,
    app_name: str,
) -> dict[str, Any]:
    from cpesim.digest import ClientAuth

    statuses: dict[int, int] = {}

    def one(i: int) -> None:
        body = informs[i % len(informs)]
        port = 20000 + i % 40000
        client = ClientAuth(username, password)
        r, _ = _call(app, _environ(path, body, {}, port))
        statuses[r.status] = statuses.get(r.status, 0) + 1
        client.challenge(r.header("WWW-Authenticate"))
        auth = client.header("POST", path) or ""
        r, _ = _call(app, _environ(path, body, {"Authorization": auth}, port))
        statuses[r.status] = statuses.get(r.status, 0) + 1
        cookie = "; ".join(c.split(";")[0] for c in r.header("Set-Cookie"))
        auth = client.header("POST", path) or ""
        r, _ = _call(app, _environ(path, b"", {"Authorization": auth, "Cookie": cookie}, port))
        statuses[r.status] = statuses.get(r.status, 0) + 1

    for i in range(min(200, sessions)):  # warm-up: caches, connections, imports
        one(i)
    statuses.clear()
    db_before = _proc_cpu(backend_pid)
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile(time.process_time)  # CPU, not waiting
        profiler.enable()
    times0, wall0 = os.times(), time.perf_counter()
    for i in range(sessions):
        one(i)
    times1, wall = os.times(), time.perf_counter() - wall0
    user, system = times1.user - times0.user, times1.system - times0.system
    cpu = user + system
    if profiler is not None:
        assert profile  # the profiler runs only with somewhere to write it
        profiler.disable()
        profiler.dump_stats(profile)
    db_cpu = _proc_cpu(backend_pid) - db_before if backend_pid else 0.0
    return {
        "app": app_name,
        "sessions": sessions,
        "statuses": statuses,
        "cpu_ms_per_session": round(cpu * 1000 / sessions, 3),
        # System time is mostly the loopback network stack: round trips cost here.
        "system_ms_per_session": round(system * 1000 / sessions, 3),
        "db_cpu_ms_per_session": round(db_cpu * 1000 / sessions, 3),
        "wall_ms_per_session": round(wall * 1000 / sessions, 3),
    }


def _proc_cpu(pid: int | None) -> float:
    if not pid:
        return 0.0
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=2000)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--app", choices=["acs", "floor"], default="acs")
    parser.add_argument("--profile", help="write a cProfile of the measured loop here")
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    args = parser.parse_args(argv)
    result = run(args.sessions, args.devices, args.profile, args.app)
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key:24s} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
