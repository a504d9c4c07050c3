"""The event files' names, their PREMIS document and how fixity compares them (issue 9)."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from typing import BinaryIO

import pytest

from preserve import premis
from preserve.errors import ObjectNotFound
from preserve.services import journal

PACKAGE = "3f2a9c1e-0000-4000-8000-000000000001"
WHEN = datetime(2026, 11, 29, 9, 15, 0, 123456, tzinfo=UTC)


def test_an_event_file_is_named_by_its_time_in_utc() -> None:
    local = WHEN.astimezone(timezone(timedelta(hours=1)))
    path = journal.event_file_path(local, "0f0e0d0c-0000-4000-8000-000000000000")
    assert path == "events/2026/11/20261129T091500Z-0f0e0d0c-0000-4000-8000-000000000000.xml"
    assert journal.is_event_file(path)
    assert journal.is_event_file(journal.event_file_path(WHEN))
    assert not journal.is_event_file("events/2026/11/notes.txt")
    assert not journal.is_event_file("v1/metadata/premis.xml")


def test_the_package_folder_of_a_copy() -> None:
    assert journal.package_folder(f"museum/photos/{PACKAGE}/v12/") == f"museum/photos/{PACKAGE}/"
    with pytest.raises(ValueError, match="not the key prefix of a package version"):
        journal.package_folder(f"museum/photos/{PACKAGE}/")


def test_objects_read_back_as_version_copy_and_file() -> None:
    links = journal.links_of(
        [
            PACKAGE,
            journal.version_object(2),
            journal.copy_object("offsite", 1),
            journal.file_object(2, "data/a%b\nc.tif"),
            "something else",
        ],
        PACKAGE,
    )
    assert links.version == 2
    assert links.copies == (("offsite", 1),)
    assert links.files == ((2, "data/a%b\nc.tif"),)
    assert links.others == ("something else",)


def _event(kind: str, objects: tuple[str, ...], minutes: int = 0) -> premis.EventRecord:
    return premis.EventRecord(
        identifier=str(uuid.uuid4()),
        event_type=kind,
        occurred_at=WHEN + timedelta(minutes=minutes),
        outcome="success",
        detail="re-read 3 files",
        outcome_detail="ok",
        agent=premis.AgentRecord("preserve", "1.0"),
        objects=objects,
        linked_agents=(
            (premis.person("jan"), premis.IMPLEMENTER),
            (premis.organisation("Museum of the City"), premis.OWNER),
        ),
    )


def test_the_document_round_trips_events_agents_and_objects() -> None:
    events = [
        _event("fixity check", (PACKAGE, "v1/", "default:v1/"), 1),
        _event("dissemination", (PACKAGE, "v2/", "v2/data/café %.txt"), 2),
    ]
    data = journal.event_file_document(PACKAGE, "Photographs & prints", events)
    assert data == journal.event_file_document(PACKAGE, "Photographs & prints", events)
    assert journal.OBJECTS_NOTE.encode() in data
    parsed = premis.parse_events(data)
    assert [(e.identifier, e.event_type) for e in parsed] == [
        (e.identifier, e.event_type) for e in events
    ]
    assert parsed[1].objects == events[1].objects
    assert parsed[0].linked_agents == events[0].linked_agents
    assert journal.links_of(parsed[1].objects, PACKAGE).files == ((2, "data/café %.txt"),)


def test_an_event_premis_cannot_carry_is_refused() -> None:
    with pytest.raises(ValueError, match="not a LoC event type"):
        journal.event_file_document(PACKAGE, "", [_event("party", (PACKAGE,))])


class MemoryStorage:
    """Just what compare_event_files reads: a listing and streams."""

    url = "memory://"

    def __init__(self, objects: dict[str, bytes]) -> None:
        self.objects = objects

    def iter_keys(self, prefix: str = "") -> Iterator[str]:
        return iter(sorted(k for k in self.objects if k.startswith(prefix)))

    @contextmanager
    def open(self, key: str) -> Iterator[BinaryIO]:
        if key not in self.objects:
            raise ObjectNotFound(f"{key}: no such object")
        yield io.BytesIO(self.objects[key])


def _row(path: str, data: bytes) -> journal.EventFileRow:
    return journal.EventFileRow(
        path,
        len(data),
        hashlib.sha256(data).hexdigest(),
        hashlib.sha512(data).hexdigest(),
        WHEN,
    )


def test_fixity_of_event_files_catches_each_kind_of_damage() -> None:
    folder = f"museum/photos/{PACKAGE}/"
    names = [journal.event_file_path(WHEN + timedelta(days=n)) for n in range(4)]
    data = [f"<premis>{n}</premis>".encode() for n in range(4)]
    rows = [_row(name, content) for name, content in zip(names, data, strict=True)]
    objects = {folder + name: content for name, content in zip(names, data, strict=True)}
    storage = MemoryStorage(dict(objects))
    assert journal.compare_event_files(storage, folder, rows) == []  # type: ignore[arg-type]

    objects[folder + names[0]] = b"<premis>X</premis>"  # a flipped byte
    objects[folder + names[1]] = data[1][:-3]  # truncated
    del objects[folder + names[2]]  # lost
    leftover = journal.event_file_path(WHEN)
    objects[folder + leftover] = b"<premis/>"  # left by an interrupted flush
    objects[folder + "events/notes.txt"] = b"?"  # put there by someone
    found = journal.compare_event_files(MemoryStorage(objects), folder, rows)  # type: ignore[arg-type]
    by_path = {p.path: (p.outcome, p.message) for p in found}
    assert by_path[names[0]][0] == "mismatch" and "sha256 is" in by_path[names[0]][1]
    assert by_path[names[1]] == (
        "mismatch",
        f"size is {len(data[1]) - 3} bytes, expected {len(data[1])}",
    )
    assert by_path[names[2]] == ("missing", "event file is missing")
    assert by_path[leftover][0] == "unexpected" and "interrupted flush" in by_path[leftover][1]
    assert by_path["events/notes.txt"][0] == "unexpected"
    assert names[3] not in by_path


def test_files_of_another_location_are_not_unexpected() -> None:
    """An event file written before this location held a copy is known, not expected here."""
    folder = f"museum/photos/{PACKAGE}/"
    old = _row(journal.event_file_path(WHEN), b"<old/>")
    storage = MemoryStorage({folder + old.path: b"<old/>"})
    assert journal.compare_event_files(storage, folder, [], [old]) == []  # type: ignore[arg-type]
