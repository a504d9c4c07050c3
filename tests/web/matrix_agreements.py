"""Objects of the authorisation matrix for the agreement and hold routes (issue 12): a fresh
agreement of ``ours`` or ``theirs`` in the state a step needs, a document, a hold.

An agreement of organisation X has two parties: X (owner and custodian) and ``node`` (a storage
node whose only member is not one of the matrix's people), so X's people may act for X and no
one of the other organisation sees it. Its scope is a metadata rule that selects no package, so
the matrix's packages stay under no agreement (downloads and ingest stay open to the rows that
expect them)."""

from __future__ import annotations

import io
import itertools
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from preserve.services import accounts, agreements, holds
from preserve.services.access import Principal

NODE = "node"
NODE_KEEPER = "node-keeper"
_numbers = itertools.count(1)
#: (world, collection) made once per world
_made: set[tuple[int, str]] = set()


def _principal(app: Any, username: str) -> Principal:
    from preserve.catalogue.models import User

    with app.uow() as uow:
        user_id = uow.session.scalar(sa.select(User.id).where(User.username == username))
    found = accounts.principal_for(app, user_id)
    assert found is not None
    return found


def _ensure_node(w: Any) -> None:
    if NODE_KEEPER in w.site.users:
        return
    w.site.repo.run("organisations", "add", NODE, "--name", "Storage node")
    w.site.user(NODE_KEEPER, "archivist", NODE)


def preparer(w: Any, org: str) -> Principal:
    """The archivist of ``org`` among the matrix's people."""
    return w.principal("archivist" if org == "ours" else "stranger")


def spec(org: str, **changes: Any) -> dict[str, Any]:
    n = next(_numbers)
    out: dict[str, Any] = {
        "reference": f"M-{org}-{n}",
        "kind": "deposit",
        "title": f"Agreement {n} of {org}",
        "effective_from": date.today().isoformat(),
        "review_interval_months": 12,
        "notice_period_days": 1,
        "parties": [
            {"organisation": org, "roles": ["owner_depositor", "custodian"]},
            {"organisation": NODE, "roles": ["storage_node"]},
        ],
        "scope": [{"metadata": {"element": "subject", "value": "selects-no-package"}}],
        "retention": {
            "action": "keep_permanently",
            "trigger": "ingest_date",
            "motivation": "Kept.",
            "legal_basis": "Deposit",
        },
        "service_level": {"min_copies": 1, "fixity_interval_days": 90},
        "rights": [{"act": "replicate", "restriction": "allow"}],
        "exit": {
            "recipient": org,
            "package_format": "bagit",
            "deadline_days": 30,
            "post_exit_action": "delete_with_certificate",
        },
    }
    out.update(changes)
    return out


def agreement(w: Any, org: str, state: str = "draft", **changes: Any) -> str:
    """A fresh agreement of ``org`` in ``state``; its reference."""
    _ensure_node(w)
    app = w.app
    mine, node = preparer(w, org), _principal(app, NODE_KEEPER)
    made = agreements.create_draft(app, mine, spec(org, **changes))
    ref = made.reference
    if state == "draft":
        return ref
    agreements.propose(app, mine, ref)
    if state == "proposed":
        return ref
    agreements.agree(app, mine, ref, org)
    agreements.agree(app, node, ref, NODE)
    agreements.sign(app, mine, ref, org, capacity="director")
    agreements.sign(app, node, ref, NODE, capacity="director")
    if state == "signed":
        return ref
    agreements.activate(app, mine, ref)
    if state == "active":
        return ref
    if state == "suspended":
        agreements.suspend(app, mine, ref, "matrix")
    elif state == "under_review":
        agreements.advance(app)  # its review date is today
    elif state in ("notice_given", "exiting"):
        long_ago = datetime.now(UTC) - timedelta(days=5)
        agreements.give_notice(app, mine, ref, org, "matrix", now=long_ago)
        if state == "exiting":
            agreements.start_exit(app, mine, ref)
    else:
        raise AssertionError(state)
    return ref


def under_review(w: Any, org: str) -> str:
    return agreement(w, org, "under_review", next_review_on=date.today().isoformat())


def document(w: Any, org: str) -> tuple[str, int]:
    """A draft of ``org`` with a text document: (reference, document id)."""
    ref = agreement(w, org)
    path = w.tmp / f"{ref}.txt"
    path.write_text("terms\n", encoding="utf-8")
    doc = agreements.attach_document(w.app, preparer(w, org), ref, path)
    return ref, doc.id


def upload() -> tuple[io.BytesIO, str]:
    return io.BytesIO(b"The terms.\n"), "terms.txt"


def held_collection(w: Any, org: str) -> str:
    """A collection of ``org`` kept for holds (the matrix's packages stay free of holds)."""
    name = f"{org}/held"
    if (id(w), name) not in _made:
        w.site.repo.run("collections", "add", "held", "--organisation", org, "--title", "Held")
        _made.add((id(w), name))
    return name


def hold(w: Any, org: str) -> int:
    """A fresh hold on ``org``'s collection for holds, placed by its archivist."""
    collection = held_collection(w, org)
    placed = holds.place(
        w.app, preparer(w, org), kind="audit", title=f"audit of {org}", reason="matrix",
        collections=[collection],
    )  # fmt: skip
    return placed.id


def party(org: str | None, person: str) -> str:
    """The party a person acts for: their own organisation's (a repository admin acts for the
    custodian, which is that organisation too)."""
    return org or "ours"
