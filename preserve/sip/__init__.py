"""Deliveries of the field: meemoo SIPs (1.x in a bag, 2.x E-ARK based) and E-ARK CSIP/SIP.

- :mod:`~preserve.sip.xmlsafe`: XML parsed with entity expansion and external entities refused
- :mod:`~preserve.sip.detect`: what a delivery root is (kind, profile and version)
- :mod:`~preserve.sip.mets`: METS files (root attributes, fileSec, mdRef, mptr)
- :mod:`~preserve.sip.premis`: the producer's PREMIS fixity values
- :mod:`~preserve.sip.descriptive`: package-level Dublin Core and MODS as Dublin Core fields
- :mod:`~preserve.sip.checks`: the structure rules and the promised checksums, every problem
  at once, each naming its file and rule

Standard library and ``defusedxml`` only; nothing here fetches a DTD or a schema.
"""

from preserve.sip.checks import (
    InvalidSip,
    Promised,
    SipCheck,
    check_delivery,
    validate_sip,
)
from preserve.sip.detect import Detected, detect

__all__ = [
    "Detected",
    "InvalidSip",
    "Promised",
    "SipCheck",
    "check_delivery",
    "detect",
    "validate_sip",
]
