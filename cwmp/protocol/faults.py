"""Which CPE faults are worth trying again: a protocol fact, not a policy.

TR-069 A.5.1 lists the fault codes; some say the device was busy or short
of something at that moment (a transfer in progress, no memory, a file
server that did not answer) and may heal, while invalid arguments,
unknown parameter names and the like never do. Provisioning backs off and
retries the first kind; everything that asks a CPE for work asks here.
"""

from __future__ import annotations

RETRYABLE_FAULTS: frozenset[int] = frozenset(
    {
        8002,  # Internal error (ACS side: the CPE dropped the request)
        8005,  # Retry request (A.5.1: the ACS should retry)
        9001,  # Request denied (e.g. busy)
        9002,  # Internal error
        9004,  # Resources exceeded
        9010,  # File transfer failure (download)
        9011,  # Upload failure
        9012,  # File transfer server authentication failure
        9014,  # Download failure: unable to join multicast group
        9015,  # Download failure: unable to contact file server
        9016,  # Download failure: unable to access file
        9017,  # Download failure: unable to complete download
        9018,  # Download failure: file corrupted or unusable
        9019,  # Download failure: file authentication failure
        9020,  # Download failure: unable to complete within the time windows
    }
)
