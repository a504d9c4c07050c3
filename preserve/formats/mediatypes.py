"""PRONOM and media-type vocabulary: what an identification says about a file's kind. Pure.

Which files count as text (and so get a character set from libmagic): those whose MIME type is
textual, namely ``text/*``, XML (``application/xml``, any ``+xml`` such as SVG or XHTML) or JSON
(``application/json``, any ``+json``). The MIME type that decides is PRONOM's (siegfried's first
match) when the record has one, otherwise libmagic's. Formats that are bytes in a text-like
envelope but declare their own encoding (RTF, PostScript, PDF) do not count as text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from preserve.values import FormatInfo

UNKNOWN = "UNKNOWN"  # siegfried's PUID when no PRONOM signature matched
EMPTY_MIME = "application/x-empty"  # libmagic's MIME type for a zero-byte file

# PRONOM image formats whose siegfried match may carry no image/* MIME type
IMAGE_PUIDS = frozenset(
    {
        "fmt/353",  # TIFF
        "x-fmt/387",  # TIFF (Exif)
        "x-fmt/399",  # TIFF (Exif)
        "x-fmt/388",  # TIFF (Exif)
        "fmt/1917",  # TIFF (BigTIFF)
    }
)

_TEXTUAL_APPLICATION = frozenset({"application/xml", "application/json"})


def preferred_mime(mime_list: str) -> str:
    """The first of PRONOM's comma-separated MIME types (its preferred one), or ""."""
    return mime_list.split(",", 1)[0].strip()


def is_textual(mime: str) -> bool:
    """True for ``text/*``, XML and JSON media types (parameters such as charset ignored)."""
    bare = mime.split(";", 1)[0].strip().lower()
    return (
        bare.startswith("text/") or bare in _TEXTUAL_APPLICATION or bare.endswith(("+xml", "+json"))
    )


def media_type(info: FormatInfo) -> str:
    """The MIME type as the catalogue and PREMIS record it: with the character set of a text
    file as a parameter (``text/plain; charset=iso-8859-1``), else the bare type."""
    if info.charset and is_textual(info.mime) and "charset=" not in info.mime.lower():
        return f"{info.mime}; charset={info.charset}"
    return info.mime


def is_image(info: FormatInfo) -> bool:
    """True when siegfried (PUID or match MIME) or the chosen MIME type says ``image/*``."""
    for match in info.matches:
        if match.puid in IMAGE_PUIDS:
            return True
        if any(m.startswith("image/") for m in match.mime_types):
            return True
    return info.puid in IMAGE_PUIDS or info.mime.startswith("image/")
