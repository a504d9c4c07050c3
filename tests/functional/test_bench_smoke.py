"""The benchmark script runs end to end on tiny corpora, so `make bench` does not rot.

No timing is asserted: only that every measured operation produced its row and the targets
section is there."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_bench_tiny_writes_a_row_per_operation(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PRESERVE_")}
    result = subprocess.run(
        [sys.executable, "-m", "bench.run", "--tiny", "--workdir", str(tmp_path)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, f"stdout: {result.stdout}\nstderr: {result.stderr}"

    output = tmp_path / "benchmarks.md"
    assert output.is_file(), "with --tiny and no --output the report goes to the workdir"
    text = output.read_text(encoding="utf-8")
    for corpus in ("A", "B"):
        for operation in (
            "hashing limit",
            "baseline (bagit + siegfried + copy)",
            "preserve ingest",
            "preserve fixity",
        ):
            assert f"| {corpus} | {operation} | 1 |" in text, (corpus, operation, text)
    for heading in ("## Machine", "## Results", "## Targets", "## Method"):
        assert heading in text
    assert "corpus B: ingest ≥ 1,500 files/s end to end" in text
    assert "not judged (tiny corpus)" in text
    # the same table went to stdout, and the per-run preserve homes were cleaned up
    assert "| A | preserve ingest | 1 |" in result.stdout
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("runs-")]
