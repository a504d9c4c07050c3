"""BagIt (RFC 8493): a streaming bag writer and a strict validator, standard library only.

- :mod:`~preserve.bagit.paths`: manifest path encoding, path safety, name collisions
- :mod:`~preserve.bagit.manifest`: manifest lines
- :mod:`~preserve.bagit.taginfo`: ``bagit.txt`` and ``bag-info.txt``
- :mod:`~preserve.bagit.writer`: :class:`BagWriter`, :func:`make_bag` (1.0 bags, never in place)
- :mod:`~preserve.bagit.validator`: :func:`validate_bag`, :func:`read_bag` (0.93 to 1.0)
"""

from preserve.bagit.paths import (
    check_payload_names,
    decode_manifest_path,
    encode_manifest_path,
    unsafe_reason,
)
from preserve.bagit.validator import BagContents, read_bag, validate_bag
from preserve.bagit.writer import BagSummary, BagWriter, make_bag

__all__ = [
    "BagContents",
    "BagSummary",
    "BagWriter",
    "check_payload_names",
    "decode_manifest_path",
    "encode_manifest_path",
    "make_bag",
    "read_bag",
    "unsafe_reason",
    "validate_bag",
]
