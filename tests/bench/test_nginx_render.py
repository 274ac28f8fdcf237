"""deploy/nginx/render.py: the TLS front and the cluster front from one template."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

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
