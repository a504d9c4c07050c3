"""Once installed, only ``preserve`` is a top-level package: config/ and migrations/ are installed
as preserve.config and preserve.migrations, with the Alembic files and every revision (issue 8)."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_wheel_installs_only_preserve(tmp_path: Path) -> None:
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(REPO)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr
    (wheel,) = tmp_path.glob("preserve-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top = {name.split("/")[0] for name in names}
    assert top == {"preserve", next(t for t in top if t.endswith(".dist-info"))}
    assert "preserve/config/settings.py" in names
    assert "preserve/migrations/alembic.ini" in names
    assert "preserve/migrations/env.py" in names
    revisions = sorted(p.name for p in (REPO / "migrations" / "versions").glob("[0-9]*.py"))
    assert revisions, "no migrations in the repository"
    for revision in revisions:
        assert f"preserve/migrations/versions/{revision}" in names
