"""Holds (issue 12): placing on packages and collections, listing, showing, lifting a whole hold
or one target, the permissions of each role, the PREMIS events and audit entries they leave,
and the guard every deletion calls (``require_no_hold``), on SQLite and PostgreSQL; and that
a hold and a deletion racing each other in two threads are ordered by their locks (row locks
on PostgreSQL, the write lock on SQLite), whichever comes first."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.database import upgrade
from preserve.catalogue.holds import Hold, HoldTarget
from preserve.catalogue.models import AuditEntry, Collection, Event, Organisation, Package
from preserve.errors import InvalidInput, NotFound, OnHold, PermissionDenied
from preserve.services import accounts, holds
from preserve.services.access import Principal


@dataclass
class World:
    """Organisations ``ours`` (collections ``photos`` with two packages, ``films`` with one)
    and ``theirs`` (collection ``letters`` with one package), and people with roles."""

    app: Application
    photos: list[str]
    film: str
    letter: str
    people: dict[str, Principal]

    def add_package(self, collection: str, title: str) -> str:
        org, slug = collection.split("/")
        with self.app.uow() as uow:
            c = uow.collections.get(org, slug)
            assert c is not None
            p = uow.packages.add(Package(collection_id=c.id, title=title, status="stored"))
            uow.commit()
            return str(p.id)

    def guard(self, package_id: str) -> None:
        with self.app.uow() as uow:
            holds.require_no_hold(uow.session, package_id)

    def held(self, package_ids: list[str]) -> dict[str, list[holds.HoldRef]]:
        with self.app.uow() as uow:
            return holds.holds_on(uow.session, package_ids)


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    upgrade(database_url)
    settings = Settings.from_env(
        {"PRESERVE_HOME": str(tmp_path / "home"), "PRESERVE_DATABASE_URL": database_url}
    )
    app = bootstrap(settings, actor="tester")
    with app.uow() as uow:
        ours = uow.organisations.add(Organisation(slug="ours", name="Our Museum"))
        theirs = uow.organisations.add(Organisation(slug="theirs", name="Their Archive"))
        uow.flush()
        photos = uow.collections.add(
            Collection(organisation_id=ours.id, slug="photos", title="Photographs")
        )
        films = uow.collections.add(Collection(organisation_id=ours.id, slug="films", title="F"))
        letters = uow.collections.add(
            Collection(organisation_id=theirs.id, slug="letters", title="Letters")
        )
        uow.flush()
        made = [
            uow.packages.add(Package(collection_id=cid, title=title, status="stored"))
            for cid, title in (
                (photos.id, "Harbour 1920"),
                (photos.id, "Harbour 1930"),
                (films.id, "Newsreel"),
                (letters.id, "Letter to the mayor"),
            )
        ]
        uow.commit()
        ids = [str(p.id) for p in made]
    people = {}
    for name, org, role, admin in (
        ("ann", "ours", "archivist", False),
        ("vic", "ours", "viewer", False),
        ("bob", "theirs", "archivist", False),
        ("root", None, None, True),
    ):
        made_user = accounts.create_user(
            app, name, password="correct horse battery", is_admin=admin,
            memberships={org: role} if org and role else {},
        )  # fmt: skip
        principal = accounts.principal_for(app, made_user.user_id)
        assert principal is not None
        people[name] = principal
    yield World(app, ids[:2], ids[2], ids[3], people)
    app.close()


def _place(w: World, who: str = "ann", **kw: Any) -> holds.HoldInfo:
    args: dict[str, Any] = {
        "kind": "legal",
        "title": "Court case 2026/17",
        "reason": "seized by order of the court",
    }
    args.update(kw)
    return holds.place(w.app, w.people[who], **args)


# ----------------------------------------------------------------------------- placing


def test_place_on_a_package_blocks_it_and_lifting_frees_it(world: World) -> None:
    w = world
    first, second = w.photos
    info = _place(w, packages=[first[:8]], mandate="Art. 6 Archiefdecreet")
    assert info.state == "active" and info.kind == "legal" and info.created_by == "ann"
    assert info.mandate == "Art. 6 Archiefdecreet"
    [target] = info.targets
    assert (target.type, target.package_id, target.collection, target.organisation) == (
        "package",
        first,
        "ours/photos",
        "ours",
    )
    assert target.active and target.package_title == "Harbour 1920"

    with pytest.raises(OnHold) as refused:
        w.guard(first)
    message = str(refused.value)
    assert f"package {first} is on hold: hold {info.id} (legal) 'Court case 2026/17'" in message
    assert message.endswith(
        f"until that hold is lifted: preserve holds lift {info.id} --reason ...)"
    )
    assert "\n" not in message
    w.guard(second)  # the other package of the collection is free
    assert w.held([first, second]) == {
        first: [holds.HoldRef(info.id, "legal", "Court case 2026/17", "package")]
    }

    lifted = holds.lift(w.app, w.people["ann"], info.id, reason="the case was dismissed")
    assert lifted.state == "lifted" and lifted.lifted_by == "ann"
    assert lifted.lift_reason == "the case was dismissed" and lifted.lifted_at is not None
    assert not lifted.targets[0].active
    w.guard(first)
    assert w.held([first]) == {}


def test_a_collection_hold_covers_its_packages_also_those_ingested_later(world: World) -> None:
    w = world
    info = _place(w, kind="audit", title="Annual audit", collections=["ours/photos"])
    assert [(t.type, t.collection, t.package_id) for t in info.targets] == [
        ("collection", "ours/photos", None)
    ]
    later = w.add_package("ours/photos", "Harbour 1940")
    for package_id in [*w.photos, later]:
        with pytest.raises(OnHold, match=rf"hold {info.id} \(audit\) 'Annual audit' on "
                           r"collection ours/photos"):  # fmt: skip
            w.guard(package_id)
    w.guard(w.film)  # another collection of the same organisation
    assert set(w.held([*w.photos, later, w.film])) == {*w.photos, later}
    assert [h.id for h in holds.list_holds(w.app, w.people["vic"], package=later)] == [info.id]


def test_several_holds_are_all_named(world: World) -> None:
    w = world
    one = _place(w, packages=[w.photos[0]])
    two = _place(w, kind="gdpr_request", title="Erasure request 12", collections=["ours/photos"])
    with pytest.raises(OnHold) as refused:
        w.guard(w.photos[0])
    text = str(refused.value)
    assert f"hold {one.id} (legal) 'Court case 2026/17'" in text
    assert f"hold {two.id} (gdpr_request) 'Erasure request 12' on collection ours/photos" in text
    assert text.endswith("those holds are lifted: preserve holds lift HOLD_ID --reason ...)")


def test_lifting_one_target_keeps_the_others(world: World) -> None:
    w = world
    first, second = w.photos
    info = _place(w, packages=[first, second], collections=["ours/films"])
    after = holds.lift(
        w.app, w.people["ann"], info.id, reason="not part of the case", package=second[:8]
    )
    assert after.state == "active"
    by_label = {t.label: t for t in after.targets}
    assert not by_label[f"package {second}"].active
    assert by_label[f"package {second}"].lift_reason == "not part of the case"
    assert by_label[f"package {first}"].active and by_label["collection ours/films"].active
    w.guard(second)
    with pytest.raises(OnHold):
        w.guard(first)
    with pytest.raises(OnHold):
        w.guard(w.film)

    after = holds.lift(w.app, w.people["ann"], info.id, reason="done", collection="ours/films")
    w.guard(w.film)
    assert after.state == "active"
    # the last active target lifts the hold
    after = holds.lift(w.app, w.people["ann"], info.id, reason="closed", package=first)
    assert after.state == "lifted" and after.lift_reason == "closed"
    w.guard(first)
    assert [h.id for h in holds.list_holds(w.app, None, state="lifted")] == [info.id]
    assert holds.list_holds(w.app, None) == []


def test_place_and_lift_record_premis_events_and_audit_entries(world: World) -> None:
    w = world
    info = _place(w, collections=["ours/photos"], packages=[w.film], channel="cli")
    holds.lift(w.app, w.people["ann"], info.id, reason="dismissed", channel="cli")
    with w.app.uow() as uow:
        events = uow.session.scalars(
            sa.select(Event).where(Event.event_type == "policy assignment").order_by(Event.id)
        ).all()
        by_package: dict[str, list[Event]] = {}
        for e in events:
            by_package.setdefault(str(e.package_id), []).append(e)
        assert set(by_package) == {*w.photos, w.film}
        for package_events in by_package.values():
            placed, lifted = sorted(package_events, key=lambda e: "lifted" in e.outcome_detail)
            assert placed.outcome_detail == f"hold {info.id} placed (legal): Court case 2026/17"
            assert "placed by ann: seized by order of the court" in placed.detail
            assert lifted.outcome_detail == (f"hold {info.id} (legal) 'Court case 2026/17' lifted")
            assert placed.outcome == lifted.outcome == "success"
            linked = uow.events.linked_agents(str(placed.package_id))[placed.id]
            assert {(a.name, role) for a, role in linked} == {
                ("ann", "implementer"),
                ("Our Museum", "owner"),
            }
        audit = uow.session.scalars(
            sa.select(AuditEntry).where(AuditEntry.object_type == "hold").order_by(AuditEntry.id)
        ).all()
        assert [(a.action, a.username, a.channel, a.object_id) for a in audit] == [
            ("hold.place", "ann", "cli", str(info.id)),
            ("hold.lift", "ann", "cli", str(info.id)),
        ]
        assert audit[0].detail["collections"] == ["ours/photos"]
        assert audit[0].detail["packages"] == [w.film]
        assert audit[0].detail["reason"] == "seized by order of the court"
        assert audit[1].detail["reason"] == "dismissed"


# ----------------------------------------------------------------------------- listing


def test_list_filters_and_visibility(world: World) -> None:
    w = world
    ours = _place(w, packages=[w.photos[0]])
    theirs = _place(w, "bob", kind="dispute", title="Ownership", packages=[w.letter])
    both = _place(w, "root", kind="other", title="Both", packages=[w.film, w.letter])
    lifted = _place(w, collections=["ours/films"])
    holds.lift(w.app, w.people["ann"], lifted.id, reason="over")

    def ids(who: str | None, **kw: Any) -> list[int]:
        principal = w.people[who] if who else None
        return [h.id for h in holds.list_holds(w.app, principal, **kw)]

    assert ids(None) == [both.id, theirs.id, ours.id]  # newest first, active only
    assert ids(None, state="all") == [lifted.id, both.id, theirs.id, ours.id]
    assert ids(None, state="lifted") == [lifted.id]
    assert ids("vic") == [both.id, ours.id]
    assert ids("bob") == [both.id, theirs.id]
    assert ids("vic", package=w.film, state="all") == [lifted.id, both.id]
    assert ids("vic", collection="ours/photos") == [ours.id]
    assert ids("root", organisation="theirs") == [both.id, theirs.id]
    # the other organisation's target is not shown, only counted
    [seen] = [h for h in holds.list_holds(w.app, w.people["vic"]) if h.id == both.id]
    assert [t.package_id for t in seen.targets] == [w.film] and seen.hidden_targets == 1
    assert holds.show(w.app, w.people["bob"], both.id).targets[0].package_id == w.letter
    with pytest.raises(NotFound, match=f"no hold {theirs.id}"):
        holds.show(w.app, w.people["vic"], theirs.id)
    with pytest.raises(NotFound, match=f"no package '{w.letter}'"):
        holds.list_holds(w.app, w.people["vic"], package=w.letter)
    with pytest.raises(NotFound, match="no collection 'theirs/letters'"):
        holds.list_holds(w.app, w.people["vic"], collection="theirs/letters")
    with pytest.raises(NotFound, match="no organisation 'theirs'"):
        holds.list_holds(w.app, w.people["vic"], organisation="theirs")
    with pytest.raises(InvalidInput, match="unknown state 'open'"):
        holds.list_holds(w.app, None, state="open")
    with pytest.raises(NotFound, match="no hold 999"):
        holds.show(w.app, None, 999)


# ----------------------------------------------------------------------------- refusals


def test_permissions(world: World) -> None:
    w = world
    with pytest.raises(PermissionDenied, match="you need the archivist role"):
        _place(w, "vic", packages=[w.photos[0]])
    # another organisation's package: the same message as one that does not exist
    with pytest.raises(NotFound, match=rf"^no package '{w.letter}' that you may see$"):
        _place(w, "ann", packages=[w.letter])
    with pytest.raises(NotFound, match=r"^no package '0000dead' that you may see$"):
        _place(w, "ann", packages=["0000dead"])
    with pytest.raises(NotFound, match=f"no package '{w.letter[:8]}'"):
        _place(w, "ann", packages=[w.letter[:8]])
    with pytest.raises(NotFound, match="no collection 'theirs/letters'"):
        _place(w, "ann", collections=["theirs/letters"])
    info = _place(w, "ann", packages=[w.photos[0]])
    with pytest.raises(PermissionDenied, match="you need the archivist role"):
        holds.lift(w.app, w.people["vic"], info.id, reason="x")
    with pytest.raises(NotFound, match=f"no hold {info.id}"):
        holds.lift(w.app, w.people["bob"], info.id, reason="x")
    # a hold over two organisations: each lifts its own target; nobody lifts the other's
    both = _place(w, "root", packages=[w.photos[1], w.letter])
    with pytest.raises(PermissionDenied, match="lift its targets one by one"):
        holds.lift(w.app, w.people["ann"], both.id, reason="x")
    with pytest.raises(NotFound, match=f"no package '{w.letter}'"):
        holds.lift(w.app, w.people["ann"], both.id, reason="x", package=w.letter)
    after = holds.lift(w.app, w.people["bob"], both.id, reason="ours is free", package=w.letter)
    assert after.state == "active" and [t.active for t in after.targets] == [False]
    assert after.hidden_targets == 1
    w.guard(w.letter)
    after = holds.lift(w.app, w.people["ann"], both.id, reason="ours too")
    assert after.state == "lifted"
    # a repository admin acts everywhere
    every = _place(w, "root", packages=[w.letter], collections=["ours/films"])
    assert holds.lift(w.app, w.people["root"], every.id, reason="over").state == "lifted"


@pytest.mark.parametrize(
    ("changes", "error", "message"),
    [
        ({"kind": "court"}, InvalidInput, "unknown kind of hold 'court': one of legal, dispute"),
        ({"kind": "gdpr"}, InvalidInput, r"'gdpr'.*; did you mean 'gdpr_request'\?"),
        ({"kind": "legl"}, InvalidInput, r"; did you mean 'legal'\?"),
        ({"title": "  "}, InvalidInput, r"the title \(--title\) is empty"),
        ({"title": "a\nb"}, InvalidInput, "must be one line"),
        ({"title": "x" * 256}, InvalidInput, "is 256 characters; at most 255"),
        ({"reason": ""}, InvalidInput, r"a reason \(--reason\) is required"),
        ({"packages": []}, InvalidInput, "a hold needs at least one package"),
        ({"packages": ["0000dead"]}, NotFound, "no package '0000dead'"),
        ({"packages": ["ab"]}, NotFound, "no package 'ab' .*at least 4 hex digits"),
        ({"packages": [], "collections": ["ours/none"]}, NotFound, "no collection 'ours/none'"),
        ({"packages": [], "collections": ["photos"]}, InvalidInput, "is not ORG/SLUG"),
        (
            {"packages": [], "collections": ["ours/photso"]},
            NotFound,
            r"no collection 'ours/photso'; did you mean 'ours/photos'\?",
        ),
        ({"packages": [" "]}, InvalidInput, "an empty package id"),
    ],
)
def test_bad_input_to_place(
    world: World, changes: dict[str, Any], error: type, message: str
) -> None:
    args: dict[str, Any] = {"packages": [world.photos[0]]}
    args.update(changes)
    with pytest.raises(error, match=message):
        _place(world, "ann", **args)
    with world.app.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(Hold)) == 0


def test_a_misspelt_collection_is_suggested_only_among_those_the_person_sees(
    world: World,
) -> None:
    """ "did you mean" never names a collection of an organisation the person may not see (the
    message reaches the web too); the operator (no principal) is offered every collection."""
    for text in ("theirs/leters", "theirs/letters"):
        with pytest.raises(NotFound) as refused:
            holds.list_holds(world.app, world.people["ann"], collection=text)
        assert "letters'?" not in str(refused.value)
        assert "(the collections: ours/films, ours/photos)" in str(refused.value)
    with pytest.raises(NotFound, match=r"did you mean 'theirs/letters'\?"):
        holds.list_holds(world.app, None, collection="theirs/leters")


def test_bad_input_to_lift(world: World) -> None:
    w = world
    info = _place(w, packages=[w.photos[0]])
    with pytest.raises(InvalidInput, match=r"a reason \(--reason\) is required"):
        holds.lift(w.app, w.people["ann"], info.id, reason=" ")
    with pytest.raises(NotFound, match="no hold 404"):
        holds.lift(w.app, w.people["ann"], 404, reason="x")
    with pytest.raises(NotFound, match=f"hold {info.id} is not on package {w.photos[1]}"):
        holds.lift(w.app, w.people["ann"], info.id, reason="x", package=w.photos[1])
    with pytest.raises(NotFound, match=f"hold {info.id} is not on collection ours/films"):
        holds.lift(w.app, w.people["ann"], info.id, reason="x", collection="ours/films")
    with pytest.raises(InvalidInput, match="not both"):
        holds.lift(
            w.app, w.people["ann"], info.id, reason="x", package=w.film, collection="ours/films"
        )
    holds.lift(w.app, w.people["ann"], info.id, reason="over")
    with pytest.raises(InvalidInput, match=f"hold {info.id} was already lifted on .* by ann"):
        holds.lift(w.app, w.people["ann"], info.id, reason="again")
    two = _place(w, packages=[w.photos[0], w.photos[1]])
    holds.lift(w.app, w.people["ann"], two.id, reason="x", package=w.photos[0])
    with pytest.raises(InvalidInput, match=f"already lifted from package {w.photos[0]}"):
        holds.lift(w.app, w.people["ann"], two.id, reason="x", package=w.photos[0])


def test_a_shared_prefix_counts_only_what_the_person_may_see(world: World) -> None:
    """Two packages of two organisations whose ids share 8 characters: for ann the prefix
    names hers alone (the other is neither used nor named); for a repository admin it names
    both, and is refused as ambiguous."""
    w = world
    ours, theirs = (f"abcdef01-0000-4000-8000-00000000000{i}" for i in (1, 2))
    with w.app.uow() as uow:
        for package_id, org, slug in ((ours, "ours", "photos"), (theirs, "theirs", "letters")):
            c = uow.collections.get(org, slug)
            assert c is not None
            uow.packages.add(Package(id=package_id, collection_id=c.id, title="t", status="stored"))
        uow.commit()
    info = _place(w, "ann", packages=["abcdef01", ours])  # the same package twice: one target
    assert [t.package_id for t in info.targets] == [ours]
    with pytest.raises(InvalidInput, match="names more than one package") as ambiguous:
        _place(w, "root", packages=["abcdef01"])
    assert ours in str(ambiguous.value) and theirs in str(ambiguous.value)
    assert [h.id for h in holds.list_holds(w.app, w.people["vic"], package="abcdef01")] == [info.id]
    assert holds.list_holds(w.app, w.people["bob"], package="abcdef01") == []  # theirs
    with pytest.raises(NotFound, match=r"^no package 'abcdef02' that you may see$"):
        holds.list_holds(w.app, w.people["bob"], package="abcdef02")


def test_guard_of_an_unknown_package(world: World) -> None:
    with pytest.raises(NotFound, match="no package 'nope'"):
        world.guard("nope")
    with world.app.uow() as uow:
        with pytest.raises(NotFound, match="no package 'nope'"):
            holds.require_no_holds(uow.session, [world.film, "nope"])
        holds.require_no_holds(uow.session, [])


def test_the_guard_of_several_packages_names_those_on_hold(world: World) -> None:
    w = world
    extra = [w.add_package("ours/films", f"Reel {i}") for i in range(6)]
    films = _place(w, kind="audit", title="Audit", collections=["ours/films"])
    with w.app.uow() as uow:
        holds.require_no_holds(uow.session, [*w.photos, w.letter])  # none on hold
    with w.app.uow() as uow, pytest.raises(OnHold) as refused:
        holds.require_no_holds(uow.session, [*w.photos, w.film, *extra])
    text = str(refused.value)
    first = sorted([w.film, *extra])[0]
    assert text.startswith(
        f"7 packages are on hold: package {first}: hold {films.id} (audit) 'Audit' on "
        "collection ours/films; package "
    )
    assert text.endswith(
        f"; and 2 more (they cannot be disposed of or deleted until that hold is lifted: "
        f"preserve holds lift {films.id} --reason ...)"
    )
    assert not any(p in text for p in w.photos)
    legal = _place(w, packages=[w.photos[0]])
    with w.app.uow() as uow, pytest.raises(OnHold) as refused:
        holds.require_no_holds(uow.session, [w.photos[0], w.film])
    assert str(refused.value).endswith(
        "until those holds are lifted: preserve holds lift HOLD_ID --reason ...)"
    )
    assert f"hold {legal.id} (legal)" in str(refused.value)


def test_principal_for_cli(world: World) -> None:
    assert holds.principal_for_cli(world.app, " Ann ").username == "ann"
    with pytest.raises(NotFound, match="no user 'x'"):
        holds.principal_for_cli(world.app, "x")
    with pytest.raises(NotFound, match="no user 'bad name!'"):
        holds.principal_for_cli(world.app, "bad name!")
    with pytest.raises(InvalidInput, match="--as names nobody"):
        holds.principal_for_cli(world.app, "  ")
    accounts.set_active(world.app, None, world.people["vic"].user_id, False)
    with pytest.raises(PermissionDenied, match="user 'vic' is deactivated"):
        holds.principal_for_cli(world.app, "vic")


# ----------------------------------------------------------------------------- concurrency


def _in_thread(work: Callable[[], Any]) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = work()
        except Exception as error:
            out["error"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def _delete_after_guard(
    w: World, package_id: str | list[str], guarded: threading.Event, go: threading.Event
) -> None:
    """A disposal: the guard, then (once told to go) the deletion, in one transaction."""
    ids = [package_id] if isinstance(package_id, str) else package_id
    with w.app.uow() as uow:
        if len(ids) == 1:
            holds.require_no_hold(uow.session, ids[0])
        else:
            holds.require_no_holds(uow.session, ids)
        guarded.set()
        assert go.wait(30)
        uow.session.execute(sa.delete(Package).where(Package.id.in_(ids)))
        uow.commit()


@pytest.mark.parametrize("target", ["package", "collection"])
def test_a_deletion_that_checked_first_makes_a_hold_wait(world: World, target: str) -> None:
    """Disposal first: the guard's locks make a hold placed meanwhile wait until the deletion
    has committed; a hold on the package then finds it gone, one on its collection is placed
    (over the packages left)."""
    w = world
    doomed = w.photos[0]
    guarded, go = threading.Event(), threading.Event()
    disposal, disposal_out = _in_thread(lambda: _delete_after_guard(w, doomed, guarded, go))
    assert guarded.wait(30)
    args: dict[str, Any] = (
        {"packages": [doomed]} if target == "package" else {"collections": ["ours/photos"]}
    )
    hold, hold_out = _in_thread(lambda: _place(w, **args))
    hold.join(1.0)
    assert hold.is_alive(), "the hold did not wait for the deletion's locks"
    go.set()
    disposal.join(30)
    hold.join(30)
    assert "error" not in disposal_out, disposal_out
    if target == "package":
        assert isinstance(hold_out.get("error"), NotFound), hold_out
    else:
        assert "error" not in hold_out, hold_out
        with pytest.raises(OnHold):
            w.guard(w.photos[1])
    with w.app.uow() as uow:
        assert uow.packages.get(doomed) is None
        left = sa.select(sa.func.count()).select_from(HoldTarget)
        assert uow.session.scalar(left.where(HoldTarget.package_id == doomed)) == 0


@pytest.mark.parametrize("target", ["package", "collection"])
def test_a_hold_placed_first_makes_a_deletion_wait_and_refuse(
    world: World, target: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hold first: while its transaction is open (paused after its rows are written), a
    disposal's guard waits; once the hold commits the guard sees it and refuses."""
    w = world
    doomed = w.photos[0]
    written, go = threading.Event(), threading.Event()
    record = holds._record

    def paused(*args: Any, **kw: Any) -> Any:
        out = record(*args, **kw)
        written.set()
        assert go.wait(30)
        return out

    monkeypatch.setattr(holds, "_record", paused)
    args: dict[str, Any] = (
        {"packages": [doomed]} if target == "package" else {"collections": ["ours/photos"]}
    )
    hold, hold_out = _in_thread(lambda: _place(w, **args))
    assert written.wait(30)
    deleted = threading.Event()
    disposal, disposal_out = _in_thread(lambda: _delete_after_guard(w, doomed, deleted, deleted))
    disposal.join(1.0)
    assert disposal.is_alive(), "the deletion's guard did not wait for the hold"
    go.set()
    hold.join(30)
    disposal.join(30)
    assert "error" not in hold_out, hold_out
    assert isinstance(disposal_out.get("error"), OnHold), disposal_out
    with w.app.uow() as uow:
        assert uow.packages.get(doomed) is not None


def test_a_hold_and_a_disposal_of_several_packages_do_not_deadlock(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A hold on a collection and a package of another collection, paused before it commits;
    a disposal of a package of each: the disposal locks every collection before any package,
    waits, and refuses once the hold is committed (no deadlock, whatever the order of ids)."""
    w = world
    doomed = [w.photos[0], w.film]
    written, go = threading.Event(), threading.Event()
    record = holds._record

    def paused(*args: Any, **kw: Any) -> Any:
        out = record(*args, **kw)
        written.set()
        assert go.wait(30)
        return out

    monkeypatch.setattr(holds, "_record", paused)
    hold, hold_out = _in_thread(
        lambda: _place(w, collections=["ours/films"], packages=[w.photos[0]])
    )
    assert written.wait(30)
    checked = threading.Event()
    disposal, disposal_out = _in_thread(lambda: _delete_after_guard(w, doomed, checked, checked))
    disposal.join(1.0)
    assert disposal.is_alive(), "the deletion's guard did not wait for the hold"
    go.set()
    hold.join(30)
    disposal.join(30)
    assert "error" not in hold_out, hold_out
    assert isinstance(disposal_out.get("error"), OnHold), disposal_out
    assert str(disposal_out["error"]).startswith("2 packages are on hold")
