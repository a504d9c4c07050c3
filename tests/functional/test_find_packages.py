"""show, export and fixity --package name a package by its UUID (any case, with or without
hyphens, as urn:uuid:...), a unique prefix of at least 4 hex digits, or the producer's
identifier (External-Identifier, dc:identifier); an ambiguous name lists the candidates and an
unknown one says what was tried. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from preserve.catalogue.database import make_engine, make_session_factory
from preserve.catalogue.models import (
    Collection,
    Copy,
    File,
    Organisation,
    Package,
    StorageLocation,
)
from tests.functional.cli import Repo


@dataclass
class Catalogue:
    """Packages written straight into a repository's catalogue, with the ids, dates and
    recorded formats a test needs (no ingest: the commands under test only read them)."""

    repo: Repo

    def organisation(self, slug: str) -> None:
        with self._session() as s:
            s.add(Organisation(slug=slug, name=slug.title()))
            s.commit()

    def collection(self, organisation: str, slug: str) -> None:
        with self._session() as s:
            org = s.scalars(select(Organisation).where(Organisation.slug == organisation)).one()
            s.add(Collection(organisation_id=org.id, slug=slug, title=slug.title()))
            s.commit()

    def package(
        self,
        package_id: str,
        *,
        title: str = "A package",
        organisation: str = "default",
        collection: str = "photos",
        status: str = "stored",
        created: str = "2024-03-01T10:00:00",
        external_identifier: str | None = None,
        description: dict[str, list[str]] | None = None,
        files: Sequence[dict[str, Any]] = (),
        copies: Sequence[tuple[str, str]] = (("default", "verified"),),
    ) -> str:
        with self._session() as s:
            coll = s.scalars(
                select(Collection)
                .join(Collection.organisation)
                .where(Organisation.slug == organisation, Collection.slug == collection)
            ).one()
            s.add(
                Package(
                    id=package_id,
                    collection_id=coll.id,
                    title=title,
                    status=status,
                    external_identifier=external_identifier,
                    description=description or {},
                    created_at=datetime.fromisoformat(created).replace(tzinfo=UTC),
                    file_count=sum(f.get("role", "payload") == "payload" for f in files),
                    size=sum(f.get("size", 0) for f in files),
                    payload_fingerprint=package_id,
                )
            )
            s.flush()
            for f in files:
                s.add(File(package_id=package_id, **{"size": 0, "path_nfc": f["path"], **f}))
            for location, copy_status in copies:
                loc = s.scalars(
                    select(StorageLocation).where(StorageLocation.name == location)
                ).one()
                s.add(
                    Copy(
                        package_id=package_id,
                        location_id=loc.id,
                        key_prefix=f"{organisation}/{collection}/{package_id}/v1/",
                        status=copy_status,
                    )
                )
            s.commit()
        return package_id

    def _session(self) -> Any:
        engine = make_engine(self.repo.database_url, create=False)
        self._engines.append(engine)
        return make_session_factory(engine)()

    def __post_init__(self) -> None:
        self._engines: list[Any] = []

    def dispose(self) -> None:
        for engine in self._engines:
            engine.dispose()


@contextmanager
def new_catalogue(tmp_path: Path, database_url: str) -> Iterator[Catalogue]:
    """A new repository on ``database_url`` with collection 'photos' of 'default'."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    c = Catalogue(repo)
    try:
        yield c
    finally:
        c.dispose()


@pytest.fixture
def catalogue(tmp_path: Path, database_url: str) -> Iterator[Catalogue]:
    """A new repository on SQLite or PostgreSQL with collection 'photos' of 'default'."""
    with new_catalogue(tmp_path, database_url) as c:
        yield c


A = "3f2a9c1e-0b4d-4c6e-9a1b-2c3d4e5f6a7b"
B = "3f2a9c1e-77aa-4bbb-8ccc-0123456789ab"  # shares its first 8 hex digits with A
C = "c0ffee00-1111-4222-8333-444455556666"


@pytest.fixture
def three(catalogue: Catalogue) -> Catalogue:
    catalogue.package(A, title="Harbour photographs", external_identifier="MUS-2024-0017")
    catalogue.package(
        B,
        title="Harbour, second delivery",
        created="2024-04-02T09:00:00",
        description={"title": ["Harbour"], "identifier": ["inv. 1234", "MUS-B"]},
    )
    catalogue.package(C, title="Coffee", external_identifier="shared", description={})
    return catalogue


def shown_id(repo: Repo, name: str) -> str:
    return str(repo.json("show", name)["summary"]["id"])


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (A, A),
        (A.upper(), A),
        (A.replace("-", ""), A),
        (f"urn:uuid:{A}", A),
        (f"URN:UUID:{A.upper()}", A),
        ("c0ff", C),  # the shortest prefix accepted
        ("C0FFEE", C),
        ("3f2a9c1e-0b", A),  # a prefix with its hyphen
        ("3f2a9c1e0b", A),  # and without
        (f"  {C}  ", C),
        ("MUS-2024-0017", A),  # External-Identifier
        ("mus-2024-0017", A),  # any case
        ("inv. 1234", B),  # a dc:identifier value
        ("MUS-B", B),
    ],
)
def test_show_accepts_every_name_of_a_package(three: Catalogue, name: str, expected: str) -> None:
    assert shown_id(three.repo, name) == expected


def test_a_prefix_of_several_packages_lists_them(three: Catalogue) -> None:
    result = three.repo.run("show", "3f2a9c1e", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: '3f2a9c1e' names more than one package: "
        f"{A} (default/photos, stored, ingested 2024-03-01, 'Harbour photographs'); "
        f"{B} (default/photos, stored, ingested 2024-04-02, 'Harbour, second delivery'); "
        "give more of the id, or the whole id\n"
    )
    assert result.stdout == ""


def test_an_identifier_of_several_packages_lists_them(three: Catalogue) -> None:
    three.package(
        "d0d0d0d0-1111-4222-8333-444455556666",
        title="Another",
        description={"identifier": ["shared"]},
        created="2024-05-05T00:00:00",
    )
    result = three.repo.run("show", "SHARED", ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith(f"error: 'SHARED' names more than one package: {C} ")
    assert "d0d0d0d0-1111-4222-8333-444455556666 (default/photos" in result.stderr


def test_at_most_ten_candidates_are_listed(catalogue: Catalogue) -> None:
    for n in range(12):
        catalogue.package(f"abcd{n:04x}-0000-4000-8000-000000000000", title=f"P{n}")
    result = catalogue.repo.run("show", "abcd", ok=False)
    assert result.exit_code == 2
    assert result.stderr.count("(default/photos, stored") == 10
    assert result.stderr.endswith("; and 2 more; give more of the id, or the whole id\n")


#: what every "no package" message ends with
NOT_FOUND_END = (
    " (of a package or of one of its files)); `preserve packages search TEXT` finds packages "
    "by title and contents\n"
)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (
            "0000",
            "error: no package '0000' (looked it up as the start of a package id, an "
            "External-Identifier and a dc:identifier" + NOT_FOUND_END,
        ),
        (
            "3f2",
            "error: no package '3f2' (looked it up as an External-Identifier and a "
            "dc:identifier (of a package or of one of its files)); a prefix of a package id "
            "needs at least 4 hex digits; `preserve packages search TEXT` finds packages by "
            "title and contents\n",
        ),
        (
            "urn:uuid:00000000-0000-4000-8000-000000000000",
            "error: no package 'urn:uuid:00000000-0000-4000-8000-000000000000' (looked it up "
            "as a package id, an External-Identifier and a dc:identifier" + NOT_FOUND_END,
        ),
        (
            "MUS-2024-9999",
            "error: no package 'MUS-2024-9999' (looked it up as an External-Identifier and a "
            "dc:identifier" + NOT_FOUND_END,
        ),
    ],
)
def test_no_package_says_what_was_tried(three: Catalogue, name: str, message: str) -> None:
    result = three.repo.run("show", name, ok=False)
    assert (result.exit_code, result.stderr) == (3, message)


def test_a_description_key_is_not_an_identifier(three: Catalogue) -> None:
    """The description is matched as JSON text first: 'title' is a key there, not a value."""
    result = three.repo.run("show", "identifier", ok=False)
    assert result.exit_code == 3
    assert result.stderr.startswith("error: no package 'identifier' ")


def test_a_failed_package_is_found_too(catalogue: Catalogue) -> None:
    catalogue.package(C, status="failed", copies=())
    assert shown_id(catalogue.repo, "c0ffee") == C


# ----------------------------------------------------------------------------- export, fixity


@pytest.fixture
def ingested(tmp_path: Path, database_url: str) -> tuple[Repo, dict[str, Any]]:
    """A package ingested for real with a dc:identifier from a --metadata CSV."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    delivery = tmp_path / "harbour"
    delivery.mkdir()
    (delivery / "note.txt").write_text("a note\n")
    csv = tmp_path / "metadata.csv"
    csv.write_text("path,dc:title,dc:identifier\nharbour,Harbour,HB-0042\n")
    result = repo.json("ingest", delivery, "--collection", "photos", "--metadata", csv)
    return repo, result["packages"][0]


def package_names(package: dict[str, Any]) -> list[str]:
    pid = package["package_id"]
    return [pid[:6].upper(), f"urn:uuid:{pid}", pid.replace("-", ""), "hb-0042"]


def test_export_accepts_every_name(ingested: tuple[Repo, dict[str, Any]], tmp_path: Path) -> None:
    repo, package = ingested
    for n, name in enumerate(package_names(package)):
        out = repo.json("export", name, tmp_path / f"out{n}")
        assert out["package_id"] == package["package_id"]


def test_fixity_package_accepts_every_name(ingested: tuple[Repo, dict[str, Any]]) -> None:
    repo, package = ingested
    for name in package_names(package):
        report = repo.json("fixity", "--package", name)
        assert report["ok"] is True
        assert {c["package_id"] for c in report["copies"]} == {package["package_id"]}


@pytest.mark.parametrize("command", ["export", "fixity"])
def test_export_and_fixity_refuse_an_unknown_name(
    ingested: tuple[Repo, dict[str, Any]], tmp_path: Path, command: str
) -> None:
    repo, _package = ingested
    args = (
        ["export", "nope", tmp_path / "out"]
        if command == "export"
        else ["fixity", "--package", "nope"]
    )
    result = repo.run(*args, ok=False)
    assert result.exit_code == 3
    assert result.stderr == (
        "error: no package 'nope' (looked it up as an External-Identifier and a dc:identifier"
        + NOT_FOUND_END
    )
    assert not (tmp_path / "out").exists()


def test_fixity_of_a_whole_uuid_that_is_an_identifier(
    ingested: tuple[Repo, dict[str, Any]], tmp_path: Path
) -> None:
    """A whole UUID that is no package's id may still be a producer's identifier."""
    repo, package = ingested
    other = "00000000-0000-4000-8000-00000000beef"
    delivery = tmp_path / "second"
    delivery.mkdir()
    (delivery / "b.txt").write_text("b\n")
    csv = tmp_path / "second.csv"
    csv.write_text(f"path,dc:title,dc:identifier\nsecond,Second,{other}\n")
    second = repo.json("ingest", delivery, "--collection", "photos", "--metadata", csv)
    report = repo.json("fixity", "--package", other.upper())
    assert {c["package_id"] for c in report["copies"]} == {second["packages"][0]["package_id"]}
    assert (
        json.loads(repo.run("show", other, "--json").stdout)["summary"]["id"]
        != package["package_id"]
    )


def item(path: str, **description: list[str]) -> dict[str, Any]:
    """A payload file with an item-level description (a metadata CSV row for that file)."""
    return {"path": path, "size": 10, "description": description}


def test_an_item_identifier_finds_its_package(three: Catalogue) -> None:
    D = "d0d0d0d0-1111-4222-8333-444455556666"
    three.package(
        D,
        title="Glass plates",
        created="2024-05-05T00:00:00",
        files=[
            item("data/plate-001.tif", title=["Korenmarkt"], identifier=["BE-GNT-1923-001"]),
            item("data/plate-002.tif", identifier=["BE-GNT-1923-002", "plate 2"]),
            {"path": "data/readme.txt", "size": 5},
        ],
    )
    assert shown_id(three.repo, "BE-GNT-1923-001") == D
    assert shown_id(three.repo, "be-gnt-1923-002") == D  # any case
    assert shown_id(three.repo, "plate 2") == D  # a second value
    # a part of an identifier, or an item's title, is not an identifier
    for name in ("BE-GNT-1923", "Korenmarkt"):
        result = three.repo.run("show", name, ok=False)
        assert result.exit_code == 3, name
        assert result.stderr.startswith(f"error: no package {name!r} (looked it up as an ")


def test_an_item_identifier_of_several_packages_lists_them(three: Catalogue) -> None:
    D = "d0d0d0d0-1111-4222-8333-444455556666"
    E = "e0e0e0e0-1111-4222-8333-444455556666"
    three.package(
        D, title="One", created="2024-05-05T00:00:00", files=[item("data/a", identifier=["X-1"])]
    )
    three.package(
        E, title="Two", created="2024-05-06T00:00:00", files=[item("data/b", identifier=["x-1"])]
    )
    result = three.repo.run("show", "X-1", ok=False)
    assert result.exit_code == 2
    assert result.stderr == (
        "error: 'X-1' names more than one package: "
        f"{D} (default/photos, stored, ingested 2024-05-05, 'One'); "
        f"{E} (default/photos, stored, ingested 2024-05-06, 'Two'); "
        "give more of the id, or the whole id\n"
    )


def test_a_package_identifier_comes_before_an_item_identifier(three: Catalogue) -> None:
    """MUS-2024-0017 is package A's External-Identifier and the identifier of a file of D: the
    package's own identifier is what the producer named the package by."""
    three.package(
        "d0d0d0d0-1111-4222-8333-444455556666",
        created="2024-05-05T00:00:00",
        files=[item("data/a", identifier=["MUS-2024-0017"])],
    )
    assert shown_id(three.repo, "MUS-2024-0017") == A
