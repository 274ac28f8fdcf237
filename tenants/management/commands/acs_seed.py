"""Create the demo tenant and the admin (idempotent): what ``make run`` calls.

Generated secrets are kept in ``var/credentials.json`` (mode 600) so a later
run can print the CPE credentials again; the admin password is printed only
when it is first generated.
"""

from __future__ import annotations

import json
import secrets

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand

from tenants.models import Role, Tenant, validate_auth_methods
from tenants.services import membership_grant, staff_user_ensure, tenant_create


class Command(BaseCommand):
    help = "Create or update the demo tenant and the staff admin."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--tenant", default="demo")
        parser.add_argument("--quiet", action="store_true")

    def handle(self, *args, tenant: str, quiet: bool, **options) -> None:  # type: ignore[no-untyped-def]
        env = _env()
        path = settings.VAR_DIR / "credentials.json"
        saved = json.loads(path.read_text()) if path.exists() else {}

        admin_username = env("ACS_ADMIN_USERNAME") or "admin"
        admin_password = env("ACS_ADMIN_PASSWORD") or None
        generated_admin = None
        user, created = staff_user_ensure(
            username=admin_username, password=admin_password, superuser=True
        )
        if created and not admin_password:
            generated_admin = secrets.token_urlsafe(12)
            user.set_password(generated_admin)  # type: ignore[attr-defined]
            user.save()  # type: ignore[attr-defined]

        cpe_username = env("ACS_DEMO_CPE_USERNAME") or saved.get("cpe_username") or "cpe"
        cpe_password = (
            env("ACS_DEMO_CPE_PASSWORD") or saved.get("cpe_password") or secrets.token_urlsafe(12)
        )
        auth_methods = (env("ACS_DEMO_CPE_AUTH") or "digest,basic").replace(" ", "")
        try:
            validate_auth_methods(auth_methods)
        except ValidationError:
            raise SystemExit(
                "ACS_DEMO_CPE_AUTH must list digest, basic and/or certificate, e.g. digest,basic"
            ) from None
        cert_issuer = env("ACS_DEMO_CPE_CERT_ISSUER")
        if "certificate" in auth_methods and not cert_issuer:
            raise SystemExit(
                "ACS_DEMO_CPE_AUTH=certificate needs ACS_DEMO_CPE_CERT_ISSUER (the CA's DN)"
            )

        demo = Tenant.objects.filter(slug=tenant).first()
        if demo is None:
            demo = tenant_create(slug=tenant, name="Demo ISP", cpe_auth_methods=auth_methods)
        demo.cpe_auth_methods = auth_methods
        demo.cpe_cert_issuer = cert_issuer
        if not demo.connection_request_networks:
            # The simulator listens on loopback; real deployments list their CPE networks.
            demo.connection_request_networks = "127.0.0.0/8"
        demo.set_cpe_credentials(cpe_username, cpe_password)
        demo.save()
        membership_grant(tenant=demo, user=user, role=Role.ADMIN)

        saved.update(cpe_username=cpe_username, cpe_password=cpe_password)
        if not env("ACS_DEMO_CPE_PASSWORD") or saved.get("cpe_password") == cpe_password:
            path.write_text(json.dumps(saved))
            path.chmod(0o600)

        if quiet:
            return
        base = f"http://{settings.ACS_HOST}:{settings.ACS_PORT}"
        out = self.stdout.write
        out(f"Portal (admin):  {base}/admin/")
        out(f"  user:          {admin_username}")
        if generated_admin:
            out(f"  password:      {generated_admin}   (generated; shown this once)")
        elif env("ACS_ADMIN_PASSWORD"):
            out("  password:      (from ACS_ADMIN_PASSWORD)")
        else:
            out("  password:      (set on first run; change it with manage.py changepassword)")
        out(f"CWMP URL:        {base}/cwmp/{demo.slug}/")
        out(f"  CPE user:      {cpe_username}")
        out(f"  CPE password:  {cpe_password}")
        out(f"  CPE auth:      {demo.cpe_auth_methods}")
        out(
            "Try it:          .venv/bin/python -m cpesim "
            f"--acs-url {base}/cwmp/{demo.slug}/ --username {cpe_username} --password {cpe_password}"
        )


def _env():  # type: ignore[no-untyped-def]
    import os

    return lambda name: os.environ.get(name, "").strip()
