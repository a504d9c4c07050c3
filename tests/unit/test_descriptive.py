"""Dublin Core XML and the --metadata CSV: round trips and every refused CSV."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from preserve.descriptive import (
    DC_ELEMENTS,
    bag_info_from_dublin_core,
    dublin_core_xml,
    parse_dublin_core,
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
