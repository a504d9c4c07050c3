"""What a person typing an agreement gets told (issue 12, trial findings 11, 12 and 15), through
the real CLI on SQLite and PostgreSQL: allowed regions must be assigned ISO 3166-1 codes (or EU),
and a location's two-letter region too; accepted formats must be PUIDs in the PRONOM signatures
the repository identifies with; a misspelt organisation, collection or kind gets "did you mean";
an ingest with files in formats the agreement does not accept ends with one summary line."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

from pathlib import Path

from preserve.cli.ingest import not_accepted_summary
from preserve.formats.siegfried import known_puids
from preserve.territories import country_codes, is_region
from preserve.values import Problem
from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import (  # noqa: F401 (the repo fixture)
    description,
    fails,
    repo,
    write,
)
from tests.functional.test_ingest_under_agreement import _active, _delivery


def test_the_region_and_puid_lists_come_from_babel_and_siegfried() -> None:
    codes = country_codes()
    assert len(codes) == 249 and {"BE", "NL", "FR", "DE", "LU"} <= codes
    assert not {"XX", "ZZ", "EU", "XK", "UN"} & codes
    assert is_region("EU") and not is_region("XX")
    puids = known_puids()
    assert puids is not None and len(puids) > 2000
    assert {"fmt/18", "fmt/43", "fmt/353", "x-fmt/111"} <= puids
    assert "fmt/9999" not in puids


def test_unassigned_regions_and_unknown_puids_are_refused(repo: Repo, tmp_path: Path) -> None:
    spec = description()
    spec["service_level"] = dict(spec["service_level"], allowed_regions=["be", "XX"])
    spec["formats"] = {"accepted": ["fmt/43", "fmt/9999"], "preferred": ["x-fmt/99999"]}
    err = fails(repo, 2, "agreements", "create", "--from", write(tmp_path, spec), "--as", "mia")
    assert "service_level.allowed_regions: 'XX' is not an assigned ISO 3166-1 alpha-2 code" in err
    assert "'be'" not in err
    assert "formats.accepted: 'fmt/9999' is not in the PRONOM signatures" in err
    assert "formats.preferred: 'x-fmt/99999' is not in the PRONOM signatures" in err
    assert repo.json("agreements", "list") == []  # nothing half-written

    good = description()
    good["service_level"] = dict(good["service_level"], allowed_regions=["be", "EU", "ch"])
    made = repo.json("agreements", "create", "--from", write(tmp_path, good), "--as", "mia")
    assert made["service_level"]["allowed_regions"] == ["BE", "EU", "CH"]

    # a storage location's two-letter region is a jurisdiction: the same list
    err = fails(repo, 2, "locations", "edit", "default", "--region", "XX")
    assert "region 'XX' is not an assigned ISO 3166-1 alpha-2 country code" in err
    repo.run("locations", "edit", "default", "--region", "eu-west-1")  # a provider's region
    repo.run("locations", "edit", "default", "--region", "be")
    [default] = [row for row in repo.json("locations", "list") if row["name"] == "default"]
    assert default["region"] == "be"


def test_misspelt_names_get_did_you_mean(repo: Repo, tmp_path: Path) -> None:
    spec = description(kind="colaboration", scope=[{"collection": "museum/photo"}])
    spec["parties"][0]["organisation"] = "musuem"
    err = fails(repo, 2, "agreements", "create", "--from", write(tmp_path, spec), "--as", "mia")
    assert "kind: 'colaboration' is not one of collaboration" in err
    assert "did you mean 'collaboration'?" in err
    assert "parties[1].organisation: no organisation 'musuem' (did you mean 'museum'?)" in err
    assert "scope[1].collection: no collection 'museum/photo' (did you mean 'museum/photos'?)" in (
        err
    )

    repo.run("agreements", "create", "--from", write(tmp_path, description()), "--as", "mia")
    err = fails(
        repo, 2, "agreements", "edit", "CRA-2026-001", "--add-party", "artst=creator_rights_holder",
        "--as", "mia",
    )  # fmt: skip
    assert "no organisation 'artst' (did you mean 'artist'?)" in err
    err = fails(
        repo, 2, "agreements", "edit", "CRA-2026-001", "--add-collection", "films2", "--as", "mia"
    )
    assert "no collection 'films2' (did you mean 'films'?)" in err
    # a name close to nothing still says how to name one
    err = fails(
        repo, 2, "agreements", "edit", "CRA-2026-001", "--add-collection", "zzz", "--as", "mia"
    )
    assert "no collection 'zzz' (give ORGANISATION/COLLECTION)" in err


def test_an_ingest_ends_with_a_summary_of_the_formats_not_accepted(
    repo: Repo, tmp_path: Path
) -> None:
    _active(repo, tmp_path)  # accepts fmt/43 and fmt/353 only
    first = _delivery(tmp_path, "harbour", texts=3)
    second = _delivery(tmp_path, "quay", texts=1)
    (second / "page.html").write_text("<!DOCTYPE html>\n<html><head><title>q</title></html>\n")
    result = repo.run("ingest", first, second, "--collection", "photos", "--organisation", "museum")
    lines = result.stderr.splitlines()
    per_file = [line for line in lines if "is not among the formats" in line]
    assert len(per_file) == 5
    [summary] = [line for line in lines if "does not accept:" in line]
    assert summary.startswith(
        "warning: 5 files in 2 formats agreement CRA-2026-001 v1 does not accept: "
        "x-fmt/111 \u00d74, "
    )
    assert summary.endswith("\u00d71")
    assert lines.index(summary) > max(lines.index(line) for line in per_file)


def test_the_summary_counts_per_agreement_and_skips_a_single_file() -> None:
    def warning(puid: str, agreement: str = "CRA-1 v2") -> Problem:
        return Problem(
            "format-not-accepted",
            "data/x",
            f"format {puid} (Some (nested) name) is not among the formats agreement {agreement} "
            "accepts",
            "warning",
        )

    other = Problem("format-unknown", "data/y", "format fmt/18 is unknown", "warning")
    assert not_accepted_summary([warning("fmt/18"), other]) == []
    assert not_accepted_summary(
        [warning("fmt/18"), warning("x-fmt/111"), warning("fmt/18"), warning("fmt/18", "B v1")]
    ) == [
        "3 files in 2 formats agreement CRA-1 v2 does not accept: fmt/18 \u00d72, x-fmt/111 \u00d71"
    ]
