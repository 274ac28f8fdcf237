"""make run's seeding: idempotent, honours the environment."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from cwmp.protocol.digest import make_ha1
from tenants.models import Tenant

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _var(tmp_path, settings, monkeypatch):
    settings.VAR_DIR = tmp_path
    for name in (
        "ACS_ADMIN_USERNAME",
        "ACS_ADMIN_PASSWORD",
        "ACS_DEMO_CPE_USERNAME",
        "ACS_DEMO_CPE_PASSWORD",
        "ACS_DEMO_CPE_AUTH",
    ):
        monkeypatch.delenv(name, raising=False)


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


def test_seed_takes_credentials_from_environment(monkeypatch):
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
