"""Disposal (issue 12; retention-agreements.md 4.2-4.4, 5.1 E11/E12, 5.2): proposals of due
packages and ad-hoc deletions, approvals per party and their guards, rejection, execution
with its re-checks (holds, the agreement, rights), the soft deletion on local folders and S3,
the tombstone, PREMIS deletion events, the declaration, restore within the window and the
permanent deletion after it; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from preserve.catalogue.disposal import DisposalApproval
from preserve.catalogue.models import Agent, AuditEntry, Event, EventAgent, File, Package
from preserve.errors import Conflict, InvalidInput, NotFound, OnHold, PermissionDenied
from preserve.services import accounts, agreements, disposal, holds, replication
from preserve.services.fixity import check_fixity
from tests.integration.disposal_world import LATER, World, make_world


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    w = make_world(tmp_path, database_url)
    yield w
    w.app.close()


def _propose(w: World, who: str = "cas") -> disposal.DisposalInfo:
    [info] = disposal.propose_due(w.app, w.who(who), now=LATER)
    return info


# ----------------------------------------------------------------------------- the whole way


def test_a_due_package_is_proposed_approved_disposed_restored_and_disposed_again(
    world: World, storage_url: str
) -> None:
    w = world
    w.location("second", storage_url)
    pid = w.ingest("harbour")
    other = w.ingest("kept")
    replication.replicate(w.app, pid, 1, "second")
    assert w.copies(pid) == [("default", 1), ("second", 1)]
    w.due()
    assert w.retention_state(pid) == "due"

    info = _propose(w)
    assert info.kind == "scheduled" and info.state == "pending"
    assert sorted(i.package_id for i in info.items) == sorted([pid, other])
    assert info.waiting_for == ("museum", "archive")
    assert info.agreement == "ENF-2026-001 v1" and info.rule["action"] == "destroy"
    assert w.retention_state(pid) == "disposal_proposed"

    # one approval is not enough: nothing runs
    disposal.approve(w.app, w.who("mia"), info.id, "museum", comment="agreed")
    with pytest.raises(Conflict, match=r"is pending .*every party must approve it first: archive"):
        disposal.execute(w.app, w.who("cas"), info.id)
    assert w.status(pid) == "stored" and w.package_keys("default", pid)

    approved = disposal.approve(w.app, w.who("root"), info.id, "archive")
    assert approved.state == "approved" and approved.waiting_for == ()
    assert w.retention_state(pid) == "disposal_approved"

    before = w.package_keys("second", pid)
    done = disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    assert done.state == "executed"
    assert {i.state for i in done.items} == {"disposed"}
    assert done.restore_until == LATER + timedelta(days=30)
    # soft: the objects wait under disposed/ on each location; nothing left where they were
    assert w.package_keys("default", pid) == [
        k for k in w.keys("default", "disposed/") if f"/{pid}/" in k
    ]
    assert all(k.startswith("disposed/") for k in w.package_keys("default", pid))
    assert sorted(w.package_keys("second", pid)) == sorted("disposed/" + k for k in before)
    # the tombstone: the row, disposed; no copies for fixity, replication, repair
    assert w.status(pid) == "disposed" and w.retention_state(pid) == "disposed"
    assert w.copies(pid) == []
    assert not check_fixity(w.app, package_id=pid).checks
    assert all(s.package_id != pid for s in replication.shortfalls(w.app))
    # a PREMIS deletion event names the requester, the approvers and the owner
    with w.app.uow() as uow:
        event = uow.session.scalars(
            sa.select(Event).where(Event.package_id == pid, Event.event_type == "deletion")
        ).one()
        detail = event.detail
        agents = sorted(
            (role, name)
            for role, name in uow.session.execute(
                sa.select(EventAgent.role, Agent.name)
                .join(Agent, Agent.id == EventAgent.agent_id)
                .where(EventAgent.event_id == event.id)
            )
        )
    assert agents == [
        ("approver", "mia"),
        ("approver", "root"),
        ("implementer", "cas"),
        ("owner", "The Museum"),
        ("requester", "cas"),
    ]
    assert "rule destroy 1 years after ingest_date" in detail

    # the declaration
    doc = disposal.declaration(w.app, w.who("mia"), info.id)
    body = json.loads(doc.json)
    assert body["date"] == LATER.date().isoformat()
    assert body["agreement"] == {"reference": "ENF-2026-001", "version": 1}
    assert body["rule"]["legal_basis"] == "Selection list item 12"
    assert [a["party"] for a in body["approvals"]] == ["museum", "archive"]
    assert body["requested_by"] == "cas"
    [harbour] = [p for p in body["packages"] if p["id"] == pid]
    assert harbour["title"] == "harbour"
    assert [f["path"] for f in harbour["files"] if f["path"].startswith("data/")] == [
        "data/file0.bin",
        "data/file1.bin",
    ]
    import hashlib

    assert hashlib.sha256(doc.json.encode()).hexdigest() == doc.sha256 == done.declaration_sha256
    assert f"SHA-256 of the JSON declaration: {doc.sha256}" in doc.text
    assert "Legal basis: Selection list item 12" in doc.text
    assert "- museum: mia on" in doc.text

    # restore within the window: everything back
    restored = disposal.restore(w.app, w.who("cas"), info.id, now=LATER + timedelta(days=29))
    assert restored.state == "restored"
    assert w.status(pid) == "stored" and w.retention_state(pid) == "restored"
    assert w.copies(pid) == [("default", 1), ("second", 1)]
    after = w.package_keys("second", pid)
    # everything back, and the deletion and recovery events written beside the others
    assert set(before) < set(after) and all("/events/" in k for k in set(after) - set(before))
    assert not w.keys("second", "disposed/")
    assert check_fixity(w.app, package_id=pid).ok


def test_permanent_deletion_after_the_window_is_idempotent(world: World, storage_url: str) -> None:
    w = world
    w.location("second", storage_url)
    pid = w.ingest("harbour")
    replication.replicate(w.app, pid, 1, "second")
    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    assert disposal.purge_expired(w.app, now=LATER + timedelta(days=29)) == []
    with pytest.raises(Conflict, match="restore window ended"):
        disposal.restore(w.app, w.who("cas"), info.id, now=LATER + timedelta(days=31))
    assert w.keys("default", "disposed/")
    assert disposal.purge_expired(w.app, now=LATER + timedelta(days=31)) == [pid]
    assert w.keys("default", "disposed/") == [] and w.package_keys("default", pid) == []
    assert w.keys("second", "disposed/") == [] and w.package_keys("second", pid) == []
    assert disposal.purge_expired(w.app, now=LATER + timedelta(days=32)) == []
    final = disposal.show(w.app, None, info.id)
    assert final.state == "permanently_deleted"
    assert w.retention_state(pid) == "permanently_deleted" and w.status(pid) == "disposed"
    with w.app.uow() as uow:
        s = uow.session
        assert s.scalar(sa.select(sa.func.count()).where(File.package_id == pid)) == 0
        assert s.get_one(Package, pid).title == "harbour"  # the tombstone
        kinds = list(
            s.scalars(
                sa.select(Event.outcome_detail).where(
                    Event.package_id == pid, Event.event_type == "deletion"
                )
            )
        )
    assert len(kinds) == 2 and any("deleted for good" in k for k in kinds)
    # the declaration still lists the files
    body = json.loads(disposal.declaration(w.app, None, info.id).json)
    assert len(body["packages"][0]["files"]) >= 2


# ----------------------------------------------------------------------------- guards


def test_who_may_decide(world: World) -> None:
    w = world
    w.ingest("harbour")
    w.due()
    info = _propose(w, "mia")
    with pytest.raises(PermissionDenied, match=r"asked for disposal .* may not approve"):
        disposal.approve(w.app, w.who("mia"), info.id, "museum")
    with pytest.raises(PermissionDenied, match="viewer in museum"):
        disposal.approve(w.app, w.who("vera"), info.id, "museum")
    with pytest.raises(PermissionDenied, match="repository administrator"):
        disposal.approve(w.app, w.who("root"), info.id, "museum")
    with pytest.raises(PermissionDenied, match="may not approve or reject the disposal for arch"):
        disposal.approve(w.app, w.who("max"), info.id, "archive")
    with pytest.raises(InvalidInput, match="'artist' does not decide"):
        disposal.approve(w.app, w.who("arno"), info.id, "artist")
    disposal.approve(w.app, w.who("max"), info.id, "museum")
    with pytest.raises(Conflict, match=r"museum has already decided .* approve by max"):
        disposal.approve(w.app, w.who("max"), info.id, "museum")
    with pytest.raises(NotFound):
        disposal.approve(w.app, w.who("max"), 999, "museum")


def test_reject_needs_a_comment_and_puts_the_packages_back(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    w.due()
    info = _propose(w)
    with pytest.raises(InvalidInput, match="needs a comment"):
        disposal.reject(w.app, w.who("mia"), info.id, "museum", "  ")
    done = disposal.reject(w.app, w.who("mia"), info.id, "museum", "still exhibited")
    assert done.state == "rejected" and w.retention_state(pid) == "due"
    assert done.parties[0].comment == "still exhibited"
    with pytest.raises(Conflict, match="it is rejected, not pending"):
        disposal.approve(w.app, w.who("root"), info.id, "archive")
    # proposed again: a rejected request no longer holds the package
    assert _propose(w).items[0].package_id == pid


def test_nothing_due_and_bad_proposals(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    with pytest.raises(NotFound, match="no package is due"):
        disposal.propose_due(w.app, w.who("cas"), now=LATER)
    with pytest.raises(Conflict, match=r"is not due for disposal .*in_retention"):
        disposal.propose(w.app, w.who("mia"), [pid], kind="scheduled")
    with pytest.raises(InvalidInput, match="needs a motivation"):
        disposal.propose(w.app, w.who("mia"), [pid], kind="adhoc")
    with pytest.raises(InvalidInput, match="unknown kind"):
        disposal.propose(w.app, w.who("mia"), [pid], kind="burn", reason="x")
    with pytest.raises(NotFound):
        disposal.propose(w.app, w.who("mia"), ["ffffffff"], reason="x")
    with pytest.raises(PermissionDenied, match="archivist or admin role"):
        disposal.propose(w.app, w.who("vera"), [pid], reason="duplicate")
    w.due()
    _propose(w)
    with pytest.raises(Conflict, match="already in disposal"):
        disposal.propose(w.app, w.who("mia"), [pid], reason="duplicate")


def test_adhoc_deletion_needs_the_owner_and_never_the_operator(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    info = disposal.propose(w.app, w.who("mia"), [pid], reason="a duplicate of another package")
    assert info.kind == "adhoc" and info.waiting_for == ("museum", "archive")
    assert w.retention_state(pid) == "disposal_proposed"
    with pytest.raises(PermissionDenied, match="operator staff never approve a deletion"):
        disposal.approve(w.app, w.who("root"), info.id, "museum")
    with pytest.raises(PermissionDenied, match="asked for"):
        disposal.approve(w.app, w.who("mia"), info.id, "museum")
    disposal.approve(w.app, w.who("max"), info.id, "museum")
    disposal.approve(w.app, w.who("cas"), info.id, "archive")
    done = disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    assert done.state == "executed" and w.status(pid) == "disposed"
    assert "a duplicate of another package" in disposal.declaration(w.app, None, info.id).text


def test_a_hold_placed_after_approval_blocks_execution(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    hold = holds.place(
        w.app, w.who("mia"), kind="legal", title="Court case", reason="seized", packages=[pid]
    )
    with pytest.raises(OnHold, match=f"package {pid} is on hold"):
        disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    with pytest.raises(OnHold):
        disposal.queue_execution(w.app, w.who("cas"), info.id, publish=lambda _id: None)
    assert disposal.show(w.app, None, info.id).state == "approved"
    assert w.status(pid) == "stored" and w.copies(pid) == [("default", 1)]
    assert not w.keys("default", "disposed/")
    holds.lift(w.app, w.who("mia"), hold.id, reason="case closed")
    assert disposal.execute(w.app, w.who("cas"), info.id, now=LATER).state == "executed"


def test_a_hold_on_a_proposal_blocks_approval(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    w.due()
    info = _propose(w)
    holds.place(w.app, w.who("mia"), kind="audit", title="Audit", reason="r", packages=[pid])
    with pytest.raises(OnHold):
        disposal.approve(w.app, w.who("mia"), info.id, "museum")
    with w.app.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(DisposalApproval)) == 0


def test_a_suspended_agreement_or_a_disallowed_delete_blocks_execution(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    agreements.suspend(w.app, w.who("cas"), "ENF-2026-001", reason="rights challenge")
    with pytest.raises(Conflict, match="agreement ENF-2026-001 is suspended"):
        disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    assert w.status(pid) == "stored"
    agreements.resume(w.app, w.who("cas"), "ENF-2026-001")
    with pytest.raises(PermissionDenied, match="custodian"):
        disposal.execute(w.app, w.who("mia"), info.id, now=LATER)
    assert disposal.execute(w.app, w.who("cas"), info.id, now=LATER).state == "executed"
    with pytest.raises(Conflict, match="it is executed"):
        disposal.execute(w.app, w.who("cas"), info.id, now=LATER)


def test_list_and_show_respect_visibility(world: World) -> None:
    w = world
    w.ingest("harbour")
    w.due()
    info = _propose(w)
    assert [d.id for d in disposal.list_requests(w.app, w.who("vera"))] == [info.id]
    assert [d.id for d in disposal.list_requests(w.app, w.who("cas"), state="open")] == [info.id]
    # the artist is a party of the agreement: it sees the disposal, without deciding on it
    assert [d.id for d in disposal.list_requests(w.app, w.who("arno"))] == [info.id]
    assert disposal.list_requests(w.app, None, state="executed") == []
    accounts.create_user(w.app, "stranger", memberships={})
    assert disposal.list_requests(w.app, w.who("stranger")) == []
    with pytest.raises(NotFound):
        disposal.show(w.app, w.who("stranger"), info.id)
    with pytest.raises(InvalidInput, match="unknown state"):
        disposal.list_requests(w.app, None, state="done")
    with pytest.raises(NotFound, match="has no declaration"):
        disposal.declaration(w.app, None, info.id)


def test_a_restore_makes_the_thumbnails_again(world: World) -> None:
    """A disposal removes a package's thumbnails and previews (copies of the content too); a
    restore within the window queues a ``derive`` job that makes them again (the ingest's own
    job, long done, is not reused)."""
    from preserve.catalogue.models import Derivative, Job
    from preserve.ingest import ingest
    from preserve.services import runner
    from preserve.services.derivatives import queue_derivatives
    from tests.web.package_support import image_folder

    w = world
    report = ingest(
        w.app, [image_folder(w.tmp, html=False)], collection="photos", organisation="museum"
    )
    assert not report.failures, report.failures
    pid = report.results[0].package_id

    def derive_jobs() -> list[tuple[str, str, str]]:
        with w.app.uow() as uow:
            return [
                (j.id, j.idempotency_key or "", j.state)
                for j in uow.session.scalars(
                    sa.select(Job)
                    .where(Job.kind == "derive", Job.package_id == pid)
                    .order_by(Job.created_at)
                )
            ]

    def thumbnails() -> list[Path]:
        with w.app.uow() as uow:
            rows = uow.session.scalars(
                sa.select(Derivative).where(
                    Derivative.package_id == pid, Derivative.kind == "thumbnail"
                )
            ).all()
            return [w.app.settings.derivatives_dir / d.path for d in rows if d.path]

    queue_derivatives(w.app, pid)  # as an ingest by the command line or the web does
    [(at_ingest, _key, _state)] = derive_jobs()
    assert runner.run_job(w.app, at_ingest, "worker-1") == "succeeded"
    made = thumbnails()
    assert len(made) == 3 and all(p.is_file() for p in made)

    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    assert thumbnails() == [] and not any(p.exists() for p in made)

    disposal.restore(w.app, w.who("cas"), info.id, now=LATER + timedelta(days=1))
    jobs = derive_jobs()
    assert [(key, state) for _id, key, state in jobs] == [
        (f"derive:{pid}:v1", "succeeded"),
        (f"derive:{pid}:v1:restored-{info.id}", "queued"),
    ]
    assert runner.run_job(w.app, jobs[1][0], "worker-1") == "succeeded"
    again = thumbnails()
    assert len(again) == 3 and all(p.is_file() for p in again)


# ----------------------------------------------------------------------------- withdrawal


def test_a_hold_after_approval_no_longer_leaves_the_disposal_stuck(world: World) -> None:
    """A GDPR hold placed on one package after both parties approved: the execution is
    refused naming the held package and the ways out (exit 4, as every refused step), the
    disposal shows the package held, a rejection is refused (it is approved), and the disposal
    can be withdrawn: its packages go back to their retention state, and the others can be
    proposed again without the held one."""
    w = world
    held, other = w.ingest("harbour"), w.ingest("kept")
    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    hold = holds.place(
        w.app, w.who("mia"), kind="gdpr_request", title="Erasure 12", reason="r", packages=[held]
    )
    with pytest.raises(disposal.HeldPackages) as refused:
        disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    text = str(refused.value)
    assert f"package {held} is on hold: hold {hold.id} (gdpr_request) 'Erasure 12'" in text
    assert f"preserve holds lift {hold.id}" in text
    assert f"withdraw it (preserve disposal withdraw {info.id} --reason ...)" in text
    assert "propose the other 1 package again without it" in text
    assert other not in text
    assert refused.value.exit_code == 4  # refused in this state, as HTTP 409; not 77
    with pytest.raises(disposal.HeldPackages, match="withdraw it"):
        disposal.queue_execution(w.app, w.who("cas"), info.id, publish=lambda _id: None)
    shown = {i.package_id: i.on_hold for i in disposal.show(w.app, None, info.id).items}
    assert shown == {held: (f"hold {hold.id} (gdpr_request) 'Erasure 12'",), other: ()}
    with pytest.raises(Conflict, match="it is approved, not pending"):
        disposal.reject(w.app, w.who("max"), info.id, "museum", "held")

    # who may withdraw: the requester (cas), custodian staff, an administrator
    with pytest.raises(InvalidInput, match="needs a reason"):
        disposal.withdraw(w.app, w.who("cas"), info.id, "  ")
    with pytest.raises(PermissionDenied, match="may not withdraw disposal"):
        disposal.withdraw(w.app, w.who("mia"), info.id, "held")
    with pytest.raises(PermissionDenied, match="may not withdraw disposal"):
        disposal.withdraw(w.app, w.who("arno"), info.id, "held")
    done = disposal.withdraw(w.app, w.who("carl"), info.id, "a GDPR hold on harbour", now=LATER)
    assert done.state == "withdrawn" and {i.state for i in done.items} == {"withdrawn"}
    assert (done.withdrawn_by, done.withdrawal_reason) == ("carl", "a GDPR hold on harbour")
    assert done.withdrawn_at == LATER and all(i.on_hold == () for i in done.items)
    assert w.retention_state(held) == "due" and w.retention_state(other) == "due"
    with w.app.uow() as uow:
        [audit] = uow.session.execute(
            sa.select(AuditEntry.username, AuditEntry.object_id, AuditEntry.detail).where(
                AuditEntry.action == "disposal.withdraw"
            )
        ).all()
    assert (audit.username, audit.object_id) == ("carl", str(info.id))
    assert audit.detail["reason"] == "a GDPR hold on harbour"
    assert audit.detail["was"] == "approved"
    with pytest.raises(Conflict, match="it is withdrawn"):
        disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    with pytest.raises(Conflict, match=r"cannot withdraw .* it is withdrawn"):
        disposal.withdraw(w.app, w.who("cas"), info.id, "again")
    assert [d.id for d in disposal.list_requests(w.app, None, state="withdrawn")] == [info.id]

    # proposed again without the held package, executed; an executed one is not withdrawn
    again = _propose(w)
    assert [i.package_id for i in again.items] == [other]
    w.approve_all(again.id)
    assert disposal.execute(w.app, w.who("cas"), again.id, now=LATER).state == "executed"
    with pytest.raises(Conflict, match=r"it is executed .*restore it instead"):
        disposal.withdraw(w.app, w.who("root"), again.id, "too late")


def test_a_pending_disposal_is_withdrawn_by_its_requester(world: World) -> None:
    w = world
    pid = w.ingest("harbour")
    info = disposal.propose(w.app, w.who("mia"), [pid], reason="a duplicate")
    assert w.retention_state(pid) == "disposal_proposed"
    done = disposal.withdraw(w.app, w.who("mia"), info.id, "not a duplicate after all")
    assert done.state == "withdrawn" and w.retention_state(pid) == "in_retention"
    # a withdrawn request no longer holds the package
    assert disposal.propose(w.app, w.who("mia"), [pid], reason="a duplicate").id != info.id


def test_a_disposal_one_may_not_see_is_named_as_such(world: World) -> None:
    w = world
    w.ingest("harbour")
    w.due()
    info = _propose(w)
    accounts.create_user(w.app, "stranger", memberships={})
    for request_id in (info.id, 999):  # the same words whether it exists or not
        with pytest.raises(NotFound, match=f"^no disposal {request_id} that you may see$"):
            disposal.approve(w.app, w.who("stranger"), request_id, "museum")
        with pytest.raises(NotFound, match=f"^no disposal {request_id} that you may see$"):
            disposal.withdraw(w.app, w.who("stranger"), request_id, "x")
    with pytest.raises(NotFound, match=r"^no disposal 999$"):  # the operator sees everything
        disposal.show(w.app, None, 999)


def test_the_declaration_text_counts_in_words_and_shows_no_rule_id(world: World) -> None:
    w = world
    w.ingest("harbour")
    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    doc = disposal.declaration(w.app, None, info.id)
    rule_id = json.loads(doc.json)["rule"]["id"]  # kept in the JSON
    assert isinstance(rule_id, int)
    assert "## Destroyed (1 package)\n" in doc.text
    assert "\nRule: destroy 1 years after ingest_date (minimum)\n" in doc.text
    assert f"Rule: {rule_id}:" not in doc.text


# ----------------------------------------------------------------------------- exit restore


def test_an_exit_disposal_is_restored_only_while_its_agreement_is_open(
    tmp_path: Path, database_url: str
) -> None:
    """Restoring an exit disposal makes the exit's post-exit deletion pending again (the
    agreement cannot be closed on it); once the agreement is closed on the deletion
    certificate, the restore is refused."""
    from preserve.services import exits
    from tests.agreement_setup import person
    from tests.integration.test_exit import EXITING, REF, _terms, _world

    w = _world(tmp_path, database_url, _terms("delete_with_certificate"))
    try:
        cas = person(w.app, "cas")
        out = tmp_path / "exit"
        exits.export(w.app, cas, REF, out)
        exits.confirm(w.app, person(w.app, "mia"), REF, w.receipt(out), "museum")
        [request] = disposal.list_requests(w.app, None)
        disposal.approve(w.app, person(w.app, "max"), request.id, "museum")
        disposal.approve(w.app, person(w.app, "root"), request.id, "archive")
        disposal.execute(w.app, cas, request.id)
        assert exits.status(w.app, None, REF).exports[0].post_exit_state == "done"

        back = disposal.restore(w.app, cas, request.id)
        assert back.state == "restored"
        st = exits.status(w.app, None, REF).exports[0]
        assert st.post_exit_state == "pending" and st.post_exit_at is None
        assert st.post_exit_detail.startswith(f"disposal {request.id} restored")
        with pytest.raises(Conflict, match=r"post-exit action \(delete_with_certificate\)"):
            agreements.close(w.app, cas, REF, "deleted", now=EXITING)

        # disposed of again (a new exit disposal), the agreement closed on its certificate
        exits.propose_disposal(w.app, cas, REF)
        [again] = [d for d in disposal.list_requests(w.app, None) if d.state == "pending"]
        disposal.approve(w.app, person(w.app, "max"), again.id, "museum")
        disposal.approve(w.app, person(w.app, "root"), again.id, "archive")
        assert disposal.execute(w.app, cas, again.id).restore_until is not None
        assert agreements.close(w.app, cas, REF, "deleted", now=EXITING).state == "closed"
        # no restore window is shown any more (the CLI, the web page and its button)
        assert disposal.show(w.app, None, again.id).restore_until is None
        with pytest.raises(Conflict, match=f"agreement {REF} is closed, and its closing relied"):
            disposal.restore(w.app, cas, again.id)
        assert disposal.show(w.app, None, again.id).state == "executed"
        assert {w_.state for w_ in disposal.show(w.app, None, again.id).items} == {"disposed"}
    finally:
        w.app.close()


def test_a_disposal_withdrawn_after_it_was_queued_is_left_alone_by_the_worker(
    world: World,
) -> None:
    """Execution queued for the workers, then the disposal withdrawn: the ``dispose`` job ends
    with nothing done, as a success (no failed job, no alert), and the package stays."""
    from preserve.catalogue.models import Alert
    from preserve.services import runner

    w = world
    pid = w.ingest("harbour")
    w.due()
    info = _propose(w)
    w.approve_all(info.id)
    queued = disposal.queue_execution(w.app, w.who("cas"), info.id, publish=lambda _id: None)
    assert queued.job_id is not None
    disposal.withdraw(w.app, w.who("cas"), info.id, "the owner asked to wait", now=LATER)
    assert runner.run_job(w.app, queued.job_id, "worker-1") == "succeeded"
    assert disposal.show(w.app, None, info.id).state == "withdrawn"
    assert w.status(pid) == "stored" and w.copies(pid) == [("default", 1)]
    with w.app.uow() as uow:
        kinds = uow.session.scalars(sa.select(Alert.kind)).all()
    assert "job_failed" not in kinds, kinds


def test_a_rule_that_destroys_under_rights_that_disallow_delete_is_refused_when_proposed(
    tmp_path: Path, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The agreement's rule destroys, its rights disallow delete: the scheduled disposal is
    refused when proposed (before, it was proposed, approved by every party and only then
    refused at execution, where it could only be withdrawn); nothing is recorded."""
    no_delete = [
        {"act": "replicate", "restriction": "allow"},
        {"act": "delete", "restriction": "disallow"},
    ]
    w = make_world(tmp_path, database_url, rights=no_delete)
    try:
        pid = w.ingest("harbour")
        w.due()
        expected = (
            r"agreement ENF-2026-001 v1 disallows delete, although its retention rule disposes "
            r"of the packages: the parties amend it \(rights: delete allow or conditional\)"
        )
        with pytest.raises(Conflict, match=expected):
            disposal.propose_due(w.app, w.who("cas"), now=LATER)
        with pytest.raises(Conflict, match="cannot propose this disposal: " + expected):
            disposal.propose(w.app, w.who("cas"), [pid], kind="scheduled", now=LATER)
        assert disposal.list_requests(w.app, None) == []
        assert w.retention_state(pid) == "due"

        # another agreement, over another collection, allows delete: propose --due proposes
        # its packages and says, as a warning, which it left out and why
        from preserve.services import admin
        from tests.agreement_setup import make_active, spec
        from tests.integration.disposal_world import DESTROY, PARTIES

        admin.add_collection(w.app, "films", organisation="museum", locations=("default",))
        make_active(
            w.app,
            spec(
                reference="ENF-2026-002",
                parties=PARTIES,
                retention=DESTROY,
                scope=[{"collection": "museum/films"}],
            ),
        )
        film = w.ingest("reel", collection="films")
        w.due()
        caplog.set_level("WARNING", logger="preserve")
        [made] = disposal.propose_due(w.app, w.who("cas"), now=LATER)
        assert [i.package_id for i in made.items] == [film]
        assert made.agreement == "ENF-2026-002 v1"
        assert [r.getMessage() for r in caplog.records if r.levelname == "WARNING"] == [
            "1 due package of museum not proposed: agreement ENF-2026-001 v1 disallows delete, "
            "although its retention rule disposes of the packages: the parties amend it "
            "(rights: delete allow or conditional) before they can be disposed of"
        ]
    finally:
        w.app.close()
