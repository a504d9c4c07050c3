"""Dublin Core XML and the --metadata CSV: round trips and every refused CSV."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from preserve.descriptive import (
    DC_ELEMENTS,
    DCTERMS,
    QUALIFIED,
    bag_info_from_dublin_core,
    column_term,
    dublin_core_xml,
    items_csv,
    parse_dublin_core,
    read_metadata,
    read_metadata_csv,
)
from preserve.errors import InvalidInput

OAI = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
DC = "{http://purl.org/dc/elements/1.1/}"


# -- Dublin Core XML --------------------------------------------------------------------------


def test_dublin_core_round_trip() -> None:
    fields = {
        "subject": ["Ghent", "minutes"],
        "title": ["Notulen van de gemeenteraad, 1920"],
        "creator": ["Stad Gent", "Secretariaat"],
        "date": ["1920"],
        "rights": ["CC BY 4.0"],
    }
    parsed = parse_dublin_core(dublin_core_xml(fields))
    assert parsed == fields
    assert list(parsed) == ["title", "creator", "subject", "date", "rights"]


def test_dublin_core_document_shape() -> None:
    xml = dublin_core_xml({"rights": ["r"], "title": ["t"], "description": ["a & <b>"]})
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(xml)
    assert root.tag == f"{OAI}dc"
    assert [child.tag for child in root] == [f"{DC}title", f"{DC}description", f"{DC}rights"]
    assert root[1].text == "a & <b>"
    assert b"xmlns:dc=" in xml
    assert b"xmlns:oai_dc=" in xml
    assert b"\n  <dc:title>" in xml


def test_dublin_core_is_deterministic_and_ignores_mapping_order() -> None:
    one = {"title": ["t"], "creator": ["a", "b"]}
    two = {"creator": ["a", "b"], "title": ["t"]}
    assert dublin_core_xml(one) == dublin_core_xml(one) == dublin_core_xml(two)


def test_dublin_core_blank_values_and_empty_document() -> None:
    assert parse_dublin_core(dublin_core_xml({"title": ["", "  ", "x"]})) == {"title": ["x"]}
    assert parse_dublin_core(dublin_core_xml({})) == {}


def test_dublin_core_survives_control_characters() -> None:
    xml = dublin_core_xml({"description": ["bell\x07", os.fsdecode(b"byte \xff")]})
    assert parse_dublin_core(xml) == {"description": ["bell\\x07", "byte \\xff"]}


@pytest.mark.parametrize("fields", [{"titel": ["x"]}, {"Title": ["x"]}])
def test_dublin_core_unknown_element(fields: dict[str, list[str]]) -> None:
    with pytest.raises(ValueError, match="allowed"):
        dublin_core_xml(fields)


def test_dublin_core_a_bare_string_is_refused() -> None:
    with pytest.raises(ValueError, match="sequences"):
        dublin_core_xml({"title": "not a list"})


def test_bag_info_from_dublin_core() -> None:
    assert bag_info_from_dublin_core({"title": ["T"], "description": ["one\n  two", "three"]}) == [
        ("External-Description", "one two"),
        ("External-Description", "three"),
    ]
    assert bag_info_from_dublin_core({"title": ["Only a title"]}) == [
        ("External-Description", "Only a title")
    ]
    assert bag_info_from_dublin_core({"creator": ["x"]}) == []


# -- the --metadata CSV -----------------------------------------------------------------------


def write(path: Path, text: str, *, bom: bool = False) -> Path:
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8"))
    return path


def test_reads_paths_and_fields(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere" / "c.tif"
    csv_path = write(
        tmp_path / "meta.csv",
        "Path,dc.Title,DC:creator,subject,subject,description\n"
        "scans/a.tif,Page one,Stad Gent|Secretariaat ,Ghent,minutes|1920,\n"
        '"scans/b, with comma.tif","Multi\nline title",,,,"said ""hi"""\n'
        f"{elsewhere},Abs,,,,\n"
        "\n"
        ",,,,,\n"
        "empty-fields.tif,,,,,\n",
        bom=True,
    )
    result = read_metadata_csv(csv_path)
    assert result == {
        (tmp_path / "scans" / "a.tif").resolve(): {
            "title": ["Page one"],
            "creator": ["Stad Gent", "Secretariaat"],
            "subject": ["Ghent", "minutes", "1920"],
        },
        (tmp_path / "scans" / "b, with comma.tif").resolve(): {
            "title": ["Multi\nline title"],
            "description": ['said "hi"'],
        },
        elsewhere.resolve(): {"title": ["Abs"]},
        (tmp_path / "empty-fields.tif").resolve(): {},
    }


def test_relative_paths_resolve_against_base(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "meta.csv", "path,title\n./x/../y.txt,Y\n")
    base = tmp_path / "delivery"
    assert read_metadata_csv(csv_path, base=base) == {(base / "y.txt").resolve(): {"title": ["Y"]}}


def test_semicolon_csv_from_excel(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "meta.csv", "path;titel_is_not_used_here\n", bom=True)
    with pytest.raises(InvalidInput, match="unknown column"):
        read_metadata_csv(csv_path)
    csv_path = write(tmp_path / "meta.csv", "path;title;date\na.txt;Een, twee;2024\n", bom=True)
    assert read_metadata_csv(csv_path) == {
        (tmp_path / "a.txt").resolve(): {"title": ["Een, twee"], "date": ["2024"]}
    }


def test_a_nameless_empty_column_is_tolerated(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "meta.csv", "path,title,\na.txt,A,\n")
    assert read_metadata_csv(csv_path) == {(tmp_path / "a.txt").resolve(): {"title": ["A"]}}


def test_every_dc_element_is_accepted(tmp_path: Path) -> None:
    header = ",".join(["path", *DC_ELEMENTS])
    row = ",".join(["a.txt", *DC_ELEMENTS])
    csv_path = write(tmp_path / "meta.csv", f"{header}\n{row}\n")
    fields = read_metadata_csv(csv_path)[(tmp_path / "a.txt").resolve()]
    assert fields == {name: [name] for name in DC_ELEMENTS}


CSV_ERRORS = [
    pytest.param("title,creator\nx,y\n", 1, "no 'path' column", id="no-path-column"),
    pytest.param("path,title,path\na,b,c\n", 1, "more than once", id="path-twice-in-header"),
    pytest.param("path,title,colour\na,b,c\n", 1, "unknown column 'colour'", id="unknown-column"),
    pytest.param("path,title\na.txt,A\n,B\n", 3, "empty path", id="empty-path"),
    pytest.param("path,title\n  ,B\n", 2, "empty path", id="blank-path"),
    pytest.param("path,title\na.txt,A\nb.txt,B\n./a.txt,C\n", 4, "listed twice", id="twice"),
    pytest.param(
        "path,title\na.txt,A,extra\n", 2, "3 fields but the header has 2", id="ragged-long"
    ),
    pytest.param("path,title,date\n\na.txt,A\n", 3, "2 fields", id="ragged-short"),
    pytest.param("path,title,\na.txt,A,stray\n", 2, "no name in the header", id="nameless-value"),
    pytest.param('path,title\na.txt,"unclosed\n', 2, "malformed CSV", id="unclosed-quote"),
    pytest.param('path,title\na.txt,"x"y\n', 2, "malformed CSV", id="bad-quote"),
    pytest.param("path,title\na.txt,A\x00\n", 2, "NUL byte", id="nul"),
]


@pytest.mark.parametrize(("text", "line", "message"), CSV_ERRORS)
def test_bad_csv_names_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    csv_path = write(tmp_path / "meta.csv", text)
    with pytest.raises(InvalidInput) as caught:
        read_metadata_csv(csv_path)
    error = str(caught.value)
    assert error.startswith(f"{csv_path}, line {line}: "), error
    assert message in error
    assert "\n" not in error


def test_unknown_column_lists_the_allowed_ones(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "meta.csv", "path,titel\n")
    with pytest.raises(InvalidInput) as caught:
        read_metadata_csv(csv_path)
    for name in ("path", *DC_ELEMENTS):
        assert name in str(caught.value)


def test_duplicate_message_names_both_lines(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "meta.csv", "path\na.txt\nb.txt\nsub/../a.txt\n")
    with pytest.raises(
        InvalidInput, match=r"line 4: 'sub/../a.txt' is listed twice \(first on line 2\)"
    ):
        read_metadata_csv(csv_path)


def test_not_utf8_names_the_line(tmp_path: Path) -> None:
    csv_path = tmp_path / "meta.csv"
    csv_path.write_bytes("path,title\na.txt,A\nb.txt,Café\n".encode("cp1252"))
    with pytest.raises(InvalidInput) as caught:
        read_metadata_csv(csv_path)
    error = str(caught.value)
    assert error.startswith(f"{csv_path}, line 3: not UTF-8"), error
    assert "\n" not in error


def test_utf16_is_named(tmp_path: Path) -> None:
    csv_path = tmp_path / "meta.csv"
    csv_path.write_bytes("path,title\na.txt,A\n".encode("utf-16"))
    with pytest.raises(InvalidInput, match="line 1: UTF-16"):
        read_metadata_csv(csv_path)


def test_missing_file(tmp_path: Path) -> None:
    csv_path = tmp_path / "nope.csv"
    with pytest.raises(InvalidInput, match="not found") as caught:
        read_metadata_csv(csv_path)
    assert str(csv_path) in str(caught.value)


def test_a_folder_is_not_a_csv(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="is a folder") as caught:
        read_metadata_csv(tmp_path)
    assert str(tmp_path) in str(caught.value)


def test_unreadable_path(tmp_path: Path) -> None:
    not_a_folder = write(tmp_path / "file.txt", "x")
    csv_path = not_a_folder / "meta.csv"
    with pytest.raises(InvalidInput, match="cannot read metadata CSV") as caught:
        read_metadata_csv(csv_path)
    assert str(csv_path) in str(caught.value)


@pytest.mark.parametrize("text", ["", "\n\n", ",,\n"])
def test_empty_csv(tmp_path: Path, text: str) -> None:
    csv_path = write(tmp_path / "meta.csv", text, bom=True)
    with pytest.raises(InvalidInput, match="empty") as caught:
        read_metadata_csv(csv_path)
    assert str(csv_path) in str(caught.value)


def test_csv_fields_make_valid_dublin_core(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "m.csv", "path,dc:title,dc:creator\na,T,X|Y\n")
    fields = read_metadata_csv(csv_path)[(tmp_path / "a").resolve()]
    assert parse_dublin_core(dublin_core_xml(fields)) == {"title": ["T"], "creator": ["X", "Y"]}


# -- qualified terms, item rows, encodings and delimiters (issue 8) ----------------------------

DCTERMS_NS = "{http://purl.org/dc/terms/}"


def test_dcmi_terms_are_the_55_properties() -> None:
    assert len(DCTERMS) == len(set(DCTERMS)) == 55
    assert set(DC_ELEMENTS) <= set(DCTERMS)
    assert len(QUALIFIED) == 40


@pytest.mark.parametrize(
    ("header", "term"),
    [
        ("title", "title"),
        (" Title ", "title"),
        ("dc:title", "title"),
        ("DC.Title", "title"),
        ("dcterms:title", "title"),
        ("dcterms:created", "dcterms:created"),
        ("DCTERMS.ISPARTOF", "dcterms:isPartOf"),
        ("dcterms:rightsholder", "dcterms:rightsHolder"),
        ("path", "path"),
        ("", ""),
        ("created", None),  # a qualified term needs its prefix
        ("dc:spatial", None),
        ("dcterms:colour", None),
        ("colour", None),
    ],
)
def test_column_term(header: str, term: str | None) -> None:
    assert column_term(header) == term


def test_qualified_terms_make_a_dcterms_document(tmp_path: Path) -> None:
    fields = {
        "title": ["T"],
        "dcterms:spatial": ["Ghent", "Sint-Pietersplein"],
        "dcterms:created": ["1923"],
    }
    xml = dublin_core_xml(fields)
    root = ET.fromstring(xml)
    assert root.tag == f"{DCTERMS_NS}dublincore"
    assert [child.tag for child in root] == [
        f"{DC}title",
        f"{DCTERMS_NS}created",
        f"{DCTERMS_NS}spatial",
        f"{DCTERMS_NS}spatial",
    ]
    assert parse_dublin_core(xml) == {
        "title": ["T"],
        "dcterms:created": ["1923"],
        "dcterms:spatial": ["Ghent", "Sint-Pietersplein"],
    }
    # only the 15 elements: oai_dc, as before
    assert ET.fromstring(dublin_core_xml({"title": ["T"]})).tag == f"{OAI}dc"


def test_unknown_dcterms_key_is_refused() -> None:
    with pytest.raises(ValueError, match="dcterms:colour"):
        dublin_core_xml({"dcterms:colour": ["red"]})


def test_abstract_stands_in_for_description_in_bag_info() -> None:
    fields = {"title": ["T"], "dcterms:abstract": ["Short."]}
    assert bag_info_from_dublin_core(fields) == [("External-Description", "Short.")]


def test_did_you_mean_for_unknown_columns(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "m.csv", "path,dcterms:creatd,extent,dc:titel\n")
    with pytest.raises(InvalidInput) as caught:
        read_metadata_csv(csv_path)
    error = str(caught.value)
    assert error.startswith(
        f"{csv_path}, line 1: unknown columns 'dcterms:creatd' (did you mean 'dcterms:created' or"
        " 'creator'?),"
        " 'extent' (did you mean 'dcterms:extent'?), 'dc:titel' (did you mean 'title'?); allowed:"
    ), error
    for term in QUALIFIED:
        assert term in error


def test_items_csv_reads_back_with_the_same_rules(tmp_path: Path) -> None:
    items = {
        "data/b.tif": {"title": ["B|with a bar"], "dcterms:created": ["1923"]},
        "data/a.tif": {"subject": ["x", "y", "z"]},
    }
    data = items_csv(items)
    assert data.decode().splitlines()[0] == (
        "path,dc:title,dc:subject,dc:subject,dc:subject,dcterms:created"
    )
    csv_path = tmp_path / "items.csv"
    csv_path.write_bytes(data)
    back = read_metadata_csv(csv_path)
    assert back[(tmp_path / "data/a.tif").resolve()] == {"subject": ["x", "y", "z"]}
    # one value per cell: a '|' inside a value would be split on the way back, so it is one cell
    assert back[(tmp_path / "data/b.tif").resolve()]["dcterms:created"] == ["1923"]


def test_items_under_a_delivery(tmp_path: Path) -> None:
    csv_path = write(
        tmp_path / "m.csv",
        "path,title\nphotos,P\nphotos/b/2.tif,Two\nphotos/1.tif,One\nphotosx/3.tif,Other\n",
    )
    table = read_metadata(csv_path)
    items = table.items_under((tmp_path / "photos").resolve())
    assert [(i.relpath, i.fields) for i in items] == [
        ("b/2.tif", {"title": ["Two"]}),
        ("1.tif", {"title": ["One"]}),
    ]
    assert items[0].where == f"{csv_path}, line 3 ('photos/b/2.tif')"


@pytest.mark.parametrize(
    ("text", "delimiter", "notes"),
    [
        ("path,title\na.txt,Een; twee\n", ",", []),
        ("path;title\na.txt;Een, twee\n", ";", ["columns separated by semicolons, not commas"]),
        ("path\ttitle\na.txt\tEen, twee; drie\n", "\t", ["columns separated by tabs, not commas"]),
        (
            '"path";"title"\n"a.txt";"Een, twee"\n',
            ";",
            ["columns separated by semicolons, not commas"],
        ),
        ("path\na.txt\n", ",", []),
    ],
)
def test_delimiter_is_sniffed_and_said(
    tmp_path: Path, text: str, delimiter: str, notes: list[str]
) -> None:
    csv_path = write(tmp_path / "m.csv", text)
    table = read_metadata(csv_path)
    assert table.delimiter == delimiter
    assert table.notes() == [f"{csv_path}: {note}" for note in notes]
    fields = table.rows[(tmp_path / "a.txt").resolve()]
    assert fields.get("title", ["Een, twee"])[0].startswith("Een")


def test_cp1252_when_asked_for(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes("path;title\na.txt;Café Zoë’s € ë\n".encode("cp1252"))
    table = read_metadata(csv_path, encoding="cp1252")
    assert table.encoding == "cp1252"
    assert table.rows[(tmp_path / "a.txt").resolve()] == {"title": ["Café Zoë’s € ë"]}


def test_not_utf8_suggests_cp1252_with_line_and_position(tmp_path: Path) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes("path,title\na.txt,€ 5\n".encode("cp1252"))
    with pytest.raises(InvalidInput) as caught:
        read_metadata(csv_path)
    assert str(caught.value) == (
        f"{csv_path}, line 2: not UTF-8 (byte 0x80 at position 7 of the line); if Excel saved "
        "it on Windows, give --metadata-encoding cp1252 (or save it as 'CSV UTF-8')"
    )


def test_explicit_utf8_accepts_a_bom_and_utf16_when_asked(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "m.csv", "path,title\na.txt,Été\n", bom=True)
    assert read_metadata(csv_path, encoding="UTF8").rows == {
        (tmp_path / "a.txt").resolve(): {"title": ["Été"]}
    }
    csv_path.write_bytes("path,title\na.txt,Été\n".encode("utf-16"))
    assert read_metadata(csv_path, encoding="utf-16").rows == {
        (tmp_path / "a.txt").resolve(): {"title": ["Été"]}
    }


def test_unknown_encoding(tmp_path: Path) -> None:
    csv_path = write(tmp_path / "m.csv", "path\n")
    with pytest.raises(InvalidInput, match="unknown encoding 'nope' for the metadata CSV"):
        read_metadata(csv_path, encoding="nope")
