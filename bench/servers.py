# ruff: noqa: RUF001, S603
"""The servers under test: the ACS or the floor on one stack, alone or behind nginx.

Both apps start the same way (same command line and environment but for the
settings module), so the floor is a fair baseline. Each server writes its
probe files to a directory of its own, so a phase's queries and requests are
that server's only. ``launch_server`` and ``wait_server`` are separate so
that several servers, and the simulator building its fleet, start at once.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from bench.backends import Backend
from bench.common import BIN, PASSWORD, PYTHON, ROOT, SERVER_ENV, TENANT, USERNAME
from bench.processes import Managed, base_env, free_port, port_answers, spawn


@dataclass
class StackSpec:
    name: str  # daphne, granian, gunicorn
    workers: int = 1
    threads: int = 1

    def label(self) -> str:
        if self.name == "daphne":
            return "daphne (ASGI, 1 process)"
        kind = "granian WSGI" if self.name == "granian" else "gunicorn gthread WSGI"
        return f"{kind} {self.workers}w×{self.threads}t"


def server_cmd(stack: StackSpec, app: str, port: int) -> list[str]:
    asgi, wsgi = (
        ("acsportal.asgi:application", "bench.wsgi:application")
        if app == "acs"
        else ("bench.floor:asgi_app", "bench.floor:wsgi_app")
    )
    if stack.name == "daphne":
        return [PYTHON, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), asgi]
    if stack.name == "granian":
        return [
            str(BIN / "granian"),
            "--interface",
            "wsgi",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(stack.workers),
            "--blocking-threads",
            str(stack.threads),
            "--backlog",
            "2048",
            "--no-access-log",
            wsgi,
        ]
    if stack.name == "gunicorn":
        return [
            str(BIN / "gunicorn"),
            "-k",
            "gthread",
            "-w",
            str(stack.workers),
            "--threads",
            str(stack.threads),
            "-b",
            f"127.0.0.1:{port}",
            "--backlog",
            "2048",
            wsgi,
        ]
    raise ValueError(stack.name)


@dataclass
class Server:
    managed: Managed
    port: int
    probe_dir: Path
    app: str
    stack: StackSpec

    def acs_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cwmp/{TENANT}/"


def start_server(
    backend: Backend, stack: StackSpec, app: str, work: Path, tag: str, extra: dict | None = None
) -> Server:
    server = launch_server(backend, stack, app, work, tag, extra)
    wait_server(server, tag)
    return server


def launch_server(
    backend: Backend, stack: StackSpec, app: str, work: Path, tag: str, extra: dict | None = None
) -> Server:
    """Start a server process without waiting for it (``wait_server``): several start at once."""
    port = free_port()
    probe_dir = work / "probe" / tag
    probe_dir.mkdir(parents=True, exist_ok=True)
    env = dict(backend.env)
    env.update(
        DJANGO_SETTINGS_MODULE="bench.settings" if app == "acs" else "bench.floor",
        ACS_BENCH_PROBE_DIR=str(probe_dir),
        ACS_PUBLIC_URL=f"http://127.0.0.1:{port}",
        ACS_BENCH_CPE_USERNAME=USERNAME,
        ACS_BENCH_CPE_PASSWORD=PASSWORD,
        # One tenant and one load generator's address: the per-tenant and
        # per-address shares of the sessions, and the rate of devices new to
        # the ACS, would measure the load generator, not the server.
        CWMP_MAX_SESSIONS_PER_TENANT="0",
        CWMP_MAX_SESSIONS_PER_ADDRESS="0",
        CWMP_NEW_DEVICES_PER_MINUTE="0",
        CWMP_MAX_PROVISIONAL_DEVICES="0",
    )
    env.update(extra or {})
    env.update(SERVER_ENV)
    managed = spawn(f"server-{tag}", server_cmd(stack, app, port), env, work)
    return Server(managed, port, probe_dir, app, stack)


def wait_server(server: Server, tag: str) -> None:
    """Until Django answers on the server's port (405 to a GET of the CWMP URL)."""
    managed, port = server.managed, server.port
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if managed.proc.poll() is not None:
            raise RuntimeError(f"server {tag} exited:\n{managed.tail()}")
        if port_answers("127.0.0.1", port):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/cwmp/{TENANT}/", timeout=10)
            except urllib.error.HTTPError:
                break  # 405: Django answers
            except OSError:
                pass
            else:
                break
        time.sleep(0.1)
    else:
        managed.stop()
        raise RuntimeError(f"server {tag} did not start:\n{managed.tail()}")


#: The proxy the servers believe (X-Forwarded-For, X-Client-Port) in the cluster scenario.
PROXY_NET = "127.0.0.1/32"


def nginx_binary() -> str | None:
    """nginx from the Debian package (in /usr/sbin, which a non-root PATH may lack)."""
    return shutil.which("nginx", path=os.environ.get("PATH", "") + os.pathsep + "/usr/sbin:/sbin")


@dataclass
class Cluster:
    """N web worker processes (granian, 1 worker each) behind one nginx, as `make run-cluster`."""

    servers: list[Server]
    nginx: Managed
    port: int

    def acs_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/cwmp/{TENANT}/"

    def wait(self) -> None:
        for i, server in enumerate(self.servers):
            wait_server(server, f"cluster web{i + 1}")

    def stop(self) -> None:
        self.nginx.stop()
        for server in self.servers:
            server.managed.stop()


def start_nginx(
    work: Path, tag: str, upstream_ports: list[int], workers: int = 1
) -> tuple[Managed, int]:
    """nginx rendered from deploy/nginx (plain shape, round-robin, X-Upstream added), foreground."""
    nginx = nginx_binary()
    if nginx is None:
        raise RuntimeError("nginx is not installed (scripts/install-nginx.sh)")
    port = free_port()
    prefix = work / "nginx" / tag
    (prefix / "logs").mkdir(parents=True, exist_ok=True)
    (prefix / "tmp").mkdir(parents=True, exist_ok=True)
    conf = prefix / "nginx.conf"
    ups = [arg for p in upstream_ports for arg in ("--upstream", f"127.0.0.1:{p}")]
    subprocess.run(
        [
            PYTHON,
            str(ROOT / "deploy" / "nginx" / "render.py"),
            "--plain",
            "--prefix",
            str(prefix),
            "--listen",
            f"127.0.0.1:{port}",
            *ups,
            "--upstream-header",
            "--workers",
            str(workers),
            "-o",
            str(conf),
        ],
        check=True,
        capture_output=True,
    )
    cmd = [nginx, "-p", f"{prefix}/", "-e", str(prefix / "logs" / "error.log"), "-c", str(conf)]
    managed = spawn(f"nginx-{tag}", [*cmd, "-g", "daemon off;"], base_env(work), work)
    deadline = time.monotonic() + 20
    while not port_answers("127.0.0.1", port):
        if managed.proc.poll() is not None or time.monotonic() > deadline:
            managed.stop()
            err = (prefix / "logs" / "error.log").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"nginx did not start:\n{managed.tail()}\n{err}")
        time.sleep(0.05)
    return managed, port


def start_cluster(
    backend: Backend, workers: int, threads: int, work: Path, tag: str, extra: dict | None = None
) -> Cluster:
    """The workers and nginx, started at once; ``Cluster.wait()`` until the workers answer."""
    servers: list[Server] = []
    try:
        for i in range(workers):
            servers.append(
                launch_server(
                    backend,
                    StackSpec("granian", 1, threads),
                    "acs",
                    work,
                    f"cluster-{tag}-web{i + 1}",
                    {"CWMP_TRUSTED_PROXIES": PROXY_NET, **(extra or {})},
                )
            )
        nginx, port = start_nginx(work, f"cluster-{tag}", [s.port for s in servers])
    except Exception:
        for s in servers:
            s.managed.stop()
        raise
    return Cluster(servers, nginx, port)
