"""The search follows every change of a package and its files (SQLite and PostgreSQL): ingest,
a new version that adds and removes files, describe, and the package's deletion. On PostgreSQL
each package has one search document (migration 0007: its own words and its files' words of the
current version, kept by statement-level triggers); these tests check it through the search and,
there, the rows of ``search_documents`` themselves."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from preserve.services import accounts
from preserve.services.search import PackageQuery, search_packages
from tests.web.search_support import delivery, ingest


def _ids(site, principal, text: str) -> list[str]:
    page = search_packages(site.application, principal, PackageQuery(text=text))
    assert page.total == len(page.items)
    return [h.id for h in page.items]


def _documents(site, column: str = "document") -> dict[str, str]:
    """PostgreSQL: package id -> its search document, or its own words alone (``own``), as
    text; empty on SQLite."""
    with site.application.uow() as uow:
        if uow.session.get_bind().dialect.name != "postgresql":
            return {}
        rows = uow.session.execute(
            sa.text(f"SELECT package_id, {column}::text FROM search_documents")
        ).all()
    return {r[0]: r[1] for r in rows}


def test_the_document_follows_ingest_versions_describe_and_deletion(
    site_any, tmp_path: Path
) -> None:
    site = site_any
    site.user("vera", role="viewer")
    viewer = accounts.principal_for(site.application, site.users["vera"])
    files = {f"scans/page_{i:03d}.txt": f"page {i}\n" for i in range(30)}
    files["notes/kladblok.txt"] = "notes\n"
    package = ingest(site, tmp_path / "v1", "harbour", title="Oude haven", files=files)
    pid = package["id"]
    other = ingest(site, tmp_path / "o", "station", title="Station", image="IMG_0007.png")
    # ingest: the package's own words and its files' words (names, PUID, MIME type)
    assert _ids(site, viewer, "oude haven") == [pid]
    assert _ids(site, viewer, "kladblok") == [pid]
    assert _ids(site, viewer, "page_017") == [pid]
    assert sorted(_ids(site, viewer, "text/plain")) == sorted([pid, other["id"]])
    assert _ids(site, viewer, "image/png") == [other["id"]]
    documents = _documents(site)
    if documents:
        assert set(documents) == {pid, other["id"]}
        # 31 text files, one "x-fmt/111": each word once in the package's document
        assert documents[pid].count("'111'") == 1
        assert documents[pid].count("'plain'") == 1
        # beside it, the package's own words alone (relevance): no file's words
        own = _documents(site, "own")
        assert "'oude'" in own[pid] and "'haven'" in own[pid]
        assert "'kladblok'" not in own[pid] and "'plain'" not in own[pid]

    # describe: the package's own words change, its files' words stay
    site.repo.run("describe", pid, "--title", "Nieuwe kaai")
    assert _ids(site, viewer, "oude") == []
    assert _ids(site, viewer, "nieuwe kaai") == [pid]
    assert _ids(site, viewer, "kladblok") == [pid]
    if documents:
        own = _documents(site, "own")
        assert "'kaai'" in own[pid] and "'oude'" not in own[pid]

    # a new version: kladblok.txt removed, extra.txt added; the current version's files count
    kept = {k: v for k, v in files.items() if not k.startswith("notes/")}
    folder, _csv = delivery(
        tmp_path / "v2", "harbour", title="x", files={**kept, "extra.txt": "extra\n"}
    )
    assert _ids(site, viewer, "extra") == []
    site.repo.run("ingest", folder, "--new-version-of", pid)
    assert _ids(site, viewer, "extra") == [pid]
    assert _ids(site, viewer, "kladblok") == []
    assert _ids(site, viewer, "page_017") == [pid]
    assert _ids(site, viewer, "nieuwe") == [pid]

    # deletion (as an interrupted ingest's clean-up deletes its row): gone from the search
    with site.application.uow() as uow:
        row = uow.packages.get(pid)
        assert row is not None
        uow.packages.delete(row)
        uow.commit()
    assert _ids(site, viewer, "page_017") == []
    assert _ids(site, viewer, "nieuwe") == []
    assert _ids(site, viewer, "text/plain") == [other["id"]]
    if documents:
        assert set(_documents(site)) == {other["id"]}
