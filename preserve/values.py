"""Frozen value types shared across layers.

Services return these, never ORM objects, so nothing lazy-loads after its session closed and the
adapters can serialise them without knowing SQLAlchemy.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

Severity = Literal["error", "warning"]


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}
_SCALARS = (str, int, float, bool, type(None))


def as_dict(value: Any) -> Any:
    """A JSON-ready view of a value type (datetimes as ISO 8601, tuples as lists)."""
    if isinstance(value, _SCALARS):
        return value
    cls = type(value)
    names = _FIELD_NAMES.get(cls)
    if names is None and dataclasses.is_dataclass(value) and not isinstance(value, type):
        names = _FIELD_NAMES[cls] = tuple(f.name for f in dataclasses.fields(value))
    if names is not None:
        out = {}
        for name in names:
            item = getattr(value, name)
            out[name] = item if isinstance(item, _SCALARS) else as_dict(item)
        return out
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [as_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: as_dict(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class Problem:
    """One finding about a bag, file or delivery: a stable code, the path concerned, a message."""

    code: str
    path: str
    message: str
    severity: Severity = "error"

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{where}{self.message} [{self.code}]"


@dataclass(frozen=True)
class ValidationReport:
    """The verdict on a bag: valid only when complete and every checksum was verified."""

    path: str
    version: str | None
    errors: tuple[Problem, ...] = ()
    warnings: tuple[Problem, ...] = ()
    algorithms: tuple[str, ...] = ()
    payload_files: int = 0
    payload_bytes: int = 0

    @property
    def valid(self) -> bool:
        return not self.errors

    def to_json(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "path": self.path,
            "version": self.version,
            "algorithms": list(self.algorithms),
            "payload_files": self.payload_files,
            "payload_bytes": self.payload_bytes,
            "errors": [{"code": p.code, "path": p.path, "message": p.message} for p in self.errors],
            "warnings": [
                {"code": p.code, "path": p.path, "message": p.message} for p in self.warnings
            ],
        }


@dataclass(frozen=True)
class FormatMatch:
    """One siegfried match (PRONOM namespace)."""

    puid: str
    format_name: str
    format_version: str
    mime: str  # the PRONOM record's MIME types as siegfried gives them: "a/b, c/d", preferred first
    basis: str
    warning: str

    @property
    def mime_types(self) -> tuple[str, ...]:
        """The PRONOM record's MIME types, preferred first; () when it has none."""
        return tuple(m for m in (part.strip() for part in self.mime.split(",")) if m)


@dataclass(frozen=True)
class FormatInfo:
    """What a file is: the first PRONOM match, every match, its MIME type, the tool versions."""

    puid: str  # "UNKNOWN" when siegfried found nothing; never derived from MIME or extension
    format_name: str
    format_version: str
    basis: str
    warnings: tuple[str, ...]
    matches: tuple[FormatMatch, ...]
    mime: str  # the best MIME type: PRONOM's preferred one (via siegfried), else libmagic's
    tool: str  # e.g. "siegfried 1.11.9"
    signature_version: str  # e.g. "DROID_SignatureFile_V125.xml; container-signature-20260119.xml"
    mime_source: str = ""  # where ``mime`` came from: "siegfried", "libmagic" or "" (none)
    charset: str | None = None  # character set of a text file (libmagic), e.g. "utf-8"
    magic_description: str = ""  # libmagic's description, only when asked for (describe=True)


@dataclass(frozen=True)
class ImageInfo:
    """Image properties read by Pillow; ``complete`` is False if the image does not fully decode."""

    width: int
    height: int
    mode: str
    bit_depth: int | None
    x_resolution: float | None
    y_resolution: float | None
    resolution_unit: str | None  # "dpi" or "dpcm" or None
    icc_profile: str | None  # the profile's description, e.g. "sRGB IEC61966-2.1"
    exif_datetime: str | None
    camera_make: str | None
    camera_model: str | None
    orientation: int | None
    complete: bool
    decode_error: str | None = None


@dataclass(frozen=True)
class StoredObject:
    """A copy written to a storage location and how its bytes were confirmed."""

    key: str
    size: int
    digests: dict[str, str] = field(default_factory=dict)  # algorithm (BagIt token) -> hex
    #: how the copy was confirmed: "reread", "server-sha256", "server-crc64nvme", ...
    verified_by: str = ""
    part_size: int | None = None  # multipart part size, to reproduce a composite checksum


@dataclass(frozen=True)
class ObjectStat:
    """What a location says about one object, without reading it."""

    key: str
    size: int
    modified: datetime | None = None
    checksum_sha256: str | None = None  # base64 as S3 reports it; may be composite ("...-N")
    checksum_crc64nvme: str | None = None
    etag: str | None = None
