"""Storage locations: one interface (:class:`Storage`), a local filesystem and an S3 backend.

Pick a backend by URL with :func:`open_location`; record a location with
:func:`describe_location`. Keys are checked by :func:`validate_key`.
"""

from preserve.storage.base import PutItem, Storage, describe_location, open_location
from preserve.storage.keys import validate_key, validate_prefix

__all__ = [
    "PutItem",
    "Storage",
    "describe_location",
    "open_location",
    "validate_key",
    "validate_prefix",
]
