"""The media-type vocabulary: PRONOM's preferred MIME type, which files count as text or image."""

from __future__ import annotations

import pytest

from preserve.formats.mediatypes import UNKNOWN, is_image, is_textual, preferred_mime
from preserve.values import FormatInfo, FormatMatch


def match(puid: str, mime: str) -> FormatMatch:
    return FormatMatch(puid, "", "", mime, "", "")


def info(puid: str, mime: str, matches: tuple[FormatMatch, ...] = ()) -> FormatInfo:
    return FormatInfo(
        puid=puid,
        format_name="",
        format_version="",
        basis="",
        warnings=(),
        matches=matches,
        mime=mime,
        tool="siegfried 1",
        signature_version="",
    )


def test_preferred_mime_is_pronoms_first() -> None:
    assert preferred_mime("application/xml, text/xml") == "application/xml"
    assert preferred_mime(" audio/x-wav ,audio/wav") == "audio/x-wav"
    assert preferred_mime("image/png") == "image/png"
    assert preferred_mime("") == ""


def test_a_match_keeps_every_mime_type() -> None:
    m = match("fmt/101", "application/xml, text/xml")
    assert m.mime_types == ("application/xml", "text/xml")
    assert m.mime == "application/xml, text/xml"  # as siegfried gave it
    assert match("fmt/484", "").mime_types == ()


@pytest.mark.parametrize(
    ("mime", "text"),
    [
        ("text/plain", True),
        ("text/csv", True),
        ("TEXT/HTML; charset=utf-8", True),
        ("application/xml", True),
        ("application/json", True),
        ("image/svg+xml", True),
        ("application/xhtml+xml", True),
        ("application/ld+json", True),
        ("application/rtf", False),
        ("application/postscript", False),
        ("application/pdf", False),
        ("application/epub+zip", False),
        ("application/octet-stream", False),
        ("", False),
    ],
)
def test_which_mime_types_count_as_text(mime: str, text: bool) -> None:
    assert is_textual(mime) is text


def test_is_image_from_the_puid_or_any_mime_type() -> None:
    assert is_image(info("fmt/353", "image/tiff"))
    assert is_image(info("fmt/353", ""))  # TIFF, whatever the MIME type says
    assert is_image(info(UNKNOWN, "image/x-portable-pixmap"))  # libmagic's answer
    assert is_image(info("fmt/x", "application/x", (match("fmt/x", "application/x, image/x"),)))
    assert not is_image(info("x-fmt/111", "text/plain", (match("x-fmt/111", "text/plain"),)))
    assert not is_image(info("fmt/199", "application/mp4"))
