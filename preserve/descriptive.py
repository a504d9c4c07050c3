"""Descriptive metadata: simple Dublin Core as ``oai_dc`` XML, and the ``--metadata`` CSV.

Each package carries its Dublin Core description as a tag file. The batch ingest reads it from a
CSV that maps each delivered PATH to Dublin Core fields:

* a header row with a ``path`` column and one column per Dublin Core element, named in any case,
  bare or prefixed (``title``, ``Title``, ``dc.title``, ``dc:title``); a column may appear more
  than once and every value is kept, in column order;
* several values in one cell are separated by ``|`` (``Smith, Jan|Peeters, An``); there is no
  escape for a literal ``|``; spaces around each value are removed and empty values dropped;
* relative paths are resolved against ``base`` (by default the folder holding the CSV);
* UTF-8 with or without a byte-order mark; comma-separated, or semicolon-separated when the header
  line holds semicolons and no comma (what Excel writes in a Belgian or Dutch locale);
* empty lines and lines whose cells are all empty are skipped.

Every problem raises :class:`preserve.errors.InvalidInput` with a one-line message naming the CSV
file and, where there is one, the line.
"""

from __future__ import annotations

import csv
import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from pathlib import Path

from preserve.errors import InvalidInput
from preserve.premis import xml_safe_text

DC_ELEMENTS = (
    "title",
    "creator",
    "subject",
    "description",
    "publisher",
    "contributor",
    "date",
    "type",
    "format",
    "identifier",
    "source",
    "language",
    "relation",
    "coverage",
    "rights",
)

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC_SCHEMA_LOCATION = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
VALUE_SEPARATOR = "|"


def _register_namespaces() -> None:
    ET.register_namespace("oai_dc", OAI_DC_NS)
    ET.register_namespace("dc", DC_NS)
    ET.register_namespace("xsi", XSI_NS)


_register_namespaces()


def dublin_core_xml(fields: Mapping[str, Sequence[str]]) -> bytes:
    """An ``oai_dc:dc`` document: elements in :data:`DC_ELEMENTS` order, values in given order.

    Keys are Dublin Core element names (lower case); anything else raises ValueError. Blank
    values are left out. UTF-8 with an XML declaration, pretty-printed, deterministic.
    """
    unknown = sorted(key for key in fields if key not in DC_ELEMENTS)
    if unknown:
        raise ValueError(f"not Dublin Core elements: {unknown}; allowed: {', '.join(DC_ELEMENTS)}")
    if any(isinstance(values, str) for values in fields.values()):
        raise ValueError("Dublin Core values must be sequences of strings, not a string")
    _register_namespaces()
    root = ET.Element(
        f"{{{OAI_DC_NS}}}dc",
        {f"{{{XSI_NS}}}schemaLocation": f"{OAI_DC_NS} {OAI_DC_SCHEMA_LOCATION}"},
    )
    for name in DC_ELEMENTS:
        for value in fields.get(name, ()):
            if value.strip():
                ET.SubElement(root, f"{{{DC_NS}}}{name}").text = xml_safe_text(value)
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def parse_dublin_core(xml: bytes) -> dict[str, list[str]]:
    """The Dublin Core elements of an ``oai_dc`` (or any) document, in DC_ELEMENTS order."""
    root = ET.fromstring(xml)  # noqa: S314 - our own tag files, not untrusted network input
    found: dict[str, list[str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith(f"{{{DC_NS}}}"):
            continue
        name = element.tag[len(DC_NS) + 2 :]
        if name in DC_ELEMENTS:
            found.setdefault(name, []).append(element.text or "")
    return {name: found[name] for name in DC_ELEMENTS if name in found}


def bag_info_from_dublin_core(fields: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """The bag-info.txt lines the description supplies: only ``External-Description``.

    One line per Dublin Core description (the title when there is none), whitespace folded onto
    one line. Source-Organization, External-Identifier and the rest come from the ingest itself.
    """
    values = [v for v in fields.get("description", ()) if v.strip()]
    if not values:
        values = [v for v in fields.get("title", ()) if v.strip()]
    return [("External-Description", " ".join(value.split())) for value in values]


# -- the --metadata CSV -----------------------------------------------------------------------


def _column_element(header: str) -> str:
    """``dc:Title`` -> ``title``; the bare lower-case name of a header cell."""
    name = header.strip().lower()
    for prefix in ("dc.", "dc:"):
        if name.startswith(prefix):
            return name[len(prefix) :].strip()
    return name


def _read_text(csv_path: Path) -> str:
    try:
        data = csv_path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{csv_path}: metadata CSV not found") from None
    except IsADirectoryError:
        raise InvalidInput(f"{csv_path}: is a folder, not a metadata CSV file") from None
    except OSError as exc:
        raise InvalidInput(f"{csv_path}: cannot read metadata CSV ({exc.strerror})") from None
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InvalidInput(f"{csv_path}, line 1: UTF-16, not UTF-8; save the CSV as UTF-8")
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        raise InvalidInput(
            f"{csv_path}, line {line}: contains a NUL byte (UTF-16?); save the CSV as UTF-8"
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InvalidInput(
            f"{csv_path}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x});"
            " save the CSV as UTF-8"
        ) from None


def read_metadata_csv(
    csv_path: Path, *, base: Path | None = None
) -> dict[Path, dict[str, list[str]]]:
    """Dublin Core fields per resolved path, from a ``--metadata`` CSV (format in the module doc).

    Keys are ``Path.resolve()``-d so the ingest can look up its own resolved PATHs; a path with no
    values gets an empty dict. Whether the paths exist is left to the caller.
    """
    csv_path = Path(csv_path)
    text = _read_text(csv_path)
    root = Path(base) if base is not None else csv_path.parent
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if ";" in first_line and "," not in first_line else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)

    def where(line: int) -> str:
        return f"{csv_path}, line {line}"

    rows: list[tuple[int, list[str]]] = []
    while True:
        line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InvalidInput(f"{where(reader.line_num or line)}: malformed CSV ({exc})") from None
        if any(cell.strip() for cell in row):
            rows.append((line, row))
    if not rows:
        raise InvalidInput(f"{csv_path}: empty; expected a header row with a 'path' column")

    header_line, header = rows[0]
    columns = [_column_element(cell) for cell in header]
    if "path" not in columns:
        raise InvalidInput(f"{where(header_line)}: no 'path' column in the header")
    if columns.count("path") > 1:
        raise InvalidInput(f"{where(header_line)}: the 'path' column appears more than once")
    unknown = [
        cell.strip()
        for cell, name in zip(header, columns, strict=True)
        if name and name != "path" and name not in DC_ELEMENTS
    ]
    if unknown:
        raise InvalidInput(
            f"{where(header_line)}: unknown column {', '.join(repr(u) for u in unknown)};"
            f" allowed: path, {', '.join(DC_ELEMENTS)} (optionally as dc.NAME or dc:NAME)"
        )
    path_index = columns.index("path")

    result: dict[Path, dict[str, list[str]]] = {}
    first_seen: dict[Path, int] = {}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise InvalidInput(f"{where(line)}: {len(row)} fields but the header has {len(header)}")
        for index, name in enumerate(columns):
            if not name and row[index].strip():
                raise InvalidInput(
                    f"{where(line)}: a value in column {index + 1}, which has no name in the header"
                )
        raw_path = row[path_index].strip()
        if not raw_path:
            raise InvalidInput(f"{where(line)}: empty path")
        path = Path(raw_path)
        key = (path if path.is_absolute() else root / path).resolve()
        if key in first_seen:
            raise InvalidInput(
                f"{where(line)}: {raw_path!r} is listed twice (first on line {first_seen[key]})"
            )
        first_seen[key] = line
        fields: dict[str, list[str]] = {}
        for index, name in enumerate(columns):
            if name in ("", "path"):
                continue
            for value in row[index].split(VALUE_SEPARATOR):
                if value.strip():
                    fields.setdefault(name, []).append(value.strip())
        result[key] = {name: fields[name] for name in DC_ELEMENTS if name in fields}
    return result
