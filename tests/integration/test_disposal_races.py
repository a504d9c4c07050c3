"""Disposal racing holds, S3 Object Lock and itself (issue 12: "a disposal can never delete a
package under a hold, whatever the order of requests"), on SQLite and PostgreSQL: a hold placed
first makes the execution wait and refuse; an execution that checked first makes the hold
wait, and the package it disposed of then stays in the restore bin while the hold lasts; two
permanent deletions at once delete once; a package whose objects S3 Object Lock protects
fails with the reason and nothing of it moves, while the others are disposed of."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from preserve.catalogue.models import Event
from preserve.errors import OnHold
from preserve.services import disposal, holds, object_lock, replication
from tests.integration.disposal_world import LATER, World, make_world
from tests.s3server import _empty_and_remove_bucket


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    w = make_world(tmp_path, database_url)
    yield w
    w.app.close()


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


def _approved(w: World) -> tuple[str, int]:
    pid = w.ingest("harbour")
    w.due()
    [info] = disposal.propose_due(w.app, w.who("cas"), now=LATER)
    w.approve_all(info.id)
    return pid, info.id


def _hold(w: World, pid: str) -> holds.HoldInfo:
    return holds.place(
        w.app, w.who("mia"), kind="legal", title="Court case", reason="seized", packages=[pid]
    )


def test_a_hold_placed_first_makes_the_execution_wait_and_refuse(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    pid, request_id = _approved(w)
    written, go = threading.Event(), threading.Event()
    record = holds._record

    def paused(*args: Any, **kw: Any) -> Any:
        out = record(*args, **kw)
        written.set()
        assert go.wait(30)
        return out

    monkeypatch.setattr(holds, "_record", paused)
    hold, hold_out = _in_thread(lambda: _hold(w, pid))
    assert written.wait(30)
    run, run_out = _in_thread(lambda: disposal.execute(w.app, w.who("cas"), request_id, now=LATER))
    run.join(1.0)
    assert run.is_alive(), "the execution did not wait for the hold's transaction"
    go.set()
    hold.join(30)
    run.join(30)
    assert "error" not in hold_out, hold_out
    assert isinstance(run_out.get("error"), OnHold), run_out
    assert w.status(pid) == "stored" and w.copies(pid) == [("default", 1)]
    assert w.keys("default", "disposed/") == []
    assert disposal.show(w.app, None, request_id).state == "approved"


def test_an_execution_that_checked_first_makes_the_hold_wait_and_keeps_the_package(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = world
    pid, request_id = _approved(w)
    checked, go = threading.Event(), threading.Event()
    soft_delete = disposal._soft_delete

    def paused(*args: Any, **kw: Any) -> Any:
        checked.set()  # the package's locks are held: its hold check passed
        assert go.wait(30)
        return soft_delete(*args, **kw)

    monkeypatch.setattr(disposal, "_soft_delete", paused)
    run, run_out = _in_thread(lambda: disposal.execute(w.app, w.who("cas"), request_id, now=LATER))
    assert checked.wait(30)
    hold, hold_out = _in_thread(lambda: _hold(w, pid))
    hold.join(1.0)
    assert hold.is_alive(), "the hold did not wait for the disposal's locks"
    go.set()
    run.join(30)
    hold.join(30)
    assert "error" not in run_out, run_out
    assert "error" not in hold_out, hold_out
    assert w.status(pid) == "disposed"
    # the hold came after: the package waits in the restore bin as long as the hold lasts
    assert disposal.purge_expired(w.app, now=LATER + timedelta(days=40)) == []
    assert [k for k in w.keys("default", "disposed/") if f"/{pid}/" in k]
    restored = disposal.restore(w.app, w.who("cas"), request_id, now=LATER + timedelta(days=1))
    assert restored.state == "restored" and w.status(pid) == "stored"


def test_a_hold_after_execution_keeps_the_package_from_permanent_deletion(world: World) -> None:
    w = world
    pid, request_id = _approved(w)
    disposal.execute(w.app, w.who("cas"), request_id, now=LATER)
    hold = _hold(w, pid)
    assert disposal.purge_expired(w.app, now=LATER + timedelta(days=40)) == []
    assert disposal.show(w.app, None, request_id).state == "executed"
    holds.lift(w.app, w.who("mia"), hold.id, reason="case closed")
    assert disposal.purge_expired(w.app, now=LATER + timedelta(days=41)) == [pid]
    assert disposal.show(w.app, None, request_id).state == "permanently_deleted"


def test_two_approvals_at_once_are_both_counted(world: World) -> None:
    """The owner and the custodian approve at the same moment: both decisions are kept and
    the request is approved (each reads the other's decision after the request's lock)."""
    w = world
    w.ingest("harbour")
    w.due()
    [info] = disposal.propose_due(w.app, w.who("cas"), now=LATER)
    barrier = threading.Barrier(2)

    def approve(name: str, party: str) -> disposal.DisposalInfo:
        who = w.who(name)
        barrier.wait(10)
        return disposal.approve(w.app, who, info.id, party)

    threads = [
        _in_thread(lambda: approve("mia", "museum")),
        _in_thread(lambda: approve("root", "archive")),
    ]
    for t, _ in threads:
        t.join(60)
    outs = [out for _, out in threads]
    assert all("error" not in o for o in outs), outs
    final = disposal.show(w.app, None, info.id)
    assert final.state == "approved" and final.waiting_for == ()
    assert sorted(p.decided_by or "" for p in final.parties) == ["mia", "root"]


def test_two_permanent_deletions_at_once_delete_once(world: World) -> None:
    w = world
    pid, request_id = _approved(w)
    disposal.execute(w.app, w.who("cas"), request_id, now=LATER)
    after = LATER + timedelta(days=31)
    barrier = threading.Barrier(2)

    def purge() -> list[str]:
        barrier.wait(10)
        return disposal.purge_expired(w.app, now=after)

    threads = [_in_thread(purge) for _ in range(2)]
    for t, _ in threads:
        t.join(60)
    outs = [out for _, out in threads]
    assert all("error" not in o for o in outs), outs
    assert sorted(p for o in outs for p in o["result"]) == [pid]
    with w.app.uow() as uow:
        events = uow.session.scalar(
            sa.select(sa.func.count())
            .select_from(Event)
            .where(Event.package_id == pid, Event.event_type == "deletion")
        )
    assert events == 2  # the soft deletion and the permanent one, once each
    assert disposal.show(w.app, None, request_id).state == "permanently_deleted"
    assert w.keys("default", "disposed/") == []


@pytest.fixture
def locked_bucket(s3_endpoint: str, s3_admin: Any) -> Iterator[str]:
    bucket = f"preserve-lock-{uuid.uuid4().hex[:16]}"
    s3_admin.create_bucket(Bucket=bucket, ObjectLockEnabledForBucket=True)
    yield f"s3://{bucket}/prefix?endpoint_url={s3_endpoint}&addressing_style=path"
    # locked objects stay (moto keeps them until the server stops, as S3 would)
    _empty_and_remove_bucket(s3_admin, bucket)


@pytest.mark.s3
def test_a_package_under_object_lock_fails_and_the_others_are_disposed_of(
    world: World, locked_bucket: str
) -> None:
    w = world
    w.location("vault", locked_bucket)
    kept = w.ingest("locked")
    gone = w.ingest("free")
    replication.replicate(w.app, kept, 1, "vault")
    report = object_lock.apply_legal_hold(w.app, kept, True)
    assert report is not None
    before_default = w.package_keys("default", kept)
    before_vault = w.package_keys("vault", kept)
    w.due()
    [info] = disposal.propose_due(w.app, w.who("cas"), now=LATER)
    w.approve_all(info.id)
    done = disposal.execute(w.app, w.who("cas"), info.id, now=LATER)
    states = {i.package_id: (i.state, i.failure or "") for i in done.items}
    assert states[gone] == ("disposed", "")
    assert states[kept][0] == "failed"
    assert "location vault refuses to delete" in states[kept][1]
    assert (
        "legal hold" in states[kept][1] and "nothing of the package was deleted" in states[kept][1]
    )
    assert done.state == "executed" and done.failure == "1 of 2 packages could not be disposed of"
    # nothing of the locked package moved, on either location
    assert w.package_keys("default", kept) == before_default
    assert w.package_keys("vault", kept) == before_vault
    assert w.status(kept) == "stored" and w.retention_state(kept) == "disposal_failed"
    assert w.status(gone) == "disposed"
    body = disposal.declaration(w.app, None, info.id)
    assert [p["id"] for p in json.loads(body.json)["packages"]] == [gone]
    assert f"- {kept} locked:" in body.text
