"""``preserve holds add|lift|list|show`` through the real command line, on SQLite and PostgreSQL:
people named with ``--as USER`` act with their roles (as on the web), a collection hold covers a
package ingested later, one target is lifted at a time, the PREMIS events show up on the
package, the deletion guard refuses and then passes, ``--json`` output, and every bad input as
one line on stderr with the exit code of its error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from preserve.config.settings import Settings

from preserve.bootstrap import bootstrap
from preserve.catalogue.holds import HOLD_KINDS
from preserve.cli.holds import KINDS
from preserve.errors import OnHold
from preserve.services import holds as service
from tests.functional.cli import Repo

TARGET_KEYS = {
    "id", "type", "package_id", "collection", "organisation", "package_title", "added_by",
    "added_at", "lifted_by", "lifted_at", "lift_reason", "active",
}  # fmt: skip
HOLD_KEYS = {
    "id", "kind", "title", "reason", "mandate", "state", "created_by", "created_at",
    "lifted_by", "lifted_at", "lift_reason", "targets", "hidden_targets",
}  # fmt: skip


def _delivery(root: Path, name: str) -> Path:
    d = root / name
    d.mkdir(parents=True)
    (d / "note.txt").write_text(f"{name}: a born-digital note.\n", encoding="utf-8")
    return d


@pytest.fixture
def repo(tmp_path: Path, database_url: str) -> Repo:
    """Organisations 'ours' (collections photos, films) and 'theirs' (letters); ann is an
    archivist and vic a viewer of ours, bob an archivist of theirs."""
    r = Repo(home=tmp_path / "home", database_url=database_url)
    r.run("init")
    r.run("organisations", "add", "ours", "--name", "Our Museum")
    r.run("organisations", "add", "theirs", "--name", "Their Archive")
    r.run("collections", "add", "photos", "--organisation", "ours")
    r.run("collections", "add", "films", "--organisation", "ours")
    r.run("collections", "add", "letters", "--organisation", "theirs")
    for name, org, role in (("ann", "ours", "archivist"), ("vic", "ours", "viewer"),
                            ("bob", "theirs", "archivist")):  # fmt: skip
        r.run("users", "create", name, "--organisation", org, "--role", role)
    return r


def _ingest(repo: Repo, tmp_path: Path, name: str, collection: str, org: str) -> str:
    before = {p["id"] for p in repo.packages()}
    repo.run(
        "ingest", _delivery(tmp_path / "deliveries", name), "--collection", collection,
        "--organisation", org,
    )  # fmt: skip
    [new] = [p["id"] for p in repo.packages() if p["id"] not in before]
    return str(new)


def _fails(result: Result, code: int, message: str) -> None:
    assert result.exit_code == code, result.stdout + result.stderr
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def _guard(repo: Repo, package_id: str) -> None:
    app = bootstrap(Settings.from_env(repo.env))
    try:
        with app.uow() as uow:
            service.require_no_hold(uow.session, package_id)
    finally:
        app.close()


LEGAL = ("--kind", "legal", "--title", "Court case 2026/17", "--reason", "seized by the court")


def test_add_show_list_lift(repo: Repo, tmp_path: Path) -> None:
    photo = _ingest(repo, tmp_path, "harbour", "photos", "ours")
    film = _ingest(repo, tmp_path, "newsreel", "films", "ours")

    added = repo.run(
        "holds", "add", *LEGAL, "--mandate", "AR 2026/17", "--package", photo[:8],
        "--collection", "ours/films", "--as", "ann",
    )  # fmt: skip
    first = added.stdout.splitlines()
    assert first[0].startswith("hold 1 placed (legal) 'Court case 2026/17' on 1 package, ")
    assert first[0].endswith("1 collection")
    assert sorted(first[1:]) == ["  collection ours/films", f"  package {photo}"]

    shown = repo.run("holds", "show", "1").stdout
    assert "hold     1 (legal, active)" in shown
    assert "mandate  AR 2026/17" in shown
    assert "reason   seized by the court" in shown
    assert f"package {photo} (ours/photos, 'harbour')  active since" in shown
    assert "collection ours/films (every package in it)  active since" in shown

    data = repo.json("holds", "show", "1", "--as", "vic")
    assert set(data) == HOLD_KEYS and all(set(t) == TARGET_KEYS for t in data["targets"])
    assert (data["state"], data["kind"], data["created_by"], data["mandate"]) == (
        "active", "legal", "ann", "AR 2026/17",
    )  # fmt: skip
    assert {t["package_id"] or t["collection"] for t in data["targets"]} == {photo, "ours/films"}

    listed = repo.run("holds", "list").stdout.splitlines()
    assert listed[0].split() == ["ID", "STATE", "KIND", "PLACED", "BY", "COVERS", "TITLE"]
    assert listed[1].split()[:3] == ["1", "active", "legal"]
    assert "1 package, 1 collection  Court case 2026/17" in listed[1]
    assert [h["id"] for h in repo.json("holds", "list", "--package", film)] == [1]

    # the PREMIS event on each package, the person as implementer
    for package_id in (photo, film):
        events = repo.json("show", package_id)["events"]
        [placed] = [e for e in events if e["event_type"] == "policy assignment"]
        assert placed["outcome_detail"] == "hold 1 placed (legal): Court case 2026/17"

    with pytest.raises(OnHold, match=f"package {film} is on hold: hold 1 .* on collection"):
        _guard(repo, film)

    # lift one target, then the rest
    one = repo.run("holds", "lift", "1", "--reason", "not in the case", "--collection",
                   "ours/films", "--as", "ann")  # fmt: skip
    assert one.stdout.strip() == (
        "hold 1 lifted from collection ours/films; it still covers 1 package"
    )
    _guard(repo, film)
    with pytest.raises(OnHold):
        _guard(repo, photo)
    whole = repo.json("holds", "lift", "1", "--reason", "case dismissed", "--as", "ann")
    assert whole["state"] == "lifted" and whole["lift_reason"] == "case dismissed"
    assert [t["active"] for t in whole["targets"]] == [False, False]
    _guard(repo, photo)
    assert repo.run("holds", "list").stdout.strip() == "no active holds"
    assert [h["id"] for h in repo.json("holds", "list", "--lifted")] == [1]
    assert [h["id"] for h in repo.json("holds", "list", "--all")] == [1]
    assert "lifted" in repo.run("holds", "show", "1").stdout


def test_a_collection_hold_covers_a_later_ingest(repo: Repo, tmp_path: Path) -> None:
    h = repo.json(
        "holds", "add", "--kind", "gdpr_request", "--title", "Erasure request 12", "--reason",
        "a person asked", "--collection", "ours/photos", "--as", "ann",
    )  # fmt: skip
    assert [t["type"] for t in h["targets"]] == ["collection"]
    later = _ingest(repo, tmp_path, "harbour", "photos", "ours")
    assert [x["id"] for x in repo.json("holds", "list", "--package", later)] == [h["id"]]
    with pytest.raises(OnHold, match=rf"hold {h['id']} \(gdpr_request\) 'Erasure request 12'"):
        _guard(repo, later)
    assert [x["id"] for x in repo.json("holds", "list", "--collection", "ours/photos")] == [h["id"]]
    assert repo.json("holds", "list", "--organisation", "theirs") == []


def test_what_each_person_sees_and_may_do(repo: Repo, tmp_path: Path) -> None:
    photo = _ingest(repo, tmp_path, "harbour", "photos", "ours")
    letter = _ingest(repo, tmp_path, "letter", "letters", "theirs")
    _fails(
        repo.run("holds", "add", *LEGAL, "--package", photo, "--as", "vic", ok=False),
        77,
        "error: you need the archivist role in this organisation to do that",
    )
    # another organisation's package: not found, as if it did not exist
    _fails(
        repo.run("holds", "add", *LEGAL, "--package", letter, "--as", "ann", ok=False),
        3,
        f"no package '{letter}' that you may see",
    )
    _fails(
        repo.run("holds", "add", *LEGAL, "--collection", "theirs/letters", "--as", "ann", ok=False),
        3,
        "no collection 'theirs/letters'",
    )
    repo.run("holds", "add", *LEGAL, "--package", letter, "--as", "bob")
    _fails(repo.run("holds", "show", "1", "--as", "ann", ok=False), 3, "error: no hold 1")
    _fails(repo.run("holds", "lift", "1", "--reason", "x", "--as", "ann", ok=False), 3, "no hold 1")
    assert repo.json("holds", "list", "--as", "vic") == []
    assert [h["id"] for h in repo.json("holds", "list", "--as", "bob")] == [1]
    repo.run("holds", "add", *LEGAL, "--package", photo, "--as", "ann")
    _fails(
        repo.run("holds", "lift", "2", "--reason", "x", "--as", "vic", ok=False),
        77,
        "you need the archivist role",
    )


def test_bad_input(repo: Repo, tmp_path: Path) -> None:
    photo = _ingest(repo, tmp_path, "harbour", "photos", "ours")

    def add(*args: str) -> Result:
        return repo.run("holds", "add", *args, ok=False)

    on_photo = ("--package", photo, "--as", "ann")
    _fails(add("--kind", "court", "--title", "t", "--reason", "r", *on_photo), 2, "'court'")
    _fails(
        add("--kind", "legal", "--title", " ", "--reason", "r", *on_photo),
        2,
        "error: the title (--title) is empty",
    )
    _fails(
        add("--kind", "legal", "--title", "t", "--reason", "", *on_photo),
        2,
        "error: a reason (--reason) is required",
    )
    _fails(add("--kind", "legal", "--title", "t", *on_photo), 2, "--reason")  # missing
    _fails(add(*LEGAL, "--as", "ann"), 2, "a hold needs at least one package")
    _fails(add(*LEGAL, "--package", photo), 2, "--as")  # no --as: refused
    _fails(add(*LEGAL, "--package", photo, "--as", "x"), 3, "error: no user 'x'")
    # a new-user trial: misspellings got "did you mean" unevenly (a user, a collection and a
    # kind given in part did not)
    _fails(
        add(*LEGAL, "--package", photo, "--as", "nna"),
        3,
        "error: no user 'nna'; did you mean 'ann'? (people are made with: preserve users create)",
    )
    _fails(
        add(*LEGAL, "--collection", "ours/photso", "--as", "ann"),
        3,
        "error: no collection 'ours/photso'; did you mean 'ours/photos'?",
    )
    _fails(
        add("--kind", "gdpr", "--title", "t", "--reason", "r", *on_photo),
        2,
        "did you mean 'gdpr_request'?",
    )
    _fails(add("--kind", "legl", "--title", "t", "--reason", "r", *on_photo), 2, "'legal'?")
    _fails(add(*LEGAL, "--package", "0000dead", "--as", "ann"), 3, "no package '0000dead'")
    _fails(add(*LEGAL, "--collection", "ours/nope", "--as", "ann"), 3, "no collection")
    _fails(add(*LEGAL, "--collection", "photos", "--as", "ann"), 2, "is not ORG/SLUG")

    repo.run("holds", "add", *LEGAL, *on_photo)

    def lift(*args: str) -> Result:
        return repo.run("holds", "lift", *args, ok=False)

    _fails(lift("7", "--reason", "x", "--as", "ann"), 3, "error: no hold 7")
    _fails(lift("0", "--reason", "x", "--as", "ann"), 2, "HOLD_ID")
    _fails(lift("1", "--as", "ann"), 2, "--reason")
    _fails(lift("1", "--reason", " ", "--as", "ann"), 2, "a reason (--reason) is required")
    _fails(lift("1", "--reason", "x"), 2, "--as")
    _fails(
        lift("1", "--reason", "x", "--collection", "ours/films", "--as", "ann"),
        3,
        "hold 1 is not on collection ours/films",
    )
    repo.run("holds", "lift", "1", "--reason", "over", "--as", "ann")
    _fails(lift("1", "--reason", "again", "--as", "ann"), 2, "hold 1 was already lifted on ")
    _fails(repo.run("holds", "show", "9", ok=False), 3, "error: no hold 9")
    _fails(repo.run("holds", "list", "--package", "0000dead", ok=False), 3, "no package")
    _fails(repo.run("holds", "list", "--organisation", "nope", ok=False), 3, "no organisation")
    _fails(repo.run("holds", "list", "--as", "nobody", ok=False), 3, "no user 'nobody'")


def test_the_kinds_agree_with_the_catalogue() -> None:
    assert KINDS == HOLD_KINDS


def test_json_of_an_empty_list(repo: Repo) -> None:
    result: Any = repo.json("holds", "list", "--all")
    assert result == []


def test_shell_completion_of_collections_and_packages(repo: Repo, tmp_path: Path) -> None:
    from tests.functional.test_completion import complete

    photo = _ingest(repo, tmp_path, "harbour", "photos", "ours")
    assert complete(repo, "preserve holds add --collection o") == ["ours/"]
    assert sorted(complete(repo, "preserve holds add --collection ours/")) == [
        "ours/films",
        "ours/photos",
    ]
    assert complete(repo, "preserve holds list --collection theirs/l") == ["theirs/letters"]
    assert complete(repo, f"preserve holds add --package {photo[:5]}") == [photo]
    assert complete(repo, f"preserve holds lift 1 --package {photo[:5]}") == [photo]
    assert complete(repo, "preserve holds list --organisation th") == ["theirs"]
