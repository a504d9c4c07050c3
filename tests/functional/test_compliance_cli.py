"""``preserve compliance`` through the real command line (issue 12, dashboard 2): the table,
JSON and CSV parsed, one agreement and one organisation, what a person may see; bad input one
line with its exit code. SQLite and PostgreSQL."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import fails, repo  # noqa: F401 (the repo fixture)
from tests.functional.test_ingest_under_agreement import _active, _delivery, _ingest

REF = "CRA-2026-001"


def test_compliance_table_json_and_csv(repo: Repo, tmp_path: Path) -> None:
    _active(repo, tmp_path)
    repo.run("locations", "edit", "default", "--region", "BE", "--site", "Gent")
    _ingest(repo, _delivery(tmp_path))
    data = json.loads(repo.run("compliance", "--json").stdout)
    [agreement] = data["agreements"]
    assert (agreement["name"], agreement["packages"], agreement["state"]) == (
        f"{REF} v1",
        1,
        "active",
    )
    # three copies in two sites are asked; the one location has one copy: not met
    assert (agreement["placement_assessed"], agreement["placement_met"]) == (1, 0)
    # the notes are text (x-fmt/111), the agreement accepts fmt/43 only
    assert (agreement["formats_assessed"], agreement["formats_accepted"]) == (1, 0)
    assert agreement["last_restore_test_outcome"] is None
    assert [o["name"] for o in data["organisations"]] == [
        "archive",
        "artist",
        "default",
        "museum",
        "other",
    ]

    rows = list(csv.DictReader(io.StringIO(repo.run("compliance", "--csv").stdout)))
    assert [(r["kind"], r["name"]) for r in rows][:2] == [
        ("agreement", f"{REF} v1"),
        ("organisation", "archive"),
    ]
    museum = next(r for r in rows if r["name"] == "museum")
    assert (museum["packages"], museum["placement_pct"], museum["formats_pct"]) == (
        "1",
        "0.0",
        "0.0",
    )

    archive = next(r for r in rows if r["name"] == "archive")  # the custodian keeps it
    assert (archive["packages"], archive["packages_owned"], archive["packages_kept"]) == (
        "1",
        "0",
        "1",
    )

    text = repo.run("compliance", "--agreement", REF).stdout
    assert f"agreement {REF} v1" in text and "never" in text
    # the table, then a legend of every column
    whole = repo.run("compliance").stdout.splitlines()
    header = whole[0].split()
    assert header[:4] == ["ROW", "STATE", "PACKAGES", "OWN/KEPT"]
    archive_line = next(line for line in whole if line.startswith("organisation archive"))
    assert archive_line.split()[2:5] == ["-", "1", "0/1"]
    museum_line = next(line for line in whole if line.startswith("organisation museum"))
    assert museum_line.split()[2:5] == ["-", "1", "1/0"]
    agreement_line = next(line for line in whole if line.startswith(f"agreement {REF}"))
    assert agreement_line.split()[3:6] == ["active", "1", "-"]
    # an organisation under no agreement has nothing to restore-test: -, not "never"
    other_line = next(line for line in whole if line.startswith("organisation other"))
    assert "never" not in other_line
    assert "never" in agreement_line and "never" in archive_line
    legend = whole[whole.index("") + 1 :]
    assert [line.split(":")[0] for line in legend] == [
        "STATE",
        "PACKAGES",
        "COPIES",
        "FIXITY",
        "FORMATS",
        "RESTORE TEST",
        "DUE 30/90/365",
        "DISPOSALS",
        "-",
    ]
    formats = next(line for line in legend if line.startswith("FORMATS:"))
    assert "PRONOM format identifier (PUID)" in formats and "accepted or preferred" in formats
    assert "keeps as the custodian" in legend[1]
    helped = " ".join(repo.run("compliance", "--help").stdout.split())
    assert "FORMATS: share whose every payload file has a PRONOM format identifier" in helped
    assert "those it keeps as the custodian of an agreement in force" in helped
    # JSON and CSV carry no legend
    assert "FORMATS:" not in repo.run("compliance", "--csv").stdout
    mine = json.loads(
        repo.run("compliance", "--organisation", "museum", "--as", "mia", "--json").stdout
    )
    assert [r["name"] for r in mine["organisations"]] == ["museum"]
    seen = json.loads(repo.run("compliance", "--as", "otto", "--json").stdout)
    assert seen["agreements"] == [] and [o["name"] for o in seen["organisations"]] == ["other"]


def test_bad_input(repo: Repo, tmp_path: Path) -> None:
    fails(repo, 2, "compliance", "--json", "--csv")
    fails(repo, 2, "compliance", "--agreement", REF, "--organisation", "museum")
    fails(repo, 3, "compliance", "--agreement", "NOPE-1")
    fails(repo, 3, "compliance", "--organisation", "nowhere")
    # a mistyped name gets a "did you mean" (trial finding 11)
    err = fails(repo, 3, "compliance", "--organisation", "musuem")
    assert "no organisation 'musuem'; did you mean 'museum'?" in err
    _active(repo, tmp_path)
    err = fails(repo, 3, "compliance", "--agreement", "CRA-2026-01")
    assert "no agreement 'CRA-2026-01'; did you mean 'CRA-2026-001'?" in err
    # one a person may not see is not suggested to them
    err = fails(repo, 3, "compliance", "--agreement", "CRA-2026-01", "--as", "otto")
    assert "CRA-2026-001" not in err
    fails(repo, 3, "compliance", "--organisation", "museum", "--as", "otto")
    fails(repo, 3, "compliance", "--as", "nobody")
    fails(repo, 2, "compliance", "--organisation", "")
    assert "no agreement in force" not in repo.run("compliance").stdout  # organisations listed


def test_an_ended_agreement_has_no_next_test_or_review(repo: Repo, tmp_path: Path) -> None:
    """Trial finding 10: an agreement that is over showed a next restore test and a next review;
    its state is now in the table, and neither date is given."""
    _active(
        repo,
        tmp_path,
        effective_until="2021-01-01",
        service_level={
            "min_copies": 1,
            "fixity_interval_days": 90,
            "restore_test_interval_days": 30,
        },
    )
    running = repo.json("compliance", "--agreement", REF)["agreements"][0]
    assert running["next_restore_test_due"] is not None and running["next_review_on"] is not None
    repo.run("agreements", "advance")  # its end date has passed: expired
    [row] = repo.json("compliance", "--agreement", "cra-2026-001")["agreements"]
    assert (row["state"], row["next_restore_test_due"], row["next_review_on"]) == (
        "expired",
        None,
        None,
    )
    assert row["reviews_due"] == {"30d": 0, "90d": 0, "365d": 0}
    lines = repo.run("compliance", "--agreement", REF).stdout.splitlines()
    header = lines[0]
    [line] = [x for x in lines if x.startswith(f"agreement {REF} v1")]
    assert line.split()[3] == "expired"
    next_test = line[header.index("NEXT TEST") :].split()[0]
    assert next_test == "-"
