"""make run's seeding: idempotent, honours the environment, prints the README's quick start."""

from __future__ import annotations

import json
import shlex
import stat

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cpesim.cli import build_parser
from cpesim.fleet import make_serials
from cpesim.model import DeviceModel
from cwmp.protocol.digest import make_ha1
from devices.identity import make_device_id
from tenants.models import Tenant
from tests.readme import quick_start_commands, readme_quick_start

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var(tmp_path, settings, monkeypatch):
    settings.VAR_DIR = tmp_path
    settings.ACS_HOST, settings.ACS_PORT = "127.0.0.1", 8000  # the README's
    for name in (
        "ACS_ADMIN_USERNAME",
        "ACS_ADMIN_PASSWORD",
        "ACS_DEMO_CPE_USERNAME",
        "ACS_DEMO_CPE_PASSWORD",
        "ACS_DEMO_CPE_AUTH",
        "ACS_DEMO_CPE_CERT_ISSUER",
    ):
        monkeypatch.delenv(name, raising=False)


def seed(capsys, **env: str) -> str:
    """One ``make run`` seeding with these ACS_* variables; what it printed."""
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        call_command("acs_seed")
    return capsys.readouterr().out


def generated(settings) -> str:
    saved = json.loads((settings.VAR_DIR / "credentials.json").read_text())
    assert set(saved) == {"cpe_password"}  # nothing but what make run generated
    return saved["cpe_password"]


def demo_accepts(username: str, password: str) -> bool:
    return Tenant.objects.get(slug="demo").has_cpe_credentials(username, password)


def another_database() -> None:
    """What pointing DATABASE_URL elsewhere looks like to the seed: no demo tenant."""
    Tenant.objects.all().delete()


def test_seed_is_idempotent_and_prints_credentials(capsys, settings):
    call_command("acs_seed")
    out = capsys.readouterr().out
    assert "/cwmp/demo/" in out and "generated; shown this once" in out
    saved = json.loads((settings.VAR_DIR / "credentials.json").read_text())
    call_command("acs_seed")
    again = capsys.readouterr().out
    assert "generated" not in again
    assert saved["cpe_password"] in again
    assert Tenant.objects.count() == 1
    assert get_user_model().objects.filter(username="admin", is_superuser=True).count() == 1
    demo = Tenant.objects.get(slug="demo")
    assert demo.cpe_ha1_md5 == make_ha1("cpe", demo.cpe_realm, saved["cpe_password"])
    assert demo.memberships.get().role == "admin"


def test_the_demo_tenant_keeps_loopback_for_the_simulator_and_says_so(capsys):
    out = seed(capsys)
    assert Tenant.objects.get(slug="demo").connection_request_networks == "127.0.0.0/8"
    line = next(line for line in out.splitlines() if "CR networks:" in line)
    assert "127.0.0.0/8" in line and "loopback" in line and "only the platform superuser" in line
    # A tenant admin's own change later keeps it; a run does not add it back once removed.
    demo = Tenant.objects.get(slug="demo")
    demo.connection_request_networks = "203.0.113.0/24"
    demo.save()
    assert "CR networks:   203.0.113.0/24\n" in seed(capsys)


def test_seed_takes_credentials_from_environment(monkeypatch, settings):
    monkeypatch.setenv("ACS_ADMIN_USERNAME", "boss")
    monkeypatch.setenv("ACS_ADMIN_PASSWORD", "s3cret-pass")
    monkeypatch.setenv("ACS_DEMO_CPE_USERNAME", "router")
    monkeypatch.setenv("ACS_DEMO_CPE_PASSWORD", "router-pw")
    monkeypatch.setenv("ACS_DEMO_CPE_AUTH", "digest")
    call_command("acs_seed", "--quiet")
    user = get_user_model().objects.get(username="boss")
    assert user.check_password("s3cret-pass")
    demo = Tenant.objects.get(slug="demo")
    assert demo.cpe_username == "router" and demo.cpe_auth_methods == "digest"
    assert demo.cpe_ha1_md5 == make_ha1("router", demo.cpe_realm, "router-pw")
    path = settings.VAR_DIR / "credentials.json"
    assert "router" not in path.read_text()  # overrides are never kept
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_seed_rejects_bad_auth_setting(monkeypatch):
    monkeypatch.setenv("ACS_DEMO_CPE_AUTH", "ntlm")
    with pytest.raises(SystemExit):
        call_command("acs_seed", "--quiet")


def test_seed_with_certificate_auth(monkeypatch):
    monkeypatch.setenv("ACS_DEMO_CPE_AUTH", "certificate,digest")
    monkeypatch.setenv("ACS_DEMO_CPE_CERT_ISSUER", "CN=Lab CA,O=ISP")
    call_command("acs_seed", "--quiet")
    demo = Tenant.objects.get(slug="demo")
    assert demo.allows_certificate and demo.allows_digest and not demo.allows_basic
    monkeypatch.delenv("ACS_DEMO_CPE_CERT_ISSUER")
    with pytest.raises(SystemExit):
        call_command("acs_seed", "--quiet")


# ---------------------------------------------- credentials across runs (issue 9)


def test_an_override_never_replaces_the_generated_password(capsys, settings):
    first = seed(capsys)
    password = generated(settings)
    assert f"CPE password:  {password}" in first and demo_accepts("cpe", password)
    # A run with overrides against another database...
    another_database()
    out = seed(capsys, ACS_DEMO_CPE_USERNAME="router", ACS_DEMO_CPE_PASSWORD="router-pw")
    assert "router-pw (from ACS_DEMO_CPE_PASSWORD)" in out and demo_accepts("router", "router-pw")
    assert generated(settings) == password
    # ...and a plain run against a fresh one is back on the generated password.
    another_database()
    again = seed(capsys)
    assert f"CPE password:  {password}" in again and demo_accepts("cpe", password)


def test_a_plain_run_keeps_credentials_an_override_set_and_says_so(capsys, settings):
    seed(capsys, ACS_DEMO_CPE_PASSWORD="lab-pw")
    assert demo_accepts("cpe", "lab-pw")
    out = seed(capsys)
    assert demo_accepts("cpe", "lab-pw")  # not switched to the generated password
    assert generated(settings) not in out  # which would get 401
    assert "CPE credentials kept: an earlier run with ACS_DEMO_CPE_*" in out
    assert "--password <the demo CPE password>" in out


def test_an_override_changes_an_existing_tenants_credentials_and_says_so(capsys, settings):
    seed(capsys)
    password = generated(settings)
    out = seed(capsys, ACS_DEMO_CPE_PASSWORD="new-pw")
    assert demo_accepts("cpe", "new-pw") and not demo_accepts("cpe", password)
    assert "CPE credentials changed, as ACS_DEMO_CPE_* asked" in out and "401" in out
    assert generated(settings) == password
    # The same override again changes nothing, so it says nothing.
    assert "CPE credentials" not in seed(capsys, ACS_DEMO_CPE_PASSWORD="new-pw")


def test_an_old_credentials_file_keeps_its_password_and_loses_its_username(capsys, settings):
    path = settings.VAR_DIR / "credentials.json"
    path.write_text(json.dumps({"cpe_username": "cpe", "cpe_password": "from-before"}))
    seed(capsys)
    assert json.loads(path.read_text()) == {"cpe_password": "from-before"}
    assert demo_accepts("cpe", "from-before")


def test_a_change_of_auth_methods_is_shown(capsys, monkeypatch):
    seed(capsys)
    out = seed(capsys, ACS_DEMO_CPE_AUTH="digest")
    assert "CPE auth:      digest   (was digest,basic)" in out


# ------------------------------------------------- the README's quick start


def test_make_run_prints_the_readmes_quick_start(capsys, settings):
    out = seed(capsys)
    printed = [line.replace(generated(settings), "<printed>") for line in quick_start_commands(out)]
    assert len(printed) == 3  # the simulator left running, device_task, the --once variant
    assert printed == quick_start_commands(readme_quick_start())


def test_the_quick_start_task_names_a_device_the_simulator_command_creates(capsys):
    simulator, device_task, once = quick_start_commands(seed(capsys))
    assert once == simulator + " --once"
    args = build_parser().parse_args(shlex.split(simulator)[3:])
    models = [DeviceModel.from_dump(name) for name in args.dump]
    model, serial = make_serials(models, args.count, args.serial_prefix)[0]
    device_id = make_device_id(model.oui, model.product_class, serial)
    assert shlex.split(device_task)[4] == device_id == "00259E-EG8145V5-48575443A94196A500001"


def test_demo_tenant_takes_basic_over_plain_http_from_loopback_only_and_says_so(capsys):
    out = seed(capsys)
    demo = Tenant.objects.get(slug="demo")
    assert demo.basic_over_http_networks == "127.0.0.0/8"
    assert "Basic over plain HTTP: from 127.0.0.0/8 only" in out
    # A list the operator set is kept.
    demo.basic_over_http_networks = "10.0.0.0/8"
    demo.save()
    assert "from 10.0.0.0/8 only" in seed(capsys)
    assert "Basic over plain HTTP" not in seed(capsys, ACS_DEMO_CPE_AUTH="digest")
