"""preserve show marks the files with problems (format not identified, an identification
warning, an image that does not decode completely) with "!" and the reason, counts them under
the size, and --summary leaves the file list out but keeps the counts and the formats."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.cli import Repo
from tests.functional.test_find_packages import A, Catalogue, new_catalogue


@pytest.fixture
def catalogue(tmp_path: Path, database_url: str) -> Iterator[Catalogue]:
    with new_catalogue(tmp_path, database_url) as c:
        yield c


def identified(path: str, puid: str, name: str, *warnings: str, **extra: Any) -> dict[str, Any]:
    return {
        "path": path,
        "size": 1000,
        "puid": puid,
        "format_name": name,
        "mime": "image/jpeg" if puid == "fmt/43" else "text/plain",
        "identification": {"puid": puid, "warnings": list(warnings)},
        **extra,
    }


IMAGE = {"width": 64, "height": 48, "mode": "RGB", "complete": True, "decode_error": None}
BROKEN = {**IMAGE, "complete": False, "decode_error": "image file is truncated"}


@pytest.fixture
def mixed(catalogue: Catalogue) -> Catalogue:
    files = [
        identified(f"data/ok{n}.jpg", "fmt/43", "JPEG File Interchange Format") for n in range(3)
    ]
    files[0]["image"] = IMAGE
    files += [
        identified("data/broken.jpg", "fmt/43", "JPEG File Interchange Format", image=BROKEN),
        identified("data/notes.txt", "x-fmt/111", "Plain Text File"),
        identified(
            "data/list.csv", "x-fmt/18", "Comma Separated Values", "match on extension only"
        ),
        identified("data/blob.xyz", "UNKNOWN", "", "no match"),
        {"path": "bagit.txt", "size": 55, "role": "tag"},
    ]
    catalogue.package(A, title="Mixed", files=files)
    return catalogue


def test_show_marks_files_with_problems(mixed: Catalogue) -> None:
    out = mixed.repo.run("show", A).stdout
    lines = out.splitlines()
    assert "size         7 files, 7.1 KB" in lines  # the tag file is no payload file
    assert lines[lines.index("size         7 files, 7.1 KB") + 1] == (
        "             3 files with problems"
    )
    files = lines[lines.index("files:") + 1 : lines.index("events:")]
    assert files == [
        "    data/ok0.jpg     1.0 KB  fmt/43     image/jpeg  64x48 RGB",
        "    data/ok1.jpg     1.0 KB  fmt/43     image/jpeg",
        "    data/ok2.jpg     1.0 KB  fmt/43     image/jpeg",
        "  ! data/broken.jpg  1.0 KB  fmt/43     image/jpeg  64x48 RGB  (image does not decode "
        "completely: image file is truncated)",
        "    data/notes.txt   1.0 KB  x-fmt/111  text/plain",
        "  ! data/list.csv    1.0 KB  x-fmt/18   text/plain  (identification warning: match on "
        "extension only)",
        "  ! data/blob.xyz    1.0 KB  UNKNOWN    text/plain  (format not identified (no PRONOM "
        "match): no match)",
    ]


def test_file_columns_right_align_sizes_and_cap_the_path(catalogue: Catalogue) -> None:
    long = "data/" + "a-very-long-folder-name/" * 3 + "scan.tif"  # 85 characters
    catalogue.package(
        A,
        files=[
            identified("data/data.csv", "x-fmt/18", "Comma Separated Values", size=8),
            identified("data/sub/Thumbs.db", "fmt/43", "JPEG", size=15_600),
            identified(long, "fmt/353", "Tagged Image File Format", size=2_000_000),
        ],
    )
    lines = catalogue.repo.run("show", A).stdout.splitlines()
    files = lines[lines.index("files:") + 1 : lines.index("events:")]
    # the path column is capped at 60 characters: the longer path pushes its own line only
    assert files == [
        "    " + "data/data.csv".ljust(60) + "      8 B  x-fmt/18  text/plain",
        "    " + "data/sub/Thumbs.db".ljust(60) + "  15.6 KB  fmt/43    image/jpeg",
        f"    {long}   2.0 MB  fmt/353   text/plain",
    ]
    assert "formats:" not in lines


def test_summary_leaves_the_files_out_and_counts_formats(mixed: Catalogue) -> None:
    lines = mixed.repo.run("show", A[:8], "--summary").stdout.splitlines()
    assert "files:" not in lines
    assert not any("data/" in line for line in lines)
    assert "             3 files with problems" in lines
    formats = lines[lines.index("formats:") + 1 : lines.index("copies:")]
    assert formats == [
        "  4 × fmt/43 JPEG File Interchange Format",
        "  1 × UNKNOWN",
        "  1 × x-fmt/111 Plain Text File",
        "  1 × x-fmt/18 Comma Separated Values",
    ]


def test_summary_says_when_no_file_has_a_problem(catalogue: Catalogue) -> None:
    catalogue.package(A, files=[identified("data/a.txt", "x-fmt/111", "Plain Text File")])
    lines = catalogue.repo.run("show", A, "--summary").stdout.splitlines()
    assert "             no files with problems" in lines
    assert "formats:" in lines and "  1 × x-fmt/111 Plain Text File" in lines
    # without --summary nothing is said when all is well
    assert not any("problems" in line for line in catalogue.repo.run("show", A).stdout.splitlines())


def test_json_gives_the_problems_and_the_formats(mixed: Catalogue) -> None:
    full = mixed.repo.json("show", A)
    assert full["files_with_problems"] == 3
    by_path = {f["path"]: f["problems"] for f in full["files"]}
    assert by_path["data/broken.jpg"] == [
        "image does not decode completely: image file is truncated"
    ]
    assert by_path["data/ok1.jpg"] == []
    assert by_path["bagit.txt"] == []
    assert full["formats"][0] == {
        "puid": "fmt/43",
        "format_name": "JPEG File Interchange Format",
        "files": 4,
    }
    summary = mixed.repo.json("show", A, "--summary")
    assert summary["files"] == []
    assert summary["formats"] == full["formats"]
    assert summary["files_with_problems"] == 3


def test_show_of_an_unknown_package_is_refused(catalogue: Catalogue) -> None:
    result = catalogue.repo.run("show", "ffff", "--summary", ok=False)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no package 'ffff' (looked it up as the start")


def test_what_ingest_records_is_shown(repo: Repo, tmp_path: Path) -> None:
    """End to end: a truncated JPEG, a file siegfried cannot identify and a CSV identified by its
    extension only, as ingest records them."""
    from PIL import Image

    delivery = tmp_path / "delivery"
    delivery.mkdir()
    buffer = io.BytesIO()
    Image.effect_noise((256, 192), 60).convert("RGB").save(buffer, "JPEG")
    data = buffer.getvalue()
    (delivery / "good.jpg").write_bytes(data)
    (delivery / "broken.jpg").write_bytes(data[: len(data) // 2])  # cut short
    (delivery / "list.csv").write_text("a,b\n1,2\n")
    (delivery / "blob.qqq").write_bytes(bytes(range(256)) * 4)
    package = repo.json("ingest", delivery, "--collection", "photos")["packages"][0]
    shown = repo.json("show", package["package_id"])
    problems = {f["path"]: f["problems"] for f in shown["files"] if f["role"] == "payload"}
    assert problems["data/good.jpg"] == []
    # without its end-of-image marker siegfried no longer sees a JPEG; Pillow sees the rest
    unidentified, undecoded = problems["data/broken.jpg"]
    assert unidentified.startswith("format not identified (no PRONOM match): no match")
    assert undecoded.startswith("image does not decode completely: OSError: image file is")
    assert problems["data/list.csv"] == ["identification warning: match on extension only"]
    assert problems["data/blob.qqq"][0].startswith("format not identified (no PRONOM match)")
    assert shown["files_with_problems"] == 3
    out = repo.run("show", package["package_id"]).stdout
    assert "             3 files with problems" in out
    assert "  ! data/broken.jpg" in out and "    data/good.jpg" in out


def add_events(catalogue: Catalogue, package_id: str, *events: tuple[str, str, str, str]) -> None:
    """PREMIS events of ``package_id``: (time, event type, outcome, detail)."""
    from datetime import UTC, datetime

    from preserve.catalogue.models import Agent, Event

    with catalogue._session() as s:
        agent = Agent(name="preserve", version="1.0", agent_type="software")
        s.add(agent)
        s.flush()
        for n, (at, event_type, outcome, detail) in enumerate(events):
            s.add(
                Event(
                    id=f"00000000-0000-4000-8000-{n:012d}",
                    event_type=event_type,
                    occurred_at=datetime.fromisoformat(at).replace(tzinfo=UTC),
                    outcome=outcome,
                    detail=detail,
                    agent_id=agent.id,
                    package_id=package_id,
                )
            )
        s.commit()


@pytest.fixture
def described(catalogue: Catalogue) -> Catalogue:
    """A package with a long description element, files with their own description, and
    events whose types are longer than the old event column."""
    catalogue.package(
        A,
        title="Glass plates",
        description={
            "title": ["Glass plates"],
            "description": ["Glasplaatnegatieven van Gent"],
            "identifier": ["BE-GNT-1923"],
            "dcterms:spatial": ["Gent"],
        },
        files=[
            {
                **identified("data/plate-001.tif", "fmt/353", "Tagged Image File Format"),
                "description": {
                    "dcterms:spatial": ["Gent", "Sint-Pietersplein"],
                    "identifier": ["BE-GNT-1923-001"],
                    "title": ["Sint-Pietersplein"],
                },
            },
            identified("data/readme.txt", "x-fmt/111", "Plain Text File"),
        ],
    )
    add_events(
        catalogue,
        A,
        ("2024-03-01T10:00:00", "ingestion start", "success", "ingest began"),
        ("2024-03-01T10:00:05", "information package creation", "success", "bag written"),
        ("2024-03-02T06:00:00", "fixity check", "success", "first check"),
        ("2024-03-03T06:00:00", "fixity check", "failure", "second check"),
        ("2024-03-04T06:00:00", "fixity check", "success", "third check"),
    )
    return catalogue


def test_show_aligns_labels_files_and_events(described: Catalogue) -> None:
    assert described.repo.run("show", A).stdout.splitlines() == [
        f"package         {A} (version 1, stored)",
        "title           Glass plates",
        "collection      default/photos",
        "size            2 files, 2.0 KB",
        "dc:title        Glass plates",
        "dc:description  Glasplaatnegatieven van Gent",
        "dc:identifier   BE-GNT-1923",
        "dcterms:spatial Gent",
        "copies:",
        "  default      verified  last checked never",
        "files:",
        "    data/plate-001.tif  1.0 KB  fmt/353    text/plain",
        "      dc:title        Sint-Pietersplein",
        "      dc:identifier   BE-GNT-1923-001",
        "      dcterms:spatial Gent",
        "      dcterms:spatial Sint-Pietersplein",
        "    data/readme.txt     1.0 KB  x-fmt/111  text/plain",
        "events:",
        "  2024-03-01T10:00:00+00:00  ingestion start               success  ingest began",
        "  2024-03-01T10:00:05+00:00  information package creation  success  bag written",
        "  2024-03-02T06:00:00+00:00  fixity check                  success  first check",
        "  2024-03-03T06:00:00+00:00  fixity check                  failure  second check",
        "  2024-03-04T06:00:00+00:00  fixity check                  success  third check",
    ]


def test_summary_shows_the_last_event_of_each_type(described: Catalogue) -> None:
    lines = described.repo.run("show", A, "--summary").stdout.splitlines()
    assert lines[lines.index("copies:") :] == [
        "copies:",
        "  default      verified  last checked never",
        "events (the last of each type):",
        "  ingestion start                1 event, last 2024-03-01T10:00:00+00:00  success  "
        "ingest began",
        "  information package creation   1 event, last 2024-03-01T10:00:05+00:00  success  "
        "bag written",
        "  fixity check                  3 events, last 2024-03-04T06:00:00+00:00  success  "
        "third check",
    ]


def test_show_without_events_says_none(catalogue: Catalogue) -> None:
    catalogue.package(A)
    lines = catalogue.repo.run("show", A).stdout.splitlines()
    assert lines[lines.index("events:") :] == ["events:", "  none"]


def test_an_ingested_item_description_is_shown_and_found(repo: Repo, tmp_path: Path) -> None:
    """End to end: a metadata CSV row for one file of the delivery."""
    delivery = tmp_path / "photos-1923"
    delivery.mkdir()
    (delivery / "scan-001.txt").write_text("scan one\n")
    (delivery / "scan-002.txt").write_text("scan two\n")
    csv = tmp_path / "metadata.csv"
    csv.write_text(
        "path,dc:title,dc:identifier\n"
        "photos-1923,Glass plates,BE-GNT-1923\n"
        "photos-1923/scan-001.txt,Sint-Pietersplein,BE-GNT-1923-001\n"
    )
    package = repo.json("ingest", delivery, "--collection", "photos", "--metadata", csv)
    package_id = package["packages"][0]["package_id"]
    assert repo.json("show", "be-gnt-1923-001")["summary"]["id"] == package_id
    lines = repo.run("show", "BE-GNT-1923-001").stdout.splitlines()
    at = next(n for n, line in enumerate(lines) if "data/scan-001.txt" in line)
    assert lines[at + 1 : at + 3] == [
        "      dc:title      Sint-Pietersplein",
        "      dc:identifier BE-GNT-1923-001",
    ]
    assert "data/scan-002.txt" in lines[at + 3]
    assert [p["id"] for p in repo.json("packages", "search", "sint-pieters")] == [package_id]
