"""``manage.py acs_housekeeping``: the CWMP chores once, or every N seconds with ``--every``."""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand

from cwmp.endpoint.housekeeping import close_abandoned


class Command(BaseCommand):
    help = "Close the logs of CWMP sessions whose CPE went silent (for a timer or a loop)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--every", type=float, default=0, help="repeat every N seconds")

    def handle(self, *args: Any, every: float = 0, **options: Any) -> None:
        while True:
            closed = close_abandoned()
            self.stdout.write(f"{closed} abandoned session(s) closed")
            if every <= 0:
                return
            time.sleep(every)
