"""The agreement drives ingest and retention (issue 12; retention-agreements.md 5.1 E1, E2, E10).

- **Ingest gate** (:func:`require_ingest_open`): no new package enters a collection whose
  agreement is suspended, under notice, exiting, expired or closed; the reason is the one
  :func:`preserve.services.agreements.ingest_allowed` gives. The ingest pipeline asks before
  any work (``check_request``, which the CLI, ``--async`` jobs and web transfers all go
  through) and again right after the package row is claimed, before anything is stored.
- **Link** (:func:`link_package`): a package ingested under an agreement in force is linked to
  that version (``package_retention``): the AIP's bag-info names it (``Agreement-Identifier``,
  ``Agreement-Version``). A meemoo SIP's ``altRecordID TYPE="SUBMISSIONAGREEMENT"`` naming the
  governing agreement makes the basis ``sip_reference``; naming another or an unknown one is a
  warning, never a refusal.
- **Formats** (:func:`format_warnings`): a file whose PUID the agreement does not list among its
  accepted (or preferred) formats is warned about; an agreement without a list accepts all.
- **Retention** (:func:`schedule`, :func:`recompute`, :func:`mark_due`): the start is the
  trigger's date (``ingest_date``, ``creation_date``: ``dcterms:created`` else ``date``,
  ``metadata_field:<element>``, ``event:<type>``: the package's first PREMIS event of that
  type), the due date start + period (for a ``minimum`` bound the earliest disposal, for a
  ``maximum`` bound the date by which it must be disposed of). A missing or unparsable trigger
  value is a ``retention_error`` with the reason, never a guessed date. ``keep_permanently``
  has no due date. ``mark_due`` (daily) moves ``in_retention -> due`` when the due date is
  reached, and ``due -> under_review`` for the action ``review``; the packages of an expired
  agreement are flagged ``under_review`` (never deleted).
- **Amendment** (:func:`relink_superseded`): the version in force governs. When a version
  supersedes another, the packages linked to the old one are linked to the new one (a PREMIS
  ``policy assignment`` event keeps the history) and their retention is computed again with
  its rule; a package the new version's scope no longer covers keeps its old link, flagged
  ``under_review`` (never deleted). A package in an open disposal keeps its state: the
  execution finds it under another version and leaves it out.
- **Still due** (:func:`not_due_reason`): a disposal re-checks each package when it is
  proposed and when it runs: the due date is computed again from the rule and description in
  force, and under a ``minimum`` bound a package is not disposed of before it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from preserve import __version__, premis
from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement, AgreementScope, FormatPolicy, RetentionRule
from preserve.catalogue.models import Collection, Event, Organisation, Package
from preserve.catalogue.repositories import AgentRepository, EventRepository
from preserve.catalogue.retention import PackageRetention
from preserve.errors import Conflict, InvalidInput, NotFound
from preserve.services.admin import require_collection_path
from preserve.services.agreements import (
    IN_FORCE,
    GoverningLookup,
    _matches,
    add_months,
    governing_agreement,
    ingest_allowed,
    parse_identifier,
)
from preserve.values import Problem

log = logging.getLogger(__name__)

#: bag-info.txt labels naming the agreement (preserve-aip-1.0.json lists them as optional)
AGREEMENT_IDENTIFIER = "Agreement-Identifier"
AGREEMENT_VERSION = "Agreement-Version"
#: states recompute leaves alone: a person decides what happens next
DECIDED = (
    "under_review",
    "disposal_proposed",
    # the disposal's states (preserve.services.disposal): a recompute never undoes a disposal
    "disposal_approved",
    "disposing",
    "disposed",
    "disposal_failed",
    "restored",
    "permanently_deleted",
)
#: the states ``preserve retention due`` lists
LISTED_DUE = ("due", "under_review", "retention_error")
#: a package in an open disposal request: the request decides what happens to it
IN_DISPOSAL = ("disposal_proposed", "disposal_approved", "disposing")
#: a package disposed of (in the restore bin or gone): its link is history
DISPOSED = ("disposed", "permanently_deleted")


def _now(now: datetime | None) -> datetime:
    return now if now is not None else datetime.now(UTC)


@dataclass(frozen=True)
class AgreementLink:
    """The agreement version a package was ingested under."""

    agreement_id: int
    reference: str
    version_no: int
    basis: str

    @property
    def label(self) -> str:
        return f"{self.reference} v{self.version_no}"

    def bag_info(self) -> list[tuple[str, str]]:
        return [(AGREEMENT_IDENTIFIER, self.reference), (AGREEMENT_VERSION, str(self.version_no))]


@dataclass(frozen=True)
class RetentionStatus:
    """A package's agreement and retention, as ``preserve show`` and ``retention due`` list it."""

    package_id: str
    title: str
    collection: str  # ORG/SLUG
    agreement: str  # "REF vN"
    reference: str
    version_no: int
    basis: str
    state: str
    retention_start: date | None
    retention_due: date | None
    error: str | None
    rule: str  # "destroy 10 years after ingest_date (minimum)"
    action: str | None
    bound: str | None
    sip_reference: str | None
    format_warnings: tuple[Mapping[str, str], ...]
    #: the state of the linked version ("superseded": a newer version no longer covers it)
    agreement_state: str = "active"
    #: the version in force of the same agreement when the linked one is superseded
    superseded_by: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "package_id": self.package_id,
            "title": self.title,
            "collection": self.collection,
            "agreement": self.agreement,
            "reference": self.reference,
            "version_no": self.version_no,
            "basis": self.basis,
            "state": self.state,
            "retention_start": self.retention_start.isoformat() if self.retention_start else None,
            "retention_due": self.retention_due.isoformat() if self.retention_due else None,
            "error": self.error,
            "rule": self.rule,
            "action": self.action,
            "bound": self.bound,
            "sip_reference": self.sip_reference,
            "format_warnings": [dict(w) for w in self.format_warnings],
            "agreement_state": self.agreement_state,
            "superseded_by": self.superseded_by,
        }


# ------------------------------------------------------------------------------ ingest gate


def require_ingest_open(session: Session, collection_id: int) -> None:
    """Raise Conflict (with the agreement's reason) when no new package may enter the
    collection."""
    allowed, why = ingest_allowed(session, collection_id)
    if not allowed:
        raise Conflict(f"ingest refused: {why}")


def _known_reference(session: Session, text: str) -> str | None:
    """The agreement reference ``text`` names ("REF", "REF/v2", "REF v2"), if it is known."""
    try:
        reference, _ = parse_identifier(text.strip().replace(" v", "/v"))
    except InvalidInput:
        return None
    found = session.scalar(
        sa.select(Agreement.reference)
        .where(sa.func.lower(Agreement.reference) == reference.lower())
        .limit(1)
    )
    return found


def link_package(
    app: Application, package_id: str, *, sip_reference: str | None = None, actor: str = ""
) -> tuple[AgreementLink | None, list[Problem]]:
    """Check the gate again and link the package (claimed, nothing stored yet) to the agreement
    version that governs it; an already linked package (a new version) keeps its link.
    Returns the link (None: no agreement governs it) and warnings about the SIP's reference."""
    warnings: list[Problem] = []
    with app.uow() as uow:
        s = uow.session
        package = s.get(Package, package_id)
        if package is None:
            raise NotFound(f"no package {package_id}")
        require_ingest_open(s, package.collection_id)
        row = s.get(PackageRetention, package_id)
        if row is not None:
            return _link(row), warnings
        ref = governing_agreement(s, package_id=package_id)
        sip = (sip_reference or "").strip() or None
        basis = "rule"
        if sip is not None:
            known = _known_reference(s, sip)
            if ref is not None and known == ref.reference:
                basis = "sip_reference"
            elif known is None:
                warnings.append(
                    Problem(
                        "submission-agreement-unknown",
                        "",
                        f"the SIP names submission agreement {sip!r}, which is not known here"
                        + (f"; linked to {ref.label}, which governs the collection" if ref else ""),
                        "warning",
                    )
                )
            else:
                warnings.append(
                    Problem(
                        "submission-agreement-other",
                        "",
                        f"the SIP names submission agreement {known}, which does not govern "
                        "this collection"
                        + (f"; linked to {ref.label}" if ref else ": not linked to it"),
                        "warning",
                    )
                )
        if ref is None:
            return None, warnings
        row = PackageRetention(
            package_id=package_id,
            agreement_id=ref.id,
            reference=ref.reference,
            version_no=ref.version_no,
            basis=basis,
            sip_reference=sip[:255] if sip else None,
            assigned_by=actor,
            assigned_at=_now(None),
            state="unscheduled",
            format_warnings=[],
        )
        s.add(row)
        uow.commit()
        return _link(row), warnings


def _link(row: PackageRetention) -> AgreementLink:
    return AgreementLink(row.agreement_id, row.reference, row.version_no, row.basis)


def accepted_formats(session: Session, agreement_id: int) -> set[str] | None:
    """The PUIDs the agreement accepts (accepted and preferred); None when it lists none."""
    puids = set(
        session.scalars(
            sa.select(FormatPolicy.puid).where(FormatPolicy.agreement_id == agreement_id)
        )
    )
    return puids or None


def format_warnings(
    app: Application, link: AgreementLink, files: Iterable[tuple[str, str, str]]
) -> list[Problem]:
    """A warning for each file (path, PUID, format name) whose PUID the agreement does not
    accept; none when it accepts all."""
    with app.uow() as uow:
        accepted = accepted_formats(uow.session, link.agreement_id)
    if accepted is None:
        return []
    return [
        Problem(
            "format-not-accepted",
            path,
            f"format {puid}{f' ({name})' if name else ''} is not among the formats agreement "
            f"{link.label} accepts",
            "warning",
        )
        for path, puid, name in files
        if puid not in accepted
    ]


# ---------------------------------------------------------------------------- calculation


_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ].*)?$")


def parse_trigger_date(text: str) -> date:
    """A full date (``YYYY-MM-DD``, optionally followed by a time); anything less (a year, a
    month, free text) is refused with ValueError: a retention date is never guessed."""
    value = text.strip()
    m = _DATE.match(value)
    if m is None:
        raise ValueError(f"{value!r} is not a full date (YYYY-MM-DD)")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"{value!r} is not a valid date") from None


def _values(description: Mapping[str, Any], element: str) -> list[str]:
    for key in (element, f"dcterms:{element}", element.removeprefix("dcterms:")):
        values = description.get(key)
        if isinstance(values, str):
            values = [values]
        if values:
            return [str(v) for v in values]
    return []


def trigger_date(session: Session, package: Package, trigger: str) -> date:
    """The date the rule's trigger gives for the package; ValueError with the reason when the
    value is missing or not a date."""
    description = package.description or {}
    if trigger == "ingest_date":
        return package.created_at.astimezone(UTC).date()
    if trigger == "creation_date":
        values = _values(description, "dcterms:created") or _values(description, "date")
        if not values:
            raise ValueError("the description has no creation date (dcterms:created or date)")
        return parse_trigger_date(values[0])
    kind, _, name = trigger.partition(":")
    if kind == "metadata_field" and name:
        values = _values(description, name)
        if not values:
            raise ValueError(f"the description has no {name}")
        try:
            return parse_trigger_date(values[0])
        except ValueError as exc:
            raise ValueError(f"{name}: {exc}") from None
    if kind == "event" and name:
        first = session.scalar(
            sa.select(sa.func.min(Event.occurred_at)).where(
                Event.package_id == package.id,
                # event:message_digest_calculation names "message digest calculation"
                sa.func.lower(Event.event_type).in_({name.lower(), name.lower().replace("_", " ")}),
            )
        )
        if first is None:
            raise ValueError(f"the package has no {name!r} event")
        if isinstance(first, str):  # SQLite aggregates return text
            first = datetime.fromisoformat(first)
        if first.tzinfo is None:
            first = first.replace(tzinfo=UTC)
        return first.astimezone(UTC).date()
    raise ValueError(f"unknown retention trigger {trigger!r}")


def add_period(start: date, value: int, unit: str) -> date:
    if unit == "days":
        return start + timedelta(days=value)
    if unit == "weeks":
        return start + timedelta(weeks=value)
    if unit == "months":
        return add_months(start, value)
    if unit == "years":
        return add_months(start, 12 * value)
    raise ValueError(f"unknown period unit {unit!r}")


def rule_text(rule: RetentionRule | None) -> str:
    if rule is None:
        return "no retention rule"
    if rule.action == "keep_permanently":
        return "keep permanently"
    unit = rule.period_unit if rule.period_value != 1 else rule.period_unit.rstrip("s")
    return (
        f"{rule.action.replace('_', ' ')} {rule.period_value} {unit} after {rule.trigger} "
        f"({rule.bound})"
    )


def _rule(session: Session, agreement_id: int) -> RetentionRule | None:
    return session.scalar(
        sa.select(RetentionRule).where(RetentionRule.agreement_id == agreement_id)
    )


def _compute(
    session: Session,
    row: PackageRetention,
    today: date,
    at: datetime,
    rules: dict[int, RetentionRule | None] | None = None,
) -> None:
    """Set the row's start, due date and state from its agreement's rule (not for the states a
    person decides next). ``rules``: the rules read so far in this pass, by agreement version
    (a signed version's rule cannot change)."""
    if row.state in DECIDED:
        return
    package = session.get(Package, row.package_id)
    assert package is not None
    if rules is None:
        rule = _rule(session, row.agreement_id)
    else:
        if row.agreement_id not in rules:
            rules[row.agreement_id] = _rule(session, row.agreement_id)
        rule = rules[row.agreement_id]
    row.computed_at = at
    try:
        if rule is None:
            raise ValueError(f"agreement {row.reference} v{row.version_no} has no retention rule")
        start = trigger_date(session, package, rule.trigger)
    except ValueError as exc:
        row.state, row.error = "retention_error", str(exc)
        row.retention_start = row.retention_due = None
        return
    row.error = None
    row.retention_start = start
    if rule.action == "keep_permanently":
        row.retention_due, row.state = None, "in_retention"
        return
    row.retention_due = add_period(start, rule.period_value, rule.period_unit)
    row.state = "in_retention"
    _advance(row, rule.action, today)


def _advance(row: PackageRetention, action: str | None, today: date) -> bool:
    """in_retention -> due once the due date is reached; due -> under_review for ``review``."""
    moved = False
    if row.state == "in_retention" and row.retention_due is not None and row.retention_due <= today:
        row.state, moved = "due", True
    if row.state == "due" and action == "review":
        row.state, moved = "under_review", True
    return moved


def not_due_reason(session: Session, package_id: str, today: date) -> str | None:
    """Why the package may not be disposed of on ``today`` under its retention (None: it may):
    its due date is computed again from the rule of the version it is linked to and its
    description as they are now; under a ``minimum`` bound it must have been reached."""
    row = session.get(PackageRetention, package_id)
    if row is None:
        return "it is not under an agreement"
    label = f"{row.reference} v{row.version_no}"
    rule = _rule(session, row.agreement_id)
    if rule is None:
        return f"agreement {label} has no retention rule"
    if rule.action == "keep_permanently":
        return f"agreement {label} keeps it permanently"
    package = session.get_one(Package, package_id)
    try:
        start = trigger_date(session, package, rule.trigger)
    except ValueError as exc:
        return f"its retention cannot be computed: {exc}"
    due_on = add_period(start, rule.period_value, rule.period_unit)
    if rule.bound == "minimum" and today < due_on:
        return f"due on {due_on.isoformat()}, not yet ({label}: {rule_text(rule)})"
    return None


def reschedule_package(session: Session, package_id: str, at: datetime) -> None:
    """Put a package a disposal left out back under its retention (computed again, so a
    package not due yet is ``in_retention`` with its due date). The caller commits."""
    row = session.get(PackageRetention, package_id)
    if row is None:
        return
    row.state = "scheduled"
    _compute(session, row, at.date(), at)


def _version_in_force(session: Session, reference: str) -> Agreement | None:
    """The latest main version of ``reference`` that is in force, if any."""
    return session.scalars(
        sa.select(Agreement)
        .where(
            Agreement.reference == reference,
            Agreement.component == "main",
            Agreement.state.in_(IN_FORCE),
        )
        .order_by(Agreement.version_no.desc())
        .limit(1)
    ).first()


def _covers(agreement: Agreement, package: Package) -> bool:
    """Whether ``agreement``'s scope takes in the package (its collection, or a metadata rule
    matching its description)."""
    description = package.description or {}
    return any(
        (s.selector == "collection" and s.collection_id == package.collection_id)
        or (s.selector == "metadata" and _matches(s, description))
        for s in agreement.scopes
    )


def _collection_label(session: Session, collection_id: int) -> str:
    row = session.execute(
        sa.select(Organisation.slug, Collection.slug)
        .join(Collection, Collection.organisation_id == Organisation.id)
        .where(Collection.id == collection_id)
    ).one()
    return f"{row[0]}/{row[1]}"


def _status(session: Session, row: PackageRetention) -> RetentionStatus:
    package = session.get(Package, row.package_id)
    assert package is not None
    rule = _rule(session, row.agreement_id)
    version = session.get(Agreement, row.agreement_id)
    state = version.state if version is not None else "unknown"
    newer = _version_in_force(session, row.reference) if state == "superseded" else None
    return RetentionStatus(
        package_id=row.package_id,
        title=package.title,
        collection=_collection_label(session, package.collection_id),
        agreement=f"{row.reference} v{row.version_no}",
        reference=row.reference,
        version_no=row.version_no,
        basis=row.basis,
        state=row.state,
        retention_start=row.retention_start,
        retention_due=row.retention_due,
        error=row.error,
        rule=rule_text(rule),
        action=rule.action if rule else None,
        bound=rule.bound if rule else None,
        sip_reference=row.sip_reference,
        format_warnings=tuple(row.format_warnings or ()),
        agreement_state=state,
        superseded_by=f"{newer.reference} v{newer.version_no}" if newer is not None else None,
    )


def status_of(session: Session, package_id: str) -> RetentionStatus | None:
    """The package's agreement and retention, or None when it is under no agreement."""
    row = session.get(PackageRetention, package_id)
    return None if row is None else _status(session, row)


def schedule(
    app: Application,
    package_id: str,
    *,
    warnings: Sequence[Problem] | None = None,
    now: datetime | None = None,
) -> RetentionStatus | None:
    """Compute the retention of a linked package (after its ingest or a change of its
    description), recording ``warnings`` (format warnings) when given."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        row = s.get(PackageRetention, package_id, with_for_update=True)
        if row is None:
            return None
        if warnings is not None:
            row.format_warnings = [
                {"path": w.path, "message": w.message, "code": w.code} for w in warnings
            ]
        _compute(s, row, at.date(), at)
        status = _status(s, row)
        uow.commit()
    return status


def _link_unlinked(session: Session, collection_ids: Iterable[int], at: datetime) -> int:
    """Link the stored packages of the collections that no agreement was linked to yet (an
    agreement activated for a collection that already holds packages); returns how many."""
    unlinked = _unlinked().where(Package.collection_id.in_(list(collection_ids)))
    return _link_governed(session, unlinked, at)


def _unlinked() -> sa.Select[tuple[str, int, Any]]:
    """The stored packages no agreement was linked to yet: id, collection, description."""
    return (
        sa.select(Package.id, Package.collection_id, Package.description)
        .outerjoin(PackageRetention, PackageRetention.package_id == Package.id)
        .where(Package.status == "stored", PackageRetention.package_id.is_(None))
        .order_by(Package.id)
    )


def _link_governed(
    session: Session,
    unlinked: sa.Select[tuple[str, int, Any]],
    at: datetime,
    *,
    agreement_id: int | None = None,
) -> int:
    """Link each package of ``unlinked`` that an agreement governs (only ``agreement_id``,
    when given) to that version; returns how many. The governing agreement of every package is
    found from agreements read once (:class:`GoverningLookup`): a query per package made an
    activation over 20,000 packages take two minutes."""
    lookup = GoverningLookup(session)
    governed = []
    for pid, collection_id, description in session.execute(unlinked):
        ref = lookup.package(collection_id, description)
        if ref is not None and (agreement_id is None or ref.id == agreement_id):
            governed.append((pid, ref))
    rules: dict[int, RetentionRule | None] = {}
    for start in range(0, len(governed), LINK_BATCH):
        batch = governed[start : start + LINK_BATCH]
        # read in one query; held here, so that _compute finds them in the identity map
        packages = session.scalars(
            sa.select(Package).where(Package.id.in_([pid for pid, _ref in batch]))
        ).all()
        for pid, ref in batch:
            _link_new(session, pid, ref, at, rules=rules, flush=False)
        session.flush()
        del packages
    return len(governed)


#: Packages linked per flush when an agreement is activated over those already stored.
LINK_BATCH = 1_000


def _link_new(
    session: Session,
    package_id: str,
    ref: Any,
    at: datetime,
    *,
    rules: dict[int, RetentionRule | None] | None = None,
    flush: bool = True,
) -> None:
    """Link a stored package no agreement was linked to yet to the version ``ref`` that
    governs it (basis ``rule``) and compute its retention (``flush``: the row at once; else
    with the caller's next flush)."""
    row = PackageRetention(
        package_id=package_id,
        agreement_id=ref.id,
        reference=ref.reference,
        version_no=ref.version_no,
        basis="rule",
        assigned_by="",
        assigned_at=at,
        state="unscheduled",
        format_warnings=[],
    )
    session.add(row)
    if flush:
        session.flush()
    _compute(session, row, at.date(), at, rules)


def _link_matching(session: Session, agreement: Agreement, at: datetime) -> int:
    """Link the stored packages no agreement was linked to yet that ``agreement`` (in force,
    with a metadata-rule scope) governs now: those whose description its rule matches and
    whose collection no agreement covers (:func:`governing_agreement`)."""
    return _link_governed(session, _unlinked(), at, agreement_id=agreement.id)


def named_agreement(bag_info: Iterable[Sequence[str]] | None) -> tuple[str, int | None] | None:
    """The agreement a package's bag-info names (``Agreement-Identifier``, and
    ``Agreement-Version`` when it is a number), or None."""
    reference: str | None = None
    version: int | None = None
    for item in bag_info or ():
        if len(item) != 2:
            continue
        label, value = str(item[0]).lower(), str(item[1]).strip()
        if label == AGREEMENT_IDENTIFIER.lower() and reference is None and value:
            reference = value
        elif label == AGREEMENT_VERSION.lower() and version is None and value.isdigit():
            version = int(value)
    return None if reference is None else (reference, version)


def relink_named(
    session: Session, at: datetime, *, package_ids: Iterable[str] | None = None
) -> tuple[int, dict[str, list[str]]]:
    """Link the stored packages that have no link but whose bag-info names an agreement
    version (a catalogue rebuilt from storage, where agreements are not kept; an agreement
    entered again afterwards) to that version, when the catalogue has it and it took effect,
    and compute their retention. Returns how many were linked and, per agreement the
    catalogue does not have (``REF vN``), the packages that name it. The caller commits."""
    from preserve.services.agreements import TOOK_EFFECT

    query = (
        sa.select(Package.id, Package.bag_info)
        .outerjoin(PackageRetention, PackageRetention.package_id == Package.id)
        .where(
            Package.status == "stored",
            PackageRetention.package_id.is_(None),
            sa.cast(Package.bag_info, sa.Text).like(f"%{AGREEMENT_IDENTIFIER}%"),
        )
        .order_by(Package.id)
    )
    if package_ids is not None:
        query = query.where(Package.id.in_(list(package_ids)))
    linked = 0
    missing: dict[str, list[str]] = {}
    versions: dict[tuple[str, int | None], Agreement | None] = {}
    for pid, bag_info in session.execute(query).all():
        named = named_agreement(bag_info)
        if named is None:
            continue
        if named not in versions:
            reference, number = named
            versions[named] = session.scalar(
                sa.select(Agreement)
                .where(
                    sa.func.lower(Agreement.reference) == reference.lower(),
                    Agreement.component == "main",
                    Agreement.state.in_((*TOOK_EFFECT, "superseded")),
                    *([Agreement.version_no == number] if number is not None else []),
                )
                .order_by(Agreement.version_no.desc())
                .limit(1)
            )
        found = versions[named]
        if found is None:
            label = f"{named[0]} v{named[1]}" if named[1] is not None else named[0]
            missing.setdefault(label, []).append(pid)
            continue
        _link_new(session, pid, found, at)
        linked += 1
    return linked, missing


def backfill(session: Session, agreement: Agreement, at: datetime) -> int:
    """Called when ``agreement`` becomes active: link (basis ``rule``) and schedule the packages
    already in its collections that no agreement governed yet, and those of the version it
    supersedes (:func:`relink_superseded`: the version in force governs). The caller commits."""
    session.flush()  # its new state, so that it governs
    if agreement.supersedes_id is not None:
        relink_superseded(session, at, agreement_id=agreement.supersedes_id)
    collection_ids = [
        s.collection_id
        for s in session.scalars(
            sa.select(AgreementScope).where(
                AgreementScope.agreement_id == agreement.id,
                AgreementScope.selector == "collection",
            )
        )
        if s.collection_id is not None
    ]
    count = _link_unlinked(session, collection_ids, at)
    if any(s.selector == "metadata" for s in agreement.scopes):
        count += _link_matching(session, agreement, at)
    # packages whose bag-info names it (a catalogue rebuilt from storage before it was entered
    # again)
    count += relink_named(session, at)[0]
    if count:
        log.info(
            "agreement %s v%s: %d existing packages linked",
            agreement.reference,
            agreement.version_no,
            count,
        )
    return count


def relink_superseded(session: Session, at: datetime, *, agreement_id: int | None = None) -> int:
    """The version in force governs (retention-agreements.md 4.1: "new version becomes
    active, old one superseded"): the stored packages linked to a superseded version (that one
    only, with ``agreement_id``) are linked to the version of the same agreement now in force,
    and their retention is computed again with its rule (a package under review is scheduled
    again: the amendment, signed by every party, is its new rule). A package the new version's
    scope no longer covers keeps its link and is flagged ``under_review`` (never deleted). A
    package in an open disposal is linked to the new version but keeps its state: the
    disposal's execution leaves it out. Each change is a PREMIS ``policy assignment`` event.
    Returns how many packages changed. The caller commits."""
    session.flush()
    query = (
        sa.select(PackageRetention)
        .join(Agreement, Agreement.id == PackageRetention.agreement_id)
        .join(Package, Package.id == PackageRetention.package_id)
        .where(
            Agreement.state == "superseded",
            Package.status == "stored",
            PackageRetention.state.not_in(DISPOSED),
        )
        .order_by(PackageRetention.package_id)
    )
    if agreement_id is not None:
        query = query.where(PackageRetention.agreement_id == agreement_id)
    rows = session.scalars(query).all()
    if not rows:
        return 0
    agents, events = AgentRepository(session), EventRepository(session)
    software = agents.get_or_create("preserve", __version__, "software")
    changed = 0
    for row in rows:
        package = session.get_one(Package, row.package_id)
        old = f"{row.reference} v{row.version_no}"
        new = _version_in_force(session, row.reference)
        if new is None or new.id == row.agreement_id or not _covers(new, package):
            if row.state in (*IN_DISPOSAL, "under_review"):
                continue
            row.state, row.computed_at = "under_review", at
            detail = (
                f"agreement {old} was superseded"
                + (f" by {new.reference} v{new.version_no}, whose scope" if new else "; no version")
                + " no longer covers this package: flagged for review (never deleted)"
            )
        else:
            row.agreement_id, row.version_no = new.id, new.version_no
            row.assigned_at = at
            if row.state not in IN_DISPOSAL:
                if row.state == "under_review":
                    row.state = "scheduled"
                _compute(session, row, at.date(), at)
            detail = (
                f"agreement {old} superseded by {new.reference} v{new.version_no}: the "
                f"package is now under {new.reference} v{new.version_no}, retention "
                f"{rule_text(_rule(session, new.id))}"
                + (
                    f", due {row.retention_due.isoformat()}"
                    if row.retention_due and row.state not in IN_DISPOSAL
                    else ""
                )
            )
        events.add(
            premis.POLICY_ASSIGNMENT,
            "success",
            agent=software,
            package_id=row.package_id,
            detail=detail,
            occurred_at=at,
        )
        changed += 1
    if changed:
        log.info("%d packages moved off superseded agreement versions", changed)
    return changed


def recompute(
    app: Application, *, collection: str | None = None, now: datetime | None = None
) -> list[RetentionStatus]:
    """Link what an agreement in force governs but was not linked yet, and compute the
    retention of every linked package (of one collection, ``ORG/SLUG``) again."""
    at = _now(now)
    with app.uow() as uow:
        s = uow.session
        collection_ids = [] if collection is None else [require_collection_path(uow, collection).id]
        relink_superseded(s, at)  # the version in force governs
        if collection is None:  # by a collection's agreement or a metadata rule
            _link_governed(s, _unlinked(), at)
        else:
            _link_unlinked(s, collection_ids, at)
        relink_named(
            s,
            at,
            package_ids=None
            if collection is None
            else s.scalars(sa.select(Package.id).where(Package.collection_id.in_(collection_ids))),
        )
        query = sa.select(PackageRetention).order_by(PackageRetention.package_id)
        if collection is not None:
            query = query.join(Package, Package.id == PackageRetention.package_id).where(
                Package.collection_id.in_(collection_ids)
            )
        out = []
        rules: dict[int, RetentionRule | None] = {}
        for row in s.scalars(query).all():
            _compute(s, row, at.date(), at, rules)
            out.append(_status(s, row))
        uow.commit()
    return out


def _latest_states(session: Session) -> dict[str, str]:
    """Each reference's latest version that took effect, by state."""
    latest: dict[str, tuple[int, str]] = {}
    for reference, version_no, state in session.execute(
        sa.select(Agreement.reference, Agreement.version_no, Agreement.state).where(
            Agreement.component == "main",
            Agreement.state.not_in(("draft", "proposed", "pending_signature", "withdrawn")),
        )
    ):
        if reference not in latest or version_no > latest[reference][0]:
            latest[reference] = (version_no, state)
    return {ref: state for ref, (_, state) in latest.items()}


def mark_due(app: Application, now: datetime | None = None) -> list[RetentionStatus]:
    """Daily: packages whose due date is reached become ``due`` (``under_review`` for the
    action ``review``); those of an expired agreement are flagged ``under_review`` (never
    deleted). Returns the packages that moved."""
    at = _now(now)
    today = at.date()
    moved: list[RetentionStatus] = []
    with app.uow() as uow:
        s = uow.session
        expired = {ref for ref, state in _latest_states(s).items() if state == "expired"}
        rows = s.scalars(
            sa.select(PackageRetention)
            .where(
                sa.or_(
                    sa.and_(
                        PackageRetention.state == "in_retention",
                        PackageRetention.retention_due <= today,
                    ),
                    PackageRetention.state == "due",
                    sa.and_(
                        PackageRetention.reference.in_(expired),
                        PackageRetention.state.in_(("unscheduled", "scheduled", "in_retention")),
                    ),
                )
            )
            .order_by(PackageRetention.package_id)
            # two schedulers at once (PostgreSQL): each row is moved by one of them
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            rule = _rule(s, row.agreement_id)
            changed = _advance(row, rule.action if rule else None, today)
            if row.reference in expired and row.state in (
                "unscheduled",
                "scheduled",
                "in_retention",
                "due",
            ):
                row.state, changed = "under_review", True
            if changed:
                row.computed_at = at
                moved.append(_status(s, row))
        uow.commit()
    for m in moved:
        log.info("package %s: retention %s (%s)", m.package_id, m.state, m.agreement)
    return moved


def due(
    app: Application,
    *,
    within_days: int | None = None,
    on: date | None = None,
    now: datetime | None = None,
) -> list[RetentionStatus]:
    """Packages due, under review or in error, and with ``within_days`` also those whose due
    date falls within that many days (from ``on`` when given, else today); with ``on`` also
    those whose due date is reached by then (what the daily task will mark due that day); by
    due date."""
    if within_days is not None and within_days < 0:
        raise InvalidInput(f"--within {within_days}: give a number of days, 0 or more")
    today = on if on is not None else _now(now).date()
    with app.uow() as uow:
        s = uow.session
        cond: sa.ColumnElement[bool] = PackageRetention.state.in_(LISTED_DUE)
        if within_days is not None or on is not None:
            cond = sa.or_(
                cond,
                sa.and_(
                    PackageRetention.state == "in_retention",
                    PackageRetention.retention_due <= today + timedelta(days=within_days or 0),
                ),
            )
        rows = s.scalars(sa.select(PackageRetention).where(cond)).all()
        out = [_status(s, r) for r in rows]
    return sorted(out, key=lambda r: (r.retention_due or date.max, r.package_id))


__all__ = [
    "AGREEMENT_IDENTIFIER",
    "AGREEMENT_VERSION",
    "AgreementLink",
    "RetentionStatus",
    "backfill",
    "due",
    "format_warnings",
    "link_package",
    "mark_due",
    "not_due_reason",
    "recompute",
    "relink_superseded",
    "require_ingest_open",
    "reschedule_package",
    "schedule",
    "status_of",
]
