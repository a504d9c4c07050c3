"""``preserve exit export|confirm|status`` through the real command line (issue 12, E13): the
export checked with sha256sum, a wrong receipt refused (exit 4, one line listing the problems,
nothing recorded), the receiving party's confirmation, ``agreements close`` refused before and
accepted after; every bad input one line with its exit code. SQLite and PostgreSQL."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

import shlex
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from preserve.services import agreements as agreements_service
from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import fails, repo  # noqa: F401 (the repo fixture)
from tests.functional.test_ingest_under_agreement import _active, _app, _delivery, _ingest

REF = "CRA-2026-001"


def _exiting(repo: Repo, tmp_path: Path, **changes: Any) -> list[str]:
    """CRA-2026-001 active over museum/photos with two packages, then exiting."""
    _active(repo, tmp_path, **changes)
    repo.run("locations", "edit", "default", "--region", "BE", "--site", "Gent")
    ids = [_ingest(repo, _delivery(tmp_path, name))["package_id"] for name in ("one", "two")]
    with _app(repo) as app:
        mia = agreements_service.principal_for_cli(app, "mia")
        cas = agreements_service.principal_for_cli(app, "cas")
        agreements_service.give_notice(app, mia, REF, "museum", "the museum merges")
        later = datetime.now(UTC) + timedelta(days=120)
        agreements_service.start_exit(app, cas, REF, now=later)
    return ids


def _receipt(folder: Path, target: Path) -> Path:
    done = subprocess.run(
        "sha256sum bags/*/tagmanifest-sha256.txt documents/*/*",
        shell=True,
        cwd=folder,
        capture_output=True,
        text=True,
    )
    target.write_text(done.stdout)  # (no documents: sha256sum says so on stderr)
    return target


def test_export_confirm_close(repo: Repo, tmp_path: Path) -> None:
    ids = _exiting(repo, tmp_path)
    out = tmp_path / "exit"
    err = fails(repo, 4, "agreements", "close", REF, "--evidence", "returned", "--as", "cas")
    assert "2 packages in its scope were not exported for the exit" in err

    made = repo.json("exit", "export", REF, "--to", out, "--as", "cas")
    assert (made["packages"], made["documents"], made["post_exit_state"]) == (2, 0, "waiting")
    assert sorted(i["package_id"] for i in made["items"]) == sorted(ids)
    assert (
        subprocess.run(["sha256sum", "-c", "--quiet", "manifest-sha256.txt"], cwd=out).returncode
        == 0
    )
    status = repo.json("exit", "status", REF)
    assert status["exports"][0]["id"] == made["id"]
    assert "has not confirmed the checksums" in status["close_refusal"]
    text = repo.run("exit", "status", REF).stdout
    assert "waiting for the receiving party's confirmation" in text

    # a wrong receipt: one line naming every problem, exit 4, nothing recorded
    good = _receipt(out, tmp_path / "receipt.txt")
    lines = good.read_text().splitlines()
    bad = tmp_path / "bad.txt"
    bad.write_text("0" * 64 + "  " + lines[0].split("  ", 1)[1] + "\n")
    err = fails(
        repo, 4, "exit", "confirm", REF, "--receipt", bad, "--party", "museum", "--as", "mia"
    )
    assert "2 problems" in err and "receipt says 0000" in err and "not in the receipt" in err
    assert repo.json("exit", "status", REF)["exports"][0]["confirmed_at"] is None
    garbage = tmp_path / "garbage.txt"
    garbage.write_text("this is not a receipt\n")
    err = fails(
        repo, 2, "exit", "confirm", REF, "--receipt", garbage, "--party", "museum", "--as", "mia"
    )
    assert "receipt line 1" in err
    fails(repo, 77, "exit", "confirm", REF, "--receipt", good, "--party", "archive", "--as", "cas")
    fails(repo, 77, "exit", "confirm", REF, "--receipt", good, "--party", "museum", "--as", "vera")

    confirmed = repo.run(
        "exit", "confirm", REF, "--receipt", good, "--party", "museum", "--as", "mia"
    )
    assert f"exit of {REF} v1 confirmed by mia for museum: 2 checksums match" in confirmed.stdout
    assert "post-exit action transfer: done, 2 packages transferred to museum" in confirmed.stdout
    closed = repo.json("agreements", "close", REF, "--evidence", "bags confirmed", "--as", "cas")
    assert closed["state"] == "closed"
    assert repo.json("exit", "status", REF)["close_refusal"] == "it is closed"


def test_bad_input(repo: Repo, tmp_path: Path) -> None:
    _exiting(repo, tmp_path)
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "file").write_text("x")
    assert "not an empty folder" in fails(
        repo, 2, "exit", "export", REF, "--to", busy, "--as", "cas"
    )
    fails(repo, 77, "exit", "export", REF, "--to", tmp_path / "x", "--as", "mia")
    fails(repo, 3, "exit", "export", "NOPE-1", "--to", tmp_path / "x", "--as", "cas")
    fails(repo, 3, "exit", "export", REF, "--to", tmp_path / "x", "--as", "nobody")
    fails(repo, 2, "exit", "export", REF, "--as", "cas")  # no --to
    fails(repo, 2, "exit", "export", REF, "--to", "", "--as", "cas")
    fails(
        repo,
        2,
        "exit",
        "confirm",
        REF,
        "--receipt",
        tmp_path / "none.txt",
        "--party",
        "museum",
        "--as",
        "mia",
    )
    receipt = tmp_path / "r.txt"
    receipt.write_text("0" * 64 + "  x\n")
    err = fails(
        repo, 4, "exit", "confirm", REF, "--receipt", receipt, "--party", "museum", "--as", "mia"
    )
    assert "nothing was exported" in err
    fails(repo, 3, "exit", "status", "NOPE-1")
    assert not (tmp_path / "x").exists()


def _examples(repo: Repo, *command: str) -> list[str]:
    """The example lines of ``preserve COMMAND --help``."""
    text = repo.run(*command, "--help").stdout
    lines = text.split("Examples:", 1)[1].split("Options:", 1)[0].splitlines()
    return [line.strip() for line in lines if line.strip()]


def test_confirm_help_example_runs_as_written_and_a_held_package_waits(
    repo: Repo, tmp_path: Path
) -> None:
    """The receipt command of `exit confirm --help`, run as written (set -e, pipefail) on an
    export without documents, makes a receipt that confirms it; a held package is left out of
    the exit disposal, named in the output, and `exit dispose` proposes it once lifted."""
    terms = {
        "recipient": "museum",
        "deadline_days": 90,
        "post_exit_action": "delete_with_certificate",
    }
    held, free = sorted(_exiting(repo, tmp_path, exit=terms))
    hold = repo.json(
        "holds", "add", "--kind", "legal", "--title", "Court case", "--reason", "seized",
        "--package", held, "--as", "mia",
    )  # fmt: skip
    out = tmp_path / "exit"
    assert repo.json("exit", "export", REF, "--to", out, "--as", "cas")["documents"] == 0
    assert not (out / "documents").exists()

    check, receipt, confirm = _examples(repo, "exit", "confirm")
    receipt_file = tmp_path / "receipt.txt"
    script = "\n".join((check, receipt)).replace("/srv/exit/CRA-2026-001", shlex.quote(str(out)))
    script = script.replace("/tmp/receipt.txt", shlex.quote(str(receipt_file)))
    done = subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + script], capture_output=True, text=True
    )
    assert done.returncode == 0 and done.stderr == "", done.stderr
    assert len(receipt_file.read_text().splitlines()) == 2  # one line per bag
    args = shlex.split(confirm.replace("/tmp/receipt.txt", str(receipt_file)))
    assert args[:2] == ["preserve", "exit"]
    confirmed = repo.run(*args[1:]).stdout
    assert f"exit of {REF} v1 confirmed by mia for museum: 2 checksums match" in confirmed
    named = f"package {held} not proposed: on hold: hold {hold['id']} (legal) 'Court case'"
    assert (
        "post-exit action delete_with_certificate: pending, disposal 1 pending; "
        f"{named}; once nothing blocks it: preserve exit dispose {REF} --as USER"
    ) in confirmed
    assert named in repo.run("exit", "status", REF).stdout
    [first] = repo.json("disposal", "list")
    assert [i["id"] for i in first["packages"]] == [free]

    # held: exit dispose proposes nothing and says why and how to lift the hold (exit 4)
    err = fails(repo, 4, "exit", "dispose", REF, "--as", "cas")
    assert err == (
        f"error: nothing was proposed for the post-exit deletion of {REF}: 1 package proposed "
        f"before; {named}; once hold {hold['id']} is lifted (preserve holds lift {hold['id']} "
        f'--reason "..." --as USER), then: preserve exit dispose {REF} --as USER\n'
    )
    fails(repo, 77, "exit", "dispose", REF, "--as", "vera")
    # the hint, run as written (the reason filled in), lifts the hold
    lift = err.split("is lifted (", 1)[1].split(")", 1)[0].replace("...", "dismissed")
    lift = lift.replace("USER", "mia")
    assert shlex.split(lift)[:3] == ["preserve", "holds", "lift"]
    repo.run(*shlex.split(lift)[1:])
    assert "1 package not proposed yet" in repo.run("exit", "status", REF).stdout

    # each run says what it did: the first proposes disposal 2, the next nothing new
    status = "post-exit action delete_with_certificate: pending, disposal 1 pending, 2 pending"
    proposed = repo.run("exit", "dispose", REF, "--as", "cas").stdout
    assert proposed == f"disposal 2 proposed (1 package: {held[:8]})\n{status}\n"
    second = repo.json("disposal", "show", "2")
    assert [i["id"] for i in second["packages"]] == [held]
    again = repo.run("exit", "dispose", REF, "--as", "cas").stdout
    assert again == (
        "nothing new to propose: every exported package is in a disposal already "
        f"(disposal 1, 2)\n{status}\n"
    )
    assert len(repo.json("disposal", "list")) == 2
    as_json = repo.json("exit", "dispose", REF, "--as", "cas", "--json")
    assert (as_json["proposed_now"], as_json["post_exit_state"]) == ([], "pending")
