"""What both directions of the codec share: its error and the SOAP/XSD namespaces."""

from __future__ import annotations

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP_ENC_NS = "http://schemas.xmlsoap.org/soap/encoding/"
XSD_NS = "http://www.w3.org/2001/XMLSchema"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"


class CodecError(Exception):
    """A body that cannot be turned into a message (or a message into XML).

    ``fault_code`` is the ACS fault the engine should answer with (TR-069
    A.5.2): 8002 when the body is not a usable SOAP envelope at all, 8003 when
    it is a known message with an argument of the wrong form.
    """

    def __init__(self, message: str, fault_code: int = 8002) -> None:
        super().__init__(message)
        self.message = message
        self.fault_code = fault_code
