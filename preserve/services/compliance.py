"""Compliance per agreement and per organisation (issue 12; retention-agreements.md 5.3,
dashboard 2 and the retention part of dashboard 3).

One :class:`ComplianceRow` per agreement in force (the newest version of each reference) and
per organisation, each computed by a handful of aggregate queries over the packages it covers
(never a query per package):

- *placement*: the share of packages whose current version's verified copies meet the copies,
  distinct sites, allowed regions and offline copy the agreements in force over its collection
  ask. Each package's set of locations is aggregated in SQL (a bit per location), and each
  distinct set is judged once by :func:`preserve.services.placement.plan_version` against
  :func:`preserve.services.placement.requirement_for` (the strictest requirement over the
  collection: what the workers place copies for). Packages of a collection no agreement
  governs, or under an agreement only by a metadata rule, are not assessed (as placement does
  not place them).
- *fixity*: the share of packages every copy of which was checked within its interval (the
  interval of :mod:`preserve.services.schedule`: the shortest of the collection's, its
  agreements' and the location's, else the setting), the copies overdue, and the open fixity
  incidents (copies failed, quarantined, or whose last check was not ok).
- *formats*: the share of packages every payload file of which has a PUID on the agreement's
  accepted or preferred list (the list of the version the package was ingested under for an
  organisation's row); not assessed without a list.
- the last restore test and when the next is due; reviews in 30, 90 and 365 days; packages
  whose retention is due in 30, 90 and 365 days (and due now); retention errors; pending
  disposal requests (pending or approved: read from the disposal tables); packages under an
  active hold; the exit's state.

``packages`` counts stored packages only. An agreement's row covers the packages in its scope
(:func:`preserve.services.exits.packages_in_scope`). An organisation's row covers the packages
it is answerable for: those it *owns* (of its collections) and those it *keeps* as the custodian
of an agreement in force (the packages in that agreement's scope, whoever owns them); a package
it both owns and keeps counts once. ``packages_owned`` and ``packages_kept`` give the split (None
on an agreement's row); every other figure of the row is over the union. A party in another role
only (a creator, a submitting agent) owns and keeps nothing: its row counts 0 packages.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, aliased, selectinload

from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement, AgreementParty, FormatPolicy
from preserve.catalogue.exits import AgreementExit, RestoreTest
from preserve.catalogue.holds import Hold, HoldTarget
from preserve.catalogue.models import (
    Collection,
    Copy,
    File,
    Organisation,
    Package,
    StorageLocation,
    UTCDateTime,
)
from preserve.catalogue.retention import PackageRetention
from preserve.errors import InvalidInput, NotFound
from preserve.names import unknown
from preserve.services import agreements as ag
from preserve.services.access import Principal
from preserve.services.exits import packages_in_scope
from preserve.services.placement import Requirement, plan_version, requirement_for
from preserve.services.restore_tests import next_due
from preserve.services.schedule import agreement_intervals

#: The horizons of the upcoming reviews and retention due dates, in days.
HORIZONS = (30, 90, 365)
#: Disposal requests still waiting (for approvals, or for their execution).
OPEN_DISPOSALS = ("pending", "approved")
#: Agreement states that ask for no more restore test or review (trial finding 10): a closed,
#: withdrawn, expired or superseded agreement shows no next test and no next review.
ENDED = ("closed", "withdrawn", "expired", "superseded")
_BITS = 62


@dataclass(frozen=True)
class ComplianceRow:
    """The compliance figures of one agreement (``kind`` "agreement", ``name`` its label) or one
    organisation (``kind`` "organisation", ``name`` its slug)."""

    kind: str
    name: str
    title: str
    state: str | None
    packages: int
    #: packages judged against a copies requirement, and those meeting it
    placement_assessed: int
    placement_met: int
    #: packages with copies, and those every copy of which was checked within its interval
    fixity_assessed: int
    fixity_within: int
    fixity_overdue_copies: int
    open_incidents: int
    #: packages judged against a list of formats (0: no list), and those every file of which
    #: has an accepted PUID
    formats_assessed: int
    formats_accepted: int
    last_restore_test_at: datetime | None
    last_restore_test_outcome: str | None
    last_restore_test_package: str | None
    last_restore_test_location: str | None
    next_restore_test_due: datetime | None
    next_review_on: date | None
    #: agreements whose review falls within 30, 90, 365 days
    reviews_due: tuple[int, int, int]
    #: packages whose retention is due now (state due), and within 30, 90, 365 days
    retention_due_now: int
    retention_due: tuple[int, int, int]
    retention_errors: int
    #: None: the disposal tables are not there
    pending_disposals: int | None
    packages_on_hold: int
    #: the post-exit state of the latest exit export (None: no export)
    exit_state: str | None = None
    #: the agreements counted in an organisation's row
    agreements: tuple[str, ...] = field(default=())
    #: an organisation's row: the packages of its own collections, and those it keeps as the
    #: custodian of an agreement in force (``packages`` is their union); None for an agreement
    packages_owned: int | None = None
    packages_kept: int | None = None

    @property
    def restore_testable(self) -> bool:
        """Whether there is anything to restore-test: packages, under an agreement (restore
        tests are run per agreement). Without, "never tested" would mislead: shown as -."""
        return self.packages > 0 and (self.kind == "agreement" or bool(self.agreements))

    @property
    def placement_share(self) -> float | None:
        return _share(self.placement_met, self.placement_assessed)

    @property
    def fixity_share(self) -> float | None:
        return _share(self.fixity_within, self.fixity_assessed)

    @property
    def formats_share(self) -> float | None:
        return _share(self.formats_accepted, self.formats_assessed)


@dataclass(frozen=True)
class ComplianceReport:
    generated_at: datetime
    #: "all", "organisation ORG" or "agreement REF vN"
    scope: str
    agreements: tuple[ComplianceRow, ...]
    organisations: tuple[ComplianceRow, ...]
    notes: tuple[str, ...] = ()

    @property
    def rows(self) -> tuple[ComplianceRow, ...]:
        return (*self.agreements, *self.organisations)


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


# ---------------------------------------------------------------------------- the report


def report(
    app: Application,
    who: Principal | None = None,
    *,
    organisation: str | None = None,
    agreement: str | None = None,
    now: datetime | None = None,
) -> ComplianceReport:
    """The compliance of one agreement, of one organisation (its row and those of the agreements
    in force it is a party to), or of every agreement in force and every organisation ``who``
    may see (None: the operator, who sees everything)."""
    if organisation is not None and agreement is not None:
        raise InvalidInput("give --organisation or --agreement, not both")
    at = now if now is not None else datetime.now(UTC)
    notes: list[str] = []
    with app.uow() as uow:
        s = uow.session
        figures = _Figures(s, at, app.settings.fixity_interval_days)
        if figures.disposal is None:
            notes.append("pending disposals are not shown: the disposal tables are not there")
        if agreement is not None:
            a = ag._find_visible(s, agreement, who)  # "did you mean" for a reference mistyped
            figures.prepare(packages_in_scope(a), [a])
            rows = (figures.agreement_row(a),)
            return ComplianceReport(
                at, f"agreement {a.reference} v{a.version_no}", rows, (), tuple(notes)
            )
        if organisation is not None:
            org = s.scalar(sa.select(Organisation).where(Organisation.slug == organisation))
            if org is None or (who is not None and not who.can_view(org.id)):
                visible = s.execute(sa.select(Organisation.id, Organisation.slug)).all()
                raise unknown(
                    "organisation",
                    organisation,
                    (slug for id_, slug in visible if who is None or who.can_view(id_)),
                )
            agreements = [
                a for a in _in_force(s) if org.id in {p.organisation_id for p in a.parties}
            ]
            figures.prepare(sa.or_(_owned(org.id), *map(packages_in_scope, agreements)), agreements)
            return ComplianceReport(
                at,
                f"organisation {org.slug}",
                tuple(figures.agreement_row(a) for a in agreements),
                (figures.organisation_row(org, agreements),),
                tuple(notes),
            )
        agreements = [a for a in _in_force(s) if who is None or _visible(who, a)]
        orgs = [
            o
            for o in s.scalars(sa.select(Organisation).order_by(Organisation.slug))
            if who is None or who.can_view(o.id)
        ]
        figures.prepare(Package.status == "stored", agreements, whole=True)
        return ComplianceReport(
            at,
            "all",
            tuple(figures.agreement_row(a) for a in agreements),
            tuple(
                figures.organisation_row(
                    o, [a for a in agreements if o.id in {p.organisation_id for p in a.parties}]
                )
                for o in orgs
            ),
            tuple(notes),
        )


def _owned(organisation_id: int) -> sa.ColumnElement[bool]:
    """The stored packages of the organisation's collections."""
    return sa.and_(
        Package.status == "stored",
        Package.collection_id.in_(
            sa.select(Collection.id).where(Collection.organisation_id == organisation_id)
        ),
    )


def _is_custodian(a: Agreement, organisation_id: int) -> bool:
    return any(
        p.organisation_id == organisation_id and "custodian" in p.role_names for p in a.parties
    )


def _visible(who: Principal, a: Agreement) -> bool:
    try:
        ag._check_visible(who, a)
    except NotFound:
        return False
    return True


def _in_force(session: Session) -> list[Agreement]:
    """The newest version of each main agreement in force, by reference."""
    found = session.scalars(
        sa.select(Agreement)
        .where(Agreement.component == "main", Agreement.state.in_(ag.IN_FORCE))
        .options(
            selectinload(Agreement.parties).selectinload(AgreementParty.roles),
            selectinload(Agreement.scopes),
            selectinload(Agreement.formats),
        )
        .order_by(Agreement.reference, Agreement.version_no)
    ).all()
    latest: dict[str, Agreement] = {}
    for a in found:
        latest[a.reference] = a
    return [latest[r] for r in sorted(latest)]


#: A segment: the stored packages of one collection linked to one agreement version (reference
#: and id; None, None: not linked). Every row of the report is a union of segments.
_Key = tuple[int, str | None, int | None]


@dataclass(eq=False)
class _Segment:
    """The figures of one segment, each a count of packages (or copies) that adds up over the
    segments of a row: a package is in exactly one segment."""

    packages: int = 0
    #: packages per set of locations holding a verified copy of the current version (bits)
    placement: dict[int, int] = field(default_factory=dict)
    fixity_assessed: int = 0
    fixity_within: int = 0
    fixity_overdue: int = 0
    incidents: int = 0
    #: per distinct list of formats (its column): packages with a payload file outside it
    formats_outside: dict[int, int] = field(default_factory=dict)
    #: packages with a payload file outside the list of the agreement version they are linked to
    linked_outside: int = 0
    due_now: int = 0
    due: list[int] = field(default_factory=lambda: [0] * len(HORIZONS))
    errors: int = 0
    held: int = 0
    #: the segment's latest restore test: (started_at, id, outcome, package_id, location)
    last_test: tuple[Any, ...] | None = None


class _Figures:
    """The figures of the report's packages, computed once per report by a few grouped queries
    (one pass over the packages, their copies and their files, grouped by segment) and summed
    per row in Python: a row per agreement or organisation no longer costs its own scans."""

    def __init__(self, session: Session, now: datetime, default_days: int) -> None:
        self.s = session
        self.now = now
        self.today = now.date()
        self.default_days = default_days
        self.locations = list(
            session.scalars(
                sa.select(StorageLocation)
                .where(StorageLocation.retired_at.is_(None))
                .order_by(StorageLocation.id)
            )
        )
        self.requirements: dict[int, Requirement | None] = {}
        self.verdicts: dict[tuple[int, int], bool] = {}
        self.last_tests: dict[str, datetime | None] = {}
        self.segments: dict[_Key, _Segment] = {}
        self.with_lists: set[int] = set()
        self.list_of: dict[int, int] = {}
        try:
            from preserve.catalogue.disposal import DisposalRequest
        except ImportError:  # pragma: no cover - the disposal model comes with its own task
            self.disposal: Any = None
        else:
            self.disposal = DisposalRequest

    # ------------------------------------------------------------------ the one pass

    def prepare(
        self,
        universe: sa.ColumnElement[bool],
        agreements: Sequence[Agreement],
        *,
        whole: bool = False,
    ) -> None:
        """Compute the segments of the packages ``universe`` selects (every row of the report
        must be within it; ``whole``: every stored package), with the lists of formats of
        ``agreements``."""
        if self.s.get_bind().dialect.name == "postgresql":
            # one pass over 100,000s of rows: JIT compiling it cost more than it saved (0.3-0.5
            # s), and its hash aggregates spilled to disk at the default work_mem of 4 MB
            self.s.execute(sa.text("SET LOCAL jit = off"))
            self.s.execute(sa.text("SET LOCAL work_mem = '64MB'"))
        policies: dict[int, set[str]] = {}
        for agreement_id, puid in self.s.execute(
            sa.select(FormatPolicy.agreement_id, FormatPolicy.puid)
        ):
            policies.setdefault(int(agreement_id), set()).add(puid)
        for a in agreements:
            if a.formats:
                policies[a.id] = {f.puid for f in a.formats}
        self.with_lists = set(policies)
        # each distinct list one column: the lists of the rows' agreements, and those of every
        # agreement version a package can be linked to (an organisation's row)
        lists = sorted({tuple(sorted(v)) for v in policies.values()})
        column = {v: n for n, v in enumerate(lists)}
        self.list_of = {i: column[tuple(sorted(v))] for i, v in policies.items()}
        pr = aliased(PackageRetention, name="pr")
        copies = self._per_package_copies(universe)
        files = self._per_package_files(
            lists, None if whole else File.package_id.in_(sa.select(Package.id).where(universe))
        )
        linked = (
            sa.case(
                {i: files.c[f"outside_{n}"] for i, n in self.list_of.items()},
                value=pr.agreement_id,
                else_=0,
            )
            if self.list_of
            else sa.literal(0)
        )
        one, zero = sa.literal(1), sa.literal(0)

        def count_if(condition: sa.ColumnElement[bool]) -> Any:
            return sa.func.coalesce(sa.func.sum(sa.case((condition, one), else_=zero)), 0)

        def total(column: Any) -> Any:
            return sa.func.coalesce(sa.func.sum(column), 0)

        waiting = pr.state.in_(("scheduled", "in_retention"))
        mask = sa.func.coalesce(copies.c.mask, 0)
        columns = [
            Package.collection_id,
            pr.reference,
            pr.agreement_id,
            mask,
            sa.func.count(),
            count_if(copies.c.copies > 0),
            count_if(sa.and_(copies.c.copies > 0, copies.c.late == 0)),
            total(copies.c.overdue),
            total(copies.c.incidents),
            count_if(pr.state == "due"),
            *(
                count_if(
                    sa.and_(
                        waiting,
                        pr.retention_due.is_not(None),
                        pr.retention_due <= self.today + timedelta(days=h),
                    )
                )
                for h in HORIZONS
            ),
            count_if(pr.state == "retention_error"),
            count_if(self._held()),
            total(linked),
            *(total(files.c[f"outside_{n}"]) for n in range(len(lists))),
        ]
        rows = self.s.execute(
            sa.select(*columns)
            .select_from(Package)
            .outerjoin(pr, pr.package_id == Package.id)
            .outerjoin(copies, copies.c.package_id == Package.id)
            .outerjoin(
                files,
                sa.and_(files.c.package_id == Package.id, files.c.version == Package.version),
            )
            .where(universe)
            .group_by(Package.collection_id, pr.reference, pr.agreement_id, mask)
        ).all()
        for row in rows:
            key: _Key = (int(row[0]), row[1], None if row[2] is None else int(row[2]))
            seg = self.segments.setdefault(key, _Segment())
            n = int(row[4])
            seg.packages += n
            bits = int(row[3] or 0)
            seg.placement[bits] = seg.placement.get(bits, 0) + n
            seg.fixity_assessed += int(row[5])
            seg.fixity_within += int(row[6])
            seg.fixity_overdue += int(row[7])
            seg.incidents += int(row[8])
            seg.due_now += int(row[9])
            for i in range(len(HORIZONS)):
                seg.due[i] += int(row[10 + i])
            rest = row[10 + len(HORIZONS) :]
            seg.errors += int(rest[0])
            seg.held += int(rest[1])
            seg.linked_outside += int(rest[2])
            for n, value in enumerate(rest[3:]):
                seg.formats_outside[n] = seg.formats_outside.get(n, 0) + int(value)
        self._last_tests(universe)

    def _per_package_copies(self, universe: sa.ColumnElement[bool]) -> Any:
        """Per package with a copy (not pending, in a location in use): the bits of the
        locations of its verified copies of the current version, its copies, those not checked
        within their interval, those overdue (not damaged) and the damaged ones."""
        bit = {loc.id: 1 << i for i, loc in enumerate(self.locations[:_BITS])}
        current = sa.and_(Copy.version == Package.version, Copy.status == "verified")
        located = sa.case(bit, value=Copy.location_id, else_=0) if bit else sa.literal(0)
        agreed = agreement_intervals()
        own = Collection.fixity_interval_days
        collection_days = sa.case(
            (agreed.c.days.is_(None), own),
            (sa.or_(own.is_(None), agreed.c.days < own), agreed.c.days),
            else_=own,
        )
        loc_days = StorageLocation.fixity_interval_days
        interval = sa.case(
            (collection_days.is_(None), sa.func.coalesce(loc_days, self.default_days)),
            (loc_days.is_(None), collection_days),
            (collection_days < loc_days, collection_days),
            else_=loc_days,
        )
        cut = sa.case(
            {d: sa.literal(self.now - timedelta(days=d), UTCDateTime()) for d in self._intervals()},
            value=interval,
        )
        damaged = sa.or_(
            Copy.status.in_(("failed", "quarantined")),
            Copy.last_outcome.in_(("mismatch", "missing", "error")),
        )
        within = sa.and_(Copy.last_checked_at.is_not(None), Copy.last_checked_at >= cut)
        one, zero = sa.literal(1), sa.literal(0)
        return (
            sa.select(
                Copy.package_id.label("package_id"),
                sa.func.sum(sa.case((current, located), else_=0)).label("mask"),
                sa.func.count(Copy.id).label("copies"),
                sa.func.sum(sa.case((within, zero), else_=one)).label("late"),
                sa.func.sum(
                    sa.case((sa.and_(sa.not_(within), sa.not_(damaged)), one), else_=zero)
                ).label("overdue"),
                sa.func.sum(sa.case((damaged, one), else_=zero)).label("incidents"),
            )
            .select_from(Package)
            .join(Copy, Copy.package_id == Package.id)
            .join(Collection, Collection.id == Package.collection_id)
            .outerjoin(agreed, agreed.c.collection_id == Collection.id)
            .join(StorageLocation, StorageLocation.id == Copy.location_id)
            .where(universe, StorageLocation.retired_at.is_(None), Copy.status != "pending")
            .group_by(Copy.package_id)
            .subquery("pc")
        )

    def _per_package_files(self, lists: Sequence[Sequence[str]], narrow: Any) -> Any:
        """Per package version with payload files: 1 when one of them has no PUID or one outside
        ``lists[n]`` (``outside_<n>``). Grouped by the files' own (package, version), without
        a join first: an index-only scan of ``files`` in that order, no sort (migration 0015).
        ``narrow``: a condition on the package ids (None: every package's files)."""
        one, zero = sa.literal(1), sa.literal(0)
        unknown = File.puid.is_(None)
        query = (
            sa.select(
                File.package_id.label("package_id"),
                File.version.label("version"),
                *(
                    sa.func.max(
                        sa.case((sa.or_(unknown, File.puid.not_in(accepted)), one), else_=zero)
                    ).label(f"outside_{n}")
                    for n, accepted in enumerate(lists)
                ),
            )
            .where(File.role == "payload")
            .group_by(File.package_id, File.version)
        )
        if narrow is not None:
            query = query.where(narrow)
        return query.subquery("pf")

    def _held(self) -> sa.ColumnElement[bool]:
        """The package is covered by an active hold: on itself or on its collection."""
        targets = (
            sa.select(HoldTarget)
            .join(Hold, Hold.id == HoldTarget.hold_id)
            .where(Hold.state == "active", HoldTarget.lifted_at.is_(None))
        )
        packages = targets.with_only_columns(HoldTarget.package_id).where(
            HoldTarget.package_id.is_not(None)
        )
        collections = targets.with_only_columns(HoldTarget.collection_id).where(
            HoldTarget.collection_id.is_not(None)
        )
        return sa.or_(Package.id.in_(packages), Package.collection_id.in_(collections))

    def _last_tests(self, universe: sa.ColumnElement[bool]) -> None:
        """Each segment's latest restore test (of its packages, any version)."""
        pr = aliased(PackageRetention, name="tpr")
        rank = (
            sa.func.row_number()
            .over(
                partition_by=(Package.collection_id, pr.reference, pr.agreement_id),
                order_by=(RestoreTest.started_at.desc(), RestoreTest.id.desc()),
            )
            .label("rank")
        )
        ranked = (
            sa.select(
                Package.collection_id,
                pr.reference,
                pr.agreement_id,
                RestoreTest.started_at,
                RestoreTest.id,
                RestoreTest.outcome,
                RestoreTest.package_id,
                RestoreTest.location,
                rank,
            )
            .select_from(RestoreTest)
            .join(Package, Package.id == RestoreTest.package_id)
            .outerjoin(pr, pr.package_id == Package.id)
            .where(universe)
            .subquery("rt")
        )
        for row in self.s.execute(sa.select(ranked).where(ranked.c.rank == 1)):
            key: _Key = (int(row[0]), row[1], None if row[2] is None else int(row[2]))
            seg = self.segments.setdefault(key, _Segment())
            seg.last_test = tuple(row[3:8])

    # ------------------------------------------------------------------ rows

    def _members(self, within: Any) -> list[tuple[_Key, _Segment]]:
        return [(key, seg) for key, seg in self.segments.items() if within(key)]

    @staticmethod
    def _in_scope(a: Agreement) -> Any:
        """Whether a segment is in ``a``'s scope (:func:`packages_in_scope`): of a collection
        of its scope, or linked to its reference."""
        collections = {s.collection_id for s in a.scopes if s.selector == "collection"}
        return lambda key: key[0] in collections or (key[1] is not None and key[1] == a.reference)

    def agreement_row(self, a: Agreement) -> ComplianceRow:
        members = self._members(self._in_scope(a))
        level = a.service_level
        last = self.s.execute(
            sa.select(
                RestoreTest.started_at,
                RestoreTest.outcome,
                RestoreTest.package_id,
                RestoreTest.location,
            )
            .where(RestoreTest.reference == a.reference)
            .order_by(RestoreTest.started_at.desc(), RestoreTest.id.desc())
            .limit(1)
        ).first()
        interval = level.restore_test_interval_days if level is not None else None
        ended = a.state in ENDED
        pending = None
        if self.disposal is not None:
            pending = self._count(
                sa.select(sa.func.count())
                .select_from(self.disposal)
                .where(
                    self.disposal.reference == a.reference,
                    self.disposal.state.in_(OPEN_DISPOSALS),
                )
            )
        exit_state = self.s.scalar(
            sa.select(AgreementExit.post_exit_state)
            .where(AgreementExit.agreement_id == a.id)
            .order_by(AgreementExit.id.desc())
            .limit(1)
        )
        formats = None
        if a.formats:
            packages = sum(seg.packages for _key, seg in members)
            outside = sum(seg.formats_outside.get(self.list_of[a.id], 0) for _key, seg in members)
            formats = (packages, packages - outside)
        return self._row(
            "agreement",
            f"{a.reference} v{a.version_no}",
            a.title,
            a.state,
            members,
            formats=formats,
            last=tuple(last) if last is not None else None,
            next_due=None
            if ended
            else next_due(interval, last[0] if last is not None else None, self.now),
            next_review_on=None if ended else a.next_review_on,
            reviews=(0, 0, 0) if ended else self._reviews([a]),
            pending=pending,
            exit_state=exit_state,
        )

    def organisation_row(self, org: Organisation, agreements: Sequence[Agreement]) -> ComplianceRow:
        own = set(
            self.s.scalars(sa.select(Collection.id).where(Collection.organisation_id == org.id))
        )
        keeps = [a for a in agreements if _is_custodian(a, org.id)]
        kept_by = [self._in_scope(a) for a in keeps]

        def is_owned(key: _Key) -> bool:
            return key[0] in own

        def is_kept(key: _Key) -> bool:
            return any(within(key) for within in kept_by)

        members = self._members(lambda key: is_owned(key) or is_kept(key))
        tests = [seg.last_test for _key, seg in members if seg.last_test is not None]
        newest = max(tests, key=lambda t: (t[0], t[1]), default=None)
        pending = None
        if self.disposal is not None:
            pending = self._count(
                sa.select(sa.func.count())
                .select_from(self.disposal)
                .where(
                    sa.or_(
                        self.disposal.organisation_id == org.id,
                        self.disposal.reference.in_([a.reference for a in keeps]),
                    ),
                    self.disposal.state.in_(OPEN_DISPOSALS),
                )
            )
        dues = [
            next_due(
                a.service_level.restore_test_interval_days if a.service_level else None,
                self._last_test(a.reference),
                self.now,
            )
            for a in agreements
        ]
        reviews = [a.next_review_on for a in agreements if a.next_review_on is not None]
        listed = [(key, seg) for key, seg in members if key[2] in self.with_lists]
        linked = sum(seg.packages for _key, seg in listed)
        formats = (linked, linked - sum(seg.linked_outside for _key, seg in listed))
        return self._row(
            "organisation",
            org.slug,
            org.name,
            None,
            members,
            formats=formats if linked else None,
            last=(newest[0], *newest[2:]) if newest is not None else None,
            next_due=min((d for d in dues if d is not None), default=None),
            next_review_on=min(reviews, default=None),
            reviews=self._reviews(agreements),
            pending=pending,
            exit_state=None,
            agreements=tuple(f"{a.reference} v{a.version_no}" for a in agreements),
            owned=sum(seg.packages for _key, seg in self._members(is_owned)),
            kept=sum(seg.packages for _key, seg in self._members(is_kept)) if keeps else 0,
        )

    def _row(
        self,
        kind: str,
        name: str,
        title: str,
        state: str | None,
        members: Sequence[tuple[_Key, _Segment]],
        *,
        formats: tuple[int, int] | None,
        last: tuple[Any, ...] | None,
        next_due: datetime | None,
        next_review_on: date | None,
        reviews: tuple[int, int, int],
        pending: int | None,
        exit_state: str | None,
        agreements: tuple[str, ...] = (),
        owned: int | None = None,
        kept: int | None = None,
    ) -> ComplianceRow:
        assessed, met = self._placement(members)
        return ComplianceRow(
            kind=kind,
            name=name,
            title=title,
            state=state,
            packages=sum(seg.packages for _key, seg in members),
            placement_assessed=assessed,
            placement_met=met,
            fixity_assessed=sum(seg.fixity_assessed for _key, seg in members),
            fixity_within=sum(seg.fixity_within for _key, seg in members),
            fixity_overdue_copies=sum(seg.fixity_overdue for _key, seg in members),
            open_incidents=sum(seg.incidents for _key, seg in members),
            formats_assessed=formats[0] if formats else 0,
            formats_accepted=formats[1] if formats else 0,
            last_restore_test_at=last[0] if last else None,
            last_restore_test_outcome=last[1] if last else None,
            last_restore_test_package=last[2] if last else None,
            last_restore_test_location=last[3] if last else None,
            next_restore_test_due=next_due,
            next_review_on=next_review_on,
            reviews_due=reviews,
            retention_due_now=sum(seg.due_now for _key, seg in members),
            retention_due=(
                sum(seg.due[0] for _key, seg in members),
                sum(seg.due[1] for _key, seg in members),
                sum(seg.due[2] for _key, seg in members),
            ),
            retention_errors=sum(seg.errors for _key, seg in members),
            pending_disposals=pending,
            packages_on_hold=sum(seg.held for _key, seg in members),
            exit_state=exit_state,
            agreements=agreements,
            packages_owned=owned,
            packages_kept=kept,
        )

    # ------------------------------------------------------------------ figures

    def _count(self, query: Any) -> int:
        return int(self.s.scalar(query) or 0)

    def _last_test(self, reference: str) -> datetime | None:
        if reference not in self.last_tests:
            self.last_tests[reference] = self.s.scalar(
                sa.select(sa.func.max(RestoreTest.started_at)).where(
                    RestoreTest.reference == reference
                )
            )
        return self.last_tests[reference]

    def _requirement(self, collection_id: int) -> Requirement | None:
        if collection_id not in self.requirements:
            self.requirements[collection_id] = requirement_for(self.s, collection_id, self.today)
        return self.requirements[collection_id]

    def _placement(self, members: Sequence[tuple[_Key, _Segment]]) -> tuple[int, int]:
        """(packages assessed, packages meeting their collection's requirement): each distinct
        (collection, set of locations) judged once by :func:`plan_version`."""
        by_bit = {1 << i: loc for i, loc in enumerate(self.locations[:_BITS])}
        assessed = met = 0
        for key, seg in members:
            req = self._requirement(key[0])
            if req is None:
                continue
            for bits, n in seg.placement.items():
                verdict = (key[0], bits)
                if verdict not in self.verdicts:
                    counted = [loc for b, loc in by_bit.items() if bits & b]
                    self.verdicts[verdict] = not plan_version(req, counted, ()).unmet
                assessed += n
                met += n if self.verdicts[verdict] else 0
        return assessed, met

    def _intervals(self) -> list[int]:
        """Every fixity interval a copy can have (a few values)."""
        values = {self.default_days}
        values.update(
            self.s.scalars(
                sa.select(Collection.fixity_interval_days)
                .where(Collection.fixity_interval_days.is_not(None))
                .distinct()
            )
        )
        values.update(
            self.s.scalars(
                sa.select(StorageLocation.fixity_interval_days)
                .where(StorageLocation.fixity_interval_days.is_not(None))
                .distinct()
            )
        )
        agreed = agreement_intervals()
        values.update(self.s.scalars(sa.select(agreed.c.days).distinct()))
        return sorted(v for v in values if v is not None)

    def _reviews(self, agreements: Iterable[Agreement]) -> tuple[int, int, int]:
        days = [a.next_review_on for a in agreements if a.next_review_on is not None]
        counts = [sum(1 for d in days if d <= self.today + timedelta(days=h)) for h in HORIZONS]
        return counts[0], counts[1], counts[2]


# ---------------------------------------------------------------------------- output


def _share_text(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}"


CSV_COLUMNS = (
    "kind",
    "name",
    "title",
    "state",
    "packages",
    "placement_assessed",
    "placement_met",
    "placement_pct",
    "fixity_assessed",
    "fixity_within",
    "fixity_pct",
    "fixity_overdue_copies",
    "open_incidents",
    "formats_assessed",
    "formats_accepted",
    "formats_pct",
    "last_restore_test_at",
    "last_restore_test_outcome",
    "last_restore_test_package",
    "last_restore_test_location",
    "next_restore_test_due",
    "next_review_on",
    "reviews_30d",
    "reviews_90d",
    "reviews_365d",
    "retention_due_now",
    "retention_due_30d",
    "retention_due_90d",
    "retention_due_365d",
    "retention_errors",
    "pending_disposals",
    "packages_on_hold",
    "exit_state",
    "packages_owned",
    "packages_kept",
)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def csv_row(r: ComplianceRow) -> list[str]:
    values: dict[str, Any] = {f.name: getattr(r, f.name) for f in fields(r)}
    values["placement_pct"] = _share_text(r.placement_share)
    values["fixity_pct"] = _share_text(r.fixity_share)
    values["formats_pct"] = _share_text(r.formats_share)
    for i, h in enumerate(HORIZONS):
        values[f"reviews_{h}d"] = r.reviews_due[i]
        values[f"retention_due_{h}d"] = r.retention_due[i]
    return [_cell(values[c]) for c in CSV_COLUMNS]


def to_csv(rep: ComplianceReport) -> str:
    """The report as CSV: a header, one line per agreement, then one per organisation."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for r in rep.rows:
        writer.writerow(csv_row(r))
    return out.getvalue()


def to_json(rep: ComplianceReport) -> dict[str, Any]:
    """The report as plain JSON values (shares as fractions, None when not assessed)."""

    def row(r: ComplianceRow) -> dict[str, Any]:
        data: dict[str, Any] = {}
        for f in fields(r):
            value = getattr(r, f.name)
            data[f.name] = list(value) if isinstance(value, tuple) else _json_value(value)
        data["placement_share"] = r.placement_share
        data["fixity_share"] = r.fixity_share
        data["formats_share"] = r.formats_share
        data["reviews_due"] = dict(zip((f"{h}d" for h in HORIZONS), r.reviews_due, strict=True))
        data["retention_due"] = dict(zip((f"{h}d" for h in HORIZONS), r.retention_due, strict=True))
        return data

    return {
        "generated_at": _cell(rep.generated_at),
        "scope": rep.scope,
        "agreements": [row(r) for r in rep.agreements],
        "organisations": [row(r) for r in rep.organisations],
        "notes": list(rep.notes),
    }


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return _cell(value)
    return value


__all__ = [
    "CSV_COLUMNS",
    "HORIZONS",
    "ComplianceReport",
    "ComplianceRow",
    "csv_row",
    "report",
    "to_csv",
    "to_json",
]
