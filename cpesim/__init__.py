"""cpesim: a CWMP (TR-069) CPE simulator built from real device parameter dumps.

Operators use it to try the ACS before real devices, end-to-end tests drive
the real server with it, and benchmarks run 10,000 devices in one process.
See cpesim/README.md.
"""

from .cpe import SimulatedCPE
from .crserver import ConnectionRequestServer
from .fleet import Fleet, FleetStats
from .model import DeviceModel, list_dumps
from .options import CPEOptions
from .quirks import FLAGS as QUIRK_FLAGS
from .quirks import Quirks
from .session import SessionResult
from .state import StateStore
from .sync import BackgroundLoop, run
from .tls import make_ssl_context
from .tree import DeviceTree
from .udpcr import UdpConnectionRequestServer

__all__ = [
    "QUIRK_FLAGS",
    "BackgroundLoop",
    "CPEOptions",
    "ConnectionRequestServer",
    "DeviceModel",
    "DeviceTree",
    "Fleet",
    "FleetStats",
    "Quirks",
    "SessionResult",
    "SimulatedCPE",
    "StateStore",
    "UdpConnectionRequestServer",
    "list_dumps",
    "make_ssl_context",
    "run",
]
