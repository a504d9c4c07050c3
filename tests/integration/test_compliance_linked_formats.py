"""An organisation's formats figure judges each package against the list of the agreement
version it is linked to, not against any agreement's list (SQLite and PostgreSQL).

The per-package check used to test a file's PUID against the formats of *every* linked
agreement (its inner query read package_retention again instead of the package's own row), so a
text file in a collection whose agreement accepts only PNG passed because another agreement of
the repository accepts text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.ingest import ingest
from preserve.services import admin, compliance
from tests.agreement_setup import add_people, make_active, spec

NOW = datetime.now(UTC)


def _ingest(app: Application, folder: Path, collection: str) -> str:
    folder.mkdir()
    (folder / "notes.txt").write_bytes(f"notes of {collection}\n".encode() * 20)
    report = ingest(app, [folder], collection=collection, organisation="museum")
    assert not report.failures, report.failures
    return report.results[0].package_id


@pytest.fixture
def app(tmp_path: Path, database_url: str) -> Iterator[Application]:
    app = bootstrap(
        Settings.from_env(
            {"PRESERVE_HOME": str(tmp_path / "home"), "PRESERVE_DATABASE_URL": database_url}
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    admin.add_collection(app, "photos", organisation="museum")
    admin.add_collection(app, "films", organisation="museum")
    make_active(app, spec(formats={"accepted": ["x-fmt/111"]}))  # photos: text accepted
    make_active(
        app,
        spec(
            reference="ENF-2026-002",
            scope=[{"collection": "museum/films"}],
            formats={"accepted": ["fmt/11"]},  # films: PNG only
        ),
    )
    yield app
    app.close()


def test_each_package_against_its_own_agreement_list(app: Application, tmp_path: Path) -> None:
    _ingest(app, tmp_path / "photo", "photos")
    _ingest(app, tmp_path / "film", "films")
    rep = compliance.report(app, now=NOW)
    rows = {r.name: r for r in rep.rows}
    assert (rows["ENF-2026-001 v1"].formats_assessed, rows["ENF-2026-001 v1"].formats_accepted) == (
        1,
        1,
    )
    assert (rows["ENF-2026-002 v1"].formats_assessed, rows["ENF-2026-002 v1"].formats_accepted) == (
        1,
        0,
    )
    # the film's text file is not on its agreement's list (PNG only), whatever the photos' says
    assert (rows["museum"].formats_assessed, rows["museum"].formats_accepted) == (2, 1)
    assert (rows["archive"].formats_assessed, rows["archive"].formats_accepted) == (2, 1)
    one = compliance.report(app, organisation="museum", now=NOW)
    assert (one.organisations[0].formats_assessed, one.organisations[0].formats_accepted) == (2, 1)
