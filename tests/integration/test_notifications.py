"""Notifications to the parties (issue 12, retention-agreements.md 5.1 E15), delivered to a real
SMTP server on loopback (tests/smtpserver.py), on SQLite and PostgreSQL: a proposal tells each
party's archivists and admins (not its viewers) to agree or send back; a send-back tells the
proposer; a pending signature, an activation and a suspension tell the parties; reviews are
reminded 30 and 7 days before; a disposal awaiting a party's approval tells its people, not the
requester; running it again sends nothing twice; a mail server that is down is tried again;
what awaits one person (the dashboard's panel)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from preserve.config.settings import Settings

from preserve.bootstrap import Application, bootstrap
from preserve.catalogue.agreements import Agreement
from preserve.catalogue.models import Collection, Membership, Organisation, Package, User
from preserve.catalogue.notifications import Notification
from preserve.errors import InvalidInput
from preserve.services import admin, disposal, notifications
from preserve.services import agreements as service
from tests.agreement_setup import T0, add_people, person, spec, walk_to_active
from tests.smtpserver import SmtpServer

REF = "ENF-2026-001/v1"
SOON = T0 + timedelta(hours=1)


def _app(tmp_path: Path, database_url: str, smtp_url: str = "") -> Application:
    values = {
        "PRESERVE_HOME": str(tmp_path / "home"),
        "PRESERVE_DATABASE_URL": database_url,
        "PRESERVE_ALERT_FROM": "preserve@archive.example",
    }
    if smtp_url:
        values["PRESERVE_SMTP_URL"] = smtp_url
    return bootstrap(Settings.from_env(values), actor="archivist")


@pytest.fixture
def app(tmp_path: Path, database_url: str, smtp_server: SmtpServer) -> Iterator[Application]:
    """The museum, artist and archive of tests/agreement_setup, each person with an e-mail
    address (but pia), and museum/photos; mail goes to the test SMTP server."""
    application = _app(tmp_path, database_url, smtp_server.url())
    admin.initialise(application)
    add_people(application)
    with application.uow() as uow:
        s = uow.session
        for user in s.scalars(sa.select(User)):
            if user.username != "pia":
                user.email = f"{user.username}@example.org"
        museum = s.scalars(sa.select(Organisation).where(Organisation.slug == "museum")).one()
        max_ = User(username="max", display_name="Max", email="max@example.org")
        s.add(max_)
        s.flush()
        s.add(Membership(user_id=max_.id, organisation_id=museum.id, role="archivist"))
        uow.commit()
    admin.add_collection(application, "photos", organisation="museum")
    yield application
    application.close()


def _to(server: SmtpServer, since: int = 0) -> list[tuple[str, str]]:
    """(recipient, subject) of the messages received, from the ``since``-th on."""
    return sorted((m.rcpt_tos[0], m.subject) for m in server.messages[since:])


def _send(app: Application, now: datetime = SOON) -> notifications.SendReport:
    report = notifications.send_due(app, now=now)
    assert report.errors == (), report.errors
    return report


def test_a_proposal_tells_each_party_once(app: Application, smtp_server: SmtpServer) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    assert _send(app).recorded == ()  # a draft awaits no one
    service.propose(app, person(app, "mia"), REF, now=T0)
    report = _send(app)
    subject = "[preserve] ENF-2026-001 v1 awaits your decision: agree or send it back"
    # archivists and admins of the three parties; not the viewers (vera, pia), not root
    assert _to(smtp_server) == [
        (f"{name}@example.org", subject) for name in ("arno", "cas", "max", "mia")
    ]
    assert report.sent == 4 and report.no_address == ()
    body = smtp_server.messages[0].body
    assert "preserve agreements agree ENF-2026-001/v1 --party ORG --as YOU" in body
    assert "/agreements/ENF-2026-001/v1" in body
    # again: nothing new, nothing sent twice
    again = _send(app)
    assert again.recorded == () and again.sent == 0 and len(smtp_server.messages) == 4
    # one party agreed: the others were told already
    service.agree(app, person(app, "mia"), REF, "museum", now=T0)
    assert _send(app).recorded == ()


def test_send_back_sign_activate_and_suspend(app: Application, smtp_server: SmtpServer) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    _send(app)
    seen = len(smtp_server.messages)
    service.send_back(app, person(app, "arno"), REF, "artist", "Add the download right", now=T0)
    _send(app)
    assert _to(smtp_server, seen) == [
        ("mia@example.org", "[preserve] ENF-2026-001 v1 was sent back by artist")
    ]
    assert "Add the download right" in smtp_server.messages[-1].body
    seen = len(smtp_server.messages)
    walk_to_active(app, REF, at=T0)  # proposed again (round 2), agreed, signed, activated
    assert len(smtp_server.messages) == seen  # nothing sent between the steps: the run decides
    _send(app)
    by_subject: dict[str, list[str]] = {}
    for to, subject in _to(smtp_server, seen):
        by_subject.setdefault(subject, []).append(to)
    # the second round's proposal and the signatures were done before this run: not
    # announced any more; the activation is (to every party's people)
    assert sorted(by_subject) == ["[preserve] ENF-2026-001 v1 is active"]
    assert len(by_subject["[preserve] ENF-2026-001 v1 is active"]) == 4
    seen = len(smtp_server.messages)
    service.suspend(app, person(app, "cas"), REF, reason="invoice unpaid", now=SOON)
    _send(app, SOON + timedelta(minutes=5))
    assert {s for _, s in _to(smtp_server, seen)} == {"[preserve] ENF-2026-001 v1 is suspended"}
    assert "invoice unpaid" in smtp_server.messages[-1].body


def test_pending_signature_tells_the_parties_still_to_sign(
    app: Application, smtp_server: SmtpServer
) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    for who, party in (("mia", "museum"), ("arno", "artist"), ("cas", "archive")):
        service.agree(app, person(app, who), REF, party, now=T0)
    service.sign(app, person(app, "mia"), REF, "museum", capacity="director", now=T0)
    _send(app)
    signing = [to for to, s in _to(smtp_server) if s.endswith("awaits your signature")]
    assert signing == ["arno@example.org", "cas@example.org"]  # the museum signed


def test_reviews_are_reminded_30_and_7_days_before(
    app: Application, smtp_server: SmtpServer
) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    walk_to_active(app, REF, at=T0)
    with app.uow() as uow:
        review = uow.session.scalars(sa.select(Agreement.next_review_on)).one()
    assert review is not None
    at = datetime.combine(review, T0.timetz()) - timedelta(days=40)
    assert _send(app, at).recorded == ()  # too early (and the activation is too old)
    first = _send(app, at + timedelta(days=15))  # 25 days before
    assert {n.subject for n in first.recorded} == {
        f"ENF-2026-001 v1 is due for review on {review.isoformat()}"
    }
    assert len(first.recorded) == 4
    assert _send(app, at + timedelta(days=20)).recorded == ()  # 20 days before: told already
    seven = _send(app, at + timedelta(days=35))  # 5 days before
    assert len(seven.recorded) == 4 and all(n.key.endswith(":7") for n in seven.recorded)
    assert len(smtp_server.messages) == 8
    # what awaits mia now: the review
    items = notifications.awaiting(app, person(app, "mia"), now=at + timedelta(days=35))
    assert [(i.kind, i.due_on, i.parties) for i in items] == [("review", review, ("museum",))]
    assert notifications.awaiting(app, person(app, "vera"), now=at) == []  # a viewer


def test_what_awaits_a_person(app: Application) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    items = notifications.awaiting(app, person(app, "arno"), now=SOON)
    assert [(i.kind, i.parties, i.link) for i in items] == [
        ("agree", ("artist",), "/agreements/ENF-2026-001/v1")
    ]
    assert items[0].as_json()["detail"] == "agree or send back for artist"
    assert notifications.awaiting(app, person(app, "vera"), now=SOON) == []


def test_a_disposal_awaiting_approval_tells_the_party_not_the_requester(
    app: Application, smtp_server: SmtpServer
) -> None:
    with app.uow() as uow:
        coll = uow.session.scalars(sa.select(Collection).where(Collection.slug == "photos")).one()
        package = Package(
            collection_id=coll.id,
            title="harbour",
            description={"title": ["harbour"]},
            status="stored",
            payload_fingerprint="f" * 64,
        )
        uow.session.add(package)
        uow.commit()
        package_id = package.id
    request = disposal.propose(
        app, person(app, "mia"), [package_id], kind="adhoc", reason="a duplicate", now=SOON
    )
    report = _send(app)
    assert [(n.username, n.kind) for n in report.recorded] == [("max", "disposal_approval")]
    assert _to(smtp_server) == [
        (
            "max@example.org",
            f"[preserve] disposal request {request.id} awaits your approval (1 package)",
        )
    ]
    assert f"preserve disposal approve {request.id} --party ORG --as YOU" in (
        smtp_server.messages[0].body
    )
    items = notifications.awaiting(app, person(app, "max"), now=SOON)
    assert [(i.kind, i.parties) for i in items] == [("disposal_approval", ("museum",))]
    assert notifications.awaiting(app, person(app, "mia"), now=SOON) == []  # the requester


def test_dry_run_and_bad_input(app: Application, smtp_server: SmtpServer) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    dry = notifications.send_due(app, now=SOON, dry_run=True)
    assert len(dry.recorded) == 4 and smtp_server.messages == []
    with app.uow() as uow:
        assert uow.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    with pytest.raises(InvalidInput, match="reminder days"):
        notifications.send_due(app, now=SOON, reminder_days=(30, -1))


def test_without_a_mail_server_nothing_is_recorded(
    tmp_path: Path, database_url: str, app: Application
) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    other = _app(tmp_path, database_url)
    try:
        with pytest.raises(InvalidInput, match="PRESERVE_SMTP_URL"):
            notifications.send_due(other, now=SOON)
        with other.uow() as uow:
            assert uow.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    finally:
        other.close()


def test_a_person_without_an_address_is_named(app: Application) -> None:
    with app.uow() as uow:
        artist = uow.session.scalars(
            sa.select(Organisation).where(Organisation.slug == "artist")
        ).one()
        pia = uow.session.scalars(sa.select(User).where(User.username == "pia")).one()
        uow.session.execute(
            sa.update(Membership)
            .where(Membership.user_id == pia.id, Membership.organisation_id == artist.id)
            .values(role="archivist")
        )
        uow.commit()
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    report = _send(app)
    assert report.no_address == ("pia",) and len(report.recorded) == 4


def test_a_mail_server_down_is_tried_again(app: Application, smtp_server: SmtpServer) -> None:
    service.create_draft(app, person(app, "mia"), spec(), now=T0)
    service.propose(app, person(app, "mia"), REF, now=T0)
    smtp_server.stop()
    down = notifications.send_due(app, now=SOON)
    assert len(down.recorded) == 4 and down.sent == 0 and down.retrying == 4
    with app.uow() as uow:
        rows = uow.session.scalars(sa.select(Notification)).all()
        assert {(r.email_state, r.attempts) for r in rows} == {("pending", 1)}
        assert all(r.last_error for r in rows)
    smtp_server.start()
    back = _send(app, SOON + timedelta(minutes=10))
    assert back.recorded == () and back.sent == 4
    assert len(smtp_server.messages) == 4
    with app.uow() as uow:
        states = set(uow.session.scalars(sa.select(Notification.email_state)))
    assert states == {"sent"}
