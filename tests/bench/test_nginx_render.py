"""deploy/nginx/render.py: the TLS front and the cluster front from one template."""

from __future__ import annotations

import http.client
import http.server
import importlib.util
import re
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import ClassVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
RENDER = ROOT / "deploy" / "nginx" / "render.py"

_spec = importlib.util.spec_from_file_location("nginx_render", RENDER)
assert _spec and _spec.loader
render = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(render)


def _render(tmp_path: Path, *args: str) -> str:
    out = tmp_path / "nginx.conf"
    assert render.main(["--prefix", str(tmp_path), *args, "-o", str(out)]) == 0
    return out.read_text()


def _upstream_block(conf: str, name: str) -> list[str]:
    block = conf.split(f"upstream {name} {{", 1)[1].split("}", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("server ")]


def _no_markers(conf: str) -> None:
    assert not any(line.strip().startswith("#@") for line in conf.splitlines())
    assert not re.search(r"@[A-Z_]+@", conf)


def test_tls_front_is_the_default(tmp_path):
    conf = _render(
        tmp_path,
        "--server-cert",
        "s.crt",
        "--server-key",
        "s.key",
        "--client-ca",
        "ca.crt",
    )
    assert "listen 127.0.0.1:8443 ssl;" in conf
    assert "ssl_verify_client optional;" in conf
    assert _upstream_block(conf, "acsportal_app") == ["server 127.0.0.1:8000;"]
    assert "location /ws/" not in conf and "X-Upstream" not in conf
    _no_markers(conf)


def test_cluster_front_balances_over_every_worker(tmp_path):
    conf = _render(
        tmp_path,
        "--plain",
        "--listen",
        "127.0.0.1:18000",
        "--upstream",
        "127.0.0.1:18001",
        "--upstream",
        "127.0.0.1:18002",
        "--upstream",
        "127.0.0.1:18003",
        "--ws-upstream",
        "127.0.0.1:18100",
        "--upstream-header",
        "--keepalive",
        "16",
    )
    assert "listen 127.0.0.1:18000;" in conf and " ssl" not in conf.split("listen", 1)[1][:40]
    assert "ssl_certificate" not in conf and "ssl_verify_client" not in conf
    assert _upstream_block(conf, "acsportal_app") == [
        "server 127.0.0.1:18001;",
        "server 127.0.0.1:18002;",
        "server 127.0.0.1:18003;",
    ]
    assert "keepalive 16;" in conf
    assert _upstream_block(conf, "acsportal_ws") == ["server 127.0.0.1:18100;"]
    assert "location /ws/" in conf and "proxy_set_header Upgrade $http_upgrade;" in conf
    assert "add_header X-Upstream $upstream_addr always;" in conf
    # The client's address and port reach the app (cookie-less sessions key on them).
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in conf
    assert "proxy_set_header X-Client-Port $remote_port;" in conf
    _no_markers(conf)


def test_tls_needs_its_files_and_values_stay_single_tokens(tmp_path, capsys):
    with pytest.raises(SystemExit):
        render.main(["--prefix", str(tmp_path)])
    assert "required (or --plain)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        render.main(["--prefix", str(tmp_path), "--plain", "--upstream", "127.0.0.1:1; evil"])
    with pytest.raises(ValueError, match="never closed"):
        render.sections("#@if ws\nx\n", {"ws"})
    with pytest.raises(ValueError, match="unknown section"):
        render.sections("#@if nope\n#@end nope\n", set())


@pytest.mark.skipif(
    not shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin"), reason="nginx not installed"
)
def test_nginx_accepts_the_cluster_front(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "tmp").mkdir()
    _render(
        tmp_path,
        "--plain",
        "--listen",
        "127.0.0.1:18000",
        "--upstream",
        "127.0.0.1:18001",
        "--upstream",
        "127.0.0.1:18002",
        "--ws-upstream",
        "127.0.0.1:18100",
        "--upstream-header",
    )
    nginx = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin")
    checked = subprocess.run(
        [
            str(nginx),
            "-t",
            "-q",
            "-p",
            f"{tmp_path}/",
            "-e",
            str(tmp_path / "logs" / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr


def _server_blocks(conf: str) -> list[str]:
    """The text of each top-level ``server { … }`` of the http block."""
    return ["    server {" + part for part in conf.split("\n    server {")[1:]]


def test_staff_listener_splits_the_doors(tmp_path):
    conf = _render(
        tmp_path,
        "--plain",
        "--listen",
        "127.0.0.1:18000",
        "--staff-listen",
        "127.0.0.1:18010",
        "--upstream",
        "127.0.0.1:18001",
        "--ws-upstream",
        "127.0.0.1:18100",
    )
    cpe, staff = _server_blocks(conf)
    assert "listen 127.0.0.1:18000;" in cpe and "listen 127.0.0.1:18010;" in staff
    # CPE listener: the CPE paths to the app, everything else 404; no live views.
    assert "location / {\n            return 404;\n        }" in cpe
    assert "location ~ ^/(cwmp|files)/ {\n            proxy_pass http://acsportal_app;" in cpe
    assert "location /ws/" not in cpe
    # Staff listener: everything but the CPE paths; nobody claims a certificate.
    assert "location ~ ^/(cwmp|files)/ {\n            return 404;" in staff
    assert "location / {\n            proxy_pass http://acsportal_app;" in staff
    assert "location /ws/" in staff
    assert 'proxy_set_header X-SSL-Client-S-DN "";' in staff
    assert "$ssl_client" not in staff
    _no_markers(conf)
    # Without it, one listener serves every path (the benchmark's and the lab's shape).
    single = _render(tmp_path, "--plain", "--ws-upstream", "127.0.0.1:18100")
    (only,) = _server_blocks(single)
    assert "return 404" not in only and "location / {\n            proxy_pass" in only


def test_staff_listener_over_tls_asks_no_client_certificate(tmp_path):
    conf = _render(
        tmp_path,
        "--staff-listen",
        "127.0.0.1:8444",
        "--server-cert",
        "s.crt",
        "--server-key",
        "s.key",
        "--client-ca",
        "ca.crt",
    )
    cpe, staff = _server_blocks(conf)
    assert "listen 127.0.0.1:8443 ssl;" in cpe and "ssl_verify_client optional;" in cpe
    assert "listen 127.0.0.1:8444 ssl;" in staff and "ssl_certificate " in staff
    assert "ssl_verify_client" not in staff and "ssl_client_certificate" not in staff
    with pytest.raises(SystemExit):
        render.main(["--prefix", str(tmp_path), "--plain", "--staff-listen", "127.0.0.1:8443"])


NGINX = shutil.which("nginx", path="/usr/sbin:/usr/bin:/sbin")


class _Upstream(http.server.BaseHTTPRequestHandler):
    """The app, as far as nginx can tell: says which path reached it."""

    seen: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.seen.append(self.path)
        body = f"app {self.path}".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_GET

    def log_message(self, *args: object) -> None:
        pass


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(port: int, path: str) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.request("GET", path)  # sent as written: nginx does the normalising
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace")
    finally:
        conn.close()


@pytest.mark.skipif(not NGINX, reason="nginx not installed")
def test_nginx_serves_cpe_paths_on_one_listener_and_staff_paths_on_the_other(tmp_path):
    (tmp_path / "logs").mkdir()
    (tmp_path / "tmp").mkdir()
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    cpe_port, staff_port = _free_port(), _free_port()
    _render(
        tmp_path,
        "--plain",
        "--listen",
        f"127.0.0.1:{cpe_port}",
        "--staff-listen",
        f"127.0.0.1:{staff_port}",
        "--upstream",
        f"127.0.0.1:{upstream.server_address[1]}",
        "--workers",
        "1",
    )
    nginx = subprocess.Popen(
        [
            str(NGINX),
            "-p",
            f"{tmp_path}/",
            "-e",
            str(tmp_path / "logs" / "error.log"),
            "-c",
            str(tmp_path / "nginx.conf"),
            "-g",
            "daemon off;",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                with socket.create_connection(("127.0.0.1", staff_port), timeout=0.2):
                    break
            except OSError:
                assert nginx.poll() is None and time.monotonic() < deadline, (
                    tmp_path / "logs" / "error.log"
                ).read_text()
                time.sleep(0.05)
        _Upstream.seen.clear()
        assert _get(cpe_port, "/cwmp/demo/") == (200, "app /cwmp/demo/")
        assert _get(cpe_port, "/files/abc/def") == (200, "app /files/abc/def")
        for path in ("/admin/", "/admin/login/", "/", "/cwmp/../admin/", "/%61dmin/", "//admin/"):
            status, _ = _get(cpe_port, path)
            assert status == 404, path
        assert _get(staff_port, "/admin/") == (200, "app /admin/")
        assert _get(staff_port, "/") == (200, "app /")
        for path in ("/cwmp/demo/", "/files/abc/def", "/admin/../cwmp/demo/"):
            status, _ = _get(staff_port, path)
            assert status == 404, path
        # Only what each listener serves reached the app.
        assert _Upstream.seen == ["/cwmp/demo/", "/files/abc/def", "/admin/", "/"]
    finally:
        nginx.terminate()
        nginx.wait(10)
        upstream.shutdown()
