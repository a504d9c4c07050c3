"""Text tag files: ``bagit.txt``, ``bag-info.txt`` (RFC 8493 §2.1.1, §2.2.2, §2.3).

Reading is strict for BagIt 1.0 (exactly ``Label: value``; ``bagit.txt`` exactly two lines and
without a byte-order mark) and lenient where older versions allowed more (whitespace around the
colon). Every finding is returned as a :class:`~preserve.values.Problem`; nothing raises on bad
input.

Continuation lines follow §2.2.2 literally: the padding is not part of the value, the line break
is. A value folded because it was long therefore reads back with a line break where the writer
broke it.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from preserve.values import Problem

__all__ = [
    "BOM_UTF8",
    "BagitDeclaration",
    "decode_tag_text",
    "format_bag_info",
    "format_bagit_txt",
    "human_size",
    "parse_bag_info",
    "parse_bagit_txt",
    "split_lines",
]

BOM_UTF8 = b"\xef\xbb\xbf"
BAGIT_VERSION = (1, 0)
OLDEST_VERSION = (0, 93)
LINE_WIDTH = 79  # §2.2.2: lines SHOULD NOT exceed 79 characters
CONTINUATION = "  "

_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_LENIENT_FIELD = re.compile(r"[ \t]*([^:]*?)[ \t]*:[ \t]*(.*?)[ \t]*")
_VERSION = re.compile(r"(\d+)\.(\d+)")
_ENCODING = re.compile(r"[^\s:]+")


def split_lines(text: str) -> list[str]:
    """Lines ended by LF, CR or CRLF (not by Unicode separators); the last newline is optional."""
    lines = _LINE_BREAK.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def decode_tag_text(data: bytes, encoding: str) -> tuple[str, bool]:
    """Decode a tag file; returns (text, whether a UTF-8 byte-order mark was stripped).

    Raises LookupError for an unknown encoding and UnicodeDecodeError for bytes that do not
    decode. A BOM that the encoding needs (UTF-16, UTF-32) is consumed silently.
    """
    codec = codecs.lookup(encoding).name
    bom = False
    if codec in ("utf-8", "utf-8-sig") and data.startswith(BOM_UTF8):
        bom = True
        data = data[len(BOM_UTF8) :]
    text = data.decode(codec)
    if text.startswith("\ufeff"):
        text = text[1:]
    return text, bom


@dataclass
class BagitDeclaration:
    """What ``bagit.txt`` says, with the problems found reading it."""

    version: tuple[int, int] | None = None
    encoding: str | None = None
    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)


def parse_bagit_txt(data: bytes, name: str = "bagit.txt") -> BagitDeclaration:
    """Parse the bytes of ``bagit.txt``: exactly ``BagIt-Version: M.N`` then
    ``Tag-File-Character-Encoding: ENC``, UTF-8 without BOM. Whitespace around the colon is an
    error for 1.0 (and for an unreadable version) and a warning for older bags.
    """
    result = BagitDeclaration()

    def problem(code: str, message: str, *, error: bool = True) -> None:
        if error:
            result.errors.append(Problem(code, name, message))
        else:
            result.warnings.append(Problem(code, name, message, "warning"))

    if data.startswith(BOM_UTF8):
        problem(
            "bagit-txt-bom",
            "bagit.txt begins with a byte-order mark (it must be UTF-8 without BOM)",
        )
        data = data[len(BOM_UTF8) :]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem("bagit-txt-invalid", f"bagit.txt is not UTF-8: {exc.reason} at byte {exc.start}")
        return result
    lines = split_lines(text)
    fields: list[tuple[str, str, str]] = []
    for number, line in enumerate(lines, 1):
        m = _LENIENT_FIELD.fullmatch(line)
        if m is None or not m.group(1):
            problem("bagit-txt-invalid", f"line {number} is not 'Label: value': {line!r}")
            continue
        fields.append((m.group(1), m.group(2), line))

    values = {label: value for label, value, _ in reversed(fields)}
    version_text = values.get("BagIt-Version")
    if version_text is None:
        problem("bagit-txt-invalid", "bagit.txt has no 'BagIt-Version' line")
    else:
        m = _VERSION.fullmatch(version_text)
        if m is None:
            problem("version-invalid", f"BagIt-Version {version_text!r} is not M.N (e.g. 1.0)")
        else:
            result.version = (int(m.group(1)), int(m.group(2)))
            if not OLDEST_VERSION <= result.version <= BAGIT_VERSION:
                problem(
                    "version-unsupported",
                    f"BagIt-Version {version_text} is not supported (0.93 to 1.0 are)",
                )
    encoding = values.get("Tag-File-Character-Encoding")
    if encoding is None:
        problem("bagit-txt-invalid", "bagit.txt has no 'Tag-File-Character-Encoding' line")
    elif not _ENCODING.fullmatch(encoding):
        problem(
            "encoding-unsupported",
            f"Tag-File-Character-Encoding {encoding!r} is not a charset name",
        )
    else:
        try:
            codecs.lookup(encoding)
            result.encoding = encoding
        except LookupError:
            problem("encoding-unsupported", f"tag file encoding {encoding!r} is not known here")

    strict = result.version is None or result.version >= BAGIT_VERSION
    labels = [label for label, _, _ in fields]
    if labels != ["BagIt-Version", "Tag-File-Character-Encoding"] or len(lines) != 2:
        problem(
            "bagit-txt-invalid",
            "bagit.txt must be exactly two lines, 'BagIt-Version: M.N' then "
            f"'Tag-File-Character-Encoding: ENCODING' (found {len(lines)} lines: {labels})",
        )
    for label, value, line in fields:
        if label in ("BagIt-Version", "Tag-File-Character-Encoding"):
            exact = f"{label}: {value}"
            if line != exact:
                problem(
                    "bagit-txt-invalid",
                    f"{line!r} should read exactly {exact!r} (one space after the colon, no other "
                    "whitespace)",
                    error=strict,
                )
    return result


def parse_bag_info(
    text: str, version: tuple[int, int], name: str = "bag-info.txt"
) -> tuple[list[tuple[str, str]], list[Problem], list[Problem]]:
    """Elements of ``bag-info.txt`` in order, repeats kept; returns (elements, errors, warnings).

    1.0: ``Label: value`` exactly (label without surrounding whitespace, one space or tab after
    the colon); anything else is an error. Older bags may have whitespace on either side of the
    colon (§2.2.2), and their values are stripped.
    """
    strict = version >= BAGIT_VERSION
    elements: list[tuple[str, str]] = []
    errors: list[Problem] = []
    warnings: list[Problem] = []
    label: str | None = None
    value = ""

    def flush() -> None:
        if label is not None:
            elements.append((label, value if strict else value.strip()))

    for number, line in enumerate(split_lines(text), 1):
        if line == "" or (label is None and not line.strip()):
            warnings.append(Problem("bag-info-invalid", name, f"line {number} is blank", "warning"))
            continue
        if line[0] in " \t":
            if label is None:
                errors.append(
                    Problem(
                        "bag-info-invalid",
                        name,
                        f"line {number}: continuation line with no label before it",
                    )
                )
                continue
            value += "\n" + line.lstrip(" \t")
            continue
        flush()
        label = None
        head, colon, rest = line.partition(":")
        if not colon:
            errors.append(Problem("bag-info-invalid", name, f"line {number} has no ':': {line!r}"))
            continue
        if strict:
            if head != head.strip(" \t") or not head:
                errors.append(
                    Problem(
                        "bag-info-invalid",
                        name,
                        f"line {number}: label {head!r} has whitespace around it or is empty "
                        "('Label : value' is not allowed in BagIt 1.0)",
                    )
                )
                head = head.strip(" \t")
            if rest[:1] in (" ", "\t"):
                rest = rest[1:]
            else:
                errors.append(
                    Problem(
                        "bag-info-invalid",
                        name,
                        f"line {number}: the colon after {head!r} must be followed by one "
                        "space or tab",
                    )
                )
        else:
            head = head.strip(" \t")
            if not head:
                errors.append(
                    Problem("bag-info-invalid", name, f"line {number} has an empty label")
                )
                continue
        label, value = head, rest
    flush()
    return elements, errors, warnings


def format_bagit_txt(encoding: str = "UTF-8") -> str:
    return f"BagIt-Version: 1.0\nTag-File-Character-Encoding: {encoding}\n"


def check_label(label: str) -> None:
    """ValueError unless ``label`` can be a bag-info label (no ':', CR, LF, outer whitespace)."""
    if not label or label != label.strip() or any(c in label for c in ":\r\n"):
        raise ValueError(
            f"invalid bag-info label {label!r}: no ':', line breaks or outer whitespace"
        )


def _fold(prefix: str, text: str, width: int) -> list[str]:
    """Split one logical line at single spaces so lines stay within ``width`` where possible."""
    lines: list[str] = []
    start = 0
    while len(prefix) + len(text) - start > width:
        breaks = [
            i
            for i in range(start + 1, len(text) - 1)
            if text[i] == " " and text[i - 1] not in " \t" and text[i + 1] not in " \t"
        ]
        if not breaks:
            break
        fitting = [i for i in breaks if len(prefix) + i - start <= width]
        cut = fitting[-1] if fitting else breaks[0]
        lines.append(prefix + text[start:cut])
        start = cut + 1
        prefix = CONTINUATION
    lines.append(prefix + text[start:])
    return lines


def format_bag_info(elements: Sequence[tuple[str, str]], width: int = LINE_WIDTH) -> str:
    """``bag-info.txt`` text, order kept: line breaks in values and long values become
    continuation lines indented by two spaces."""
    out: list[str] = []
    for label, value in elements:
        check_label(label)
        logical = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
        for n, part in enumerate(logical):
            out.extend(_fold(f"{label}: " if n == 0 else CONTINUATION, part, width))
    return "".join(line + "\n" for line in out)


def human_size(n: int) -> str:
    """Bag-Size as people write it, in decimal units: ``512 B``, ``0.7 KB``, ``42.6 MB``."""
    if n < 1000:
        return f"{n} B"
    size = float(n)
    for unit in ("KB", "MB", "GB", "TB", "PB"):
        size /= 1000
        if round(size, 1) < 1000 or unit == "PB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")
