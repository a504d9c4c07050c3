"""The --metadata CSV through the real command line: the sample follows its own rules, dcterms
terms, item-level rows, Windows encodings and delimiters, the producer's identifier (issue 8)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from preserve.descriptive import DC_NS, DCTERMS_NS, parse_dublin_core
from tests.functional.cli import Repo


def aip(repo: Repo, package_id: str) -> Path:
    """The folder of version 1 of the package on the default (local) location."""
    (found,) = list(repo.storage_root.glob(f"*/*/{package_id}/v1"))
    return found


def bag_info(folder: Path) -> list[tuple[str, str]]:
    lines = (folder / "bag-info.txt").read_text(encoding="utf-8").splitlines()
    out: list[tuple[str, str]] = []
    for line in lines:
        if line.startswith((" ", "\t")):
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        else:
            key, _, value = line.partition(": ")
            out.append((key, value))
    return out


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    """A delivery folder 'photos-1923' with two scans and a note in a subfolder."""
    d = tmp_path / "photos-1923"
    (d / "notes").mkdir(parents=True)
    (d / "scan-001.tif").write_bytes(b"II*\x00" + bytes(200))
    (d / "scan-002.tif").write_bytes(b"II*\x00" + bytes(300))
    (d / "notes" / "caf\u00e9.txt").write_text("notes\n", encoding="utf-8")
    return d


def ingest(repo: Repo, path: Path, csv_path: Path, *extra: str, ok: bool = True) -> Any:
    return repo.run("ingest", path, "--collection", "photos", "--metadata", csv_path, *extra, ok=ok)


def only_package(repo: Repo) -> dict[str, Any]:
    (package,) = repo.packages()
    detail: dict[str, Any] = repo.json("show", package["id"])
    return detail


def test_the_sample_follows_its_own_rules(tmp_path: Path, database_url: str) -> None:
    """`preserve sample` writes a CSV whose four subjects stay four, with dcterms and item rows."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "sample")
    paths = repo.run("sample", tmp_path / "sample-delivery").stdout.split()
    result = repo.json(
        "ingest", *paths, "--collection", "sample", "--metadata", tmp_path / "sample-delivery.csv"
    )
    assert result["failures"] == [] and result["stored"] == 3
    by_name = {Path(p["source"]).name: p["package_id"] for p in result["packages"]}
    detail = repo.json("show", by_name["photographs-1932"])
    description = detail["description"]
    assert description["subject"] == ["Antwerp", "harbours", "markets", "photography"]
    assert description["rights"] == ["Public domain", "digitisation: CC0 1.0"]
    assert description["dcterms:spatial"] == ["Antwerp"]
    assert detail["external_identifier"] == "SAMPLE-PH-1932"
    files = {f["path"]: f for f in detail["files"]}
    assert files["data/harbour-antwerp-1932.jpg"]["description"]["dcterms:created"] == [
        "1932-06-12"
    ]
    assert files["data/glass-plate-negative-1932.tif"]["description"] is None
    texts = repo.json("show", by_name["born-digital-texts"])["description"]
    assert texts["subject"] == ["poetry", "concerts", "caf\u00e9s"]
    # the photographs were taken in 1932: their EXIF dates are recorded in ISO 8601
    assert files["data/harbour-antwerp-1932.jpg"]["image"]["exif_datetime"] == (
        "1932-06-12T14:30:00"
    )


def test_dcterms_columns_go_into_description_dc_xml_and_bag_info(
    repo: Repo, photos: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text(
        "path,dc:title,dcterms:created,dcterms:spatial,dcterms:extent,dcterms:isPartOf,"
        "dcterms:license,dcterms:alternative,dcterms:abstract,DCTERMS.rightsHolder\n"
        "photos-1923,Glass plates,1923-05-01,Ghent|Sint-Pietersplein,3 files,Fonds Vermeulen,"
        "https://creativecommons.org/publicdomain/zero/1.0/,Glasplaten,"
        "Glass plate negatives of Ghent squares.,Stad Gent\n",
        encoding="utf-8",
    )
    ingest(repo, photos, csv_path)
    detail = only_package(repo)
    assert detail["description"] == {
        "title": ["Glass plates"],
        "identifier": [f"urn:uuid:{detail['summary']['id']}"],
        "dcterms:abstract": ["Glass plate negatives of Ghent squares."],
        "dcterms:alternative": ["Glasplaten"],
        "dcterms:created": ["1923-05-01"],
        "dcterms:extent": ["3 files"],
        "dcterms:isPartOf": ["Fonds Vermeulen"],
        "dcterms:license": ["https://creativecommons.org/publicdomain/zero/1.0/"],
        "dcterms:rightsHolder": ["Stad Gent"],
        "dcterms:spatial": ["Ghent", "Sint-Pietersplein"],
    }
    folder = aip(repo, detail["summary"]["id"])
    xml = (folder / "metadata" / "dc.xml").read_bytes()
    root = ET.fromstring(xml)
    assert root.tag == f"{{{DCTERMS_NS}}}dublincore"
    assert root.find(f"{{{DC_NS}}}title") is not None
    assert [e.text for e in root.iter(f"{{{DCTERMS_NS}}}spatial")] == ["Ghent", "Sint-Pietersplein"]
    assert parse_dublin_core(xml) == detail["description"]
    # the abstract stands in for the missing description in bag-info
    assert ("External-Description", "Glass plate negatives of Ghent squares.") in bag_info(folder)
    out = repo.run("show", detail["summary"]["id"]).stdout
    # show's label column is as wide as its longest label (here dcterms:rightsHolder)
    assert "dcterms:spatial      Ghent" in out and "dc:title             Glass plates" in out


def test_unknown_column_is_named_with_a_suggestion(
    repo: Repo, photos: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text("path,titel,spatial,colour\nphotos-1923,A,B,C\n", encoding="utf-8")
    result = ingest(repo, photos, csv_path, ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(
        f"error: {csv_path}, line 1: unknown columns 'titel' (did you mean 'title'?), "
        "'spatial' (did you mean 'dcterms:spatial'?), 'colour'; allowed: path, the 15 Dublin "
        "Core elements title, creator, subject,"
    ), result.stderr
    assert "dcterms:NAME (abstract, accessRights," in result.stderr
    assert result.stderr.count("\n") == 1
    assert repo.packages() == [] and repo.stored_keys() == []


def test_item_rows_describe_single_files(
    repo: Repo, photos: Path, tmp_path: Path, database_url: str
) -> None:
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text(
        "path,title,dcterms:created,identifier\n"
        "photos-1923,Photographs 1923,,GHENT-1923\n"
        "photos-1923/scan-001.tif,First scan,1923-05-01,GHENT-1923-001\n"
        "photos-1923/notes/caf\u00e9.txt,Notes|Aantekeningen,,\n",
        encoding="utf-8",
    )
    ingest(repo, photos, csv_path)
    detail = only_package(repo)
    files = {f["path"]: f for f in detail["files"]}
    assert files["data/scan-001.tif"]["description"] == {
        "title": ["First scan"],
        "identifier": ["GHENT-1923-001"],
        "dcterms:created": ["1923-05-01"],
    }
    assert files["data/notes/caf\u00e9.txt"]["description"] == {"title": ["Notes", "Aantekeningen"]}
    assert files["data/scan-002.tif"]["description"] is None
    items = (aip(repo, detail["summary"]["id"]) / "metadata" / "items.csv").read_text("utf-8")
    assert items == (
        "path,dc:title,dc:title,dc:identifier,dcterms:created\n"
        "data/notes/caf\u00e9.txt,Notes,Aantekeningen,,\n"
        "data/scan-001.tif,First scan,,GHENT-1923-001,1923-05-01\n"
    )
    # listed in the tag manifests, so the bag's fixity covers it
    manifest = (aip(repo, detail["summary"]["id"]) / "tagmanifest-sha512.txt").read_text()
    assert "metadata/items.csv" in manifest


def test_rows_for_files_not_in_the_delivery_are_all_named(
    repo: Repo, photos: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text(
        "path,title\n"
        "photos-1923,Photographs\n"
        "photos-1923/scan-001.tif,Here\n"
        "photos-1923/scan-999.tif,Not here\n"
        "photos-1923/notes,A folder\n",
        encoding="utf-8",
    )
    result = ingest(repo, photos, csv_path, ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: row names a folder, not a file: item rows describe single files: "
        f"{csv_path}, line 5 ('photos-1923/notes'); and "
        f"row names a file that is not in the delivery {photos}: "
        f"{csv_path}, line 4 ('photos-1923/scan-999.tif') (a row for one file gives the "
        "delivery's path, then / or \\, then the file's path inside it, e.g. "
        "photos-1923\\sub\\a.txt)\n"
    )
    assert repo.packages() == [] and repo.stored_keys() == []


CP1252_CSV = "path;title;creator;rights\nphotos-1923;Café Élise’s ëxpo;Zoë;€ 5\n"


def test_cp1252_without_encoding_is_refused_with_the_line_and_byte(
    repo: Repo, photos: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(CP1252_CSV.encode("cp1252"))
    result = ingest(repo, photos, csv_path, ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        f"error: {csv_path}, line 2: not UTF-8 (byte 0xe9 at position 16 of the line); if Excel "
        "saved it on Windows, give --metadata-encoding cp1252 (or save it as 'CSV UTF-8')\n"
    )
    assert repo.packages() == []


def test_cp1252_with_semicolons_is_read_when_asked_for(
    repo: Repo, photos: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "excel.csv"
    csv_path.write_bytes(CP1252_CSV.encode("cp1252"))
    result = ingest(repo, photos, csv_path, "--metadata-encoding", "cp1252")
    assert f"{csv_path}: columns separated by semicolons, not commas" in result.stderr
    description = only_package(repo)["description"]
    assert description["title"] == ["Café Élise’s ëxpo"]
    assert description["creator"] == ["Zoë"]
    assert description["rights"] == ["€ 5"]


def test_utf8_with_bom_and_tabs(repo: Repo, photos: Path, tmp_path: Path) -> None:
    csv_path = tmp_path / "tabs.csv"
    csv_path.write_bytes(b"\xef\xbb\xbf" + "path\ttitle\nphotos-1923\tÉté, 1923\n".encode())
    result = ingest(repo, photos, csv_path)
    assert "columns separated by tabs" in result.stderr
    assert only_package(repo)["description"]["title"] == ["Été, 1923"]


@pytest.mark.parametrize(
    ("data", "args", "message"),
    [
        pytest.param(
            b"path,title\nphotos-1923,A\n",
            ("--metadata-encoding", "klingon"),
            "error: unknown encoding 'klingon' for the metadata CSV (for example utf-8, cp1252, "
            "iso-8859-1)\n",
            id="unknown-encoding",
        ),
        pytest.param(
            b"\xef\xbb\xbfpath,title\nphotos-1923,A\n",
            ("--metadata-encoding", "cp1252"),
            "error: {csv}: starts with a UTF-8 byte-order mark, so it is UTF-8, not cp1252; "
            "leave out --metadata-encoding\n",
            id="bom-but-cp1252",
        ),
        pytest.param(
            b"path,title\nphotos-1923,\x81\n",
            ("--metadata-encoding", "cp1252"),
            "error: {csv}, line 2: not cp1252 (byte 0x81 at position 13 of the line)\n",
            id="undefined-in-cp1252",
        ),
    ],
)
def test_bad_encodings(
    repo: Repo, photos: Path, tmp_path: Path, data: bytes, args: tuple[str, ...], message: str
) -> None:
    csv_path = tmp_path / "m.csv"
    csv_path.write_bytes(data)
    result = ingest(repo, photos, csv_path, *args, ok=False)
    assert (result.exit_code, result.stderr) == (2, message.format(csv=csv_path))
    assert repo.packages() == []


def test_metadata_encoding_needs_a_csv(repo: Repo, photos: Path) -> None:
    result = repo.run(
        "ingest", photos, "--collection", "photos", "--metadata-encoding", "cp1252", ok=False
    )
    assert (result.exit_code, result.stderr) == (
        2,
        "error: --metadata-encoding applies to a --metadata CSV, and none is given\n",
    )


def test_producer_identifier_becomes_the_external_identifier(
    tmp_path: Path, photos: Path, database_url: str
) -> None:
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text("path,title,identifier\nphotos-1923,P,BE-GNT-1923|alt-7\n", "utf-8")
    ingest(repo, photos, csv_path)
    detail = only_package(repo)
    assert detail["external_identifier"] == "BE-GNT-1923"
    info = bag_info(aip(repo, detail["summary"]["id"]))
    assert [v for k, v in info if k == "External-Identifier"] == ["BE-GNT-1923", "alt-7"]
    assert ("Internal-Sender-Description", "delivered as folder photos-1923") in info


def test_without_identifier_the_folder_name_is_the_external_identifier(
    repo: Repo, photos: Path, tmp_path: Path
) -> None:
    csv_path = tmp_path / "delivery.csv"
    csv_path.write_text("path,title\nphotos-1923,P\n", "utf-8")
    ingest(repo, photos, csv_path)
    detail = only_package(repo)
    assert detail["external_identifier"] == "photos-1923"
    info = bag_info(aip(repo, detail["summary"]["id"]))
    assert [v for k, v in info if k == "External-Identifier"] == ["photos-1923"]
    assert not [v for k, v in info if k == "Internal-Sender-Description"]


def test_help_summarises_the_csv_and_points_to_the_readme(repo: Repo) -> None:
    out = repo.run("ingest", "--help").stdout
    assert "--metadata-encoding" in out
    assert "Describing a delivery: the metadata CSV" in out
    assert "dcterms:created" in out
