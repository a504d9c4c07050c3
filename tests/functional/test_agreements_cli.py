"""``preserve agreements``: a three-party agreement (museum as owner, artist as creator and
rights holder, the archive service as custodian) from draft to active on the command line, the
exit codes of refused transitions and bad input, a frozen signed version, --json shapes; on
SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.catalogue.models import AuditEntry
from preserve.services import agreements
from tests.functional.cli import Repo

#: A start date after any day these tests run on (activation is refused before it).
START = "2099-12-01"
#: A start date before any day these tests run on.
PAST = "2020-01-01"
EDIT_OPTIONS = (
    ("--kind", "service"),
    ("--title", "Changed"),
    ("--summary", "Changed"),
    ("--component", "annex"),
    ("--parent", "CRA-2026-001"),
    ("--effective-from", "2027-02-01"),
    ("--effective-until", "2040-01-01"),
    ("--review-interval-months", "12"),
    ("--next-review-on", "2028-01-01"),
    ("--notice-period-days", "30"),
    ("--legal-basis", "Changed"),
    ("--rights-statement", "http://rightsstatements.org/vocab/CNE/1.0/"),
    ("--licence", "http://creativecommons.org/publicdomain/zero/1.0/"),
    ("--add-party", "other=successor"),
    ("--remove-party", "artist"),
    ("--add-collection", "museum/films"),
    ("--min-copies", "1"),
    ("--fixity-interval-days", "7"),
)


def description(**changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "reference": "CRA-2026-001",
        "kind": "collaboration",
        "title": "Photo collection of the museum",
        "effective_from": START,
        "review_interval_months": 60,
        "notice_period_days": 90,
        "legal_basis": "Cultureelerfgoeddecreet art. 5",
        "rights_statement": "http://rightsstatements.org/vocab/InC/1.0/",
        "parties": [
            {
                "organisation": "museum",
                "roles": ["owner_depositor"],
                "authorities": ["approve_disposal", "approve_amendment"],
            },
            {"organisation": "artist", "roles": ["creator_rights_holder"]},
            {
                "organisation": "archive",
                "roles": ["custodian"],
                "authorities": ["approve_disposal"],
            },
        ],
        "scope": [{"collection": "museum/photos"}],
        "retention": {
            "action": "review",
            "trigger": "ingest_date",
            "period": {"value": 10, "unit": "years"},
            "motivation": "Reviewed after ten years.",
            "legal_basis": "Selection list 4.2",
        },
        "service_level": {
            "min_copies": 3,
            "min_distinct_sites": 2,
            "allowed_regions": ["BE", "NL"],
            "fixity_interval_days": 90,
        },
        "formats": {"accepted": ["fmt/43"], "preferred": ["fmt/353"]},
        "rights": [
            {"act": "replicate", "restriction": "allow"},
            {"act": "delete", "restriction": "disallow"},
        ],
        "access": [{"action": "consult", "group": "public", "embargo_until": "2030-01-01"}],
        "exit": {"recipient": "museum", "deadline_days": 90, "post_exit_action": "transfer"},
    }
    spec.update(changes)
    return spec


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    for slug, name in (
        ("museum", "Museum of Contemporary Art"),
        ("artist", "Studio An Verhoeven"),
        ("archive", "The Archive Service"),
        ("other", "Another Organisation"),
    ):
        r.run("organisations", "add", slug, "--name", name)
    r.run("collections", "add", "photos", "--organisation", "museum")
    r.run("collections", "add", "films", "--organisation", "museum")
    for user, org, role in (
        ("mia", "museum", "archivist"),
        ("vera", "museum", "viewer"),
        ("an", "artist", "admin"),
        ("cas", "archive", "archivist"),
        ("otto", "other", "admin"),
    ):
        r.run("users", "create", user, "--organisation", org, "--role", role)
    r.run("users", "create", "root", "--admin")
    return r


def write(tmp_path: Path, spec: dict[str, Any], name: str = "agreement.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(spec))
    return path


def fails(repo: Repo, code: int, *args: str | Path) -> str:
    result = repo.run(*args, ok=False)
    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and result.stderr.startswith("error: ")
    assert len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def test_three_parties_from_draft_to_active(repo: Repo, tmp_path: Path) -> None:
    made = repo.json(
        "agreements", "create", "--from", write(tmp_path, description()), "--as", "mia"
    )
    assert (made["label"], made["state"], made["missing"]) == ("CRA-2026-001 v1", "draft", [])
    assert [p["organisation"] for p in made["parties"]] == ["museum", "artist", "archive"]

    assert (
        "proposed to museum, artist, archive"
        in repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia").stdout
    )
    # the artist sends it back with a comment, the museum edits, it is proposed again
    err = fails(
        repo, 2, "agreements", "send-back", "CRA-2026-001", "--party", "artist", "--as", "an"
    )
    assert "--comment" in err
    back = repo.json(
        "agreements",
        "send-back",
        "CRA-2026-001",
        "--party",
        "artist",
        "--comment",
        "Add the download right for the owner",
        "--as",
        "an",
    )
    assert back["state"] == "draft"
    assert back["history"][-1] | {"occurred_at": None} == {
        "action": "send_back",
        "from_state": "proposed",
        "to_state": "draft",
        "actor": "an",
        "party": "artist",
        "occurred_at": None,
        "comment": "Add the download right for the owner",
    }
    access = [
        {"action": "consult", "group": "public", "embargo_until": "2030-01-01"},
        {"action": "download", "group": "owner"},
    ]
    repo.run(
        "agreements",
        "edit",
        "CRA-2026-001",
        "--from",
        write(tmp_path, {"access": access}, "a.json"),
        "--as",
        "mia",
    )
    repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia")

    out = repo.run("agreements", "agree", "CRA-2026-001", "--party", "museum", "--as", "mia").stdout
    assert out.strip() == "CRA-2026-001 v1 is proposed (waiting for artist, archive)"
    repo.run("agreements", "agree", "CRA-2026-001", "--party", "artist", "--as", "an")
    pending = repo.json("agreements", "agree", "CRA-2026-001", "--party", "archive", "--as", "cas")
    assert pending["state"] == "pending_signature"

    repo.run(
        "agreements",
        "sign",
        "CRA-2026-001",
        "--party",
        "museum",
        "--capacity",
        "director",
        "--as",
        "mia",
    )
    repo.run(
        "agreements",
        "sign",
        "CRA-2026-001",
        "--party",
        "artist",
        "--capacity",
        "artist",
        "--method",
        "paper",
        "--as",
        "an",
    )
    signed = repo.json(
        "agreements",
        "sign",
        "CRA-2026-001",
        "--party",
        "archive",
        "--capacity",
        "head",
        "--as",
        "cas",
    )
    assert signed["state"] == "signed" and len(signed["content_hash"]) == 64
    assert [len(p["signatures"]) for p in signed["parties"]] == [1, 1, 1]
    assert signed["parties"][1]["signatures"][0]["method"] == "paper"

    # before the start date: refused with the date; the daily advance activates it
    err = fails(repo, 4, "agreements", "activate", "CRA-2026-001", "--as", "cas")
    assert "before its start date 2099-12-01" in err
    assert repo.json("agreements", "advance", "--date", "2099-11-30") == {
        "agreements": [],
        "packages": [],
        "would_move": [],
        "rehearsal": "2099-11-30",
    }
    # a rehearsal of the start date says what would move, and moves nothing (trial finding 1)
    rehearsed = repo.json("agreements", "advance", "--date", START)
    assert rehearsed["agreements"] == []
    assert rehearsed["would_move"] == [
        {
            "reference": "CRA-2026-001",
            "version_no": 1,
            "from_state": "signed",
            "to_state": "active",
            "due_on": START,
        }
    ]
    out = repo.run("agreements", "advance", "--date", START).stdout
    assert out.splitlines() == [
        f"CRA-2026-001 v1: signed -> active on {START} (rehearsal: agreements move on the real "
        "day)",
        f"1 agreement(s) would move on the real day, none moved, 0 packages due (as of {START})",
    ]
    shown = repo.json("agreements", "show", "CRA-2026-001")
    assert shown["state"] == "signed"
    assert "active" not in [e["to_state"] for e in shown["history"]]
    # the real day comes: the workers' daily task activates it
    app = bootstrap(Settings.from_env(repo.env))
    try:
        moved = agreements.advance(app, datetime(2099, 12, 1, 0, 5, tzinfo=UTC))
    finally:
        app.close()
    assert moved == [agreements.Transition("CRA-2026-001", 1, "signed", "active")]

    text = repo.run("agreements", "show", "CRA-2026-001").stdout
    for line in (
        "CRA-2026-001 v1: Photo collection of the museum",
        "  state:        active",
        "  museum (Museum of Contemporary Art): owner_depositor",
        "    may approve disposal, approve amendment",
        "    decision: agreed by mia; 1/1 signatures",
        "  artist (Studio An Verhoeven): creator_rights_holder",
        "  archive (The Archive Service): custodian",
        "  collection museum/photos",
        "retention: review after 10 years from ingest_date (minimum)",
        "service level: 3 copies on 2 sites in BE, NL; fixity every 90 days",
        "formats: accepted fmt/353, fmt/43; preferred fmt/353",
        "  replicate: allow",
        "  delete: disallow",
        "access: public may consult after 2030-01-01",
        "access: owner may download",
        "exit: bagit_premis packages to museum within 90 days, then transfer",
    ):
        assert line in text.splitlines(), line
    assert "send_back by an for artist (proposed -> draft): Add the download right" in text
    listed = repo.json("agreements", "list")
    assert [(a["label"], a["state"], a["parties"]) for a in listed] == [
        ("CRA-2026-001 v1", "active", ["museum", "artist", "archive"])
    ]
    assert repo.json("agreements", "list", "--as", "otto") == []
    assert repo.json("agreements", "list", "--as", "vera")[0]["reference"] == "CRA-2026-001"
    assert repo.json("agreements", "list", "--state", "draft") == []

    # each change is in the audit log too, with who did it
    app = bootstrap(Settings.from_env(repo.env))
    try:
        with app.uow() as uow:
            logged = uow.session.execute(
                sa.select(AuditEntry.username, AuditEntry.action, AuditEntry.channel)
                .where(AuditEntry.object_type == "agreement")
                .order_by(AuditEntry.id)
            ).all()
    finally:
        app.close()
    assert logged[0] == ("mia", "agreement.create", "cli")
    assert ("an", "agreement.send_back", "cli") in logged
    assert ("cas", "agreement.sign", "cli") in logged


def _signed(repo: Repo, tmp_path: Path, start: str = START) -> None:
    spec = description(effective_from=start)
    repo.run("agreements", "create", "--from", write(tmp_path, spec), "--as", "mia")
    repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia")
    for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
        repo.run("agreements", "agree", "CRA-2026-001", "--party", party, "--as", user)
    for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
        repo.run(
            "agreements", "sign", "CRA-2026-001", "--party", party, "--capacity", "d", "--as", user
        )


def test_a_signed_version_cannot_change_by_any_command(repo: Repo, tmp_path: Path) -> None:
    _signed(repo, tmp_path)
    before = repo.json("agreements", "show", "CRA-2026-001")
    for option, value in EDIT_OPTIONS:
        err = fails(repo, 4, "agreements", "edit", "CRA-2026-001", option, value, "--as", "mia")
        assert "CRA-2026-001 v1 is signed: a version that is not a draft is frozen" in err, option
        # the command line names its own way to amend it (the API names its route)
        assert "amend it (preserve agreements amend CRA-2026-001) to make" in err, option
    whole = write(tmp_path, description(title="Other"), "other.json")
    fails(repo, 4, "agreements", "edit", "CRA-2026-001", "--from", whole, "--as", "mia")
    text = tmp_path / "annex.txt"
    text.write_text("Annex 2: target groups\n")
    fails(repo, 4, "agreements", "attach", "CRA-2026-001", text, "--kind", "annex", "--as", "mia")
    fails(repo, 4, "agreements", "propose", "CRA-2026-001", "--as", "mia")
    fails(repo, 4, "agreements", "withdraw", "CRA-2026-001", "--as", "mia")
    fails(
        repo,
        4,
        "agreements",
        "send-back",
        "CRA-2026-001",
        "--party",
        "artist",
        "--comment",
        "x",
        "--as",
        "an",
    )
    after = repo.json("agreements", "show", "CRA-2026-001")
    assert after == before
    # evidence of the signing may still be added
    signed_copy = repo.json(
        "agreements", "attach", "CRA-2026-001", text, "--kind", "signed_copy", "--as", "cas"
    )
    assert signed_copy["kind"] == "signed_copy" and len(signed_copy["sha256"]) == 64


def test_amend_suspend_notice_close(repo: Repo, tmp_path: Path) -> None:
    _signed(repo, tmp_path, PAST)
    repo.run("agreements", "activate", "CRA-2026-001", "--as", "cas")
    v2 = repo.json("agreements", "amend", "CRA-2026-001", "--reason", "three sites", "--as", "mia")
    assert (v2["label"], v2["state"], v2["supersedes"]) == (
        "CRA-2026-001 v2",
        "draft",
        "CRA-2026-001 v1",
    )
    repo.run(
        "agreements", "edit", "CRA-2026-001", "--title", "Photos, second version", "--as", "mia"
    )
    assert (
        repo.json("agreements", "show", "CRA-2026-001/v1")["title"]
        == "Photo collection of the museum"
    )
    repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia")
    for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
        repo.run("agreements", "agree", "CRA-2026-001", "--party", party, "--as", user)
    for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
        repo.run(
            "agreements", "sign", "CRA-2026-001", "--party", party, "--capacity", "d", "--as", user
        )
    out = repo.run("agreements", "activate", "CRA-2026-001", "--as", "cas").stdout
    assert out.strip() == "CRA-2026-001 v2 is active; it supersedes CRA-2026-001 v1"
    versions = repo.json("agreements", "list", "--all-versions")
    assert [(a["version_no"], a["state"]) for a in versions] == [(1, "superseded"), (2, "active")]

    fails(repo, 2, "agreements", "suspend", "CRA-2026-001", "--as", "cas")
    err = fails(repo, 77, "agreements", "suspend", "CRA-2026-001", "--reason", "x", "--as", "mia")
    assert "custodian" in err
    suspended = repo.json(
        "agreements", "suspend", "CRA-2026-001", "--reason", "unpaid", "--as", "cas"
    )
    assert suspended["state"] == "suspended"
    assert repo.json("agreements", "resume", "CRA-2026-001", "--as", "cas")["state"] == "active"
    noticed = repo.json(
        "agreements",
        "give-notice",
        "CRA-2026-001",
        "--party",
        "museum",
        "--reason",
        "merger",
        "--as",
        "mia",
    )
    assert noticed["state"] == "notice_given"
    fails(repo, 4, "agreements", "close", "CRA-2026-001", "--evidence", "x", "--as", "cas")


def test_refusals_and_bad_input(repo: Repo, tmp_path: Path) -> None:
    path = write(tmp_path, description())
    assert "no user 'nobody'" in fails(
        repo, 3, "agreements", "create", "--from", path, "--as", "nobody"
    )
    assert "otto may not prepare" in fails(
        repo, 77, "agreements", "create", "--from", path, "--as", "otto"
    )
    bad = write(tmp_path, description(kind="gift", retention={"action": "destroy"}), "bad.json")
    err = fails(repo, 2, "agreements", "create", "--from", bad, "--as", "mia")
    for part in (
        "kind: 'gift' is not one of",
        "retention.trigger: required",
        "retention.period: required",
        "retention.motivation: required",
        "retention.legal_basis: required",
    ):
        assert part in err
    broken = tmp_path / "broken.json"
    broken.write_text('{"reference": ')
    assert "not valid JSON" in fails(
        repo, 2, "agreements", "create", "--from", broken, "--as", "mia"
    )
    assert repo.json("agreements", "list") == []  # nothing was left behind

    # a draft made of options only lacks a lot: propose names every item
    repo.run(
        "agreements",
        "create",
        "--reference",
        "CRA-2026-002",
        "--kind",
        "service",
        "--title",
        "Films",
        "--add-party",
        "museum=owner_depositor",
        "--add-collection",
        "museum/films",
        "--as",
        "mia",
    )
    err = fails(repo, 4, "agreements", "propose", "CRA-2026-002", "--as", "mia")
    for part in (
        "parties: at least two parties are needed (there are 1)",
        "parties: no party has the custodian role",
        "effective_from: the start date is missing",
        "retention: no retention rule",
        "service_level: missing",
        "rights: no rights granted",
        "exit: no exit terms",
    ):
        assert part in err
    assert "scope" not in err
    err = fails(repo, 2, "agreements", "edit", "CRA-2026-002", "--min-copies", "2", "--as", "mia")
    assert "service_level.fixity_interval_days: required" in err
    level = repo.json(
        "agreements",
        "edit",
        "CRA-2026-002",
        "--min-copies",
        "2",
        "--fixity-interval-days",
        "30",
        "--as",
        "mia",
    )["service_level"]
    assert (level["min_copies"], level["fixity_interval_days"]) == (2, 30)
    changed = repo.json("agreements", "edit", "CRA-2026-002", "--min-copies", "3", "--as", "mia")[
        "service_level"
    ]
    assert (changed["min_copies"], changed["fixity_interval_days"]) == (3, 30)
    err = fails(
        repo, 2, "agreements", "edit", "CRA-2026-002", "--add-party", "archive", "--as", "mia"
    )
    assert "give ORG=ROLE" in err
    fails(repo, 3, "agreements", "show", "CRA-404")
    fails(repo, 3, "agreements", "show", "CRA-2026-002", "--as", "otto")

    # who may act for a party
    repo.run("agreements", "create", "--from", path, "--as", "mia")
    repo.run("agreements", "propose", "CRA-2026-001", "--as", "mia")
    assert "vera is a viewer in museum" in fails(
        repo, 77, "agreements", "agree", "CRA-2026-001", "--party", "museum", "--as", "vera"
    )
    assert "mia may not agree for artist" in fails(
        repo, 77, "agreements", "agree", "CRA-2026-001", "--party", "artist", "--as", "mia"
    )
    for user, party in (("mia", "museum"), ("an", "artist"), ("root", "archive")):
        repo.run("agreements", "agree", "CRA-2026-001", "--party", party, "--as", user)
    assert "never sign for another organisation" in fails(
        repo,
        77,
        "agreements",
        "sign",
        "CRA-2026-001",
        "--party",
        "museum",
        "--capacity",
        "x",
        "--as",
        "root",
    )
    err = fails(
        repo,
        2,
        "agreements",
        "sign",
        "CRA-2026-001",
        "--party",
        "museum",
        "--capacity",
        "x",
        "--document-sha256",
        "f" * 64,
        "--as",
        "mia",
    )
    assert "is not the SHA-256 of a document" in err


def test_yaml_and_documents(repo: Repo, tmp_path: Path) -> None:
    yaml_text = tmp_path / "agreement.yaml"
    spec = description()
    yaml_text.write_text(json.dumps(spec))  # JSON is YAML
    made = repo.json("agreements", "create", "--from", yaml_text, "--as", "mia")
    assert made["effective_from"] == START
    pdf = tmp_path / "agreement.pdf"
    pdf.write_bytes(b"%PDF-1.7\n%%EOF\n")
    doc = repo.json("agreements", "attach", "CRA-2026-001", pdf, "--as", "mia")
    assert set(doc) == {
        "id",
        "name",
        "kind",
        "media_type",
        "size",
        "sha256",
        "uploaded_by",
        "uploaded_at",
    }
    assert (doc["media_type"], doc["size"]) == ("application/pdf", 15)
    fake = tmp_path / "agreement.txt"
    fake.write_bytes(b"%PDF-1.7\n")
    assert "the name ends in .txt" in fails(
        repo, 2, "agreements", "attach", "CRA-2026-001", fake, "--as", "mia"
    )
    page = tmp_path / "page.txt"
    page.write_text("<html><body>hi</body></html>")
    assert "HTML" in fails(repo, 2, "agreements", "attach", "CRA-2026-001", page, "--as", "mia")
    shown = repo.json("agreements", "show", "CRA-2026-001")
    assert [d["name"] for d in shown["documents"]] == ["agreement.pdf"]
    assert set(shown) >= {
        "label",
        "reference",
        "version_no",
        "state",
        "parties",
        "scope",
        "retention",
        "service_level",
        "rights",
        "access",
        "exit",
        "documents",
        "history",
        "missing",
    }


def test_advance_refuses_a_day_before_today(repo: Repo, tmp_path: Path) -> None:
    """A past --date would write a back-dated history: refused, nothing moved."""
    _signed(repo, tmp_path, PAST)
    err = fails(repo, 2, "agreements", "advance", "--date", "2021-01-01")
    assert "--date 2021-01-01 is before today" in err
    assert repo.json("agreements", "show", "CRA-2026-001")["state"] == "signed"
    # without --date (or with today's date) it moves what is due now
    today = datetime.now(UTC).date().isoformat()
    moved = repo.json("agreements", "advance", "--date", today)
    assert [(a["from_state"], a["to_state"], a["due_on"]) for a in moved["agreements"]] == [
        ("signed", "under_review", "2025-01-01")  # activated, and its review date has passed
    ]
    assert "would_move" not in moved
    assert repo.json("agreements", "show", "CRA-2026-001")["state"] == "under_review"


def test_references_match_whatever_their_case(repo: Repo, tmp_path: Path) -> None:
    """Trial finding 8: ``agreements show cra-2026-001`` answered "no agreement ... did you
    mean 'CRA-2026-001'?". A reference now matches whatever its case, and a new agreement
    whose reference differs from an existing one only in case is refused."""
    _signed(repo, tmp_path, PAST)
    shown = repo.json("agreements", "show", "cra-2026-001")
    assert (shown["reference"], shown["version_no"]) == ("CRA-2026-001", 1)
    assert repo.json("agreements", "show", "Cra-2026-001/v1")["reference"] == "CRA-2026-001"
    out = repo.run("agreements", "activate", "cra-2026-001", "--as", "cas").stdout
    assert out.strip() == "CRA-2026-001 v1 is active"
    err = fails(repo, 3, "agreements", "show", "cra-2026-001/v7")
    assert "no agreement 'cra-2026-001/v7': CRA-2026-001 has CRA-2026-001/v1" in err
    clash = write(tmp_path, description(reference="cra-2026-001"), "clash.json")
    err = fails(repo, 4, "agreements", "create", "--from", clash, "--as", "mia")
    assert "agreement CRA-2026-001 exists already (cra-2026-001 differs only in case" in err
    assert [a["reference"] for a in repo.json("agreements", "list", "--all-versions")] == [
        "CRA-2026-001"
    ]
