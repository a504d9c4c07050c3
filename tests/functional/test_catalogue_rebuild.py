"""If the catalogue is lost (issue 9): ``preserve catalogue rebuild --from-location NAME``
recreates it from storage alone.

A realistic history is made through the command line (organisation details, two collections,
ingests with a metadata CSV, a new version from a changed delivery, a metadata correction,
fixity runs, an export), on a local location and on S3. The catalogue is then deleted, a new
one made with ``preserve init`` and rebuilt from the location, and the two are compared table
by table. Every difference allowed is listed in :data:`ALLOWED` with the reason; anything else
fails the test."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve.catalogue.models import (
    Agent,
    Collection,
    CollectionLocation,
    Copy,
    Event,
    EventAgent,
    EventFile,
    File,
    Organisation,
    Package,
    PackageVersion,
    StorageLocation,
)
from tests import sipbuilder
from tests.dbfixtures import postgres_admin_url, postgres_database
from tests.functional.cli import AWS_VARS, Repo
from tests.s3server import corrupt_object

#: Columns that differ between the original and the rebuilt catalogue, and why.
ALLOWED: dict[tuple[str, str], str] = {
    ("packages", "source"): "the path a delivery came from is not kept in storage",
    ("package_versions", "source"): "the path a delivery came from is not kept in storage",
    ("packages", "ingest_host"): "who claimed the ingest: process bookkeeping, not kept",
    ("packages", "ingest_process_started"): "process bookkeeping, not kept",
    ("package_versions", "ingest_host"): "process bookkeeping, not kept",
    ("package_versions", "ingest_process_started"): "process bookkeeping, not kept",
    ("files", "basis"): "siegfried's basis is not written into premis.xml",
    ("files", "identification"): "premis.xml keeps the PUID, name, version, MIME type, tool "
    "and signature version (checked below), not every match nor siegfried's warnings",
    ("files", "digests"): "the CRC64NVME transport checksum is no part of the bag (the other "
    "digests are checked below)",
    ("organisations", "created_at"): "when the row was made: the rebuild's time",
    ("collections", "created_at"): "when the row was made: the rebuild's time",
}
#: Times recovered from the events rather than kept: equal within this much.
CLOSE: dict[tuple[str, str], timedelta] = {
    ("packages", "created_at"): timedelta(minutes=2),  # the first event of version 1
    ("package_versions", "created_at"): timedelta(minutes=2),  # the version's first event
    ("copies", "created_at"): timedelta(minutes=2),  # the version's first event
    ("event_files", "created_at"): timedelta(seconds=2),  # its name, to the second
}
#: Surrogate keys: the rows are matched by their natural keys instead.
SURROGATE = {"id", "organisation_id", "collection_id", "location_id", "agent_id", "copy_id"}
SURROGATE |= {"file_id"}


def _columns(obj: Any) -> dict[str, Any]:
    return {
        c.key: getattr(obj, c.key)
        for c in obj.__table__.columns
        if c.key not in SURROGATE or (c.key == "id" and isinstance(obj, Package | Event))
    }


def snapshot(url: str) -> dict[str, dict[Any, dict[str, Any]]]:
    """Every table a rebuild fills, rows keyed by what identifies them without surrogate ids."""
    engine = sa.create_engine(url)
    try:
        with Session(engine) as s:
            locations = {loc.id: loc.name for loc in s.scalars(sa.select(StorageLocation))}
            orgs = {o.id: o.slug for o in s.scalars(sa.select(Organisation))}
            chosen: dict[int, list[str]] = {}
            for link in s.scalars(sa.select(CollectionLocation)):
                chosen.setdefault(link.collection_id, []).append(locations[link.location_id])
            copies = {
                c.id: (locations[c.location_id], c.version) for c in s.scalars(sa.select(Copy))
            }
            files = {f.id: (f.version, f.path) for f in s.scalars(sa.select(File))}
            agents = {a.id: (a.name, a.version, a.agent_type) for a in s.scalars(sa.select(Agent))}
            linked: dict[str, list[Any]] = {}
            for link in s.scalars(sa.select(EventAgent)):
                linked.setdefault(link.event_id, []).append((agents[link.agent_id], link.role))
            return {
                "organisations": {o.slug: _columns(o) for o in s.scalars(sa.select(Organisation))},
                "collections": {
                    (orgs[c.organisation_id], c.slug): {
                        **_columns(c),
                        "locations": sorted(chosen.get(c.id, [])),
                    }
                    for c in s.scalars(sa.select(Collection))
                },
                "packages": {p.id: _columns(p) for p in s.scalars(sa.select(Package))},
                "package_versions": {
                    (v.package_id, v.number): _columns(v)
                    for v in s.scalars(sa.select(PackageVersion))
                },
                "files": {
                    (f.package_id, f.version, f.path): _columns(f)
                    for f in s.scalars(sa.select(File))
                },
                "copies": {
                    (c.package_id, c.version, locations[c.location_id]): _columns(c)
                    for c in s.scalars(sa.select(Copy))
                },
                "events": {
                    e.id: {
                        **_columns(e),
                        "agent": agents[e.agent_id],
                        "copy": copies.get(e.copy_id) if e.copy_id else None,
                        "file": files.get(e.file_id) if e.file_id else None,
                        "linked": sorted(linked.get(e.id, [])),
                    }
                    for e in s.scalars(sa.select(Event))
                },
                "event_files": {
                    (f.package_id, f.path): _columns(f) for f in s.scalars(sa.select(EventFile))
                },
            }
    finally:
        engine.dispose()


def differences(
    original: dict[str, dict[Any, dict[str, Any]]],
    rebuilt: dict[str, dict[Any, dict[str, Any]]],
    *,
    elsewhere: set[str] = frozenset(),  # type: ignore[assignment]
) -> list[str]:
    """Every difference not allowed, one line each. ``elsewhere``: the locations the rebuild
    did not read, whose copies (and the events' links to them) cannot be recovered."""
    found: list[str] = []
    for table, rows in original.items():
        others = rebuilt[table]
        wanted = dict(rows)
        if table == "copies":  # a rebuild reads one location: the copies on the others are lost
            wanted = {k: v for k, v in rows.items() if k[2] not in elsewhere}
        for key in sorted(set(wanted) ^ set(others), key=str):
            where = "original" if key in wanted else "rebuilt"
            found.append(f"{table} {key}: only in the {where} catalogue")
        for key in set(wanted) & set(others):
            a, b = wanted[key], others[key]
            if table == "events" and a["copy"] and a["copy"][0] in elsewhere:
                a = {**a, "copy": None}  # an event about a copy on a location not read
            for column in a:
                if (table, column) in ALLOWED or a[column] == b[column]:
                    continue
                close = CLOSE.get((table, column))
                if (
                    close
                    and isinstance(a[column], datetime)
                    and b[column] is not None
                    and abs(a[column] - b[column]) <= close
                ):
                    continue
                found.append(f"{table} {key} {column}: {a[column]!r} became {b[column]!r}")
    # what the allowed columns still must agree on
    for key, a in original["files"].items():
        b = rebuilt["files"].get(key)
        if b is None:
            continue
        kept = {k: v for k, v in (a["digests"] or {}).items() if k != "crc64nvme"}
        if b["digests"] != kept:
            found.append(f"files {key} digests: {a['digests']} became {b['digests']}")
        if a["identification"]:
            subset = {k: b["identification"].get(k) for k in b["identification"]}
            expected = {k: a["identification"].get(k, "") for k in subset}
            expected["mime"] = a["mime"] or ""
            if subset != expected:
                found.append(f"files {key} identification: {expected} became {subset}")
    return found


def rows_of(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(sa.text(sql)))
    finally:
        engine.dispose()


@contextmanager
def new_catalogue(tmp_path: Path, original: str) -> Iterator[str]:
    """A new, empty catalogue of the same kind as ``original``."""
    if original.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    with postgres_database(admin) as url:
        yield url


def history(repo: Repo, tmp_path: Path, second: str) -> dict[str, str]:
    """Organisation details, two collections (texts also on location 'second'), ingests with
    a metadata CSV, a new version from a changed delivery, a metadata correction, fixity runs
    and an export; returns the package ids by name."""
    repo.run("init")
    repo.run("locations", "add", "second", second)
    repo.run(
        "organisations",
        "edit",
        "default",
        "--name",
        "Museum of the City",
        "--address",
        "Grote Markt 1, Antwerpen",
        "--contact-email",
        "archive@museum.example",
    )
    repo.run("collections", "add", "photos", "--title", "Photographs", "--description", "Prints")
    repo.run("collections", "add", "texts", "--title", "Texts", "--location", "default")
    repo.run("collections", "edit", "texts", "--add-location", "second")
    sample = tmp_path / "sample"
    repo.run("sample", sample)
    csv = tmp_path / "sample.csv"
    photos = repo.json(
        "ingest", sample / "photographs-1932", "--collection", "photos", "--metadata", csv
    )["packages"][0]["package_id"]
    texts = repo.json(
        "ingest",
        sample / "born-digital-texts",
        sample / "radio-interview.wav",
        "--collection",
        "texts",
        "--metadata",
        csv,
    )["packages"]
    poems, radio = texts[0]["package_id"], texts[1]["package_id"]
    # SIPs whose producer gave a dc:identifier (FM-1923-001): the catalogue names them by
    # their METS OBJID or folder name, which the rebuilt catalogue must name them by too
    sips = tmp_path / "sips"
    meemoo2 = repo.json("ingest", sipbuilder.meemoo_2(sips), "--collection", "photos")
    meemoo1 = repo.json("ingest", sipbuilder.meemoo_1(sips), "--collection", "photos")
    # a new version: one file added, one renamed, one rescanned
    changed = tmp_path / "photographs-1932-v2"
    shutil.copytree(sample / "photographs-1932", changed)
    (changed / "market-square-1932.jpg").rename(changed / "markt-1932.jpg")
    with open(changed / "glass-plate-negative-1932.tif", "ab") as f:
        f.write(b"\0rescanned")
    (changed / "notes.txt").write_text("scanned again in 2026\n", encoding="utf-8")
    repo.run("ingest", changed, "--new-version-of", photos)
    repo.run("collections", "edit", "texts", "--profile", "btr")  # for deliveries from now on
    repo.run(
        "describe",
        poems,
        "--title",
        "Poems and notes, 1932",
        "--set",
        "dcterms:subject=poetry",
        "--set",
        "dcterms:subject=Antwerp",
    )
    repo.run("fixity", "--all")
    repo.run("fixity", "--collection", "texts", "--location", "second")
    repo.run("export", radio, tmp_path / "exported")
    return {
        "photos": photos,
        "poems": poems,
        "radio": radio,
        "meemoo2": meemoo2["packages"][0]["package_id"],
        "meemoo1": meemoo1["packages"][0]["package_id"],
    }


def rebuilt_repo(tmp_path: Path, url: str, storage_url: str, original: Repo) -> Repo:
    repo = Repo(
        home=tmp_path / "new-home",
        database_url=url,
        extra_env={**original.extra_env, "PRESERVE_STORAGE_URL": storage_url},
    )
    repo.run("init")
    return repo


def run_history(tmp_path: Path, database_url: str, storage_url: str) -> tuple[Repo, dict[str, str]]:
    """The history on ``storage_url`` as the default location; returns the repository and the
    package ids by name."""
    repo = Repo(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={
            "PRESERVE_STORAGE_URL": storage_url,
            **{k: os.environ[k] for k in AWS_VARS if k in os.environ},
        },
    )
    second = tmp_path / "second"
    return repo, history(repo, tmp_path, second.as_uri())


def test_a_rebuilt_catalogue_matches_the_original(tmp_path: Path, storage_url: str) -> None:
    original_url = f"sqlite:///{tmp_path / 'catalogue.sqlite3'}"
    repo, ids = run_history(tmp_path, original_url, storage_url)
    # the catalogue is lost
    os.rename(tmp_path / "catalogue.sqlite3", tmp_path / "lost.sqlite3")
    with new_catalogue(tmp_path, original_url) as new_url:
        new = rebuilt_repo(tmp_path, new_url, storage_url, repo)
        new.run("locations", "add", "second", (tmp_path / "second").as_uri())
        result = new.json("catalogue", "rebuild", "--from-location", "default")
        after = snapshot(new_url)
    before = snapshot(f"sqlite:///{tmp_path / 'lost.sqlite3'}")
    found = differences(before, after, elsewhere={"second"})
    assert not found, "\n".join(found)
    assert result["complete"] is True
    assert result["caution"].startswith("this catalogue writes event files to location default")
    counts = {k: result[k] for k in ("organisations", "collections", "packages", "versions")}
    assert counts == {"organisations": 1, "collections": 2, "packages": 5, "versions": 7}
    assert result["copies"] == 7 and result["events"] == len(before["events"])
    # the names the catalogue knew the packages by (compared above with every column): a
    # SIP's is its folder name, not the producer's dc:identifier that bag-info.txt also gives
    names = {k: before["packages"][ids[k]]["external_identifier"] for k in ("meemoo2", "meemoo1")}
    assert names["meemoo2"].startswith("uuid-") and names["meemoo1"] == "meemoo-1-delivery"
    for key, name in names.items():
        assert new.json("show", name)["summary"]["id"] == ids[key]
    assert result["event_files"] == len(before["event_files"])
    # what could not be recovered is said: the copies on 'second' (named by their events)
    other = [f for f in result["not_recovered"] if f["kind"] == "other-location"]
    assert [f["subject"] for f in other] == ["location second"]
    assert "2 packages" in other[0]["message"]
    assert any("ingested from" in line for line in result["not_in_storage"])

    # the rebuilt catalogue works: fixity, show, a further version, an export of a version
    # whose files an earlier one holds
    assert new.json("fixity", "--all")["ok"] is True
    shown = new.json("show", ids["photos"])
    assert shown["summary"]["id"] == ids["photos"]
    new.run("describe", ids["radio"], "--title", "Radio interview, described again")
    exported = new.json("export", ids["photos"], tmp_path / "after")
    assert exported["validation"]["valid"] is True and exported["files"] == 4


@pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
def test_rebuild_into_postgresql(tmp_path: Path, database_url: str) -> None:
    """The same history with the catalogue on PostgreSQL, local storage (SQLite is compared in
    test_a_rebuilt_catalogue_matches_the_original)."""
    storage = tmp_path / "store"
    storage.mkdir()
    repo, _ids = run_history(tmp_path, database_url, storage.as_uri())
    before = snapshot(database_url)
    with new_catalogue(tmp_path, database_url) as new_url:
        new = rebuilt_repo(tmp_path, new_url, storage.as_uri(), repo)
        new.run("locations", "add", "second", (tmp_path / "second").as_uri())
        new.json("catalogue", "rebuild", "--from-location", "default")
        after = snapshot(new_url)
    found = differences(before, after, elsewhere={"second"})
    assert not found, "\n".join(found)


@pytest.fixture
def lost(tmp_path: Path) -> tuple[Repo, Repo, dict[str, str]]:
    """Two packages stored, a fixity run, the catalogue lost and a new one made."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    ids = {}
    for name in ("a", "b"):
        d = tmp_path / name
        d.mkdir()
        (d / f"{name}.txt").write_text(f"{name}\n")
        ids[name] = repo.json("ingest", d, "--collection", "photos")["packages"][0]["package_id"]
    repo.run("fixity", "--all")
    (tmp_path / "catalogue.sqlite3").unlink()
    new = Repo(
        home=tmp_path / "new-home",
        database_url=f"sqlite:///{tmp_path / 'new.sqlite3'}",
        extra_env={"PRESERVE_STORAGE_URL": repo.storage_root.as_uri()},
    )
    new.run("init")
    return repo, new, ids


def test_a_damaged_premis_is_reported_and_the_rest_recovered(
    lost: tuple[Repo, Repo, dict[str, str]],
) -> None:
    repo, new, ids = lost
    url = repo.storage_root.as_uri()
    prefix = f"default/photos/{ids['a']}/v1/"
    corrupt_object(url, prefix + "metadata/premis.xml", lambda data: data[: len(data) // 2])
    result = new.run("catalogue", "rebuild", "--from-location", "default", ok=False)
    assert result.exit_code == 1
    assert f"damaged: package {ids['a']} version 1: metadata/premis.xml: cannot be read" in (
        result.stdout
    )
    assert "damaged or incomplete" in result.stderr
    files = rows_of(
        new.database_url,
        "SELECT package_id, path, puid, sha512 FROM files WHERE role = 'payload'",
    )
    by_package = {p: (path, puid, sha512) for p, path, puid, sha512 in files}
    assert by_package[ids["a"]][1] is None and by_package[ids["a"]][2]  # digests, no format
    assert by_package[ids["b"]][1] is not None
    events = rows_of(new.database_url, "SELECT package_id, event_type FROM events")
    of_a = sorted(t for p, t in events if p == ids["a"])
    assert "ingestion start" not in of_a  # in the damaged premis.xml
    assert {"replication", "ingestion end", "fixity check"} <= set(of_a)  # in its event files
    assert "ingestion start" in {t for p, t in events if p == ids["b"]}


def test_a_catalogue_that_is_not_empty_is_refused(tmp_path: Path, repo: Repo) -> None:
    d = tmp_path / "d"
    d.mkdir()
    (d / "a.txt").write_text("a\n")
    repo.run("ingest", d, "--collection", "photos")
    before = rows_of(repo.database_url, "SELECT count(*) FROM events")
    result = repo.run("catalogue", "rebuild", "--from-location", "default", ok=False)
    assert result.exit_code == 2
    assert result.stderr.startswith("error: the catalogue at ")
    assert "is not empty (1 collection, 1 package, 9 files, 1 copy, 6 events, 1 event file)" in (
        result.stderr
    )
    assert "preserve init" in result.stderr
    assert rows_of(repo.database_url, "SELECT count(*) FROM events") == before


def test_a_location_that_is_not_registered_is_refused(
    lost: tuple[Repo, Repo, dict[str, str]],
) -> None:
    _repo, new, _ids = lost
    result = new.run("catalogue", "rebuild", "--from-location", "defualt", ok=False)
    assert result.exit_code == 3
    assert "defualt" in result.stderr and "did you mean 'default'" in result.stderr
    assert "preserve locations add defualt URL" in result.stderr
    assert rows_of(new.database_url, "SELECT count(*) FROM packages") == [(0,)]


def test_a_location_that_does_not_answer_is_refused(
    tmp_path: Path, lost: tuple[Repo, Repo, dict[str, str]]
) -> None:
    _repo, new, _ids = lost
    nas = tmp_path / "nas"
    new.run("locations", "add", "nas", nas.as_uri())
    shutil.rmtree(nas)  # unmounted
    result = new.run("catalogue", "rebuild", "--from-location", "nas", ok=False)
    assert result.exit_code == 1
    assert "storage location nas" in result.stderr and "does not answer" in result.stderr
    assert rows_of(new.database_url, "SELECT count(*) FROM packages") == [(0,)]


def test_the_report_in_text(lost: tuple[Repo, Repo, dict[str, str]]) -> None:
    repo, new, _ids = lost
    (repo.storage_root / "README.txt").write_text("what is kept here\n")  # not ours: ignored
    out = new.run("catalogue", "rebuild", "--from-location", "default").stdout
    first = out.splitlines()[0]
    assert first.startswith("rebuilt the catalogue from location default (file://")
    assert "2 packages (2 versions), " in first and "1 collection" in first
    assert (
        "  ignored: 1 object outside the packages' versions and event files ignored: README" in out
    )
    assert "never kept in storage, so not recovered:" in out
    packages = json.loads(new.run("packages", "list", "--json").stdout)
    assert len(packages) == 2


def test_damage_the_rebuild_finds_stays_visible_to_fixity(
    tmp_path: Path, lost: tuple[Repo, Repo, dict[str, str]]
) -> None:
    """Trial 9, defect 1: what the bag's manifests and tag manifests claim is catalogued, not
    the damaged bytes, so the fixity run the rebuild advises finds every damage it reported."""
    repo, new, ids = lost
    url = repo.storage_root.as_uri()
    a, b = (f"default/photos/{ids[n]}/v1/" for n in ("a", "b"))
    corrupt_object(url, a + "data/a.txt", lambda data: bytes([data[0] ^ 1]) + data[1:])
    corrupt_object(url, a + "metadata/premis.xml", lambda _data: b"<broken")
    corrupt_object(url, b + "bag-info.txt", lambda _data: None)
    result = new.run("catalogue", "rebuild", "--from-location", "default", ok=False)
    assert result.exit_code == 1
    assert (
        f"damaged: package {ids['a']} version 1: metadata/premis.xml: differs from "
        "tagmanifest-sha256.txt and tagmanifest-sha512.txt (catalogued as the tag manifest "
        "lists it: fixity reports the mismatch)"
    ) in result.stdout
    assert (
        f"damaged: package {ids['b']} version 1: bag-info.txt: listed in tagmanifest-sha256.txt "
        "and tagmanifest-sha512.txt but missing"
    ) in result.stdout
    # the copies say so at once
    copies = dict(
        rows_of(new.database_url, "SELECT package_id, status || '/' || last_outcome FROM copies")
    )
    assert copies == {ids["a"]: "failed/mismatch", ids["b"]: "missing/missing"}

    checked = new.run("fixity", "--all", ok=False)
    assert checked.exit_code == 1
    out = checked.stdout + checked.stderr
    assert "data/a.txt" in out and "metadata/premis.xml" in out and "bag-info.txt" in out
    report = new.json("fixity", "--all", ok=False)
    problems = {
        (c["package_id"], p["path"]): p["outcome"] for c in report["copies"] for p in c["problems"]
    }
    assert problems == {
        (ids["a"], "data/a.txt"): "mismatch",
        (ids["a"], "metadata/premis.xml"): "mismatch",
        (ids["b"], "bag-info.txt"): "missing",
    }
    # an export does not read a copy known to be damaged (before the fixity run already)
    exported = new.run("export", ids["a"], tmp_path / "out", ok=False)
    assert exported.exit_code == 1
    assert "has no verified copy to export from (copies: default failed)" in exported.stderr
    assert not (tmp_path / "out").exists()


def test_a_drill_on_live_storage_is_explained(tmp_path: Path) -> None:
    """Trial 9, defect 4: a second catalogue rebuilt from the location the first one still
    uses writes its event files there; the rebuild cautions against it, and the first
    catalogue's fixity names another catalogue, not an interrupted flush, as their writer."""
    repo = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    repo.run("init")
    repo.run("collections", "add", "photos")
    d = tmp_path / "a"
    d.mkdir()
    (d / "a.txt").write_text("a\n")
    package = repo.json("ingest", d, "--collection", "photos")["packages"][0]["package_id"]
    drill = Repo(
        home=tmp_path / "drill-home",
        database_url=f"sqlite:///{tmp_path / 'drill.sqlite3'}",
        extra_env={"PRESERVE_STORAGE_URL": repo.storage_root.as_uri()},
    )
    drill.run("init")
    out = drill.run("catalogue", "rebuild", "--from-location", "default").stdout
    assert "caution: this catalogue writes event files to location default from now on" in out
    assert "rebuild into a catalogue pointed at a copy of the storage instead" in out
    drill.run("fixity", "--all")  # writes an event file the first catalogue never recorded

    checked = repo.run("fixity", "--package", package, ok=False)
    assert checked.exit_code == 1
    said = checked.stdout + checked.stderr
    line = next(x for x in said.splitlines() if "unexpected" in x)
    assert "it holds 1 event that no event file of this catalogue holds" in line
    assert "another catalogue using this location may have written it" in line
    assert "interrupted flush" not in line
