"""``preserve disposal list|show|propose|approve|reject|execute|restore|declaration`` through the
real command line, on SQLite and PostgreSQL: a due package proposed, approved by both parties,
executed, its declaration written, restored; an ad-hoc deletion; every bad input as one line on
stderr with the exit code of its error (2 usage, 3 not found, 4 refused, 77 not allowed); a
withdrawal of a disposal a hold blocks."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.services import holds
from tests.agreement_setup import add_people, make_active, person, spec
from tests.functional.cli import Repo
from tests.integration.disposal_world import DESTROY, PARTIES, make_due


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Iterator[tuple[Repo, Application]]:
    """museum/photos under an agreement whose rule destroys after a year, approved by the
    museum and the archive; one package ingested and due."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    app = bootstrap(Settings.from_env(r.env))
    add_people(app)
    r.run("users", "create", "max", "--organisation", "museum", "--role", "archivist")
    r.run("collections", "add", "photos", "--organisation", "museum")
    make_active(app, spec(parties=PARTIES, retention=DESTROY))
    yield r, app
    app.close()


def _ingest(r: Repo, tmp_path: Path, name: str) -> str:
    d = tmp_path / "deliveries" / name
    d.mkdir(parents=True)
    (d / "note.txt").write_text(f"{name}: a note.\n", encoding="utf-8")
    before = {p["id"] for p in r.packages()}
    r.run("ingest", d, "--collection", "photos", "--organisation", "museum")
    [new] = [p["id"] for p in r.packages() if p["id"] not in before]
    return str(new)


def _fails(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) <= 2, result.stderr  # click adds a usage line


def test_due_package_from_proposal_to_declaration_and_back(
    repo: tuple[Repo, Application], tmp_path: Path
) -> None:
    r, app = repo
    pid = _ingest(r, tmp_path, "harbour")
    make_due(app)

    out = r.run("disposal", "propose", "--due", "--as", "cas").stdout
    assert out.startswith("disposal 1 proposed (scheduled, 1 package, agreement ENF-2026-001 v1)")
    assert "waiting for museum, archive" in out
    listing = r.run("disposal", "list").stdout
    assert "WAITING FOR" in listing and "museum,archive" in listing
    [shown] = r.json("disposal", "list", "--state", "pending", "--as", "mia")
    assert shown["packages"][0]["id"] == pid and shown["waiting_for"] == ["museum", "archive"]

    _fails(
        r.run("disposal", "execute", "1", "--as", "cas", ok=False),
        4,
        "every party must approve it first: museum, archive",
    )
    _fails(
        r.run("disposal", "approve", "1", "--party", "archive", "--as", "cas", ok=False),
        77,
        "cas asked for disposal 1 and may not approve",
    )
    out = r.run("disposal", "approve", "1", "--party", "museum", "--as", "mia").stdout
    assert out.strip() == "disposal 1 (scheduled) is pending (waiting for archive)"
    _fails(
        r.run("disposal", "approve", "1", "--party", "museum", "--as", "max", ok=False),
        4,
        "museum has already decided on disposal 1",
    )
    r.run("disposal", "approve", "1", "--party", "archive", "--comment", "checked", "--as", "root")
    show = r.run("disposal", "show", "1").stdout
    [archive] = [line for line in show.splitlines() if line.startswith("  archive ")]
    assert archive.split()[1:3] == ["approve", "root"] and archive.endswith("UTC  checked")

    out = r.run("disposal", "execute", "1", "--as", "cas").stdout
    assert "disposal 1 (scheduled) is executed: 1 package disposed of" in out
    assert "restorable until" in out
    assert not [k for k in r.stored_keys() if f"/{pid}/" in k and not k.startswith("disposed/")]
    assert [k for k in r.stored_keys() if k.startswith("disposed/") and f"/{pid}/" in k]

    text = r.run("disposal", "declaration", "1").stdout
    assert text.startswith("# Disposal declaration 1")
    assert "Agreement: ENF-2026-001 version 1" in text and f"- id: {pid}" in text
    target = tmp_path / "declaration.json"
    out = r.run("disposal", "declaration", "1", "--format", "json", "-o", target).stdout
    body = target.read_text(encoding="utf-8")
    sha = hashlib.sha256(body.rstrip("\n").encode()).hexdigest()
    assert f"sha256 {sha}" in out
    assert json.loads(body)["packages"][0]["id"] == pid
    assert r.json("disposal", "show", "1")["declaration_sha256"] == sha

    out = r.run("disposal", "restore", "1", "--as", "cas").stdout
    assert out.strip() == "disposal 1 (scheduled) is restored: 1 package back"
    assert [k for k in r.stored_keys() if f"/{pid}/v1/" in k and not k.startswith("disposed/")]


def test_adhoc_deletion_and_rejection(repo: tuple[Repo, Application], tmp_path: Path) -> None:
    r, _app = repo
    pid = _ingest(r, tmp_path, "harbour")
    [made] = r.json("disposal", "propose", pid, "--adhoc", "--reason", "a duplicate", "--as", "mia")
    assert made["kind"] == "adhoc" and made["reason"] == "a duplicate"
    _fails(
        r.run("disposal", "approve", "1", "--party", "museum", "--as", "root", ok=False),
        77,
        "operator staff never approve a deletion for the owner",
    )
    _fails(
        r.run(
            "disposal",
            "reject",
            "1",
            "--party",
            "museum",
            "--comment",
            " ",
            "--as",
            "max",
            ok=False,
        ),
        2,
        "a rejection needs a comment",
    )
    out = r.run(
        "disposal", "reject", "1", "--party", "museum", "--comment", "keep it", "--as", "max"
    ).stdout
    assert out.strip() == "disposal 1 (adhoc) is rejected"
    assert r.json("disposal", "show", "1")["packages"][0]["state"] == "rejected"


def test_bad_input(repo: tuple[Repo, Application], tmp_path: Path) -> None:
    r, app = repo
    pid = _ingest(r, tmp_path, "harbour")
    _fails(r.run("disposal", "propose", "--as", "mia", ok=False), 2, "say what to propose")
    _fails(
        r.run("disposal", "propose", pid, "--as", "mia", ok=False),
        2,
        "naming packages proposes an ad-hoc deletion",
    )
    _fails(
        r.run("disposal", "propose", "--due", pid, "--as", "mia", ok=False),
        2,
        "name no package",
    )
    _fails(
        r.run("disposal", "propose", pid, "--adhoc", "--as", "mia", ok=False),
        2,
        "needs a motivation",
    )
    _fails(r.run("disposal", "propose", "--due", "--as", "mia", ok=False), 3, "no package is due")
    _fails(r.run("disposal", "propose", "--due", "--as", "nobody", ok=False), 3, "no user 'nobody'")
    _fails(r.run("disposal", "propose", "--due", ok=False), 2, "Missing option '--as'")
    _fails(r.run("disposal", "show", "9", ok=False), 3, "no disposal 9")
    _fails(r.run("disposal", "show", "0", ok=False), 2, "Invalid value")
    _fails(r.run("disposal", "list", "--state", "done", ok=False), 2, "Invalid value")
    _fails(
        r.run("disposal", "approve", "9", "--party", "museum", "--as", "mia", ok=False),
        3,
        "no disposal 9",
    )
    # on hold: never proposed
    holds.place(app, person(app, "mia"), kind="legal", title="Case", reason="r", packages=[pid])
    _fails(
        r.run("disposal", "propose", pid, "--adhoc", "--reason", "x", "--as", "mia", ok=False),
        4,  # refused in this state (HTTP 409), not "not allowed" (77)
        "is on hold",
    )
    make_due(app)
    _fails(r.run("disposal", "propose", "--due", "--as", "cas", ok=False), 3, "1 due on hold")
    assert r.json("disposal", "list") == []
    # a declaration before execution; a file in a folder that does not exist
    holds.lift(app, person(app, "mia"), 1, reason="over")
    r.run("disposal", "propose", "--due", "--as", "cas")
    _fails(r.run("disposal", "declaration", "1", ok=False), 3, "has no declaration")
    _fails(r.run("disposal", "restore", "1", "--as", "cas", ok=False), 4, "not executed")
    _fails(
        r.run("disposal", "execute", "1", "--async", "--as", "cas", ok=False),
        4,
        "every party must approve it first",
    )


def test_a_held_package_is_shown_and_the_disposal_withdrawn(
    repo: tuple[Repo, Application], tmp_path: Path
) -> None:
    r, app = repo
    held, other = _ingest(r, tmp_path, "harbour"), _ingest(r, tmp_path, "kept")
    make_due(app)
    r.run("disposal", "propose", "--due", "--as", "cas")
    r.run("disposal", "approve", "1", "--party", "museum", "--as", "mia")
    r.run("disposal", "approve", "1", "--party", "archive", "--as", "root")
    hold = holds.place(
        app, person(app, "mia"), kind="gdpr_request", title="Erasure", reason="r", packages=[held]
    )
    _fails(
        r.run("disposal", "execute", "1", "--as", "cas", ok=False),
        4,
        f"package {held} is on hold: hold {hold.id} (gdpr_request) 'Erasure'",
    )
    err = r.run("disposal", "execute", "1", "--as", "cas", ok=False).stderr
    assert "preserve disposal withdraw 1 --reason" in err and f"holds lift {hold.id}" in err
    show = r.run("disposal", "show", "1").stdout
    [line] = [x for x in show.splitlines() if x.startswith(f"  {held}")]
    assert line.endswith(f"held: hold {hold.id} (gdpr_request) 'Erasure'")
    [line] = [x for x in show.splitlines() if x.startswith(f"  {other}")]
    assert "held" not in line
    assert "1 package on hold: lift the hold" in show
    _fails(
        r.run("disposal", "reject", "1", "--party", "museum", "--comment", "x", "--as", "max",
              ok=False),
        4,
        "it is approved, not pending",
    )  # fmt: skip
    _fails(r.run("disposal", "withdraw", "1", "--as", "cas", ok=False), 2, "--reason")
    _fails(
        r.run("disposal", "withdraw", "1", "--reason", "held", "--as", "mia", ok=False),
        77,
        "mia may not withdraw disposal 1",
    )
    _fails(
        r.run("disposal", "withdraw", "9", "--reason", "held", "--as", "mia", ok=False),
        3,
        "no disposal 9 that you may see",
    )
    out = r.run("disposal", "withdraw", "1", "--reason", "GDPR hold", "--as", "cas").stdout
    assert (
        out.strip() == "disposal 1 (scheduled) is withdrawn: 2 packages back under their retention"
    )
    shown = r.json("disposal", "show", "1")
    assert shown["state"] == "withdrawn" and shown["withdrawal_reason"] == "GDPR hold"
    assert "withdrawn" in r.run("disposal", "show", "1").stdout
    assert [d["id"] for d in r.json("disposal", "list", "--state", "withdrawn")] == [1]
    _fails(
        r.run("disposal", "withdraw", "1", "--reason", "again", "--as", "cas", ok=False),
        4,
        "cannot withdraw disposal 1: it is withdrawn",
    )
