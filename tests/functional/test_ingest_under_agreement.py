"""Ingest under an agreement (issue 12, retention-agreements.md 5.1 E1, E2, E10): a three-party
agreement made and activated on the command line, then packages ingested through the real CLI:
the link to the agreement version, the bag-info tags in the stored bag (valid against the
preserve-aip profile), ``preserve show`` and its JSON, format warnings per file; ingest into a
collection whose agreement is suspended or closed refused with the reason and nothing stored
(foreground, --async and a web transfer); a meemoo SIP naming its SUBMISSIONAGREEMENT; the
retention recomputed after ``preserve describe``; ``preserve retention due|recompute``; on SQLite
and PostgreSQL."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.models import Package
from preserve.catalogue.retention import PackageRetention
from preserve.services import agreements as agreements_service
from preserve.services import exits
from tests import sipbuilder
from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import (  # noqa: F401 (the repo fixture)
    PAST,
    _signed,
    description,
    fails,
    repo,
    write,
)

TODAY = datetime.now(UTC).date()


@contextmanager
def _app(repo: Repo) -> Iterator[Application]:
    application = bootstrap(Settings.from_env(repo.env), actor="tester")
    try:
        yield application
    finally:
        application.close()


def _active(repo: Repo, tmp_path: Path, **changes: Any) -> None:
    """CRA-2026-001 over museum/photos, signed by the three parties and active; the default
    location is in Belgium, which the agreement allows (an ingest stores nowhere else)."""
    repo.run("locations", "edit", "default", "--region", "BE")
    if changes:
        spec = description(effective_from=PAST, **changes)
        repo.run("agreements", "create", "--from", write(tmp_path, spec), "--as", "mia")
        repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia")
        for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
            repo.run("agreements", "agree", "CRA-2026-001", "--party", party, "--as", user)
        for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
            repo.run(
                "agreements", "sign", "CRA-2026-001", "--party", party,
                "--capacity", "director", "--as", user,
            )  # fmt: skip
    else:
        _signed(repo, tmp_path, PAST)
    repo.run("agreements", "activate", "CRA-2026-001", "--as", "cas")


def _delivery(tmp_path: Path, name: str = "harbour", *, texts: int = 2) -> Path:
    folder = tmp_path / "deliveries" / name
    folder.mkdir(parents=True)
    for i in range(texts):
        (folder / f"note-{i}.txt").write_text(f"note {i} about {name}\n")
    return folder


def _ingest(repo: Repo, delivery: Path, collection: str = "photos") -> dict[str, Any]:
    out = repo.json("ingest", delivery, "--collection", collection, "--organisation", "museum")
    [result] = out["packages"]
    assert result["status"] == "stored", out
    return dict(result)


def _bag_info(repo: Repo, key_prefix: str) -> list[tuple[str, str]]:
    text = (repo.storage_root / key_prefix / "bag-info.txt").read_text()
    return [tuple(line.split(": ", 1)) for line in text.splitlines()]  # type: ignore[misc]


def test_ingest_under_an_active_agreement(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path)
    result = _ingest(repo, _delivery(tmp_path))
    package_id = result["package_id"]

    # formats outside the accepted list (fmt/43, fmt/353): one warning per file, not refused
    warned = [w for w in result["warnings"] if w["code"] == "format-not-accepted"]
    assert sorted(w["path"] for w in warned) == ["data/note-0.txt", "data/note-1.txt"]
    assert all("not among the formats agreement CRA-2026-001 v1 accepts" in w["message"]
               for w in warned)  # fmt: skip
    text = repo.run(
        "ingest", _delivery(tmp_path, "second", texts=1), "--collection", "photos",
        "--organisation", "museum",
    )  # fmt: skip
    assert "data/note-0.txt" in text.stderr and "is not among the formats" in text.stderr

    # the link, in the catalogue
    with _app(repo) as app, app.uow() as uow:
        row = uow.session.get(PackageRetention, package_id)
        assert row is not None
        assert (row.reference, row.version_no, row.basis) == ("CRA-2026-001", 1, "rule")
        assert row.state == "in_retention" and row.error is None
        assert [w["path"] for w in row.format_warnings] == ["data/note-0.txt", "data/note-1.txt"]

    # the stored bag names the agreement and stays valid against the preserve-aip profile
    info = _bag_info(repo, result["key_prefix"])
    assert ("Agreement-Identifier", "CRA-2026-001") in info
    assert ("Agreement-Version", "1") in info
    bag = repo.storage_root / result["key_prefix"]
    repo.run("bag", "validate", bag, "--profile", "preserve-aip")

    # preserve show and its JSON
    shown = repo.run("show", package_id[:8]).stdout
    assert "CRA-2026-001 v1 (its collection's agreement)" in shown
    assert "in_retention: review 10 years after ingest_date (minimum)" in shown
    due = date(TODAY.year + 10, TODAY.month, min(TODAY.day, 28 if TODAY.month == 2 else 30))
    if TODAY.day <= 28:
        due = date(TODAY.year + 10, TODAY.month, TODAY.day)
    assert f"from {TODAY.isoformat()}, due {due.isoformat()}" in shown
    assert "data/note-0.txt: format" in shown
    retention = repo.json("show", package_id)["retention"]
    assert retention["agreement"] == "CRA-2026-001 v1"
    assert retention["state"] == "in_retention"
    assert retention["retention_start"] == TODAY.isoformat()
    assert retention["retention_due"] == due.isoformat()
    assert retention["rule"] == "review 10 years after ingest_date (minimum)"

    # not due yet; within ten years and a day it is listed
    assert repo.json("retention", "due") == []
    assert "no package is due" in repo.run("retention", "due").stdout
    soon = repo.json("retention", "due", "--within", str((due - TODAY).days))
    assert {r["package_id"] for r in soon} >= {package_id}


def test_a_collection_without_agreement_is_not_linked(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path)
    result = _ingest(repo, _delivery(tmp_path), collection="films")
    assert not [w for w in result["warnings"] if w["code"] == "format-not-accepted"]
    assert repo.json("show", result["package_id"])["retention"] is None
    assert "agreement" not in repo.run("show", result["package_id"]).stdout.split("copies:")[0]
    info = dict(_bag_info(repo, result["key_prefix"]))
    assert "Agreement-Identifier" not in info


def test_an_agreement_without_formats_accepts_all(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path, formats={})
    result = _ingest(repo, _delivery(tmp_path))
    assert not [w for w in result["warnings"] if w["code"] == "format-not-accepted"]
    assert repo.json("show", result["package_id"])["retention"]["format_warnings"] == []


def _nothing_stored(repo: Repo, before_keys: list[str], before_packages: int) -> None:
    assert repo.stored_keys() == before_keys
    assert len(repo.packages()) == before_packages
    assert repo.staging_entries() == [] or all(
        not any(p.iterdir()) for p in repo.staging_entries() if p.is_dir()
    )


def test_suspended_and_closed_agreements_refuse_ingest(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path)
    _ingest(repo, _delivery(tmp_path, "first"))
    keys, count = repo.stored_keys(), len(repo.packages())
    repo.run("agreements", "suspend", "CRA-2026-001", "--reason", "unpaid", "--as", "cas")
    delivery = _delivery(tmp_path, "refused")
    reason = (
        "ingest refused: agreement CRA-2026-001 v1 over museum/photos is suspended: new ingest "
        "is refused until it is resumed (preservation goes on)"
    )
    err = fails(repo, 4, "ingest", delivery, "--collection", "photos", "--organisation", "museum")
    assert err.strip() == f"error: {reason}"
    err = fails(
        repo, 4, "ingest", delivery, "--collection", "photos", "--organisation", "museum",
        "--async",
    )  # fmt: skip
    assert reason in err
    assert repo.json("jobs", "list") == []  # nothing queued
    _nothing_stored(repo, keys, count)
    # another collection of the museum is not concerned
    _ingest(repo, _delivery(tmp_path, "film"), collection="films")
    keys, count = repo.stored_keys(), len(repo.packages())

    # resumed: accepted again; then notice, exit and close: refused for good
    repo.run("agreements", "resume", "CRA-2026-001", "--as", "cas")
    _ingest(repo, delivery)
    keys, count = repo.stored_keys(), len(repo.packages())
    with _app(repo) as app:
        cas = agreements_service.principal_for_cli(app, "cas")
        mia = agreements_service.principal_for_cli(app, "mia")
        agreements_service.give_notice(app, mia, "CRA-2026-001", "museum", "merger")
        later = datetime.now(UTC) + timedelta(days=120)
        agreements_service.start_exit(app, cas, "CRA-2026-001", now=later)
        # the exit: exported, confirmed by the receiving party (the museum), transferred
        out = tmp_path / "exit"
        exits.export(app, cas, "CRA-2026-001", out)
        receipt = "".join(
            f"{item.sha256}  {item.path}\n"
            for item in exits.status(app, cas, "CRA-2026-001").exports[0].items
        )
        exits.confirm(app, mia, "CRA-2026-001", receipt, "museum")
        agreements_service.close(app, cas, "CRA-2026-001", "bags received, checksums confirmed")
    keys = repo.stored_keys()  # the exit's events were written beside the packages
    err = fails(
        repo, 4, "ingest", _delivery(tmp_path, "after-close"), "--collection", "photos",
        "--organisation", "museum",
    )  # fmt: skip
    assert "agreement CRA-2026-001 v1 over museum/photos is closed: no new ingest" in err
    _nothing_stored(repo, keys, count)


def test_a_job_queued_before_the_suspension_fails_with_the_reason(
    repo: Repo, tmp_path: Path
) -> None:
    from preserve.services.runner import run_job

    _active(repo, tmp_path)
    queued = repo.json(
        "ingest", _delivery(tmp_path), "--collection", "photos", "--organisation", "museum",
        "--async",
    )  # fmt: skip
    job_id = queued["job_id"]
    keys = repo.stored_keys()
    repo.run("agreements", "suspend", "CRA-2026-001", "--reason", "unpaid", "--as", "cas")
    with _app(repo) as app:
        run_job(app, job_id)
    job = repo.json("jobs", "show", job_id)
    assert job["state"] == "failed", job
    assert "agreement CRA-2026-001 v1 over museum/photos is suspended" in json.dumps(job)
    assert repo.stored_keys() == keys
    assert repo.packages() == []


def _sip_with_agreement(tmp_path: Path, reference: str, name: str) -> Path:
    sip = sipbuilder.meemoo_2(tmp_path / "sips", name)
    mets = sip / "METS.xml"
    text = mets.read_text()
    text = text.replace(
        "  </metsHdr>",
        f'    <altRecordID TYPE="SUBMISSIONAGREEMENT">{reference}</altRecordID>\n  </metsHdr>',
    )
    mets.write_text(text)
    return sip


def test_a_sip_naming_its_submission_agreement(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path)
    named = _ingest(repo, _sip_with_agreement(tmp_path, "CRA-2026-001", "uuid-named"))
    shown = repo.json("show", named["package_id"])["retention"]
    assert (shown["basis"], shown["sip_reference"]) == ("sip_reference", "CRA-2026-001")
    assert "named by the SIP (CRA-2026-001)" in repo.run("show", named["package_id"]).stdout

    unknown = _ingest(repo, _sip_with_agreement(tmp_path, "XYZ-1999-9", "uuid-unknown"))
    [warning] = [w for w in unknown["warnings"] if w["code"] == "submission-agreement-unknown"]
    assert warning["message"] == (
        "the SIP names submission agreement 'XYZ-1999-9', which is not known here; linked to "
        "CRA-2026-001 v1, which governs the collection"
    )
    shown = repo.json("show", unknown["package_id"])["retention"]
    assert (shown["basis"], shown["sip_reference"]) == ("rule", "XYZ-1999-9")

    # a known agreement that does not govern the collection: a warning, not a refusal
    other = description(reference="OTH-2026-002", scope=[{"collection": "museum/films"}])
    repo.run("agreements", "create", "--from", write(tmp_path, other, "o.json"), "--as", "mia")
    result = _ingest(repo, _sip_with_agreement(tmp_path, "OTH-2026-002", "uuid-other"))
    [warning] = [w for w in result["warnings"] if w["code"] == "submission-agreement-other"]
    assert (
        "OTH-2026-002, which does not govern this collection; linked to CRA-2026-001 v1"
        in (warning["message"])
    )


def test_retention_is_recomputed_after_describe(repo: Repo, tmp_path: Path) -> None:
    retention = {
        "action": "destroy",
        "trigger": "creation_date",
        "period": {"value": 5, "unit": "years"},
        "bound": "maximum",
        "motivation": "Personal data kept no longer than five years.",
        "legal_basis": "GDPR art. 5(1)(e)",
    }
    _active(repo, tmp_path, retention=retention)
    result = _ingest(repo, _delivery(tmp_path))
    pid = result["package_id"]
    shown = repo.json("show", pid)["retention"]
    assert shown["state"] == "retention_error"
    assert shown["error"] == "the description has no creation date (dcterms:created or date)"
    assert shown["retention_due"] is None
    listed = repo.json("retention", "due")
    assert [(r["package_id"], r["state"]) for r in listed] == [(pid, "retention_error")]
    assert "the description has no creation date" in repo.run("show", pid).stdout

    repo.run("describe", pid[:8], "--set", "date=2001")  # not a full date: still an error
    shown = repo.json("show", pid)["retention"]
    assert (shown["state"], shown["error"]) == (
        "retention_error",
        "'2001' is not a full date (YYYY-MM-DD)",
    )
    repo.run("describe", pid[:8], "--set", "date=2001-05-17")
    shown = repo.json("show", pid)["retention"]
    assert (shown["state"], shown["retention_start"], shown["retention_due"]) == (
        "due",
        "2001-05-17",
        "2006-05-17",
    )
    assert "(to be disposed of by then)" in repo.run("show", pid).stdout
    # the new version's bag keeps naming the agreement
    current = repo.json("show", pid)
    assert ["Agreement-Identifier", "CRA-2026-001"] in [list(t) for t in current["bag_info"]]
    listed = repo.run("retention", "due").stdout
    assert pid[:8] in listed and "destroy 5 years after creation_date (maximum)" in listed


def test_recompute_links_packages_ingested_before_the_agreement(repo: Repo, tmp_path: Path) -> None:
    early = _ingest(repo, _delivery(tmp_path, "early"))
    assert repo.json("show", early["package_id"])["retention"] is None
    _active(repo, tmp_path)  # activation links the packages already in the collection
    shown = repo.json("show", early["package_id"])["retention"]
    assert (shown["agreement"], shown["basis"], shown["state"]) == (
        "CRA-2026-001 v1",
        "rule",
        "in_retention",
    )
    with _app(repo) as app, app.uow() as uow:  # as if it was ingested before 0010: unlinked
        uow.session.execute(sa.delete(PackageRetention))
        uow.commit()
    out = repo.json("retention", "recompute", "--collection", "museum/photos")
    assert [r["package_id"] for r in out] == [early["package_id"]]
    assert "1 package(s) under an agreement" in repo.run("retention", "recompute").stdout
    err = fails(repo, 3, "retention", "recompute", "--collection", "museum/nothing")
    assert "no collection 'museum/nothing'" in err
    err = fails(repo, 2, "retention", "recompute", "--collection", "photos")
    assert "collection 'photos' is not ORG/SLUG (e.g. museum/photos)" in err
    with _app(repo) as app, app.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(Package)) == 1


def test_the_daily_beat_task_activates_and_links(
    repo: Repo, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """workers.tasks.agreements_daily (beat's agreements-daily entry) as a worker runs it: a
    signed agreement whose start date has come is activated, the package already in its
    collection linked; a second tick changes nothing."""
    from preserve.workers import tasks

    for name, value in repo.env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(tasks, "_application", None)
    try:
        _signed(repo, tmp_path, PAST)  # signed, not yet active
        result = _ingest(repo, _delivery(tmp_path))
        assert repo.json("show", result["package_id"])["retention"] is None
        first = tasks.agreements_daily()
        assert (first["agreements"], first["packages"], first["purged"]) == (1, 0, 0)
        shown = repo.json("show", result["package_id"])["retention"]
        assert (shown["agreement"], shown["state"]) == ("CRA-2026-001 v1", "in_retention")
        again = tasks.agreements_daily()
        assert (again["agreements"], again["packages"], again["purged"]) == (0, 0, 0)
    finally:
        if tasks._application is not None:
            tasks._application[1].close()
