"""``manage.py stun_server``: the TR-111 STUN server (see ``cwmp.wakeup.stun``).

CPEs with ``ManagementServer.STUNEnable`` send Binding Requests here; the
server answers them, records where each CPE listens for UDP connection
requests, and relays the UDP connection requests the job workers send
(``CWMP_STUN_RELAY``). One process serves every tenant.
"""

from __future__ import annotations

import asyncio
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from cwmp.wakeup import stun


class Command(BaseCommand):
    help = "Run the STUN server (TR-111) that learns CPEs' UDP connection-request addresses."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--host",
            default=settings.CWMP_STUN_HOST,
            help="Address to listen on (default: CWMP_STUN_HOST, 127.0.0.1).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=int(settings.CWMP_STUN_PORT),
            help="UDP port (default: CWMP_STUN_PORT, 3478, the STUN port of RFC 5389).",
        )

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        def ready(sockname: tuple[Any, ...]) -> None:
            self.stdout.write(f"STUN server listening on udp {sockname[0]}:{sockname[1]}")
            self.stdout.flush()

        try:
            asyncio.run(stun.serve(host, port, ready=ready, handle_signals=True))
        except KeyboardInterrupt:
            pass
        self.stdout.write("STUN server stopped")
