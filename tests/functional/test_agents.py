"""Who did it: the person who ran an ingest, an export or a fixity run (``--as NAME``, else the
login name) and the owning organisation are PREMIS agents of every event it records, in the
catalogue (``preserve show``) and in the AIP's premis.xml; the organisation's name, address
and contact go into bag-info.txt. On SQLite and PostgreSQL."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import bagit
import pytest

from tests.functional.cli import Repo

NS = {"premis": "http://www.loc.gov/premis/v3"}
FULL_NAME = "meemoo, Vlaams Instituut voor het Archief"
JAN = {"name": "jan", "agent_type": "person", "role": "implementer"}
OWNER = {"name": FULL_NAME, "agent_type": "organization", "role": "owner"}


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """Organisation 'meemoo' (full name, address, contact) with collection 'photos'; the login
    name is 'archivist'."""
    r = Repo(
        home=tmp_path / "home",
        database_url=database_url,
        extra_env={"LOGNAME": "archivist", "USER": "archivist"},
    )
    r.run("init")
    r.run(
        "organisations", "add", "meemoo", "--name", FULL_NAME,
        "--address", "Kunstlaan 1, 1000 Brussel", "--contact-email", "archief@meemoo.be",
    )  # fmt: skip
    r.run("collections", "add", "photos", "--organisation", "meemoo")
    return r


def delivery(tmp_path: Path) -> Path:
    folder = tmp_path / "delivery"
    folder.mkdir()
    (folder / "a.txt").write_text("a letter\n")
    (folder / "b.txt").write_text("another letter\n")
    return folder


def ingest(repo: Repo, tmp_path: Path, *extra: str) -> str:
    out = repo.json(
        "ingest", delivery(tmp_path), "--collection", "photos", "--organisation", "meemoo", *extra
    )
    package_id: str = out["packages"][0]["package_id"]
    return package_id


def events(repo: Repo, package_id: str) -> list[dict[str, Any]]:
    shown: list[dict[str, Any]] = repo.json("show", package_id)["events"]
    return shown


def stored_file(repo: Repo, name: str) -> Path:
    """The AIP's own tag file (not a producer's kept under metadata/submission/)."""
    (path,) = repo.storage_root.glob(f"*/*/*/v1/{name}")  # organisation/collection/uuid/v1
    return path


def test_ingest_records_the_person_and_the_owner(repo: Repo, tmp_path: Path) -> None:
    package_id = ingest(repo, tmp_path, "--as", "jan")
    recorded = events(repo, package_id)
    assert len(recorded) >= 6
    assert all(e["agents"] == [JAN, OWNER] for e in recorded), recorded
    assert {e["event_type"] for e in recorded} >= {
        "ingestion start",
        "replication",
        "ingestion end",
    }

    text = repo.run("show", package_id).stdout
    # "; " between agents and "owner:" before the name: the full name holds a comma
    assert text.splitlines()[-1].endswith(f"(by jan (person); owner: {FULL_NAME})")

    root = ET.parse(stored_file(repo, "metadata/premis.xml")).getroot()
    agents = {
        a.findtext("premis:agentIdentifier/premis:agentIdentifierValue", None, NS): (
            a.findtext("premis:agentName", None, NS),
            a.findtext("premis:agentType", None, NS),
        )
        for a in root.findall("premis:agent", NS)
    }
    assert agents["person:jan"] == ("jan", "person")
    assert agents[f"organization:{FULL_NAME}"] == (FULL_NAME, "organization")
    for event in root.findall("premis:event", NS):
        roles = [
            (
                link.findtext("premis:linkingAgentIdentifierValue", None, NS),
                link.findtext("premis:linkingAgentRole", None, NS),
            )
            for link in event.findall("premis:linkingAgentIdentifier", NS)
        ]
        assert roles[1:] == [("person:jan", "implementer"), (f"organization:{FULL_NAME}", "owner")]


def test_bag_info_names_the_organisation(repo: Repo, tmp_path: Path) -> None:
    ingest(repo, tmp_path)
    lines = stored_file(repo, "bag-info.txt").read_text().splitlines()
    assert [line for line in lines if line.split(":")[0] in LABELS] == [
        f"Source-Organization: {FULL_NAME}",
        "Organization-Address: Kunstlaan 1, 1000 Brussel",
        "Contact-Email: archief@meemoo.be",  # no Contact-Name: none was given
    ]


LABELS = {"Source-Organization", "Organization-Address", "Contact-Name", "Contact-Email"}


def test_a_producers_bag_keeps_its_source_organization(repo: Repo, tmp_path: Path) -> None:
    """The producer's bag-info says where the bag comes from: kept, and not mixed with the
    owning organisation's address and contact; the owner is still the PREMIS owner."""
    bag_dir = tmp_path / "bag"
    bag_dir.mkdir()
    (bag_dir / "scan.txt").write_text("a scan\n")
    bagit.make_bag(
        str(bag_dir),
        {"Source-Organization": "Stad Gent", "Contact-Name": "Piet"},
        checksums=["sha256"],
    )
    out = repo.json("ingest", bag_dir, "--collection", "photos", "--organisation", "meemoo")
    lines = stored_file(repo, "bag-info.txt").read_text().splitlines()
    assert sorted(line for line in lines if line.split(":")[0] in LABELS) == [
        "Contact-Name: Piet",
        "Source-Organization: Stad Gent",
    ]
    recorded = events(repo, out["packages"][0]["package_id"])
    assert all(e["agents"][-1] == OWNER for e in recorded)


def test_the_login_name_by_default(repo: Repo, tmp_path: Path) -> None:
    package_id = ingest(repo, tmp_path)
    archivist = {"name": "archivist", "agent_type": "person", "role": "implementer"}
    assert all(e["agents"] == [archivist, OWNER] for e in events(repo, package_id))


def test_fixity_and_export_record_who_ran_them(repo: Repo, tmp_path: Path) -> None:
    package_id = ingest(repo, tmp_path, "--as", "jan")
    repo.run("fixity", "--package", package_id, "--as", "piet")
    repo.run("fixity", "--all")
    repo.run("export", package_id, tmp_path / "out", "--as", "an")
    by_type: dict[str, list[list[dict[str, str]]]] = {}
    for e in events(repo, package_id):
        by_type.setdefault(e["event_type"], []).append(e["agents"])
    piet = {"name": "piet", "agent_type": "person", "role": "implementer"}
    archivist = {"name": "archivist", "agent_type": "person", "role": "implementer"}
    an = {"name": "an", "agent_type": "person", "role": "implementer"}
    assert by_type["fixity check"] == [[piet, OWNER], [archivist, OWNER]]
    assert by_type["dissemination"] == [[an, OWNER]]


def test_an_edited_organisation_owns_new_events_under_its_new_name(
    repo: Repo, tmp_path: Path
) -> None:
    package_id = ingest(repo, tmp_path, "--as", "jan")
    repo.run("organisations", "edit", "meemoo", "--name", "meemoo")
    repo.run("fixity", "--package", package_id, "--as", "jan")
    fixity = [e for e in events(repo, package_id) if e["event_type"] == "fixity check"]
    assert fixity[0]["agents"] == [JAN, {**OWNER, "name": "meemoo"}]


def test_unknown_collection_on_ingest(repo: Repo, tmp_path: Path) -> None:
    result = repo.run(
        "ingest", delivery(tmp_path), "--collection", "fotos", "--organisation", "meemoo", ok=False
    )
    assert (result.exit_code, result.stderr) == (
        3,
        "error: no collection 'fotos' in organisation 'meemoo'; did you mean 'photos'?\n",
    )
    assert repo.packages() == []


def test_unknown_organisation_on_ingest(repo: Repo, tmp_path: Path) -> None:
    result = repo.run(
        "ingest", delivery(tmp_path), "--collection", "photos", "--organisation", "mememoo",
        ok=False,
    )  # fmt: skip
    assert (result.exit_code, result.stderr) == (
        3,
        "error: no organisation 'mememoo'; did you mean 'meemoo'?\n",
    )
    assert [o["slug"] for o in repo.json("organisations", "list")] == ["default", "meemoo"]
    assert repo.packages() == []


def test_a_background_ingest_records_who_asked_for_it_not_the_worker(
    repo: Repo, tmp_path: Path
) -> None:
    import os

    from preserve.config.settings import Settings

    from preserve.bootstrap import bootstrap
    from preserve.services import runner

    queued = repo.json(
        "ingest", delivery(tmp_path), "--collection", "photos", "--organisation", "meemoo",
        "--as", "jan", "--async",
    )  # fmt: skip
    worker = bootstrap(Settings.from_env({**os.environ, **repo.env}), actor="preserve-worker")
    try:
        runner.load_handlers()
        assert runner.run_job(worker, queued["job_id"], "worker-a") == "succeeded"
        assert worker.actor == "preserve-worker"  # the worker's own name again afterwards
    finally:
        worker.close()
    (package,) = repo.packages()
    recorded = events(repo, package["id"])
    assert recorded and all(e["agents"] == [JAN, OWNER] for e in recorded), recorded
    assert "preserve-worker" not in stored_file(repo, "metadata/premis.xml").read_text()
    # its progress at the end: the whole delivery, done (not the last small stage's numbers)
    job = repo.json("jobs", "show", queued["job_id"])
    assert job["files_done"] == job["files_total"] >= 2
    assert job["bytes_done"] == job["bytes_total"] >= len("a letter\nanother letter\n")
