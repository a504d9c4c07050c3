"""``python -m bench.compliance`` runs end to end on a small catalogue (1,000 packages on
PostgreSQL, agreements set up through the services) and writes its section; no timing is
asserted, the report it measured is checked against what the bench loaded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import compliance, web

REPO = Path(__file__).resolve().parents[2]


def test_merge_replaces_only_the_compliance_section() -> None:
    document = (
        "# Benchmarks\n\n## Web catalogue\n\nweb\n\n## Compliance report\n\nold\n\n## Method\n"
    )
    merged = web.merge_section(document, [compliance.SECTION, "", "new"], compliance.SECTION)
    assert "old" not in merged and "new" in merged and "web" in merged
    assert merged.index("web") < merged.index("new") < merged.index("## Method")


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_run_measures_the_report(tmp_path: Path) -> None:
    admin = os.environ.get("PRESERVE_TEST_DATABASE_URL")
    if not admin:
        pytest.skip("PRESERVE_TEST_DATABASE_URL is not set: the compliance bench needs PostgreSQL")
    target = tmp_path / "benchmarks.md"
    target.write_text("# Benchmarks\n\n## Method\n\nm\n", encoding="utf-8")
    dump = tmp_path / "report.json"
    result = subprocess.run(
        [sys.executable, "-m", "bench.compliance", "--quick", "--packages", "1000", "--runs",
         "1", "--postgres", admin, "--merge", str(target), "--dump", str(dump)],
        cwd=REPO, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    section = target.read_text(encoding="utf-8")
    assert section.index("## Compliance report") < section.index("## Method")
    for row in ("| whole report", "| one agreement", "| one organisation"):
        assert row in section, row
    assert "1,000 packages, 10,000 files, 2,000 copies" in section
    report = json.loads(dump.read_text(encoding="utf-8"))
    assert sorted(r["name"] for r in report["agreements"]) == sorted(
        f"{ref} v1" for ref in compliance.AGREEMENTS
    )
    assert {r["name"] for r in report["organisations"]} >= {*web.ORGANISATIONS, "archief"}
    for row in report["agreements"]:
        assert row["packages"] > 0 and row["placement_assessed"] == row["packages"]
    by_name = {r["name"]: r for r in report["agreements"]}
    # three copies asked, two locations: none meets it; BE only, a copy in NL: none either
    assert by_name["VRT-2024-001 v1"]["placement_met"] == 0
    assert by_name["ULB-2024-001 v1"]["placement_met"] == 0
    assert by_name["MKM-2024-001 v1"]["placement_met"] > 0
    assert by_name["ULB-2024-001 v1"]["formats_assessed"] == 0  # no list of formats
    assert by_name["AEB-2024-001 v1"]["packages_on_hold"] > 0  # the hold on aeb/lettres
    [archief] = [r for r in report["organisations"] if r["name"] == "archief"]
    assert archief["packages_kept"] == sum(r["packages"] for r in report["agreements"])
