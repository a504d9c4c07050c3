"""``python -m bench.web --quick`` runs end to end (2,000 packages on PostgreSQL, gunicorn, the
load generator) and writes its section; no timing is asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bench import web

REPO = Path(__file__).resolve().parents[2]


def test_merge_replaces_only_its_own_section() -> None:
    document = "# Benchmarks\n\n## Results\n\nx\n\n## Web catalogue\n\nold\n\n## Method\n\nm\n"
    merged = web.merge_section(document, ["## Web catalogue", "", "new"])
    assert "old" not in merged and "new" in merged
    assert merged.index("## Results") < merged.index("new") < merged.index("## Method")
    added = web.merge_section("# Benchmarks\n\n## Method\n\nm\n", ["## Web catalogue", "", "n"])
    assert added.index("## Web catalogue") < added.index("## Method")


@pytest.mark.slow
@pytest.mark.postgres
def test_quick_run_measures_every_page(tmp_path: Path) -> None:
    admin = os.environ.get("PRESERVE_TEST_DATABASE_URL")
    if not admin:
        pytest.skip("PRESERVE_TEST_DATABASE_URL is not set: the web benchmark needs PostgreSQL")
    target = tmp_path / "benchmarks.md"
    target.write_text("# Benchmarks\n\n## Method\n\nm\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bench.web", "--quick", "--seconds", "1", "--postgres", admin,
         "--merge", str(target)],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    section = target.read_text(encoding="utf-8")
    for page in ("dashboard (/)", "package list", "search", "package page"):
        assert f"| {page}" in section, page
    assert "2,000 packages, 20,000 files" in section
    assert "| 0 |" in section  # errors column: none
