"""packages list and packages search: filters by organisation, collection, status and ingest
date, a search over titles, descriptions, identifiers, file names, PUIDs and format names,
aligned columns with a header, 'no packages' when empty, --json with the full records; unknown
names and bad dates refused. On SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.functional.test_find_packages import A, B, C, Catalogue, new_catalogue

M = "0dd5a1e0-2222-4333-8444-555566667777"


def jpeg(path: str, size: int = 1000) -> dict[str, object]:
    return {
        "path": path,
        "size": size,
        "puid": "fmt/43",
        "format_name": "JPEG File Interchange Format",
        "mime": "image/jpeg",
    }


@pytest.fixture
def catalogue(tmp_path: Path, database_url: str) -> Iterator[Catalogue]:
    with new_catalogue(tmp_path, database_url) as c:
        yield c


@pytest.fixture
def packages(catalogue: Catalogue) -> Catalogue:
    """Three packages of default/photos (two of them share their first 8 id characters) and one
    of museum/paintings."""
    catalogue.package(
        A,
        title="Harbour photographs",
        created="2024-03-01T10:00:00",
        external_identifier="MUS-2024-0017",
        files=[
            jpeg("data/harbour/quay 1.jpg", 2_500_000),
            {
                **jpeg("data/harbour/quay 2.jpg"),
                # an item-level description (a metadata CSV row for this file)
                "description": {
                    "title": ["Sint-Pietersplein"],
                    "identifier": ["BE-GNT-1923-002"],
                    "dcterms:spatial": ["Gent"],
                },
            },
        ],
        copies=[("default", "verified")],
    )
    catalogue.package(
        B,
        title="Interviews",
        status="failed",
        created="2024-04-02T09:00:00",
        description={"description": ["Oral history, Ghent docks"], "identifier": ["inv. 77"]},
        files=[
            {
                "path": "data/interview.wav",
                "size": 40_000,
                "puid": "fmt/141",
                "format_name": "Waveform Audio",
            }
        ],
        copies=(),
    )
    catalogue.package(
        C,
        title="Notes",
        status="ingesting",
        created="2024-04-30T23:59:00",
        files=[
            {"path": "data/notes.txt", "size": 10, "puid": "x-fmt/111", "format_name": "Plain Text"}
        ],
        copies=[("default", "pending")],
    )
    catalogue.organisation("museum")
    catalogue.collection("museum", "paintings")
    catalogue.package(
        M,
        title="Paintings 50%_off",
        organisation="museum",
        collection="paintings",
        created="2024-05-01T00:00:00",
        files=[
            {"path": "data/Zoë.tif", "size": 7, "puid": "fmt/430", "format_name": "Other Format"}
        ],
        description={"subject": ["Église Saint-Bavon"]},
        copies=[("default", "verified")],
    )
    return catalogue


def listed(catalogue: Catalogue, *args: str) -> list[str]:
    return [p["id"] for p in catalogue.repo.json("packages", *args)]


def test_list_prints_aligned_columns_under_a_header(packages: Catalogue) -> None:
    out = packages.repo.run("packages", "list").stdout
    # A and B share their first 8 characters: every id is shown with 13
    assert out.splitlines() == [
        "ID             INGESTED    STATUS     COLLECTION          FILES     SIZE  VERIFIED  TITLE",
        "3f2a9c1e-0b4d  2024-03-01  stored     default/photos    2 files   2.5 MB       1/1  "
        "Harbour photographs",
        "3f2a9c1e-77aa  2024-04-02  failed     default/photos     1 file  40.0 KB       0/0  "
        "Interviews",
        "c0ffee00-1111  2024-04-30  ingesting  default/photos     1 file     10 B       0/1  Notes",
        "0dd5a1e0-2222  2024-05-01  stored     museum/paintings   1 file      7 B       1/1  "
        "Paintings 50%_off",
    ]


def test_ids_are_shortened_to_8_characters_when_unique(catalogue: Catalogue) -> None:
    catalogue.package(C, title="Notes", created="2024-01-01T00:00:00")
    catalogue.package(M, title="More", created="2024-01-02T00:00:00")
    lines = catalogue.repo.run("packages", "list").stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["ID", "c0ffee00", "0dd5a1e0"]
    # and show accepts what the listing shows
    assert catalogue.repo.json("show", "0dd5a1e0")["summary"]["id"] == M


def test_json_gives_the_full_records(packages: Catalogue) -> None:
    rows = packages.repo.json("packages", "list", "--organisation", "museum")
    assert rows == [
        {
            "id": M,
            "organisation": "museum",
            "collection": "paintings",
            "title": "Paintings 50%_off",
            "status": "stored",
            "version": 1,
            "files": 1,
            "bytes": 7,
            "copies": 1,
            "verified_copies": 1,
            "created_at": "2024-05-01T00:00:00+00:00",
            "stored_at": None,
            "external_identifier": None,
            "damaged_at": None,
            "damage": [],
            "damaged_copies": 0,
        }
    ]


def test_json_records_carry_the_external_identifier(packages: Catalogue) -> None:
    rows = packages.repo.json("packages", "list", "--collection", "photos", "--status", "stored")
    assert [(r["id"], r["external_identifier"]) for r in rows] == [(A, "MUS-2024-0017")]
    assert set(rows[0]) == {
        "id",
        "external_identifier",
        "organisation",
        "collection",
        "title",
        "status",
        "version",
        "files",
        "bytes",
        "copies",
        "verified_copies",
        "created_at",
        "stored_at",
        "damaged_at",
        "damage",
        "damaged_copies",
    }
    assert packages.repo.json("packages", "search", "mus-2024") == rows


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ((), [A, B, C, M]),
        (("--organisation", "museum"), [M]),
        (("--organisation", "default"), [A, B, C]),
        (("--collection", "photos"), [A, B, C]),
        (("--collection", "paintings", "--organisation", "museum"), [M]),
        (("--status", "stored"), [A, M]),
        (("--status", "failed"), [B]),
        (("--status", "ingesting"), [C]),
        (("--since", "2024-04-02"), [B, C, M]),
        (("--until", "2024-04-30"), [A, B, C]),  # the whole day included
        (("--since", "2024-04-01", "--until", "2024-04-30"), [B, C]),
        (("--since", "2024-04-30T23:59:00", "--until", "2024-04-30T23:59:00"), [C]),
        (("--since", "2024-04-02T10:00:00+02:00"), [B, C, M]),  # 08:00 UTC
        (("--status", "stored", "--since", "2024-04-01", "--organisation", "default"), []),
    ],
)
def test_list_filters(packages: Catalogue, args: tuple[str, ...], expected: list[str]) -> None:
    assert listed(packages, "list", *args) == expected


def test_an_empty_listing_says_so(packages: Catalogue) -> None:
    result = packages.repo.run("packages", "list", "--since", "2030-01-01")
    assert result.stdout == "no packages\n"
    result = packages.repo.run("packages", "search", "zeppelin")
    assert result.stdout == "no packages match 'zeppelin'\n"


@pytest.mark.parametrize("command", [("list",), ("search", "harbour")])
@pytest.mark.parametrize(
    ("args", "message", "code"),
    [
        (
            ("--organisation", "musuem"),
            "error: no organisation 'musuem'; did you mean 'museum'?\n",
            3,
        ),
        (
            ("--collection", "fotos"),
            "error: no collection 'fotos' in organisation 'default'; did you mean 'photos'?\n",
            3,
        ),
        (
            ("--collection", "photos", "--organisation", "museum"),
            "error: no collection 'photos' in organisation 'museum'; it exists in default: add "
            "--organisation default\n",
            3,
        ),
        (
            ("--since", "2024-13-01"),
            "error: --since '2024-13-01' is not a date: give an ISO date such as 2024-03-31 (or a "
            "date and time such as 2024-03-31T14:00)\n",
            2,
        ),
        (
            ("--until", "yesterday"),
            "error: --until 'yesterday' is not a date: give an ISO date such as 2024-03-31 (or a "
            "date and time such as 2024-03-31T14:00)\n",
            2,
        ),
        (
            ("--since", "2024-05-01", "--until", "2024-04-01"),
            "error: --since 2024-05-01 is after --until 2024-04-01: no package can match\n",
            2,
        ),
    ],
)
def test_bad_filters_are_refused(
    packages: Catalogue, command: tuple[str, ...], args: tuple[str, ...], message: str, code: int
) -> None:
    result = packages.repo.run("packages", *command, *args, ok=False)
    assert (result.exit_code, result.stderr, result.stdout) == (code, message, "")


def test_an_unknown_status_is_refused(packages: Catalogue) -> None:
    result = packages.repo.run("packages", "list", "--status", "lost", ok=False)
    assert result.exit_code == 2
    assert (
        "Invalid value for '--status': 'lost' is not one of 'stored', 'ingesting', 'failed'."
        in result.stderr
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("harbour", [A]),  # the title, any case
        ("HARBOUR PHOTO", [A]),
        ("mus-2024", [A]),  # External-Identifier
        ("ghent docks", [B]),  # a description value
        ("INV. 77", [B]),  # a dc:identifier value
        ("quay 2.jpg", [A]),  # a file name
        ("data/harbour/", [A]),  # a path
        ("fmt/43", [A]),  # a whole PUID matches only itself, not fmt/430
        ("FMT/430", [M]),
        ("x-fmt", [C]),  # part of a PUID
        ("fmt/", [A, B, C, M]),
        ("waveform", [B]),  # a format name
        ("50%_", [M]),  # LIKE's wildcards are taken literally
        ("%", [M]),
        ("_", [M]),
        ("église", [M]),  # letters beyond ASCII, in another case, in a description
        ("ÉGLISE SAINT", [M]),
        ("ZOË", [M]),  # and in a file name
        ("description", []),  # a key of the description, not a value
        ("identifier", []),
        ("zoe", [M]),  # without its accents
        ("ZOE.TIF", [M]),
        ("Zoe\u0308", [M]),  # typed decomposed (NFD)
        ("eglise saint-bavon", [M]),
        ("EGLISE", [M]),
        ("sint-pietersplein", [A]),  # an item-level title
        ("BE-GNT-1923-002", [A]),  # an item-level identifier
        ("be-gnt-1923", [A]),
        ("gent", [A]),  # an item-level dcterms: value
        ("title", []),  # a key of an item-level description, not a value
        ("spatial", []),
    ],
)
def test_search(packages: Catalogue, text: str, expected: list[str]) -> None:
    assert listed(packages, "search", text) == expected


def test_search_with_filters(packages: Catalogue) -> None:
    assert listed(packages, "search", "fmt/", "--organisation", "museum") == [M]
    assert listed(packages, "search", "fmt/", "--status", "stored", "--until", "2024-04-01") == [A]
    assert listed(packages, "search", "data", "--collection", "photos", "--status", "failed") == [B]


def test_search_prints_the_same_columns(packages: Catalogue) -> None:
    out = packages.repo.run("packages", "search", "waveform").stdout
    assert out.splitlines() == [
        "ID             INGESTED    STATUS  COLLECTION       FILES     SIZE  VERIFIED  TITLE",
        "3f2a9c1e-77aa  2024-04-02  failed  default/photos  1 file  40.0 KB       0/0  Interviews",
    ]


def test_search_refuses_blank_text(packages: Catalogue) -> None:
    result = packages.repo.run("packages", "search", " ", ok=False)
    assert result.exit_code == 2
    assert "an empty value was given" in result.stderr


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_search_folds_with_unaccent_when_it_is_installed(packages: Catalogue) -> None:
    """PostgreSQL folds with the unaccent extension when the catalogue's database has it (and
    with translate() otherwise, as every other test here does; SQLite folds with fold())."""
    from sqlalchemy import create_engine, text

    assert packages.repo.database_url.startswith("postgresql")
    engine = create_engine(packages.repo.database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE EXTENSION IF NOT EXISTS unaccent"))
    finally:
        engine.dispose()
    assert listed(packages, "search", "zoe") == [M]
    assert listed(packages, "search", "EGLISE saint") == [M]
    assert listed(packages, "search", "sint-pietersplein") == [A]
