"""Create the demo tenant and the admin (idempotent): what ``make run`` calls.

What it prints is what a newcomer pastes, so it must stay true from one run
to the next. ``var/credentials.json`` (mode 600) therefore keeps only the
CPE password ``make run`` generated, never an ``ACS_DEMO_CPE_*`` override:
a run with overrides (against another database, say) cannot change what a
later plain run uses. And an existing tenant's credentials change only when
an override asks, which the output then says; a plain run never switches
them back either, or the password devices were given would get 401. The
admin password is printed only when it is first generated.

The commands it prints are the README's quick start, word for word
(tests/tenants/test_seed.py holds them together).
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandParser

from tenants.models import Role, Tenant, validate_auth_methods
from tenants.networks import special_entries
from tenants.services import (
    membership_grant,
    staff_user_ensure,
    tenant_create,
    tenant_set_connection_request_networks,
)

DEFAULT_CPE_USERNAME = "cpe"
# The quick start's devices: three of the simulator's Huawei ONTs. Without
# --serial-prefix the simulator numbers the dump's serial (48575443A94196A5)
# 00001, 00002, … when a dump has several devices, so the first is
# QUICKSTART_DEVICE; the device_task example names it.
QUICKSTART_DUMP = "huawei-eg8145v5"
# Where the simulator listens for connection requests (its 127.0.0.1).
DEMO_CR_NETWORKS = "127.0.0.0/8"
QUICKSTART_COUNT = 3
QUICKSTART_DEVICE = "00259E-EG8145V5-48575443A94196A500001"
QUICKSTART_ARGS = (
    '{"values": {"InternetGatewayDevice.LANDevice.1.WLANConfiguration.1.SSID": "home"}}'
)


class Command(BaseCommand):
    help = "Create or update the demo tenant and the staff admin."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--tenant", default="demo")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args: Any, tenant: str, quiet: bool, **options: Any) -> None:
        database = settings.DATABASES["default"]
        sqlite = Path(str(database["NAME"])) if "sqlite" in database["ENGINE"] else None
        _owner_only(settings.VAR_DIR, sqlite)
        admin_username = _env("ACS_ADMIN_USERNAME") or "admin"
        admin_password = _env("ACS_ADMIN_PASSWORD") or None
        generated_admin = None
        user, created = staff_user_ensure(
            username=admin_username, password=admin_password, superuser=True
        )
        if created and not admin_password:
            generated_admin = secrets.token_urlsafe(12)
            user.set_password(generated_admin)
            user.save()

        auth_methods = (_env("ACS_DEMO_CPE_AUTH") or "digest,basic").replace(" ", "")
        try:
            validate_auth_methods(auth_methods)
        except ValidationError:
            raise SystemExit(
                "ACS_DEMO_CPE_AUTH must list digest, basic and/or certificate, e.g. digest,basic"
            ) from None
        cert_issuer = _env("ACS_DEMO_CPE_CERT_ISSUER")
        if "certificate" in auth_methods and not cert_issuer:
            raise SystemExit(
                "ACS_DEMO_CPE_AUTH=certificate needs ACS_DEMO_CPE_CERT_ISSUER (the CA's DN)"
            )

        generated = _generated_cpe_password(settings.VAR_DIR / "credentials.json")
        override_username = _env("ACS_DEMO_CPE_USERNAME")
        override_password = _env("ACS_DEMO_CPE_PASSWORD")
        cpe_username = override_username or DEFAULT_CPE_USERNAME
        cpe_password = override_password or generated

        demo = Tenant.objects.filter(slug=tenant).first()
        is_new = demo is None
        if demo is None:
            demo = tenant_create(slug=tenant, name="Demo ISP", cpe_auth_methods=auth_methods)
        previous_auth = demo.cpe_auth_methods
        demo.cpe_auth_methods = auth_methods
        demo.cpe_cert_issuer = cert_issuer
        if not demo.basic_over_http_networks:
            # make run serves plain HTTP, and the simulator may send Basic
            # (preemptive-basic); nowhere else may a password cross in clear.
            demo.basic_over_http_networks = "127.0.0.0/8"
        notice = ""
        printed_password: str | None = cpe_password
        if demo.has_cpe_credentials(cpe_username, cpe_password):
            pass
        elif is_new or not demo.cpe_username:
            demo.set_cpe_credentials(cpe_username, cpe_password)
        elif override_username or override_password:
            notice = (
                f"changed, as ACS_DEMO_CPE_* asked (the user was {demo.cpe_username!r}):"
                " devices that use the old ones now get 401"
            )
            demo.set_cpe_credentials(cpe_username, cpe_password)
        else:
            # Set by an earlier override or in the admin: keep them, and say
            # so instead of printing a password that would not work.
            cpe_username, printed_password = demo.cpe_username, None
            notice = (
                "kept: an earlier run with ACS_DEMO_CPE_* (or the admin) set them, not make"
                " run's generated ones; ACS_DEMO_CPE_PASSWORD=… make run changes them"
            )
        demo.save()
        if not demo.connection_request_networks:
            # The simulator listens on loopback, which only the platform may
            # open (tenants.networks): make run acts as the platform here.
            # Real deployments list their CPE networks; a new tenant has none.
            tenant_set_connection_request_networks(tenant=demo, networks=DEMO_CR_NETWORKS, by=user)
        membership_grant(tenant=demo, user=user, role=Role.ADMIN)

        if quiet:
            return
        base = f"http://{settings.ACS_HOST}:{settings.ACS_PORT}"
        cwmp_url = f"{base}/cwmp/{demo.slug}/"
        out = self.stdout.write
        out(f"Portal (admin):  {base}/admin/")
        out(f"  user:          {admin_username}")
        if generated_admin:
            out(f"  password:      {generated_admin}   (generated; shown this once)")
        elif _env("ACS_ADMIN_PASSWORD"):
            out("  password:      (from ACS_ADMIN_PASSWORD)")
        else:
            out("  password:      (set on first run; change it with manage.py changepassword)")
        out(f"CWMP URL:        {cwmp_url}")
        out(f"  CPE user:      {cpe_username}")
        if printed_password is None:
            out("  CPE password:  (not printed: not the one make run generated)")
        else:
            source = " (from ACS_DEMO_CPE_PASSWORD)" if override_password else ""
            out(f"  CPE password:  {printed_password}{source}")
        if notice:
            out(f"  CPE credentials {notice}")
        was = f"   (was {previous_auth})" if not is_new and previous_auth != auth_methods else ""
        out(f"  CPE auth:      {demo.cpe_auth_methods}{was}")
        out(f"  CR networks:   {_networks_line(demo)}")
        if demo.allows_basic:
            networks = ", ".join(demo.basic_over_http_networks.split()) or "nowhere"
            out(f"  Basic over plain HTTP: from {networks} only (elsewhere Basic needs HTTPS)")
        if not (demo.allows_digest or demo.allows_basic):
            out("Simulator:       certificates only: README, CWMP over HTTPS, Trying it")
            return
        password = printed_password if printed_password is not None else "<the demo CPE password>"
        simulator = (
            f".venv/bin/python -m cpesim --acs-url {cwmp_url} --username {cpe_username}"
            f" --password {password} --dump {QUICKSTART_DUMP} --count {QUICKSTART_COUNT}"
        )
        out("Then, from this directory (README, Quick start); this terminal keeps the server:")
        out(
            "  terminal 2, three simulated devices left running, so they answer connection requests:"
        )
        out(f"     {simulator}")
        out("  terminal 3, a task for the first of them, sent now through a connection request:")
        out(
            f"     .venv/bin/python manage.py device_task {demo.slug} {QUICKSTART_DEVICE}"
            f" set_parameter_values --args '{QUICKSTART_ARGS}' --connection-request --wait 30"
        )
        out("  or, only to see sessions: one boot session per device, then the simulator exits:")
        out(f"     {simulator} --once")


def _networks_line(tenant: Tenant) -> str:
    """Where connection requests may go, and why loopback is there when it is."""
    text = ", ".join(tenant.connection_request_networks.split())
    if not text:
        return "(none: connection requests are refused)"
    try:
        special = special_entries(tenant.connection_request_allowlist())
    except ValueError:
        return text
    if special:
        labels = ", ".join(sorted({label for _, label in special}))
        return (
            f"{text}   ({labels}: kept for the simulator; only the platform superuser can"
            " allow such addresses, and a new tenant starts with none)"
        )
    return text


def _generated_cpe_password(path: Path) -> str:
    """The CPE password make run generated, generating it on the first run.

    Only that password is kept; an older file's username goes.
    """
    saved: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    password = str(saved.get("cpe_password") or secrets.token_urlsafe(12))
    if saved != {"cpe_password": password}:
        # Created 0600, never readable by others even for a moment.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as file:
            json.dump({"cpe_password": password}, file)
        path.chmod(0o600)
    return password


def _owner_only(var_dir: Path, sqlite: Path | None) -> None:
    """var/ and its secrets readable by their owner only, also when an older run made them.

    Settings create them so; a checkout from before that (or a copy with
    another umask) may have them world-readable: the SQLite file holds the
    devices' secrets, ``secret_key`` signs sessions, nonces and links and
    derives the default field key. Only what this user owns is touched.
    """
    uid = os.getuid()
    paths = [var_dir / "secret_key", var_dir / "credentials.json"]
    if sqlite is not None:
        paths += [
            sqlite,
            sqlite.with_name(sqlite.name + "-wal"),
            sqlite.with_name(sqlite.name + "-shm"),
        ]
    for path, mode in [(var_dir, 0o700), *((p, 0o600) for p in paths)]:
        try:
            info = path.stat()
        except OSError:
            continue
        if info.st_uid == uid and info.st_mode & 0o777 & ~mode:
            path.chmod(info.st_mode & mode)


def _env(name: str) -> str:
    return os.environ.get(name, "").strip()
