"""Holds that block disposal and deletion (issue 12; RODA's disposal holds, reference model
sections 3.10, 4.5 and rule E12).

A hold (legal, dispute, audit, gdpr_request, rights_challenge, other) covers packages and whole
collections; a collection covers every package in it, also those ingested after the hold was
placed. While a hold is active and its target is not lifted, :func:`require_no_hold` refuses
to let a package go: every path that deletes a package (disposal, an ad-hoc deletion) calls it
in the transaction that deletes, before deleting.

Permissions: placing and lifting need the ``archivist`` role (or ``admin``) in the organisation
owning each target; a repository admin may act everywhere; anyone who may see an organisation
(``viewer`` and up) may list and show the holds on its packages and collections, and so may
whoever sees a package as a party of an agreement in force over it (:mod:`sharing`): the holds
on the package and on its collection. Targets of other organisations they do not see this way
are left out of what a person is shown; a package or collection they may
not see is :class:`~preserve.errors.NotFound`, exactly as if it did not exist. ``principal``
None is the operator of the server on the command line without ``--as`` (sees everything; may
only read).

Every place and lift records a PREMIS ``policy assignment`` event on each package it affects
(the person as implementer, the owning organisation as owner; written to storage with the
package's other events) and one audit-log entry per organisation concerned, in the same
transaction as the change.

**Race-free with disposal.** On PostgreSQL both sides lock rows in one order, collections
before packages:

- :func:`require_no_hold` takes the package's collection ``FOR SHARE`` and the package ``FOR
  UPDATE``, then reads the holds;
- :func:`place` takes each target collection ``FOR NO KEY UPDATE`` and each target package
  ``FOR SHARE`` (ids in ascending order), then checks they still exist and inserts the hold.

So whichever comes second waits for the first to commit: a disposal that checked first deletes
the package and the hold then finds it gone (``NotFound``); a hold committed first is seen by
the disposal's check (read committed reads it after the lock is granted), which refuses with
:class:`~preserve.errors.OnHold`. Two disposals in one collection share its lock; an ingest
(its foreign-key check takes ``FOR KEY SHARE``) is never blocked by a hold being placed.

SQLite has no row locks and the driver starts a transaction only at the first write, so reads
before it see no lock at all. Both sides therefore begin with a write that changes nothing
(``UPDATE holds SET id = id WHERE 0``): it takes the database's one write lock until the
transaction ends, and the other side waits for it (``busy_timeout``) before reading.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve import __version__, premis
from preserve.bootstrap import Application
from preserve.catalogue.holds import HOLD_KINDS, Hold, HoldTarget
from preserve.catalogue.models import (
    AuditEntry,
    Collection,
    Organisation,
    Package,
)
from preserve.catalogue.retention import PackageRetention
from preserve.errors import InvalidInput, NotFound, OnHold, PermissionDenied
from preserve.names import suggestions
from preserve.services import packages as pk
from preserve.services import sharing
from preserve.services.access import Principal, require_role

log = logging.getLogger(__name__)

#: What ``list_holds`` may be asked for.
STATES = ("active", "lifted", "all")
#: The longest title (the column's size).
MAX_TITLE = 255
#: Package ids per statement (SQLite's variable limit).
_BATCH = 500


# ----------------------------------------------------------------------------- values


@dataclass(frozen=True)
class HoldRef:
    """An active hold that covers a package, as the guard names it."""

    hold_id: int
    kind: str
    title: str
    #: "package" (the package itself is a target) or "collection ORG/SLUG".
    via: str

    def describe(self) -> str:
        text = f"hold {self.hold_id} ({self.kind}) {self.title!r}"
        return text if self.via == "package" else f"{text} on {self.via}"


@dataclass(frozen=True)
class TargetInfo:
    """What a hold covers: a package or a whole collection."""

    id: int
    #: "package" or "collection".
    type: str
    package_id: str | None
    #: "ORG/SLUG": the collection targeted, or the package's collection.
    collection: str
    organisation: str
    package_title: str | None
    added_by: str
    added_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None

    @property
    def active(self) -> bool:
        return self.lifted_at is None

    @property
    def label(self) -> str:
        return f"package {self.package_id}" if self.package_id else f"collection {self.collection}"


@dataclass(frozen=True)
class HoldInfo:
    """A hold with the targets the person may see."""

    id: int
    kind: str
    title: str
    reason: str
    mandate: str | None
    state: str
    created_by: str
    created_at: datetime
    lifted_by: str | None
    lifted_at: datetime | None
    lift_reason: str | None
    targets: tuple[TargetInfo, ...]
    #: How many of its targets are of organisations the person may not see (not listed).
    hidden_targets: int = 0


# ----------------------------------------------------------------------------- the guard


def holds_on(session: Session, package_ids: Iterable[str]) -> dict[str, list[HoldRef]]:
    """The active holds covering each of ``package_ids`` (directly, or through the package's
    collection), by package id; packages under no hold are left out. Lifted holds and lifted
    targets do not count."""
    ids = sorted(set(package_ids))
    found: dict[str, list[HoldRef]] = {}
    for start in range(0, len(ids), _BATCH):
        chunk = ids[start : start + _BATCH]
        direct = session.execute(
            sa.select(HoldTarget.package_id, Hold.id, Hold.kind, Hold.title)
            .join(Hold, Hold.id == HoldTarget.hold_id)
            .where(
                HoldTarget.package_id.in_(chunk),
                HoldTarget.lifted_at.is_(None),
                Hold.state == "active",
            )
        ).all()
        for package_id, hold_id, kind, title in direct:
            found.setdefault(str(package_id), []).append(HoldRef(hold_id, kind, title, "package"))
        through = session.execute(
            sa.select(
                Package.id, Hold.id, Hold.kind, Hold.title, Organisation.slug, Collection.slug
            )
            .join(HoldTarget, HoldTarget.collection_id == Package.collection_id)
            .join(Hold, Hold.id == HoldTarget.hold_id)
            .join(Collection, Collection.id == Package.collection_id)
            .join(Organisation, Organisation.id == Collection.organisation_id)
            .where(
                Package.id.in_(chunk),
                HoldTarget.lifted_at.is_(None),
                Hold.state == "active",
            )
        ).all()
        for package_id, hold_id, kind, title, org, coll in through:
            found.setdefault(package_id, []).append(
                HoldRef(hold_id, kind, title, f"collection {org}/{coll}")
            )
    for refs in found.values():
        refs.sort(key=lambda r: (r.hold_id, r.via))
    return found


def require_no_hold(session: Session, package_id: str) -> None:
    """Raise :class:`~preserve.errors.OnHold` (naming every hold, its kind and title) if an
    active hold covers the package; :class:`~preserve.errors.NotFound` if it does not exist.

    Call it in the transaction that deletes the package, before deleting: on PostgreSQL it
    locks the package's collection ``FOR SHARE`` and the package ``FOR UPDATE`` (until that
    transaction ends), so a hold placed meanwhile waits for the deletion, and a hold committed
    before is seen here; on SQLite it takes the database's write lock (see the module's
    documentation). A transaction that deletes several packages calls
    :func:`require_no_holds` once, with all of them."""
    require_no_holds(session, [package_id])


def require_no_holds(session: Session, package_ids: Iterable[str]) -> None:
    """:func:`require_no_hold` for several packages at once (a disposal of many): every
    collection concerned is locked before any package, each in ascending order, so that it
    cannot deadlock with :func:`place`; :class:`~preserve.errors.OnHold` names the packages
    on hold (the first few) and their holds."""
    ids = sorted(set(package_ids))
    if not ids:
        return
    _write_lock(session)
    collection_of: dict[str, int] = {}
    for chunk in _chunks(ids):
        for pid, cid in session.execute(
            sa.select(Package.id, Package.collection_id).where(Package.id.in_(chunk))
        ):
            collection_of[pid] = cid
    missing = [i for i in ids if i not in collection_of]
    if missing:
        raise NotFound(f"no package {missing[0]!r}")
    for chunk in _chunks(sorted(set(collection_of.values()))):
        session.execute(
            sa.select(Collection.id)
            .where(Collection.id.in_(chunk))
            .order_by(Collection.id)
            .with_for_update(read=True)
        )
    locked: set[str] = set()
    for chunk in _chunks(ids):
        locked.update(
            session.scalars(
                sa.select(Package.id)
                .where(Package.id.in_(chunk))
                .order_by(Package.id)
                .with_for_update(of=Package)
            )
        )
    gone = [i for i in ids if i not in locked]
    if gone:
        raise NotFound(f"no package {gone[0]!r} (it was deleted meanwhile)")
    held = holds_on(session, ids)
    if held:
        raise OnHold(_on_hold_message(held))


#: Packages an OnHold message names (the rest are counted).
_NAMED = 5


def _on_hold_message(held: dict[str, list[HoldRef]]) -> str:
    hold_ids = {r.hold_id for refs in held.values() for r in refs}
    lift = (
        ("that hold is" if len(hold_ids) == 1 else "those holds are")
        + " lifted: preserve holds lift "
        + (str(next(iter(hold_ids))) if len(hold_ids) == 1 else "HOLD_ID")
        + " --reason ...)"
    )
    if len(held) == 1:
        [(package_id, refs)] = held.items()
        return (
            f"package {package_id} is on hold: "
            + "; ".join(r.describe() for r in refs)
            + f" (it cannot be disposed of or deleted until {lift}"
        )
    named = sorted(held)[:_NAMED]
    more = len(held) - len(named)
    return (
        f"{len(held)} packages are on hold: "
        + "; ".join(f"package {p}: " + ", ".join(r.describe() for r in held[p]) for p in named)
        + (f"; and {more} more" if more else "")
        + f" (they cannot be disposed of or deleted until {lift}"
    )


def _chunks(values: Sequence[Any]) -> Iterator[Sequence[Any]]:
    for start in range(0, len(values), _BATCH):
        yield values[start : start + _BATCH]


def _write_lock(session: Session) -> None:
    """SQLite: take the database's write lock now (a write that changes nothing), so that what
    is read next cannot change before this transaction ends. PostgreSQL locks rows instead."""
    if session.get_bind().dialect.name == "sqlite":
        session.execute(sa.text("UPDATE holds SET id = id WHERE 0"))


# ----------------------------------------------------------------------------- reading


def list_holds(
    app: Application,
    principal: Principal | None,
    *,
    state: str = "active",
    package: str | None = None,
    collection: str | None = None,
    organisation: str | None = None,
) -> list[HoldInfo]:
    """The holds the person may see (those with a target in one of their organisations, on a
    package shared with them through an agreement in force, or on the collection of such a
    package), newest first: ``state`` active, lifted or all; ``package``: the holds covering
    it (directly or through its collection); ``collection`` ("ORG/SLUG"): the holds on it or
    on packages in it; ``organisation``: the holds with a target in it."""
    if state not in STATES:
        raise InvalidInput(f"unknown state {state!r}: one of {', '.join(STATES)}")
    with app.uow() as uow:
        s = uow.session
        stmt = sa.select(Hold.id).order_by(Hold.created_at.desc(), Hold.id.desc())
        if state != "all":
            stmt = stmt.where(Hold.state == state)
        if package is not None:
            p = _package(uow, principal, package)
            stmt = stmt.where(
                Hold.id.in_(
                    sa.select(HoldTarget.hold_id).where(
                        (HoldTarget.package_id == p.id)
                        | (HoldTarget.collection_id == p.collection_id)
                    )
                )
            )
        if collection is not None:
            c = _collection(uow, principal, collection)
            stmt = stmt.where(
                Hold.id.in_(
                    sa.select(HoldTarget.hold_id)
                    .outerjoin(Package, Package.id == HoldTarget.package_id)
                    .where((HoldTarget.collection_id == c.id) | (Package.collection_id == c.id))
                )
            )
        if organisation is not None:
            org = uow.organisations.get_by_slug(organisation.strip())
            if org is None or (principal is not None and not principal.can_view(org.id)):
                raise NotFound(f"no organisation {organisation.strip()!r}")
            stmt = stmt.where(Hold.id.in_(_holds_in_organisations([org.id])))
        visible = principal.visible_organisations() if principal is not None else None
        if visible is not None:
            assert principal is not None
            shared = sharing.shared_agreements(s, principal)
            # and the holds on packages shared with the person through an agreement, and on
            # the collections of those packages (a collection hold covers them too)
            extra = (
                [
                    sa.select(HoldTarget.hold_id)
                    .join(PackageRetention, PackageRetention.package_id == HoldTarget.package_id)
                    .where(PackageRetention.agreement_id.in_(shared)),
                    sa.select(HoldTarget.hold_id)
                    .join(Package, Package.collection_id == HoldTarget.collection_id)
                    .join(PackageRetention, PackageRetention.package_id == Package.id)
                    .where(PackageRetention.agreement_id.in_(shared)),
                ]
                if shared
                else []
            )
            seen = _holds_in_organisations(visible, *extra)
            stmt = stmt.where(Hold.id.in_(seen))
        hold_ids = list(s.scalars(stmt))
        return [_info(s, s.get_one(Hold, i), principal) for i in hold_ids]


def show(app: Application, principal: Principal | None, hold_id: int) -> HoldInfo:
    """One hold, with the targets the person may see."""
    with app.uow() as uow:
        hold = _visible_hold(uow.session, principal, hold_id)
        return _info(uow.session, hold, principal)


# ----------------------------------------------------------------------------- placing


def place(
    app: Application,
    principal: Principal,
    *,
    kind: str,
    title: str,
    reason: str,
    mandate: str | None = None,
    packages: Sequence[str] = (),
    collections: Sequence[str] = (),
    channel: str = "web",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> HoldInfo:
    """Place a hold on packages (ids, 4+ hex digit prefixes or identifiers, as ``preserve
    show`` takes them) and collections ("ORG/SLUG"). Every target must exist and be visible
    to the person (:class:`NotFound` otherwise), and the person needs the archivist role in
    its organisation (:class:`PermissionDenied`)."""
    when = now or datetime.now(UTC)
    kind = _check_kind(kind)
    title = _check_title(title)
    reason = _required(reason, "a reason (--reason) is required: why must these be kept?")
    mandate = mandate.strip() if mandate and mandate.strip() else None
    if not packages and not collections:
        raise InvalidInput(
            "a hold needs at least one package (--package) or collection (--collection)"
        )
    with app.uow() as uow:
        s = uow.session
        colls: dict[int, Collection] = {}
        for text in collections:
            c = _collection(uow, principal, text)
            require_role(principal, c.organisation_id, "archivist", _collection_label(c))
            colls[c.id] = c
        pkgs: dict[str, Package] = {}
        for text in packages:
            p = _package(uow, principal, text)
            _require_package_role(s, principal, p)
            pkgs[p.id] = p
        _lock_targets(s, sorted(colls), sorted(pkgs))
        hold = Hold(
            kind=kind,
            title=title,
            reason=reason,
            mandate=mandate,
            state="active",
            created_by=principal.label,
            created_at=when,
        )
        s.add(hold)
        s.flush()
        for cid in sorted(colls):
            s.add(
                HoldTarget(
                    hold_id=hold.id, collection_id=cid, added_by=principal.label, added_at=when
                )
            )
        for pid in sorted(pkgs):
            s.add(
                HoldTarget(hold_id=hold.id, package_id=pid, added_by=principal.label, added_at=when)
            )
        s.flush()
        targets = list(s.scalars(sa.select(HoldTarget).where(HoldTarget.hold_id == hold.id)))
        affected = _record(
            uow,
            principal,
            hold,
            targets,
            action="hold.place",
            outcome_detail=f"hold {hold.id} placed ({kind}): {title}",
            detail=f"placed by {principal.label}: {reason}"
            + (f" (mandate: {mandate})" if mandate else ""),
            reason=reason,
            when=when,
            channel=channel,
            remote_addr=remote_addr,
        )
        locks = _note_locks(s, affected, when)
        info = _info(s, hold, principal)
        uow.commit()
    _flush(app, affected)
    _apply_locks(app, locks)
    log.info("hold %s placed by %s on %d package(s)", info.id, principal.label, len(affected))
    return info


def _lock_targets(s: Session, collection_ids: list[int], package_ids: list[str]) -> None:
    """Lock the targets against a concurrent deletion, collections first (the order
    :func:`require_no_hold` takes them in), and check they still exist."""
    _write_lock(s)
    for cid in collection_ids:
        got = s.scalar(
            sa.select(Collection.id).where(Collection.id == cid).with_for_update(key_share=True)
        )
        if got is None:
            raise NotFound(f"collection {cid} was deleted meanwhile")
    for pid in package_ids:
        locked = s.scalar(
            sa.select(Package.id).where(Package.id == pid).with_for_update(read=True, of=Package)
        )
        if locked is None:
            raise NotFound(f"no package {pid!r} (it was deleted meanwhile)")


# ----------------------------------------------------------------------------- lifting


def lift(
    app: Application,
    principal: Principal,
    hold_id: int,
    *,
    reason: str,
    package: str | None = None,
    collection: str | None = None,
    channel: str = "web",
    remote_addr: str | None = None,
    now: datetime | None = None,
) -> HoldInfo:
    """Lift a whole hold, or only its target ``package`` or ``collection`` ("ORG/SLUG"); a
    reason is required. Lifting the last active target lifts the hold. Lifting the whole hold
    needs the archivist role in the organisation of every active target (a hold also covering
    another organisation's packages is lifted target by target)."""
    when = now or datetime.now(UTC)
    reason = _required(reason, "a reason (--reason) is required: why may these go now?")
    if package is not None and collection is not None:
        raise InvalidInput("lift one target at a time: --package or --collection, not both")
    with app.uow() as uow:
        s = uow.session
        hold = _visible_hold(s, principal, hold_id)
        # one lift at a time per hold (PostgreSQL; SQLite writes one at a time anyway)
        s.execute(sa.select(Hold.id).where(Hold.id == hold.id).with_for_update())
        s.refresh(hold)
        if hold.state == "lifted":
            raise InvalidInput(
                f"hold {hold.id} was already lifted on {hold.lifted_at:%Y-%m-%d %H:%M} UTC "
                f"by {hold.lifted_by}"
            )
        targets = list(
            s.scalars(
                sa.select(HoldTarget).where(HoldTarget.hold_id == hold.id).order_by(HoldTarget.id)
            )
        )
        if package is not None or collection is not None:
            target = _one_target(uow, principal, hold, targets, package, collection)
            chosen = [target]
        else:
            chosen = [t for t in targets if t.lifted_at is None]
            for t in chosen:
                if t.package_id is not None and sharing.custodian_staff(s, principal, t.package_id):
                    continue
                org_id = _target_organisation(s, t)
                if principal.role_in(org_id) is None:
                    if not any(_may_lift(s, principal, x) for x in chosen):
                        # custodian staff who see a hold on a collection of the packages they
                        # keep: nothing of it is theirs to lift (no target named: some may be
                        # of organisations they do not see)
                        raise PermissionDenied(
                            f"{principal.username} may not lift hold {hold.id}: a hold is lifted "
                            "by an archivist of the organisation owning what it covers "
                            "(custodian staff lift the holds placed on packages they keep)"
                        )
                    raise PermissionDenied(
                        f"hold {hold.id} also covers packages or collections of organisations "
                        "you do not belong to: lift its targets one by one (--package, "
                        "--collection)"
                    )
                require_role(principal, org_id, "archivist", f"hold {hold.id}")
        for t in chosen:
            t.lifted_at, t.lifted_by, t.lift_reason = when, principal.label, reason
        whole = all(t.lifted_at is not None for t in targets)
        if whole:
            hold.state = "lifted"
            hold.lifted_at, hold.lifted_by, hold.lift_reason = when, principal.label, reason
        s.flush()
        what = (
            ""
            if whole and package is None and collection is None
            else (" from " + ", ".join(_target_label(s, t) for t in chosen))
        )
        affected = _record(
            uow,
            principal,
            hold,
            chosen,
            action="hold.lift" if whole else "hold.lift_target",
            outcome_detail=f"hold {hold.id} ({hold.kind}) {hold.title!r} lifted{what}",
            detail=f"lifted by {principal.label}: {reason}",
            reason=reason,
            when=when,
            channel=channel,
            remote_addr=remote_addr,
        )
        locks = _note_locks(s, affected, when)
        info = _info(s, hold, principal)
        uow.commit()
    _flush(app, affected)
    _apply_locks(app, locks)
    log.info("hold %s lifted%s by %s", hold_id, what, principal.label)
    return info


def _may_lift(session: Session, principal: Principal, t: HoldTarget) -> bool:
    """Whether ``principal`` may lift the hold from target ``t``: custodian staff from a
    package they keep, else an archivist (or admin) of the organisation owning it."""
    if t.package_id is not None and sharing.custodian_staff(session, principal, t.package_id):
        return True
    try:
        require_role(principal, _target_organisation(session, t), "archivist", "the target")
    except (PermissionDenied, NotFound):  # no role at all: NotFound, as if it did not exist
        return False
    return True


def _one_target(
    uow: Any,
    principal: Principal,
    hold: Hold,
    targets: list[HoldTarget],
    package: str | None,
    collection: str | None,
) -> HoldTarget:
    if package is not None:
        p = _package(uow, principal, package)
        match = [t for t in targets if t.package_id == p.id]
        if not match:
            raise NotFound(f"hold {hold.id} is not on package {p.id}")
        _require_package_role(uow.session, principal, p)
        label, org_id = f"package {p.id}", None
    else:
        assert collection is not None
        c = _collection(uow, principal, collection)
        match = [t for t in targets if t.collection_id == c.id]
        label = f"collection {_collection_label(c)}"
        org_id = c.organisation_id
    if not match:
        raise NotFound(f"hold {hold.id} is not on {label}")
    if org_id is not None:
        require_role(principal, org_id, "archivist", label)
    target = match[0]
    if target.lifted_at is not None:
        raise InvalidInput(
            f"hold {hold.id} was already lifted from {label} on "
            f"{target.lifted_at:%Y-%m-%d %H:%M} UTC by {target.lifted_by}"
        )
    return target


# ----------------------------------------------------------------------------- users


def principal_for_cli(app: Application, username: str) -> Principal:
    """The person named by ``--as USER`` on the command line: an existing, active catalogue
    user (``preserve users create``); their roles apply as on the web."""
    from preserve.services.accounts import person_named

    return person_named(app, username)


# ----------------------------------------------------------------------------- helpers


def _check_kind(kind: str) -> str:
    value = kind.strip().lower().replace("-", "_")
    if value not in HOLD_KINDS:
        close = suggestions(value, HOLD_KINDS, partial=True)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        raise InvalidInput(f"unknown kind of hold {kind!r}: one of {', '.join(HOLD_KINDS)}{hint}")
    return value


def _check_title(title: str) -> str:
    value = title.strip()
    if not value:
        raise InvalidInput("the title (--title) is empty")
    if "\n" in value or "\r" in value:
        raise InvalidInput("the title (--title) must be one line")
    if len(value) > MAX_TITLE:
        raise InvalidInput(f"the title (--title) is {len(value)} characters; at most {MAX_TITLE}")
    return value


def _required(text: str | None, message: str) -> str:
    if text is None or not text.strip():
        raise InvalidInput(message)
    return text.strip()


def _package(uow: Any, principal: Principal | None, text: str) -> Package:
    """The package ``text`` names (as ``preserve show`` resolves it), if the person may see
    it; otherwise NotFound (the same message as for one that does not exist)."""
    given = text.strip()
    if not given:
        raise InvalidInput("an empty package id was given (an unset variable in a script?)")
    sees_all = principal is None or principal.is_admin
    try:
        package_id = pk.resolve_package(uow, given)
    except NotFound:
        if sees_all:
            raise
        raise NotFound(_no_package(given)) from None
    except InvalidInput:
        if sees_all:
            raise
        assert principal is not None
        seen = [
            p
            for p in uow.packages.with_id_prefix(given.lower())
            if sharing.can_see(uow.session, principal, p)
        ]
        if not seen:
            raise NotFound(_no_package(given)) from None
        if len(seen) > 1:
            raise InvalidInput(
                f"{given!r} names more than one package: "
                + ", ".join(p.id for p in seen[:10])
                + "; give more of the id, or the whole id"
            ) from None
        package_id = seen[0].id
    found = uow.packages.get(package_id)
    if found is None or (
        principal is not None
        and not principal.is_admin
        and not sharing.can_see(uow.session, principal, found)
    ):
        raise NotFound(_no_package(given))
    return found


def _require_package_role(s: Session, principal: Principal, package: Package) -> None:
    """Placing or lifting a hold on a package needs the archivist role in its organisation, or
    in the custodian party of the agreement in force over it (the archive service keeps it)."""
    org_id = package.collection.organisation_id
    if principal.can(org_id, "archivist") or sharing.custodian_staff(s, principal, package.id):
        return
    if principal.can_view(org_id):
        require_role(principal, org_id, "archivist", f"package {package.id}")
    # a party that sees the package through an agreement, without the custodian's archivists
    raise PermissionDenied(
        f"you need the archivist role in the organisation that owns package {package.id}, or "
        "in the custodian party of the agreement over it, to place or lift a hold on it"
    )


def _no_package(given: str) -> str:
    """One message for a package that does not exist and one the person may not see."""
    message = f"no package {given!r} that you may see"
    digits = given.replace("-", "")
    if all(ch in "0123456789abcdefABCDEF" for ch in digits) and len(digits) < pk.MIN_PREFIX:
        message += f" (a prefix of a package id needs at least {pk.MIN_PREFIX} hex digits)"
    return message


def _collection(uow: Any, principal: Principal | None, text: str) -> Collection:
    """The collection "ORG/SLUG", if the person may see it (a member of its organisation, or
    a party who sees packages of it through an agreement); otherwise NotFound, with "did you
    mean" among the collections they may see."""
    from preserve.services.admin import require_collection_path

    if principal is None or principal.is_admin:
        return require_collection_path(uow, text)
    seen = _shared_collections(uow.session, principal)
    return require_collection_path(
        uow, text, visible=lambda c: principal.can_view(c.organisation_id) or c.id in seen
    )


def _shared_collections(s: Session, principal: Principal) -> set[int]:
    """The collections of the packages shared with the person through an agreement in force:
    they see the holds on those collections, which cover those packages."""
    shared = sharing.shared_agreements(s, principal)
    if not shared:
        return set()
    return set(
        s.scalars(
            sa.select(Package.collection_id)
            .join(PackageRetention, PackageRetention.package_id == Package.id)
            .where(PackageRetention.agreement_id.in_(shared))
            .distinct()
        )
    )


def _sees_target(s: Session, principal: Principal, t: HoldTarget, org_id: int) -> bool:
    """Whether the person sees a hold's target (of organisation ``org_id``): a member of the
    organisation, or a party of an agreement in force over the package, or over a package of
    the collection."""
    if principal.can_view(org_id):
        return True
    if t.package_id is not None:
        return sharing.shares(s, principal, t.package_id)
    return t.collection_id in _shared_collections(s, principal)


def _collection_label(c: Collection) -> str:
    return f"{c.organisation.slug}/{c.slug}"


def _visible_hold(s: Session, principal: Principal | None, hold_id: int) -> Hold:
    hold = s.get(Hold, hold_id)
    if hold is None:
        raise NotFound(f"no hold {hold_id}")
    if (
        principal is not None
        and not principal.is_admin
        and not any(_sees_target(s, principal, t, _target_organisation(s, t)) for t in hold.targets)
    ):
        raise NotFound(f"no hold {hold_id}")
    return hold


def _holds_in_organisations(org_ids: Iterable[int], *more: Any) -> Any:
    """The ids of the holds with a target (package or collection) in these organisations (and
    those ``more`` selects of hold ids give: one flat UNION, as SQLite wants it)."""
    ids = list(org_ids)
    by_collection = (
        sa.select(HoldTarget.hold_id)
        .join(Collection, Collection.id == HoldTarget.collection_id)
        .where(Collection.organisation_id.in_(ids))
    )
    by_package = (
        sa.select(HoldTarget.hold_id)
        .join(Package, Package.id == HoldTarget.package_id)
        .join(Collection, Collection.id == Package.collection_id)
        .where(Collection.organisation_id.in_(ids))
    )
    return sa.union(by_collection, by_package, *more)


def _target_organisation(s: Session, t: HoldTarget) -> int:
    if t.collection_id is not None:
        return s.get_one(Collection, t.collection_id).organisation_id
    return s.get_one(Package, t.package_id).collection.organisation_id


def _target_label(s: Session, t: HoldTarget) -> str:
    if t.collection_id is not None:
        return f"collection {_collection_label(s.get_one(Collection, t.collection_id))}"
    return f"package {t.package_id}"


def _info(s: Session, hold: Hold, principal: Principal | None) -> HoldInfo:
    shown: list[TargetInfo] = []
    hidden = 0
    for t in sorted(hold.targets, key=lambda t: t.id):
        if t.collection_id is not None:
            c = s.get_one(Collection, t.collection_id)
            package_id, title = None, None
        else:
            p = s.get_one(Package, t.package_id)
            c = p.collection
            package_id, title = p.id, p.title
        if principal is not None and not _sees_target(s, principal, t, c.organisation_id):
            hidden += 1
            continue
        shown.append(
            TargetInfo(
                id=t.id,
                type="collection" if t.collection_id is not None else "package",
                package_id=package_id,
                collection=_collection_label(c),
                organisation=c.organisation.slug,
                package_title=title,
                added_by=t.added_by,
                added_at=t.added_at,
                lifted_by=t.lifted_by,
                lifted_at=t.lifted_at,
                lift_reason=t.lift_reason,
            )
        )
    return HoldInfo(
        id=hold.id,
        kind=hold.kind,
        title=hold.title,
        reason=hold.reason,
        mandate=hold.mandate,
        state=hold.state,
        created_by=hold.created_by,
        created_at=hold.created_at,
        lifted_by=hold.lifted_by,
        lifted_at=hold.lifted_at,
        lift_reason=hold.lift_reason,
        targets=tuple(shown),
        hidden_targets=hidden,
    )


def _record(
    uow: Any,
    principal: Principal,
    hold: Hold,
    targets: Sequence[HoldTarget],
    *,
    action: str,
    outcome_detail: str,
    detail: str,
    reason: str,
    when: datetime,
    channel: str,
    remote_addr: str | None,
) -> list[str]:
    """A PREMIS policy assignment event on every package the targets cover (now), and one
    audit entry per organisation concerned; returns the packages' ids."""
    s = uow.session
    by_org: dict[int, dict[str, list[str]]] = {}
    affected: dict[str, int] = {}  # package id -> organisation id
    for t in targets:
        if t.collection_id is not None:
            c = s.get_one(Collection, t.collection_id)
            entry = by_org.setdefault(c.organisation_id, {"packages": [], "collections": []})
            entry["collections"].append(_collection_label(c))
            for pid in s.scalars(sa.select(Package.id).where(Package.collection_id == c.id)):
                affected[pid] = c.organisation_id
        else:
            assert t.package_id is not None
            org_id = s.get_one(Package, t.package_id).collection.organisation_id
            entry = by_org.setdefault(org_id, {"packages": [], "collections": []})
            entry["packages"].append(t.package_id)
            affected[t.package_id] = org_id
    software = uow.agents.get_or_create("preserve", __version__, "software")
    person = uow.agents.get_or_create(principal.label, "", "person")
    owners: dict[int, Any] = {}
    links = []
    for pid in sorted(affected):
        org_id = affected[pid]
        if org_id not in owners:
            org = s.get_one(Organisation, org_id)
            owners[org_id] = uow.agents.get_or_create(org.name, "", "organization")
        event = uow.events.add(
            premis.POLICY_ASSIGNMENT,
            "success",
            agent=software,
            package_id=pid,
            detail=detail,
            outcome_detail=outcome_detail,
            occurred_at=when,
        )
        links += [(event.id, person, "implementer"), (event.id, owners[org_id], "owner")]
    uow.events.link_agents(links)
    for org_id, what in sorted(by_org.items()):
        s.add(
            AuditEntry(
                occurred_at=when,
                user_id=principal.user_id,
                username=principal.username,
                action=action,
                object_type="hold",
                object_id=str(hold.id),
                organisation_id=org_id,
                remote_addr=remote_addr,
                channel=channel,
                detail={
                    "kind": hold.kind,
                    "title": hold.title,
                    "reason": reason,
                    **{k: v for k, v in what.items() if v},
                },
            )
        )
    return sorted(affected)


def _note_locks(s: Session, package_ids: list[str], when: datetime) -> list[str]:
    """Record, with the hold, the S3 legal hold its packages now need (set or cleared), so that
    a location that does not answer loses nothing (the daily task applies what is pending)."""
    from preserve.services.retention_locks import note

    return note(s, package_ids, now=when)


def _apply_locks(app: Application, package_ids: list[str]) -> None:
    """Set or clear the legal hold on the objects of the packages' copies now (never raises)."""
    if package_ids:
        from preserve.services.retention_locks import apply_after_commit

        apply_after_commit(app, package_ids)


def _flush(app: Application, package_ids: list[str]) -> None:
    """Write the new events to storage with the packages' other events (never raises for
    storage trouble: what could not be written is written by the next flush)."""
    if not package_ids:
        return
    from preserve.services.journal import flush_events

    flush_events(app, package_ids, catch_up=0)


__all__ = [
    "HOLD_KINDS",
    "STATES",
    "HoldInfo",
    "HoldRef",
    "TargetInfo",
    "holds_on",
    "lift",
    "list_holds",
    "place",
    "principal_for_cli",
    "require_no_hold",
    "require_no_holds",
    "show",
]
