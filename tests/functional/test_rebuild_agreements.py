"""A catalogue rebuilt from storage (issue 9) and what issue 12 added: packages ingested under an
agreement name it in their bag-info, but agreements live only in the catalogue, so the rebuild
says which agreements are missing and keeps the names; entering the agreement again links the
packages to it. Holds come back from their PREMIS policy assignment events (as package
targets, lifted where a lift event says so). The copies' fixity schedule and sizes are
restored. On SQLite and PostgreSQL."""

# ruff: noqa: F811 - ``repo`` is the fixture of test_agreements_cli, imported, not redefined
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.dbfixtures import postgres_admin_url, postgres_database
from tests.functional.cli import Repo
from tests.functional.test_agreements_cli import (  # noqa: F401 (the repo fixture)
    PAST,
    description,
    repo,
    write,
)
from tests.functional.test_ingest_under_agreement import _active, _delivery, _ingest


@contextmanager
def _new_catalogue(tmp_path: Path, original: str) -> Iterator[str]:
    if original.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / 'rebuilt.sqlite3'}"
        return
    admin = postgres_admin_url()
    assert admin is not None
    with postgres_database(admin) as url:
        yield url


def _rows(url: str, sql: str) -> list[Any]:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.text(sql))]
    finally:
        engine.dispose()


def _copies(url: str) -> dict[tuple[str, int], tuple[Any, Any]]:
    return {
        (pid, version): (size, due)
        for pid, version, size, due in _rows(
            url, "SELECT package_id, version, size_bytes, next_check_at FROM copies"
        )
    }


def test_a_rebuild_restores_agreement_links_holds_and_the_schedule(
    repo: Repo, tmp_path: Path
) -> None:
    _active(repo, tmp_path)
    a = _ingest(repo, _delivery(tmp_path, "harbour"))["package_id"]
    b = _ingest(repo, _delivery(tmp_path, "bridge"))["package_id"]
    c = _ingest(repo, _delivery(tmp_path, "tower"))["package_id"]
    # a legal hold on a; a dispute on b and c, since lifted from c; an audit of the collection
    repo.run(
        "holds", "add", "--kind", "legal", "--title", "Court case 12", "--reason",
        "evidence in a lawsuit", "--mandate", "order 2026/17", "--package", a, "--as", "mia",
    )  # fmt: skip
    dispute = repo.json(
        "holds", "add", "--kind", "dispute", "--title", "Ownership", "--reason",
        "who owns the photos: under discussion", "--package", b, "--package", c,
        "--as", "mia", "--json",
    )["id"]  # fmt: skip
    repo.run(
        "holds", "lift", str(dispute), "--reason", "c is settled", "--package", c, "--as", "mia"
    )
    repo.run(
        "holds", "add", "--kind", "audit", "--title", "Audit 2026", "--reason", "yearly audit",
        "--collection", "museum/photos", "--as", "mia",
    )  # fmt: skip
    repo.run("fixity", "--package", a)  # a's copy is scheduled by a fixity run; b's and c's not
    original = _copies(repo.database_url)
    assert original[(a, 1)][1] is not None and original[(b, 1)][1] is None

    with _new_catalogue(tmp_path, repo.database_url) as url:
        new = Repo(
            home=tmp_path / "new-home",
            database_url=url,
            extra_env={"PRESERVE_STORAGE_URL": repo.storage_root.as_uri()},
        )
        new.run("init")
        report = new.json("catalogue", "rebuild", "--from-location", "default")
        assert report["packages"] == 3 and report["complete"] is True
        # the agreement is not in the new catalogue: said, with the packages that name it
        assert report["agreement_links"] == 0
        [missing] = [f for f in report["not_recovered"] if f["kind"] == "agreement"]
        assert missing["subject"] == "agreement CRA-2026-001 v1"
        assert "3 packages" in missing["message"] and a in missing["message"]
        assert "preserve retention recompute" in missing["message"]
        assert any(line.startswith("agreements (issue 12)") for line in report["not_in_storage"])
        text = new.run("catalogue", "rebuild", "--from-location", "default", ok=False)
        assert text.exit_code != 0  # not empty any more; the report is in the JSON above

        # the schedule and sizes as they were: a's next check from its fixity run, b first
        assert _copies(url) == original

        # the holds, from their events: the collection's as one target per package
        assert report["holds"] == 3
        assert {f["subject"] for f in report["not_recovered"] if f["kind"] == "hold"} == {
            "hold 1",
            f"hold {dispute}",
            f"hold {dispute + 1}",
        }
        holds = {
            kind: (title, reason, mandate, state)
            for kind, title, reason, mandate, state in _rows(
                url, "SELECT kind, title, reason, mandate, state FROM holds"
            )
        }
        assert holds == {
            "legal": ("Court case 12", "evidence in a lawsuit", "order 2026/17", "active"),
            "dispute": ("Ownership", "who owns the photos: under discussion", None, "active"),
            "audit": ("Audit 2026", "yearly audit", None, "active"),
        }
        targets = {
            (kind, pid): lifted
            for kind, pid, lifted in _rows(
                url,
                "SELECT h.kind, t.package_id, t.lift_reason FROM hold_targets t "
                "JOIN holds h ON h.id = t.hold_id",
            )
        }
        assert targets == {
            ("legal", a): None,
            ("dispute", b): None,
            ("dispute", c): "c is settled",
            ("audit", a): None,
            ("audit", b): None,
            ("audit", c): None,
        }
        # and they hold: a deletion of b is refused
        from preserve.config.settings import Settings

        from preserve.bootstrap import bootstrap
        from preserve.errors import OnHold
        from preserve.services.holds import require_no_hold

        app = bootstrap(Settings.from_env(new.env), actor="tester")
        try:
            with app.uow() as uow, pytest.raises(OnHold, match="Ownership"):
                require_no_hold(uow.session, b)
        finally:
            app.close()

        # the agreement entered again, over another collection: the packages whose bag-info
        # names it are linked to it when it becomes active
        for slug, name in (("artist", "Studio"), ("archive", "The Archive Service")):
            new.run("organisations", "add", slug, "--name", name)
        new.run("collections", "add", "films", "--organisation", "museum")
        for user, org in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
            new.run("users", "create", user, "--organisation", org, "--role", "archivist")
        spec = description(effective_from=PAST, scope=[{"collection": "museum/films"}])
        new.run("agreements", "create", "--from", write(tmp_path, spec), "--as", "mia")
        new.run("agreements", "propose", "CRA-2026-001", "--as", "mia")
        for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
            new.run("agreements", "agree", "CRA-2026-001", "--party", party, "--as", user)
        for user, party in (("mia", "museum"), ("an", "artist"), ("cas", "archive")):
            new.run(
                "agreements", "sign", "CRA-2026-001", "--party", party, "--capacity", "d",
                "--as", user,
            )  # fmt: skip
        new.run("agreements", "activate", "CRA-2026-001", "--as", "cas")
        linked = _rows(
            url, "SELECT package_id, reference, version_no, state FROM package_retention"
        )
        assert sorted(linked) == sorted(
            (pid, "CRA-2026-001", 1, "in_retention") for pid in (a, b, c)
        )
