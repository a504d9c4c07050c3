"""Format identification (siegfried/PRONOM, libmagic) and image properties (Pillow).

PUIDs come from siegfried only: never from a MIME type or a file extension. ``UNKNOWN`` (with
siegfried's warning) is a valid result, not an error. The MIME type is PRONOM's where its record
has one, libmagic's otherwise; text files get their character set from libmagic. Every result
records the siegfried version, the PRONOM signature files and where the MIME type came from.

One adapter module per outside library: :mod:`.siegfried` (pygfried), :mod:`.libmagic`
(python-magic), :mod:`.images` (Pillow); :mod:`.identify` combines the first two,
:mod:`.pool` spreads many files over helper processes, :mod:`.mediatypes` is the vocabulary.
Names are imported from their module when first used, so importing this package loads none of
those libraries.

Cost per small file (2 cores, 4 KB files): siegfried ~0.1-0.4 ms in batches; libmagic ~0.15-0.3
ms per call, now made only for unknown formats, PRONOM records without a MIME type, text (its
character set) and empty files.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from preserve.formats.identify import Identifier
    from preserve.formats.images import bit_depth_for_mode, image_properties
    from preserve.formats.mediatypes import UNKNOWN, is_image, media_type
    from preserve.formats.pool import (
        PARALLEL_THRESHOLD,
        PendingIdentification,
        identify_files,
        shutdown_pool,
        start_pool,
        submit_identification,
    )

_MODULE_OF = {
    "Identifier": "identify",
    "bit_depth_for_mode": "images",
    "image_properties": "images",
    "UNKNOWN": "mediatypes",
    "is_image": "mediatypes",
    "media_type": "mediatypes",
    "PARALLEL_THRESHOLD": "pool",
    "PendingIdentification": "pool",
    "identify_files": "pool",
    "shutdown_pool": "pool",
    "start_pool": "pool",
    "submit_identification": "pool",
}

__all__ = [
    "PARALLEL_THRESHOLD",
    "UNKNOWN",
    "Identifier",
    "PendingIdentification",
    "bit_depth_for_mode",
    "identify_files",
    "image_properties",
    "is_image",
    "media_type",
    "shutdown_pool",
    "start_pool",
    "submit_identification",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup finds it without coming here
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
