"""Rough edges of the retention-agreement commands a new-user trial found: an exit disposal
shown with its cause (the exit terms, not the retention rule) and an aligned approvals table;
"did you mean" for a misspelt agreement and hold kind; one message and exit code for an
unknown or deactivated person; a disposal whose requester is the only one of a party who could
approve it refused before it is proposed; every compliance column explained by --help. SQLite
and PostgreSQL."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import fails, repo  # noqa: F401 (the repo fixture)
from tests.functional.test_exit_cli import REF, _exiting, _receipt

DELETE = {"recipient": "museum", "deadline_days": 90, "post_exit_action": "delete_with_certificate"}


def _confirmed_exit(repo: Repo, tmp_path: Path) -> dict[str, Any]:
    """CRA-2026-001 exiting with delete_with_certificate, exported by cas and confirmed by mia
    (museum): the exit disposal is proposed by cas. Returns the export."""
    _exiting(repo, tmp_path, exit=DELETE)
    out = tmp_path / "exit"
    made: dict[str, Any] = repo.json("exit", "export", REF, "--to", out, "--as", "cas")
    receipt = _receipt(out, tmp_path / "receipt.txt")
    repo.run("exit", "confirm", REF, "--receipt", receipt, "--party", "museum", "--as", "mia")
    return made


def test_exit_disposal_shows_its_exit_terms_and_aligned_approvals(
    repo: Repo, tmp_path: Path
) -> None:
    export = _confirmed_exit(repo, tmp_path)
    [listed] = repo.json("disposal", "list")
    assert listed["kind"] == "exit"
    text = repo.run("disposal", "show", str(listed["id"])).stdout
    lines = text.splitlines()
    # the cause is the exit terms and the exit, never the agreement's retention rule
    cause = next(line for line in lines if line.startswith("cause "))
    day = f"{listed['requested_at'][:10]}"
    assert cause.split(None, 1)[1] == (
        "the agreement's exit terms: post-exit action delete_with_certificate, after export "
        f"{export['id']} to museum (confirmed by mia on {day})"
    )
    assert not any(line.startswith(("rule ", "legal basis", "motivation")) for line in lines)
    assert "review 10 years" not in text
    # the approvals: a table whose columns start at the same place on every line
    start = lines.index("approvals:")
    header, *rows = lines[start + 1 : lines.index("", start)]
    assert header.split() == ["PARTY", "DECISION", "BY", "ON", "COMMENT"]
    assert [r.split()[:2] for r in rows] == [["museum", "waiting"], ["archive", "waiting"]]
    column = header.index("DECISION")
    assert all(r[column - 2 : column] == "  " and r[column] != " " for r in rows)

    shown = repo.json("disposal", "show", str(listed["id"]))
    assert (shown["cause"], shown["rule"]) == ("exit_terms", {})
    assert shown["exit"] == {
        "post_exit_action": "delete_with_certificate",
        "recipient": "museum",
        "export": export["id"],
        "confirmed_by": "mia",
        "confirmed_at": shown["exit"]["confirmed_at"],
    }
    assert shown["exit"]["confirmed_at"].startswith(day)

    # approved by both parties (not cas, who asked), executed: the declaration says so too
    repo.run("disposal", "approve", str(listed["id"]), "--party", "museum", "--as", "mia")
    repo.run("disposal", "approve", str(listed["id"]), "--party", "archive", "--as", "root")
    text = repo.run("disposal", "show", str(listed["id"])).stdout
    museum = next(line for line in text.splitlines() if line.startswith("  museum "))
    archive = next(line for line in text.splitlines() if line.startswith("  archive "))
    assert museum.split()[1:3] == ["approve", "mia"]
    assert archive.split()[1:3] == ["approve", "root"]
    assert museum.index("mia") == archive.index("root")  # the BY column lines up
    repo.run("disposal", "execute", str(listed["id"]), "--as", "cas")
    declaration = repo.run("disposal", "declaration", str(listed["id"])).stdout
    assert "Cause: the agreement's exit terms: post-exit action delete_with_certificate" in (
        declaration
    )
    assert "Rule:" not in declaration
    as_json = repo.run("disposal", "declaration", str(listed["id"]), "--format", "json").stdout
    assert '"rule": null' in as_json and '"post_exit_action": "delete_with_certificate"' in as_json


def test_a_misspelt_agreement_or_hold_kind_gets_did_you_mean(repo: Repo, tmp_path: Path) -> None:
    _exiting(repo, tmp_path)
    err = fails(repo, 3, "agreements", "show", "CRA-2026-01")
    assert err == "error: no agreement 'CRA-2026-01'; did you mean 'CRA-2026-001'?\n"
    err = fails(repo, 3, "agreements", "show", "CRA-2026-01/v1")
    assert "did you mean 'CRA-2026-001/v1'?" in err
    assert "CRA-2026-001 has CRA-2026-001/v1" in fails(
        repo, 3, "agreements", "show", "CRA-2026-001/v7"
    )
    assert "did you mean 'CRA-2026-001'?" in fails(repo, 3, "exit", "status", "cra-2026-01")
    # nothing close: the references there are; none suggested to someone who may not see it
    assert "(the agreement: CRA-2026-001)" in fails(repo, 3, "agreements", "show", "XYZ")
    err = fails(repo, 3, "agreements", "show", "CRA-2026-01", "--as", "otto")
    assert err == "error: no agreement 'CRA-2026-01' (there is no agreement yet)\n"
    err = fails(repo, 3, "agreements", "show", REF, "--as", "otto")
    assert err == f"error: no agreement {REF!r} (there is no agreement yet)\n"

    photo = repo.packages()[0]["id"]
    hold = ("holds", "add", "--title", "T", "--reason", "r", "--package", photo, "--as", "mia")
    result = repo.run(*hold, "--kind", "legl", ok=False)
    assert result.exit_code == 2
    assert (
        "'legl' is not a kind of hold: one of legal, dispute, audit, gdpr_request, "
        "rights_challenge, other; did you mean 'legal'?"
    ) in result.stderr
    result = repo.run(*hold, "--kind", "foo", ok=False)
    assert result.exit_code == 2 and "one of legal, dispute" in result.stderr
    assert "did you mean" not in result.stderr
    assert repo.json(*hold, "--kind", "GDPR-request")["kind"] == "gdpr_request"


def test_an_unknown_or_deactivated_person_is_told_the_same_everywhere(repo: Repo) -> None:
    """One message and exit code for nobody (3) and for a deactivated person (77), whichever
    command names them with --as."""
    commands = (
        ("agreements", "show", REF),
        ("agreements", "list"),
        ("exit", "status", REF),
        ("holds", "list"),
        ("disposal", "list"),
        ("tokens", "list"),
        ("compliance",),
    )
    nobody = "error: no user 'nobody' (people are made with: preserve users create)\n"
    for command in commands:
        assert fails(repo, 3, *command, "--as", "nobody") == nobody, command
    repo.run("users", "deactivate", "vera")
    gone = (
        "error: user 'vera' is deactivated (an administrator reactivates them: "
        "preserve users reactivate vera)\n"
    )
    for command in commands:
        assert fails(repo, 77, *command, "--as", "vera") == gone, command
    assert fails(repo, 77, "tokens", "create", "nightly", "--as", "vera") == gone
    assert fails(repo, 3, "users", "set-role", "nobody", "museum", "viewer") == nobody


def test_compliance_help_explains_every_column_with_the_legend_under_the_table(
    repo: Repo,
) -> None:
    shown = repo.run("compliance").stdout.splitlines()
    headers = [h.strip() for h in shown[0].split("  ") if h.strip()]
    assert headers[:3] == ["ROW", "STATE", "PACKAGES"] and len(headers) == 14
    legend = shown[shown.index("") + 1 :]
    help_text = " ".join(repo.run("compliance", "--help").stdout.split())
    for header in headers:
        assert f"{header}:" in help_text or f"({header})" in help_text, header
    for line in legend:  # the same words, wrapped by click
        assert " ".join(line.split()) in help_text, line


def test_a_disposal_only_its_requester_could_approve_is_refused_before_it_is_proposed(
    repo: Repo, tmp_path: Path
) -> None:
    """mia is museum's only archivist: a disposal she proposes needs museum's approval, which
    she may not give; it is refused (exit 4) naming museum and who else may propose it."""
    _exiting(repo, tmp_path, exit=DELETE)
    hold = repo.json(
        "holds", "add", "--kind", "audit", "--title", "Audit", "--reason", "count",
        "--collection", "museum/photos", "--as", "mia",
    )  # fmt: skip
    out = tmp_path / "exit"
    repo.json("exit", "export", REF, "--to", out, "--as", "cas")
    receipt = _receipt(out, tmp_path / "receipt.txt")
    repo.run("exit", "confirm", REF, "--receipt", receipt, "--party", "museum", "--as", "mia")
    assert repo.json("disposal", "list") == []  # on hold: nothing proposed
    repo.run("holds", "lift", str(hold["id"]), "--reason", "done", "--as", "mia")

    refused = (
        "error: mia may not propose this disposal: museum must approve it and mia is the only "
        "person who may approve for museum (whoever proposes a disposal may not approve it); "
        "it may be proposed by cas (archive) or root (administrator)\n"
    )
    assert fails(repo, 4, "exit", "dispose", REF, "--as", "mia") == refused
    assert repo.json("disposal", "list") == []

    # outside any agreement: an ad-hoc deletion only the owner approves
    repo.run("collections", "add", "loose", "--organisation", "museum")
    (tmp_path / "loose").mkdir()
    (tmp_path / "loose" / "a.txt").write_text("a\n")
    [loose] = repo.json("ingest", tmp_path / "loose", "--collection", "loose",
                        "--organisation", "museum")["packages"]  # fmt: skip
    adhoc = ("disposal", "propose", loose["package_id"], "--adhoc", "--reason", "duplicate")
    assert fails(repo, 4, *adhoc, "--as", "mia") == refused.replace(
        "cas (archive) or root (administrator)", "root (administrator)"
    )
    assert repo.json("disposal", "list") == []

    # a second archivist of museum may approve: both are proposed
    repo.run("users", "create", "max", "--organisation", "museum", "--role", "archivist")
    assert repo.run("exit", "dispose", REF, "--as", "mia").stdout.startswith("disposal 1 proposed")
    assert repo.json(*adhoc, "--as", "mia")[0]["kind"] == "adhoc"
