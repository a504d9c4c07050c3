"""The exit of an agreement (issue 12, retention-agreements.md 5.1 E13): everything in scope is
exported as valid bags with the agreement's documents, the receiving party confirms the
checksums (a wrong receipt is refused, nothing recorded), only then does the post-exit action
run, and the agreement cannot be closed before. SQLite and PostgreSQL; one exit from S3."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve import premis
from preserve.bagit import validate_bag
from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.exits import AgreementExit
from preserve.catalogue.models import Event, Membership, Organisation, User
from preserve.errors import Conflict, InvalidInput, NotFound, OnHold, PermissionDenied
from preserve.ingest import ingest
from preserve.services import admin, disposal, exits, holds
from preserve.services import agreements as service
from tests.agreement_setup import T0, add_people, person, spec, walk_to_active

REF = "ENF-2026-001"
EXITING = T0 + timedelta(days=91)


@dataclass
class World:
    app: Application
    packages: list[str]
    tmp: Path

    def receipt(self, folder: Path) -> str:
        """What the receiver sends back: sha256sum of the exit manifest's items."""
        done = subprocess.run(
            "sha256sum bags/*/tagmanifest-sha256.txt documents/*/*",
            shell=True,
            cwd=folder,
            capture_output=True,
            text=True,
            check=True,
        )
        return done.stdout


def _world(tmp_path: Path, database_url: str, exit_terms: dict[str, Any], url: str = "") -> World:
    app = bootstrap(
        Settings.from_env(
            {"PRESERVE_HOME": str(tmp_path / "home"), "PRESERVE_DATABASE_URL": database_url}
        ),
        actor="archivist",
    )
    admin.initialise(app)
    add_people(app)
    with app.uow() as uow:  # a second archivist of the museum, to approve what mia proposes
        museum = uow.session.scalar(sa.select(Organisation.id).where(Organisation.slug == "museum"))
        max_ = User(username="max", display_name="Max")
        uow.session.add(max_)
        uow.session.flush()
        uow.session.add(Membership(user_id=max_.id, organisation_id=museum, role="archivist"))
        uow.commit()
    locations: tuple[str, ...] = ("default",)
    if url:
        admin.add_location(app, "s3", url)
        locations = ("s3",)
    admin.add_collection(app, "photos", organisation="museum", locations=locations)
    ids = []
    for name in ("one", "two"):
        delivery = tmp_path / name
        delivery.mkdir()
        (delivery / f"{name}.bin").write_bytes(os.urandom(5_000))
        (delivery / "notes.txt").write_text(f"notes of {name}\n")
        report = ingest(app, [delivery], collection="photos", organisation="museum")
        assert not report.failures, report.failures
        ids.append(report.results[0].package_id)
    mia = person(app, "mia")
    draft = service.create_draft(app, mia, spec(exit=exit_terms), now=T0)
    text = tmp_path / "agreement.txt"
    text.write_text("The agreement's main text.\n")
    service.attach_document(app, mia, REF, text, kind="main_text", now=T0)
    walk_to_active(app, draft.label.replace(" v", "/v"))
    service.give_notice(app, mia, REF, "museum", "the museum merges", now=T0)
    service.start_exit(app, person(app, "cas"), REF, now=EXITING)
    return World(app, ids, tmp_path)


def _terms(action: str, **more: Any) -> dict[str, Any]:
    return {
        "recipient": "museum",
        "package_format": "bagit_premis",
        "deadline_days": 90,
        "post_exit_action": action,
        **more,
    }


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    w = _world(tmp_path, database_url, _terms("transfer"))
    yield w
    w.app.close()


def _exports(app: Application) -> list[AgreementExit]:
    with app.uow() as uow:
        rows = list(uow.session.scalars(sa.select(AgreementExit).order_by(AgreementExit.id)))
        uow.session.expunge_all()
    return rows


def test_exit_exports_valid_bags_and_waits_for_the_confirmation(world: World) -> None:
    w = world
    cas, mia = person(w.app, "cas"), person(w.app, "mia")
    with pytest.raises(Conflict, match="2 packages in its scope were not exported"):
        service.close(w.app, cas, REF, "returned", now=EXITING)
    with pytest.raises(PermissionDenied, match="custodian"):
        exits.export(w.app, mia, REF, w.tmp / "by-mia")
    assert not (w.tmp / "by-mia").exists()

    out = w.tmp / "exit" / REF
    info = exits.export(w.app, cas, REF, out)
    assert (info.packages, info.documents) == (2, 1)
    # every package is a valid bag with its PREMIS metadata
    for pid in w.packages:
        bag = out / "bags" / pid
        report = validate_bag(bag)
        assert report.valid, report.errors
        assert (bag / "metadata" / "premis.xml").is_file()
    assert (out / "documents" / "v1" / "agreement.txt").read_text() == (
        "The agreement's main text.\n"
    )
    # the receiver checks everything with a standard tool
    checked = subprocess.run(
        ["sha256sum", "-c", "--quiet", "manifest-sha256.txt"], cwd=out, capture_output=True
    )
    assert checked.returncode == 0, checked.stdout
    listed = (out / "manifest-sha256.txt").read_text().splitlines()
    assert len(listed) == info.files
    lines = [
        line.split("\t")
        for line in (out / "exit-manifest.tsv").read_text().splitlines()
        if not line.startswith("#")
    ]
    assert sorted(line[1] for line in lines if line[0] == "bag") == sorted(w.packages)
    assert [line[0] for line in lines].count("document") == 1
    # recorded, with an exporting event per package, but not confirmed
    [row] = _exports(w.app)
    assert (row.exported_by, row.packages, row.post_exit_state) == ("cas", 2, "waiting")
    with w.app.uow() as uow:
        kinds = uow.session.scalars(
            sa.select(Event.package_id).where(Event.event_type == premis.EXPORTING)
        ).all()
    assert sorted(kinds) == sorted(w.packages)
    with pytest.raises(Conflict, match="has not confirmed the checksums of export"):
        service.close(w.app, cas, REF, "returned", now=EXITING)

    # only the receiving party confirms
    receipt = w.receipt(out)
    with pytest.raises(PermissionDenied, match="exit terms name museum, not archive"):
        exits.confirm(w.app, cas, REF, receipt, "archive")
    with pytest.raises(PermissionDenied, match="may not confirm the exit for museum"):
        exits.confirm(w.app, cas, REF, receipt, "museum")
    with pytest.raises(PermissionDenied, match="vera is a viewer in museum"):
        exits.confirm(w.app, person(w.app, "vera"), REF, receipt, "museum")
    assert _exports(w.app)[0].confirmed_at is None

    done = exits.confirm(w.app, mia, REF, receipt, "museum")
    assert (done.confirmed_by, done.confirmed_party) == ("mia", "museum")
    assert (done.post_exit_state, done.post_exit_detail) == (
        "done",
        "2 packages transferred to museum",
    )
    with w.app.uow() as uow:
        moved = uow.session.scalars(
            sa.select(Event.package_id).where(Event.event_type == premis.TRANSFER)
        ).all()
    assert sorted(moved) == sorted(w.packages)
    # confirmed once; no second export
    with pytest.raises(Conflict, match="was confirmed already"):
        exits.confirm(w.app, mia, REF, receipt, "museum")
    with pytest.raises(Conflict, match="was confirmed already"):
        exits.export(w.app, cas, REF, w.tmp / "again")
    status = exits.status(w.app, None, REF)
    assert status.close_refusal is None and status.deadline == EXITING.date() + timedelta(90)
    closed = service.close(w.app, cas, REF, "bags returned, checksums confirmed", now=EXITING)
    assert closed.state == "closed"


def test_a_wrong_receipt_is_refused_and_nothing_recorded(world: World) -> None:
    w = world
    cas, mia = person(w.app, "cas"), person(w.app, "mia")
    out = w.tmp / "exit"
    exits.export(w.app, cas, REF, out)
    good = w.receipt(out).splitlines()
    first, second = good[0].split("  ", 1), good[1].split("  ", 1)
    wrong = "0" * 64
    receipt = "\n".join(
        [f"{wrong}  {first[1]}", *good[2:], f"{'1' * 64}  bags/elsewhere/file.txt", ""]
    )
    with pytest.raises(Conflict) as refused:
        exits.confirm(w.app, mia, REF, receipt, "museum")
    problems = {p.path: p.problem for p in refused.value.receipt_problems}  # type: ignore[attr-defined]
    assert problems == {
        first[1]: "mismatch",
        second[1]: "missing",
        "bags/elsewhere/file.txt": "unknown",
    }
    message = str(refused.value)
    assert f"{first[1]}: receipt says {wrong}, exported {first[0]}" in message
    assert f"{second[1]}: not in the receipt" in message
    assert "nothing was recorded" in message
    [row] = _exports(w.app)
    assert row.confirmed_at is None and row.post_exit_state == "waiting"
    with pytest.raises(Conflict, match="has not confirmed"):
        service.close(w.app, cas, REF, "returned", now=EXITING)
    # lines that are not sha256sum lines are bad input naming the line
    with pytest.raises(InvalidInput, match="receipt line 2"):
        exits.confirm(w.app, mia, REF, good[0] + "\nnot a checksum line\n", "museum")
    with pytest.raises(InvalidInput, match="lists no checksum"):
        exits.confirm(w.app, mia, REF, "\n# nothing\n", "museum")


def test_export_refusals(world: World, tmp_path: Path) -> None:
    w = world
    cas = person(w.app, "cas")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    with pytest.raises(InvalidInput, match="already exists and is not an empty folder"):
        exits.export(w.app, cas, REF, busy)
    with pytest.raises(NotFound):
        exits.export(w.app, cas, "NOPE-1", tmp_path / "nope")
    with pytest.raises(NotFound):  # no export to confirm for an unknown agreement either
        exits.confirm(w.app, person(w.app, "mia"), "NOPE-1", "0" * 64 + "  x\n", "museum")
    with pytest.raises(Conflict, match="nothing was exported"):
        exits.confirm(w.app, person(w.app, "mia"), REF, "0" * 64 + "  x\n", "museum")
    assert _exports(w.app) == []


def test_delete_with_certificate_waits_for_the_disposal(tmp_path: Path, database_url: str) -> None:
    w = _world(tmp_path, database_url, _terms("delete_with_certificate"))
    try:
        cas, mia = person(w.app, "cas"), person(w.app, "mia")
        out = tmp_path / "exit"
        exits.export(w.app, cas, REF, out)
        done = exits.confirm(w.app, mia, REF, w.receipt(out), "museum")
        assert done.post_exit_state == "pending"
        # proposed by the custodian's person who exported (custodian staff see the packages
        # they keep); then a person of the owner and another of the custodian approve
        [request] = disposal.list_requests(w.app, None)
        assert (request.kind, request.requested_by) == ("exit", "cas")
        assert done.post_exit_detail == f"disposal {request.id} pending"
        with pytest.raises(Conflict, match=r"post-exit action \(delete_with_certificate\)"):
            service.close(w.app, cas, REF, "deleted", now=EXITING)
        disposal.approve(w.app, person(w.app, "max"), request.id, "museum")
        disposal.approve(w.app, person(w.app, "root"), request.id, "archive")
        with pytest.raises(Conflict, match=r"is not done: disposal \d+ approved"):
            service.close(w.app, cas, REF, "deleted", now=EXITING)
        disposal.execute(w.app, cas, request.id)
        st = exits.status(w.app, None, REF)
        assert st.exports[0].post_exit_state == "done"
        assert st.exports[0].post_exit_detail.startswith(
            f"deleted with certificate: disposal {request.id} (declaration sha256 "
        )
        assert service.close(w.app, cas, REF, "deleted, declaration", now=EXITING).state == "closed"
    finally:
        w.app.close()


def _in_disposals(app: Application) -> dict[str, list[int]]:
    """Every package in a disposal request (of any kind and state): package id -> requests,
    newest first."""
    found: dict[str, list[int]] = {}
    for r in disposal.list_requests(app, None):
        for item in r.items:
            found.setdefault(item.package_id, []).append(r.id)
    return found


def test_a_held_package_is_left_out_and_the_others_proposed(
    tmp_path: Path, database_url: str
) -> None:
    w = _world(tmp_path, database_url, _terms("delete_with_certificate"))
    try:
        cas, mia = person(w.app, "cas"), person(w.app, "mia")
        held, free = w.packages
        hold = holds.place(
            w.app,
            mia,
            kind="legal",
            title="Court case 2026/17",
            reason="seized by order of the court",
            packages=[held],
        )
        out = tmp_path / "exit"
        exits.export(w.app, cas, REF, out)
        done = exits.confirm(w.app, mia, REF, w.receipt(out), "museum")
        # the free package is proposed in one disposal; the held one is left out, named
        [first] = disposal.list_requests(w.app, None)
        assert (first.kind, [i.package_id for i in first.items]) == ("exit", [free])
        named = f"package {held} not proposed: on hold: hold {hold.id} (legal) 'Court case 2026/17'"
        dispose = f"preserve exit dispose {REF} --as USER"
        assert done.post_exit_state == "pending"
        assert done.post_exit_detail == (
            f"disposal {first.id} pending; {named}; once nothing blocks it: {dispose}"
        )
        assert exits.status(w.app, None, REF).exports[0].post_exit_detail == done.post_exit_detail
        # while it is held, exit dispose proposes nothing, and says why
        lift = (
            f'once hold {hold.id} is lifted (preserve holds lift {hold.id} --reason "..." '
            f"--as USER), then: {dispose}"
        )
        with pytest.raises(Conflict, match="nothing was proposed .*" + re.escape(named)) as err:
            exits.propose_disposal(w.app, cas, REF)
        assert str(err.value).endswith(f"{named}; {lift}")
        assert held not in _in_disposals(w.app)
        # the first disposal runs; the exit is not done while the held package is kept
        disposal.approve(w.app, person(w.app, "max"), first.id, "museum")
        disposal.approve(w.app, person(w.app, "root"), first.id, "archive")
        disposal.execute(w.app, cas, first.id)
        st = exits.status(w.app, None, REF)
        assert st.exports[0].post_exit_state == "pending"
        assert st.exports[0].post_exit_detail == (
            f"disposal {first.id} executed; {named}; once nothing blocks it: {dispose}"
        )
        with pytest.raises(Conflict, match=f"is not done: disposal {first.id} executed; "):
            service.close(w.app, cas, REF, "deleted", now=EXITING)
        assert held not in _in_disposals(w.app)

        # the hold is lifted: the status says so, and exit dispose proposes the rest
        holds.lift(w.app, mia, hold.id, reason="the case was dismissed")
        st = exits.status(w.app, None, REF)
        assert st.exports[0].post_exit_detail == (
            f"disposal {first.id} executed; 1 package not proposed yet: {dispose}"
        )
        again = exits.propose_disposal(w.app, cas, REF)
        [second] = _in_disposals(w.app)[held]
        assert second != first.id
        assert again.proposed == ((second, (held,)),)
        assert again.export.post_exit_detail == f"disposal {first.id} executed, {second} pending"
        # nothing left to propose: this run proposes nothing and says what is in a disposal
        nothing = exits.propose_disposal(w.app, cas, REF)
        assert (nothing.proposed, nothing.exported, nothing.in_disposal_before) == ((), 2, 2)
        assert nothing.disposals_before == (first.id, second)
        assert nothing.export.post_exit_detail == again.export.post_exit_detail
        disposal.approve(w.app, person(w.app, "max"), second, "museum")
        disposal.approve(w.app, person(w.app, "root"), second, "archive")
        disposal.execute(w.app, cas, second)
        st = exits.status(w.app, None, REF)
        assert st.exports[0].post_exit_state == "done"
        assert st.exports[0].post_exit_detail.startswith(
            f"deleted with certificate: disposal {first.id} (declaration sha256 "
        )
        assert f"disposal {second} (declaration sha256 " in st.exports[0].post_exit_detail
        assert service.close(w.app, cas, REF, "deleted, declarations", now=EXITING).state == (
            "closed"
        )
    finally:
        w.app.close()


def test_a_package_in_another_disposal_is_left_out(tmp_path: Path, database_url: str) -> None:
    w = _world(tmp_path, database_url, _terms("delete_with_certificate"))
    try:
        cas, mia = person(w.app, "cas"), person(w.app, "mia")
        busy, free = w.packages
        other = disposal.propose(w.app, mia, [busy], reason="a duplicate")
        out = tmp_path / "exit"
        exits.export(w.app, cas, REF, out)
        done = exits.confirm(w.app, mia, REF, w.receipt(out), "museum")
        exit_requests = [r for r in disposal.list_requests(w.app, None) if r.kind == "exit"]
        assert [[i.package_id for i in r.items] for r in exit_requests] == [[free]]
        assert (
            f"package {busy} not proposed: already in disposal {other.id}" in done.post_exit_detail
        )
        # exit dispose refuses a person who may not propose it (not a line in the detail)
        with pytest.raises(PermissionDenied):
            exits.propose_disposal(w.app, person(w.app, "vera"), REF)
        # the other disposal is rejected: exit dispose proposes the package
        disposal.reject(w.app, person(w.app, "max"), other.id, "museum", "not a duplicate")
        again = exits.propose_disposal(w.app, cas, REF)
        assert [pids for _rid, pids in again.proposed] == [(busy,)]
        assert "not proposed" not in again.export.post_exit_detail
        exit_requests = [r for r in disposal.list_requests(w.app, None) if r.kind == "exit"]
        assert [[i.package_id for i in r.items] for r in exit_requests] == [[busy], [free]]
        # nothing left to propose: exit dispose changes nothing, and says so
        assert exits.propose_disposal(w.app, cas, REF).proposed == ()
        assert len([r for r in disposal.list_requests(w.app, None) if r.kind == "exit"]) == 2
    finally:
        w.app.close()


def test_propose_still_refuses_a_list_with_a_held_package(
    tmp_path: Path, database_url: str
) -> None:
    """disposal.propose is unchanged: one held package refuses the whole list (OnHold);
    propose_what_can leaves it out, and a person who may not propose is refused whole."""
    w = _world(tmp_path, database_url, _terms("delete_with_certificate"))
    try:
        mia = person(w.app, "mia")
        held, free = w.packages
        hold = holds.place(w.app, mia, kind="audit", title="Audit", reason="r", packages=[held])
        with pytest.raises(OnHold, match=f"package {held} is on hold: hold {hold.id}"):
            disposal.propose(w.app, mia, w.packages, reason="gone")
        with w.app.uow() as uow:
            found = disposal.blocked(uow.session, w.packages)
        assert list(found) == [held]
        assert (found[held].request_id, [r.hold_id for r in found[held].on_hold]) == (
            None,
            [hold.id],
        )
        with pytest.raises(PermissionDenied):
            disposal.propose_what_can(w.app, person(w.app, "vera"), w.packages, reason="gone")
        assert disposal.list_requests(w.app, None) == []
        made = disposal.propose_what_can(w.app, mia, w.packages, reason="gone")
        assert made.request is not None
        assert [i.package_id for i in made.request.items] == [free]
        assert list(made.left_out) == [held]
        assert made.left_out[held].startswith(f"on hold: hold {hold.id} (audit) 'Audit'")
        # everything left out: no request
        again = disposal.propose_what_can(w.app, mia, w.packages, reason="gone")
        assert again.request is None
        assert again.left_out[free] == f"already in disposal {made.request.id}"
        assert again.left_out[held].startswith("on hold: ")
        assert len(disposal.list_requests(w.app, None)) == 1
    finally:
        w.app.close()


def test_retain_until_records_the_date(tmp_path: Path, database_url: str) -> None:
    kept = date(2036, 12, 31)
    w = _world(tmp_path, database_url, _terms("retain_until", retain_until=kept.isoformat()))
    try:
        cas, mia = person(w.app, "cas"), person(w.app, "mia")
        out = tmp_path / "exit"
        exits.export(w.app, cas, REF, out)
        done = exits.confirm(w.app, mia, REF, w.receipt(out), "museum")
        assert (done.post_exit_state, done.retain_until) == ("done", kept)
        assert service.close(w.app, cas, REF, "kept until 2036", now=EXITING).state == "closed"
    finally:
        w.app.close()


def test_exit_from_s3(tmp_path: Path, s3_bucket_url: str) -> None:
    w = _world(
        tmp_path, f"sqlite:///{tmp_path / 'catalogue.db'}", _terms("transfer"), s3_bucket_url
    )
    try:
        out = tmp_path / "exit"
        info = exits.export(w.app, person(w.app, "cas"), REF, out)
        assert info.packages == 2
        for pid in w.packages:
            assert validate_bag(out / "bags" / pid).valid
        done = exits.confirm(w.app, person(w.app, "mia"), REF, w.receipt(out), "museum")
        assert done.post_exit_state == "done"
    finally:
        w.app.close()
