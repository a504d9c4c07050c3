"""Descriptive metadata: Dublin Core as XML, and the ``--metadata`` CSV that supplies it.

Each package carries its Dublin Core description as a tag file (``metadata/dc.xml``). The batch
ingest reads it from a CSV that maps each delivered PATH, and optionally single files inside it,
to Dublin Core:

* a header row with a ``path`` column and one column per term: the 15 simple elements, bare or
  prefixed in any case (``title``, ``Title``, ``dc.title``, ``dc:title``, ``dcterms:title``), and
  the DCMI qualified terms with their ``dcterms:`` (or ``dcterms.``) prefix (``dcterms:created``,
  ``dcterms:spatial``, ``dcterms:isPartOf``, ...; :data:`DCTERMS`); a column may appear more than
  once and every value is kept, in column order;
* several values in one cell are separated by ``|`` (``Smith, Jan|Peeters, An``); there is no
  escape for a literal ``|``; spaces around each value are removed and empty values dropped;
* relative paths are resolved against ``base`` (by default the folder holding the CSV); a row
  whose path lies inside a delivered folder describes that one file (item-level description);
  ``\\`` separates folders as ``/`` does (what Excel users on Windows write), unless a file or
  folder of exactly that name, backslash included, exists;
* UTF-8 with or without a byte-order mark, or the encoding given (``cp1252`` for what Excel
  writes on Windows in Belgium); bytes that are not UTF-8 are refused with the line and byte,
  never guessed; comma, semicolon or tab as delimiter (``csv.Sniffer`` limited to those three);
* empty lines and lines whose cells are all empty are skipped.

Every problem raises :class:`preserve.errors.InvalidInput` with a one-line message naming the CSV
file and, where there is one, the line.
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve.errors import InvalidInput
from preserve.names import suggestions
from preserve.premis import xml_safe_text

#: the 15 elements of simple Dublin Core (namespace ``dc:``), in the order dc.xml lists them
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

#: every property of the DCMI Metadata Terms namespace (``dcterms:``), as DCMI spells it
DCTERMS = (
    "abstract",
    "accessRights",
    "accrualMethod",
    "accrualPeriodicity",
    "accrualPolicy",
    "alternative",
    "audience",
    "available",
    "bibliographicCitation",
    "conformsTo",
    "contributor",
    "coverage",
    "created",
    "creator",
    "date",
    "dateAccepted",
    "dateCopyrighted",
    "dateSubmitted",
    "description",
    "educationLevel",
    "extent",
    "format",
    "hasFormat",
    "hasPart",
    "hasVersion",
    "identifier",
    "instructionalMethod",
    "isFormatOf",
    "isPartOf",
    "isReferencedBy",
    "isReplacedBy",
    "isRequiredBy",
    "issued",
    "isVersionOf",
    "language",
    "license",
    "mediator",
    "medium",
    "modified",
    "provenance",
    "publisher",
    "references",
    "relation",
    "replaces",
    "requires",
    "rights",
    "rightsHolder",
    "source",
    "spatial",
    "subject",
    "tableOfContents",
    "temporal",
    "title",
    "type",
    "valid",
)

#: the qualified terms that are not one of the 15 elements: keys ``dcterms:NAME`` in the fields
QUALIFIED = tuple(term for term in DCTERMS if term not in DC_ELEMENTS)

#: every field key a description may have, in the order dc.xml lists them
TERMS = DC_ELEMENTS + tuple(f"dcterms:{term}" for term in QUALIFIED)

OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OAI_DC_SCHEMA_LOCATION = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DCTERMS_SCHEMA_LOCATION = "https://www.dublincore.org/schemas/xmls/qdc/2008/02/11/dcterms.xsd"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
#: the reserved key of a description that holds the language of each value: element -> list
#: aligned with the element's values ("" where a value has none). Never a Dublin Core term.
LANG_KEY = "_lang"
VALUE_SEPARATOR = "|"
#: delimiters the CSV may use: what Excel writes with a comma, in a Belgian or Dutch locale
#: (semicolon), and tab-separated text
DELIMITERS = ",;\t"

_QUALIFIED_BY_FOLDED = {term.casefold(): term for term in QUALIFIED}
_DCTERMS_BY_FOLDED = {term.casefold(): term for term in DCTERMS}


def _register_namespaces() -> None:
    ET.register_namespace("oai_dc", OAI_DC_NS)
    ET.register_namespace("dc", DC_NS)
    ET.register_namespace("dcterms", DCTERMS_NS)
    ET.register_namespace("xsi", XSI_NS)


_register_namespaces()


def dublin_core_xml(fields: Mapping[str, Sequence[str]]) -> bytes:
    """The description as XML: elements in :data:`TERMS` order, values in given order.

    With the 15 simple elements only, an ``oai_dc:dc`` document (valid against oai_dc.xsd, what
    OAI-PMH harvesters expect). With qualified terms (keys ``dcterms:NAME``), a
    ``dcterms:dublincore`` document as Archivematica writes it: ``dc:`` elements, then
    ``dcterms:`` ones. Keys outside :data:`TERMS` raise ValueError; blank values are left out.
    The reserved key ``"_lang"`` (:data:`LANG_KEY`: element -> one language per value, ""
    for none) gives each value its ``xml:lang``.
    UTF-8 with an XML declaration, pretty-printed, deterministic.
    """
    unknown = sorted(key for key in fields if key not in TERMS and key != LANG_KEY)
    if unknown:
        raise ValueError(
            f"not Dublin Core terms: {unknown}; allowed: {', '.join(DC_ELEMENTS)} and "
            "dcterms:NAME for the DCMI terms"
        )
    if any(isinstance(values, str) for key, values in fields.items() if key != LANG_KEY):
        raise ValueError("Dublin Core values must be sequences of strings, not a string")
    _register_namespaces()
    qualified = any(key.startswith("dcterms:") for key in fields)
    if qualified:
        root = ET.Element(
            f"{{{DCTERMS_NS}}}dublincore",
            {f"{{{XSI_NS}}}schemaLocation": f"{DCTERMS_NS} {DCTERMS_SCHEMA_LOCATION}"},
        )
    else:
        root = ET.Element(
            f"{{{OAI_DC_NS}}}dc",
            {f"{{{XSI_NS}}}schemaLocation": f"{OAI_DC_NS} {OAI_DC_SCHEMA_LOCATION}"},
        )
    languages: Mapping[str, Sequence[str]] = fields.get(LANG_KEY) or {}  # type: ignore[assignment]
    for key in TERMS:
        namespace, name = (DCTERMS_NS, key[8:]) if key.startswith("dcterms:") else (DC_NS, key)
        langs = languages.get(key) or ()
        for index, value in enumerate(fields.get(key, ())):
            if value.strip():
                element = ET.SubElement(root, f"{{{namespace}}}{name}")
                element.text = xml_safe_text(value)
                if index < len(langs) and langs[index]:
                    element.set(XML_LANG, langs[index])
    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


def parse_dublin_core(xml: bytes, *, languages: bool = False) -> dict[str, Any]:
    """The Dublin Core of an ``oai_dc``, ``dcterms:dublincore`` (or any) document, keyed as
    :func:`dublin_core_xml` takes them (``dcterms:title`` is ``title``), in TERMS order; with
    ``languages``, the values' ``xml:lang`` under :data:`LANG_KEY` when any is given."""
    root = ET.fromstring(xml)  # noqa: S314 - our own tag files, not untrusted network input
    found: dict[str, list[str]] = {}
    langs: dict[str, list[str]] = {}
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        key: str | None = None
        if element.tag.startswith(f"{{{DC_NS}}}"):
            key = element.tag[len(DC_NS) + 2 :]
        elif element.tag.startswith(f"{{{DCTERMS_NS}}}"):
            name = element.tag[len(DCTERMS_NS) + 2 :]
            key = name if name in DC_ELEMENTS else f"dcterms:{name}"
        if key in TERMS:
            found.setdefault(key, []).append(element.text or "")
            langs.setdefault(key, []).append(element.get(XML_LANG, ""))
    out: dict[str, Any] = {key: found[key] for key in TERMS if key in found}
    given = {key: v for key, v in langs.items() if any(v)}
    if languages and given:
        out[LANG_KEY] = given
    return out


def bag_info_from_dublin_core(fields: Mapping[str, Sequence[str]]) -> list[tuple[str, str]]:
    """The bag-info.txt lines the description supplies: only ``External-Description``.

    One line per Dublin Core description (else per ``dcterms:abstract``, else the title),
    whitespace folded onto one line. The producer's identifier becomes External-Identifier in
    :func:`preserve.ingest.metadata.bag_info`; Source-Organization and the rest come from the
    ingest itself.
    """
    for key in ("description", "dcterms:abstract", "title"):
        values = [v for v in fields.get(key, ()) if v.strip()]
        if values:
            return [("External-Description", " ".join(value.split())) for value in values]
    return []


def items_csv(items: Mapping[str, Mapping[str, Sequence[str]]]) -> bytes:
    """The item-level descriptions of a package as a CSV the ``--metadata`` reader reads back:
    a ``path`` column (the file's path in the bag, ``data/...``) and one column per value of
    each term (a term with three values gets three columns of that name), UTF-8, rows in path
    order. One value per cell, so a ``|`` inside a value is kept as it is."""
    width: dict[str, int] = {}
    for fields in items.values():
        for key, values in fields.items():
            width[key] = max(width.get(key, 0), len(values))
    keys = [key for key in TERMS if width.get(key)]
    header = ["path"]
    for key in keys:
        header.extend([key if key.startswith("dcterms:") else f"dc:{key}"] * width[key])
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    for path in sorted(items):
        row = [path]
        for key in keys:
            values = list(items[path].get(key, ()))
            row.extend(values + [""] * (width[key] - len(values)))
        writer.writerow(row)
    return out.getvalue().encode("utf-8")


# -- the --metadata CSV -----------------------------------------------------------------------


def column_term(header: str) -> str | None:
    """The field key of a header cell: ``dc:Title`` -> ``title``, ``dcterms:isPartOf`` and
    ``DCTERMS.ispartof`` -> ``dcterms:isPartOf``, ``path`` -> ``path``, an empty cell -> "";
    None for a name that is not accepted."""
    name = header.strip()
    folded = name.casefold()
    if folded in ("", "path"):
        return folded
    for prefix in ("dcterms:", "dcterms."):
        if folded.startswith(prefix):
            term = _DCTERMS_BY_FOLDED.get(folded[len(prefix) :].strip())
            if term is None:
                return None
            return term if term in DC_ELEMENTS else f"dcterms:{term}"
    for prefix in ("dc:", "dc."):
        if folded.startswith(prefix):
            folded = folded[len(prefix) :].strip()
            break
    return folded if folded in DC_ELEMENTS else None


def _did_you_mean(header: str) -> str:
    """`` (did you mean 'dcterms:created'?)`` for a header cell not accepted, or ""."""
    name = header.strip().casefold()
    for prefix in ("dc:", "dc.", "dcterms:", "dcterms."):
        if name.startswith(prefix):
            name = name[len(prefix) :].strip()
            break
    if name in _QUALIFIED_BY_FOLDED:  # a qualified term without its prefix, or as dc:NAME
        close = [f"dcterms:{_QUALIFIED_BY_FOLDED[name]}"]
    else:  # compared without prefixes, answered as the column would be spelt
        spelt = {"path": "path", **{e: e for e in DC_ELEMENTS}}
        spelt.update((t.casefold(), f"dcterms:{t}") for t in QUALIFIED)
        close = [spelt[c] for c in suggestions(name, spelt, limit=2)]
    return f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""


@dataclass(frozen=True)
class ItemRow:
    """A row describing one file inside a delivery (item-level description)."""

    relpath: str  # the file's path inside the delivered folder, POSIX
    where: str  # "meta.csv, line 4 ('photos-1923\\scan-001.tif')", for messages
    fields: dict[str, list[str]]


@dataclass(frozen=True)
class MetadataTable:
    """A ``--metadata`` CSV read: fields per resolved path, and how the file was read."""

    csv_path: Path
    rows: dict[Path, dict[str, list[str]]]  # resolved path -> fields
    lines: dict[Path, int]  # resolved path -> the line its row starts on
    written: dict[Path, str]  # resolved path -> the path as the CSV writes it
    encoding: str  # the encoding the bytes were decoded with
    delimiter: str

    def where(self, path: Path) -> str:
        """``meta.csv, line 4 ('photos\\scan-001.tif')``: where a row is, for messages; the
        path as the CSV writes it, quoted but not escaped (a Windows path stays readable)."""
        return f"{self.csv_path}, line {self.lines[path]} ('{self.written[path]}')"

    def items_under(self, delivery: Path) -> list[ItemRow]:
        """The rows for paths inside the resolved ``delivery`` path, in CSV order."""
        items = [
            ItemRow(path.relative_to(delivery).as_posix(), self.where(path), fields)
            for path, fields in self.rows.items()
            if path != delivery and path.is_relative_to(delivery)
        ]
        return sorted(items, key=lambda item: self.lines[delivery / item.relpath])

    def notes(self) -> list[str]:
        """What a person should be told about how the CSV was read (an unusual delimiter)."""
        if self.delimiter == ",":
            return []
        name = {";": "semicolons", "\t": "tabs"}.get(self.delimiter, repr(self.delimiter))
        return [f"{self.csv_path}: columns separated by {name}, not commas"]


def _line_of(data: bytes, offset: int) -> tuple[int, int]:
    """Line (from 1) and position in that line (from 1) of the byte at ``offset``."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - start + 1


def _read_text(csv_path: Path, encoding: str | None) -> tuple[str, str]:
    """The CSV's text and the name of the encoding it was decoded with."""
    codec: codecs.CodecInfo | None = None
    if encoding is not None:
        try:
            codec = codecs.lookup(encoding)
        except LookupError:
            raise InvalidInput(
                f"unknown encoding {encoding!r} for the metadata CSV "
                "(for example utf-8, cp1252, iso-8859-1)"
            ) from None
    try:
        data = csv_path.read_bytes()
    except FileNotFoundError:
        raise InvalidInput(f"{csv_path}: metadata CSV not found") from None
    except IsADirectoryError:
        raise InvalidInput(f"{csv_path}: is a folder, not a metadata CSV file") from None
    except OSError as exc:
        raise InvalidInput(f"{csv_path}: cannot read metadata CSV ({exc.strerror})") from None
    wide = codec is not None and codec.name.startswith(("utf-16", "utf-32"))
    if not wide:
        if data.startswith((b"\xff\xfe", b"\xfe\xff")):
            raise InvalidInput(
                f"{csv_path}, line 1: UTF-16, not UTF-8; save the CSV as UTF-8"
                " (or give --metadata-encoding utf-16)"
            )
        if b"\x00" in data:
            line, _ = _line_of(data, data.index(b"\x00"))
            raise InvalidInput(
                f"{csv_path}, line {line}: contains a NUL byte (UTF-16?); save the CSV as UTF-8"
            )
    if codec is None or codec.name == "utf-8":
        name = "utf-8"
        try:
            return data.decode("utf-8-sig"), name
        except UnicodeDecodeError as exc:
            line, column = _line_of(data, exc.start)
            hint = (
                "; if Excel saved it on Windows, give --metadata-encoding cp1252 "
                "(or save it as 'CSV UTF-8')"
                if codec is None
                else ""
            )
            raise InvalidInput(
                f"{csv_path}, line {line}: not UTF-8 (byte 0x{data[exc.start]:02x} at "
                f"position {column} of the line){hint}"
            ) from None
    if data.startswith(codecs.BOM_UTF8) and not wide:
        raise InvalidInput(
            f"{csv_path}: starts with a UTF-8 byte-order mark, so it is UTF-8, not "
            f"{encoding}; leave out --metadata-encoding"
        )
    try:
        return data.decode(codec.name), codec.name
    except UnicodeDecodeError as exc:
        line, column = _line_of(data, exc.start)
        raise InvalidInput(
            f"{csv_path}, line {line}: not {encoding} (byte 0x{data[exc.start]:02x} at "
            f"position {column} of the line)"
        ) from None


def _delimiter(text: str) -> str:
    """The delimiter of the header line, as ``csv.Sniffer`` sees it among :data:`DELIMITERS`;
    a comma when the header has a single column."""
    header = next((line for line in text.splitlines() if line.strip(DELIMITERS + " \"'")), "")
    try:
        return csv.Sniffer().sniff(header, delimiters=DELIMITERS).delimiter
    except csv.Error:
        return ","


def read_metadata_csv(
    csv_path: Path, *, base: Path | None = None, encoding: str | None = None
) -> dict[Path, dict[str, list[str]]]:
    """Dublin Core fields per resolved path (see :func:`read_metadata`)."""
    return read_metadata(csv_path, base=base, encoding=encoding).rows


def read_metadata(
    csv_path: Path, *, base: Path | None = None, encoding: str | None = None
) -> MetadataTable:
    """A ``--metadata`` CSV (format in the module doc), decoded as ``encoding`` (None: UTF-8,
    with or without a byte-order mark).

    Row keys are ``Path.resolve()``-d so the ingest can look up its own resolved PATHs; a path
    with no values gets an empty dict. Whether the paths exist is left to the caller.
    """
    csv_path = Path(csv_path)
    text, used_encoding = _read_text(csv_path, encoding)
    root = Path(base) if base is not None else csv_path.parent
    delimiter = _delimiter(text)
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
    terms = [column_term(cell) for cell in header]
    if "path" not in terms:
        raise InvalidInput(f"{where(header_line)}: no 'path' column in the header")
    if terms.count("path") > 1:
        raise InvalidInput(f"{where(header_line)}: the 'path' column appears more than once")
    unknown = [cell.strip() for cell, term in zip(header, terms, strict=True) if term is None]
    if unknown:
        named = ", ".join(f"{u!r}{_did_you_mean(u)}" for u in unknown)
        raise InvalidInput(
            f"{where(header_line)}: unknown column{'s' if len(unknown) > 1 else ''} {named};"
            f" allowed: path, the 15 Dublin Core elements {', '.join(DC_ELEMENTS)} (bare, as"
            f" dc:NAME or as dcterms:NAME) and the DCMI terms as dcterms:NAME"
            f" ({', '.join(QUALIFIED)})"
        )
    path_index = terms.index("path")

    result: dict[Path, dict[str, list[str]]] = {}
    lines: dict[Path, int] = {}
    written: dict[Path, str] = {}
    for line, row in rows[1:]:
        if len(row) != len(header):
            raise InvalidInput(f"{where(line)}: {len(row)} fields but the header has {len(header)}")
        for index, term in enumerate(terms):
            if not term and row[index].strip():
                raise InvalidInput(
                    f"{where(line)}: a value in column {index + 1}, which has no name in the header"
                )
        raw_path = row[path_index].strip()
        if not raw_path:
            raise InvalidInput(f"{where(line)}: empty path")
        path = Path(raw_path)
        if "\\" in raw_path and not os.path.lexists(path if path.is_absolute() else root / path):
            # Excel on Windows writes folder\file; a real backslash in a name wins when it exists
            path = Path(raw_path.replace("\\", "/"))
        key = (path if path.is_absolute() else root / path).resolve()
        if key in lines:
            raise InvalidInput(
                f"{where(line)}: {raw_path!r} is listed twice (first on line {lines[key]})"
            )
        lines[key] = line
        written[key] = raw_path
        fields: dict[str, list[str]] = {}
        for index, term in enumerate(terms):
            if not term or term == "path":
                continue
            for value in row[index].split(VALUE_SEPARATOR):
                if value.strip():
                    fields.setdefault(term, []).append(value.strip())
        result[key] = {term: fields[term] for term in TERMS if term in fields}
    return MetadataTable(csv_path, result, lines, written, used_encoding, delimiter)


#: a language tag as ``--set ELEMENT@LANG=VALUE`` takes it (BCP 47, loosely: nl, en, nl-BE)
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


def parse_assignments(assignments: Sequence[str]) -> dict[tuple[str, str | None], list[str]]:
    """``--set dcterms:subject=Harbour`` (repeatable: several values of one element) as
    (element, None) -> values, and ``--set title@en=Harbour of Antwerp`` as (element, "en") ->
    values: the values of that one language. An empty value clears the element (or that
    language of it)."""
    out: dict[tuple[str, str | None], list[str]] = {}
    for given in assignments:
        name, sep, value = given.partition("=")
        if not sep:
            raise InvalidInput(
                f"--set {given!r}: write ELEMENT=VALUE or ELEMENT@LANGUAGE=VALUE, e.g. "
                "--set dcterms:subject=Harbour or --set title@en='Harbour of Antwerp'"
            )
        name, at, lang = name.partition("@")
        if at and not _LANGUAGE_TAG.fullmatch(lang.strip()):
            raise InvalidInput(
                f"--set {given!r}: {lang.strip()!r} is not a language tag (nl, en, fr, nl-BE ...)"
            )
        term = column_term(name)
        if not term or term == "path":
            raise InvalidInput(
                f"--set {given!r}: {name.strip()!r} is not a Dublin Core element or term "
                f"(the 15 elements are {', '.join(DC_ELEMENTS)}; qualified terms are written "
                "dcterms:NAME)"
            )
        values = out.setdefault((term, lang.strip() if at else None), [])
        if value.strip():
            values.append(value.strip())
    return out


def corrected_description(
    base: Mapping[str, Any],
    *,
    title: str | None = None,
    replacements: Mapping[str, Sequence[str]] = {},
    assignments: Mapping[tuple[str, str | None], Sequence[str]] = {},
) -> dict[str, Any]:
    """A description corrected: each element of ``replacements`` (a CSV's) replaces the
    element, then each assignment (``--set``: a whole element, or one language of it), then
    ``title`` replaces the main title (the first value, keeping its language; the titles in
    other languages stay). Values of several languages are kept, not merged; the package's own
    URN stays among the identifiers."""
    values: dict[str, list[tuple[str, str]]] = {}  # element -> [(value, language)]
    langs = base.get(LANG_KEY) or {}
    for key, given in base.items():
        if key == LANG_KEY:
            continue
        tags = list(langs.get(key) or ())
        values[key] = [(v, tags[i] if i < len(tags) else "") for i, v in enumerate(given)]
    ours = [v for v, _ in values.get("identifier", []) if v.startswith("urn:uuid:")]

    def replace(key: str, new: Sequence[str], lang: str | None) -> None:
        current = values.get(key, [])
        if lang is None:
            values[key] = [(v, "") for v in new]
        else:  # that language's values, where they were (the main one stays first)
            same = [i for i, (_, t) in enumerate(current) if t.casefold() == lang.casefold()]
            tag = current[same[0]][1] if same else lang  # a tag keeps the spelling it has
            at = same[0] if same else len(current)
            kept = [pair for i, pair in enumerate(current) if i not in same]
            values[key] = kept[:at] + [(v, tag) for v in new] + kept[at:]
        if key == "identifier":
            values[key] += [(u, "") for u in ours if u not in {v for v, _ in values[key]}]
        if not values[key]:
            del values[key]

    for key, new in replacements.items():
        replace(key, new, None)
    for (key, lang), new in assignments.items():
        replace(key, new, lang)
    if title is not None:
        if not title.strip():
            raise InvalidInput("--title is empty: a package keeps a title")
        current = values.get("title", [])
        main_lang = current[0][1] if current else ""
        values["title"] = [(title.strip(), main_lang), *current[1:]]
    if not values.get("title"):
        raise InvalidInput("the correction leaves the package without a title: give --title")
    out: dict[str, Any] = {k: [v for v, _ in pairs] for k, pairs in values.items()}
    tagged = {k: [t for _, t in pairs] for k, pairs in values.items() if any(t for _, t in pairs)}
    if tagged:
        out[LANG_KEY] = tagged
    return out
