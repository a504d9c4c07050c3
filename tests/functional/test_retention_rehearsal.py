"""Rehearsing retention from the command line (issue 12, trial 12 findings 2-4):
``preserve agreements advance --date D`` also marks packages due as of D, as the workers'
daily task does, and says how many; ``preserve retention due --date D`` lists what is due by D;
a rehearsal can propose and approve a disposal, but ``disposal execute`` checks the real day
and leaves a package whose minimum retention has not run out ("due on ..., not yet");
``preserve show`` names a superseded version as superseded; bad dates exit 2. SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import Result
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.services import agreements
from tests.agreement_setup import T0, add_people, make_active, person, spec, walk_to_active
from tests.functional.cli import Repo
from tests.integration.disposal_world import DESTROY, PARTIES


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Iterator[tuple[Repo, Application]]:
    """museum/photos under an agreement whose rule destroys a year after ingest."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    app = bootstrap(Settings.from_env(r.env))
    add_people(app)
    r.run("collections", "add", "photos", "--organisation", "museum")
    make_active(app, spec(parties=PARTIES, retention=DESTROY))
    yield r, app
    app.close()


def _ingest(r: Repo, tmp_path: Path, name: str) -> str:
    d = tmp_path / "deliveries" / name
    d.mkdir(parents=True)
    (d / "note.txt").write_text(f"{name}: a note.\n", encoding="utf-8")
    r.run("ingest", d, "--collection", "photos", "--organisation", "museum")
    [new] = [p["id"] for p in r.packages() if p["title"] == name]
    return str(new)


def _fails(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_rehearse_a_year_ahead_propose_but_not_execute(
    repo: tuple[Repo, Application], tmp_path: Path
) -> None:
    r, _app = repo
    pid = _ingest(r, tmp_path, "harbour")
    [row] = r.json("retention", "due", "--within", "400")
    due_on = date.fromisoformat(row["retention_due"])
    day_before = (due_on - timedelta(days=1)).isoformat()

    assert r.run("retention", "due").stdout.strip() == "no package is due"
    out = r.run("retention", "due", "--date", day_before).stdout
    assert out.strip() == f"no package is due by {day_before}"
    [listed] = r.json("retention", "due", "--date", due_on.isoformat())
    assert (listed["package_id"], listed["state"]) == (pid, "in_retention")

    # the day before nothing moves; on the due date the package is due, and it says so
    out = r.run("agreements", "advance", "--date", day_before).stdout
    assert out.strip() == f"no agreement would move, 0 packages due (as of {day_before})"
    out = r.run("agreements", "advance", "--date", due_on.isoformat()).stdout
    assert f"package {pid[:8]} (ENF-2026-001 v1): due, due {due_on.isoformat()}" in out
    assert out.strip().endswith(f"no agreement would move, 1 package due (as of {due_on})")
    assert r.json("agreements", "advance", "--date", due_on.isoformat()) == {
        "agreements": [],
        "packages": [],
        "would_move": [],
        "rehearsal": due_on.isoformat(),
    }
    [listed] = r.json("retention", "due")
    assert (listed["package_id"], listed["state"]) == (pid, "due")

    # the rehearsal proposes and the parties approve ...
    out = r.run("disposal", "propose", "--due", "--as", "cas").stdout
    assert out.startswith("disposal 1 proposed (scheduled, 1 package, agreement ENF-2026-001 v1)")
    r.run("disposal", "approve", "1", "--party", "museum", "--as", "mia")
    r.run("disposal", "approve", "1", "--party", "archive", "--as", "root")
    # ... but the execution checks the real day: not disposed of, with the reason
    done = r.run("disposal", "execute", "1", "--as", "cas", ok=False)
    assert done.exit_code == 1  # not everything was disposed of: a script must not go on
    out = done.stdout
    assert "0 packages disposed of" in out
    assert f"not disposed of: {pid}: due on {due_on.isoformat()}, not yet" in out
    assert [k for k in r.stored_keys() if f"/{pid}/" in k and not k.startswith("disposed/")]
    shown = r.run("show", pid, "--summary").stdout
    assert "in_retention: destroy 1 year after ingest_date (minimum)" in shown
    assert f"due {due_on.isoformat()}" in shown


def test_show_names_a_superseded_version(repo: tuple[Repo, Application], tmp_path: Path) -> None:
    r, app = repo
    pid = _ingest(r, tmp_path, "harbour")
    assert "ENF-2026-001 v1 (its collection's agreement)" in r.run("show", pid, "--summary").stdout
    r.run("collections", "add", "films", "--organisation", "museum")
    agreements.amend(app, person(app, "mia"), "ENF-2026-001", "films only", now=T0)
    agreements.edit_draft(
        app,
        person(app, "mia"),
        "ENF-2026-001",
        {"scope": [{"collection": "museum/films"}]},
        now=T0,
    )
    walk_to_active(app, "ENF-2026-001/v2", at=T0)
    shown = r.run("show", pid, "--summary").stdout
    assert "its collection's agreement" not in shown
    assert (
        "ENF-2026-001 v1 (superseded by ENF-2026-001 v2, which does not cover this package: "
        "under review)" in shown
    )


def test_bad_dates_are_refused(repo: tuple[Repo, Application]) -> None:
    r, _app = repo
    _fails(r.run("retention", "due", "--date", "2027-13-01", ok=False), 2, "--date")
    _fails(r.run("agreements", "advance", "--date", "tomorrow", ok=False), 2, "--date")
    _fails(r.run("retention", "due", "--within", "-1", ok=False), 2, "--within")


def test_rehearsal_moves_no_agreement(repo: tuple[Repo, Application]) -> None:
    """Trial finding 1: ``advance --date`` past a notice period moved the agreement to exiting
    with a future date in its history. It now says what would move, and on which day."""
    r, app = repo
    agreements.give_notice(app, person(app, "mia"), "ENF-2026-001", "museum", "merger")
    notice_ends = datetime.now(UTC).date() + timedelta(days=90)
    later = (notice_ends + timedelta(days=30)).isoformat()
    before = r.json("agreements", "show", "ENF-2026-001")
    out = r.run("agreements", "advance", "--date", later).stdout
    assert out.splitlines() == [
        f"ENF-2026-001 v1: notice_given -> exiting on {notice_ends.isoformat()} "
        "(rehearsal: agreements move on the real day)",
        f"1 agreement(s) would move on the real day, none moved, 0 packages due (as of {later})",
    ]
    after = r.json("agreements", "show", "ENF-2026-001")
    assert after["state"] == "notice_given"
    assert after["history"] == before["history"]
    # so the exit cannot run today: the notice period is still running
    done = r.run("exit", "export", "ENF-2026-001", "--to", r.home / "exit", "--as", "cas", ok=False)
    assert done.exit_code == 4, done.stderr
    assert "it is notice given, not exiting" in done.stderr
