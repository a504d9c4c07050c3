"""Placement (issue 12, retention-agreements.md 5.1 E3 and E8): the service level of the agreement
that governs a collection becomes replication targets.

A storage location says where it is and who runs it (``site``, ``jurisdiction``: ISO 3166-1
alpha-2 or ``EU``, ``offline``, ``operator``: ``own`` or ``storage_node``; :func:`set_facts`).
For each stored package version of a collection under an agreement, :func:`plan_version` counts
the verified copies (and the copies the collection's own locations are about to get) that the
agreement accepts: on a location in an allowed region, and not on a third party's storage node
unless the agreement grants ``replicate`` (allow). When they give fewer copies, fewer distinct
sites or no offline copy, it picks eligible locations for the missing copies: in an allowed
region, on a site not yet used when sites are short, offline when an offline copy is needed,
those the collection names first. What cannot be met is said per requirement, so the caller
can raise an alert (:func:`record_unmet`).

Locations without a site count as no site; locations without a jurisdiction are outside any
restricted set of regions. When several agreements in force have the collection in scope, the
strictest applies per dimension (retention-agreements.md 5.1 E3). An agreement in force that
selects packages by a metadata rule counts for the packages whose description its rule matches
(:func:`requirement_for` with ``description``), like a collection's agreement does.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from preserve.catalogue.models import StorageLocation
from preserve.errors import InvalidInput
from preserve.territories import is_region

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from preserve.bootstrap import Application
    from preserve.uow import UnitOfWork

OPERATORS = ("own", "storage_node")
#: The member states of the European Union (ISO 3166-1 alpha-2): ``EU`` in an agreement's
#: allowed regions admits a location in any of them (or one whose jurisdiction is ``EU``).
EU_MEMBERS = frozenset(
    {
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
    }
)
_JURISDICTION = re.compile(r"^([A-Z]{2})$")
_SITE = re.compile(r"^[^\x00-\x1f\x7f]{1,100}$")


# ---------------------------------------------------------------------------- location facts


@dataclass(frozen=True)
class LocationFacts:
    name: str
    region: str | None
    site: str | None
    jurisdiction: str | None
    offline: bool
    operator: str | None


def check_jurisdiction(value: str) -> str:
    """An ISO 3166-1 alpha-2 code or ``EU``, upper-cased; anything else is InvalidInput."""
    code = value.strip().upper()
    if not _JURISDICTION.match(code) or not is_region(code):
        raise InvalidInput(
            f"region {value!r} is not an assigned ISO 3166-1 alpha-2 country code (BE, NL, ...) "
            "or EU"
        )
    return code


def check_region(value: str) -> str:
    """A location's ``--region``: free text (a provider's region name such as ``eu-west-1``),
    except that two letters must be an assigned ISO 3166-1 alpha-2 code or ``EU`` (``XX`` would
    otherwise be taken for a jurisdiction no agreement can name)."""
    code = value.strip().upper()
    if _JURISDICTION.match(code) and not is_region(code):
        raise InvalidInput(
            f"region {value!r} is not an assigned ISO 3166-1 alpha-2 country code (BE, NL, ...) "
            "or EU"
        )
    return value


def jurisdiction_of(region: str | None) -> str | None:
    """The jurisdiction a location's ``--region`` gives: an ISO 3166-1 alpha-2 code or ``EU``
    (upper-cased); None for anything else (an S3 region name such as ``eu-west-1``)."""
    code = (region or "").strip().upper()
    return code if _JURISDICTION.match(code) and is_region(code) else None


def check_operator(value: str) -> str:
    op = value.strip().lower().replace("-", "_")
    if op not in OPERATORS:
        raise InvalidInput(
            f"operator {value!r} is not one of own, storage-node (a third party's storage node)"
        )
    return op


def check_site(value: str) -> str:
    site = value.strip()
    if not _SITE.match(site):
        raise InvalidInput(f"site {value!r} must be 1 to 100 printable characters")
    return site


UNSET: Any = object()


def set_facts(
    app: Application,
    name: str,
    *,
    site: str | None = UNSET,
    region: str | None = UNSET,
    offline: bool | None = None,
    operator: str | None = UNSET,
) -> LocationFacts:
    """Set what an agreement needs to know of location ``name`` (an argument left out keeps its
    value; ``""`` clears a text fact). ``region`` sets the location's region and, when it is an
    ISO 3166-1 alpha-2 code or ``EU``, its jurisdiction (else none)."""
    from preserve.services.admin import require_location

    if site is UNSET and region is UNSET and offline is None and operator is UNSET:
        raise InvalidInput(
            "nothing to change: give --site, --region, --offline/--online or --operator"
        )
    if site is not UNSET and site:
        site = check_site(site)
    if region is not UNSET and region and len(region) > 100:
        raise InvalidInput(f"region {region[:20]!r}... is longer than 100 characters")
    if region is not UNSET and region:
        check_region(region)
    if operator is not UNSET and operator:
        operator = check_operator(operator)
    with app.uow() as uow:
        loc = require_location(uow, name)
        if site is not UNSET:
            loc.site = site or None
        if region is not UNSET:
            loc.region = (region or "").strip() or None
            loc.jurisdiction = jurisdiction_of(region)
        if operator is not UNSET:
            loc.operator = operator or None
        if offline is not None:
            loc.offline = offline
        uow.commit()
        return facts_of(loc)


def facts_of(loc: StorageLocation) -> LocationFacts:
    return LocationFacts(
        loc.name, loc.region, loc.site, loc.jurisdiction, bool(loc.offline), loc.operator
    )


def location_facts(app: Application, name: str) -> LocationFacts:
    from preserve.services.admin import require_location

    with app.uow() as uow:
        return facts_of(require_location(uow, name))


def region_allowed(jurisdiction: str | None, allowed: Iterable[str]) -> bool:
    """Whether a location in ``jurisdiction`` is in ``allowed`` (empty: any region)."""
    wanted = {a.upper() for a in allowed}
    if not wanted:
        return True
    if jurisdiction is None:
        return False
    code = jurisdiction.upper()
    return code in wanted or ("EU" in wanted and code in EU_MEMBERS)


# ---------------------------------------------------------------------------- requirements


@dataclass(frozen=True)
class Requirement:
    """What the agreements in force over a collection ask of its copies: the strictest of
    them per dimension (most copies and sites, every list of regions, an offline copy if any
    asks; ``replicate`` granted only if every one grants it)."""

    #: the agreement(s), e.g. ``CRA-2026-001 v2`` or ``A v1 + B v1``
    agreement: str
    min_copies: int
    min_sites: int
    allowed_regions: tuple[str, ...]
    offline: bool
    #: the agreement grants ``replicate`` (allow) today: copies may go to storage nodes
    replicate_granted: bool
    #: per agreement that restricts regions: its label and its regions (all must admit a
    #: location); empty: ``allowed_regions`` under ``agreement``
    region_rules: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the agreement that withholds ``replicate`` (for the message)
    withheld_by: str = ""

    def eligible(self, loc: StorageLocation) -> bool:
        return self.refusal(loc) is None

    def asks(self) -> str:
        """``3 copies on 2 sites with one offline``: what it asks, in a few words."""
        text = f"{self.min_copies} {'copy' if self.min_copies == 1 else 'copies'}"
        if self.min_sites > 1:
            text += f" on {self.min_sites} sites"
        return text + (" with one offline" if self.offline else "")

    def refusal(self, loc: StorageLocation) -> str | None:
        """Why the agreement does not allow a copy on ``loc`` (None: it does)."""
        if loc.operator == "storage_node" and not self.replicate_granted:
            return (
                f"agreement {self.withheld_by or self.agreement} does not grant 'replicate' "
                f"(allow), so no copy goes to {loc.name}, a third party's storage node"
            )
        rules = self.region_rules or ((self.agreement, self.allowed_regions),)
        for label, regions in rules:
            if not region_allowed(loc.jurisdiction, regions):
                return (
                    f"location {loc.name} is in region {loc.jurisdiction or 'unknown'}, outside "
                    f"the regions agreement {label} allows ({', '.join(regions)})"
                )
        return None


def rule_agreements(session: Session) -> list[Any]:
    """The main agreements in force that select packages by a metadata rule (with their
    scopes), oldest activated first: what :func:`requirement_for` matches descriptions
    against."""
    from preserve.services.agreements import rule_candidates

    return list(rule_candidates(session))


def matching_rules(agreements: Iterable[Any], description: Any) -> list[Any]:
    """Those of ``agreements`` (:func:`rule_agreements`) whose metadata rule matches a
    package's description."""
    from preserve.services.agreements import _matches

    return [
        a
        for a in agreements
        if any(s.selector == "metadata" and _matches(s, description or {}) for s in a.scopes)
    ]


def requirement_for(
    session: Session,
    collection_id: int,
    today: date | None = None,
    *,
    description: Any = None,
    rules: Sequence[Any] | None = None,
) -> Requirement | None:
    """The requirement of the agreements in force over the collection with a service level,
    and, given a package's ``description``, of the agreements in force whose metadata rule
    matches it (``rules``: :func:`rule_agreements`, read when not given); the strictest per
    dimension when there are several (retention-agreements.md 5.1 E3); None when there is
    none. The governing one (the oldest activated) comes first."""
    from preserve.services.agreements import IN_FORCE, _covering

    day = today or date.today()
    covering = [a for a in _covering(session, collection_id) if a.state in IN_FORCE]
    if description is not None:
        chosen = matching_rules(rule_agreements(session) if rules is None else rules, description)
        covering += [a for a in chosen if a.id not in {c.id for c in covering}]
    found = sorted(
        covering,
        key=lambda a: (a.activated_at is None, a.activated_at, a.id),
    )
    levels = [(a, a.service_level) for a in found if a.service_level is not None]
    if not levels:
        return None
    withheld = ""
    for a, _level in levels:
        grant = next((g for g in a.rights_grants if g.act == "replicate"), None)
        in_term = grant is not None and not (
            (grant.start_date and day < grant.start_date)
            or (grant.end_date and day > grant.end_date)
        )
        if not (in_term and grant is not None and grant.restriction == "allow"):
            withheld = withheld or f"{a.reference} v{a.version_no}"
    rules = tuple(
        (f"{a.reference} v{a.version_no}", tuple(str(r).upper() for r in level.allowed_regions))
        for a, level in levels
        if level.allowed_regions
    )
    first = levels[0][1]
    return Requirement(
        agreement=" + ".join(f"{a.reference} v{a.version_no}" for a, _level in levels),
        min_copies=max(level.min_copies for _a, level in levels),
        min_sites=max(level.min_distinct_sites for _a, level in levels),
        allowed_regions=tuple(str(r).upper() for r in first.allowed_regions),
        offline=any(level.offline_copy_required for _a, level in levels),
        replicate_granted=not withheld,
        region_rules=rules,
        withheld_by=withheld,
    )


@dataclass(frozen=True)
class VersionPlan:
    """For one package version: the extra locations to copy it to, and what stays unmet."""

    targets: tuple[StorageLocation, ...]
    unmet: tuple[str, ...]
    #: what the version has once copied to the targets (eligible locations only): copies,
    #: distinct sites, an offline copy
    copies: int = 0
    sites: int = 0
    offline: bool = False

    def gives(self, req: Requirement) -> str:
        """``1 copy on 1 site, none offline``: what the locations give of what ``req`` asks."""
        text = f"{self.copies} {'copy' if self.copies == 1 else 'copies'}"
        if req.min_sites > 1:
            text += f" on {self.sites} {'site' if self.sites == 1 else 'sites'}"
        return text + (", none offline" if req.offline and not self.offline else "")


def plan_version(
    req: Requirement,
    counted: Sequence[StorageLocation],
    candidates: Sequence[StorageLocation],
    preferred: Iterable[int] = (),
) -> VersionPlan:
    """Which of ``candidates`` (locations without a verified copy of the version) to add to
    ``counted`` (locations with one, or about to get one) so the requirement is met."""
    have = [loc for loc in counted if req.eligible(loc)]
    held = {loc.id for loc in counted}
    sites = {loc.site for loc in have if loc.site}
    offline = any(loc.offline for loc in have)
    copies = len(have)
    liked = set(preferred)
    pool = sorted(
        (loc for loc in candidates if loc.id not in held and req.eligible(loc)),
        key=lambda loc: (loc.id not in liked, loc.name),
    )
    targets: list[StorageLocation] = []
    while pool:
        need_copies = copies < req.min_copies
        need_sites = len(sites) < req.min_sites
        need_offline = req.offline and not offline
        if not (need_copies or need_sites or need_offline):
            break

        gains = [
            int(need_offline and loc.offline)
            + int(need_sites and bool(loc.site) and loc.site not in sites)
            for loc in pool
        ]
        best = pool[gains.index(max(gains))]  # the first (preferred) among equals
        if max(gains) == 0 and not need_copies:
            break
        pool.remove(best)
        targets.append(best)
        copies += 1
        offline = offline or best.offline
        if best.site:
            sites.add(best.site)
    unmet: list[str] = []
    if copies < req.min_copies:
        unmet.append(f"{req.min_copies} copies (only {copies} possible on eligible locations)")
    if len(sites) < req.min_sites:
        unmet.append(
            f"{req.min_sites} distinct sites (only {len(sites)} possible: locations without a "
            "site do not count; preserve locations edit NAME --site ...)"
        )
    if req.offline and not offline:
        unmet.append("an offline copy (no eligible offline location)")
    return VersionPlan(tuple(targets), tuple(unmet), copies, len(sites), offline)


def record_unmet(
    uow: UnitOfWork,
    package_id: str,
    version: int,
    collection: str,
    req: Requirement,
    unmet: Sequence[str],
) -> None:
    """One replication alert per package version and unmet requirement (found again: none)."""
    from preserve.services import alerts

    for what in unmet:
        key = what.split(" (")[0]
        alerts.record(
            uow,
            "replication",
            f"agreement {req.agreement} cannot be met for package {package_id} v{version}: {key}",
            f"Collection {collection} is under agreement {req.agreement}, which asks for "
            f"{what}. Add or describe locations (site, region, offline, operator) so that an "
            "eligible one exists, then run: preserve locations sync",
            dedup_key=f"agreement-unmet:{req.agreement}:{package_id}:v{version}:{key}"[:255],
            package_id=package_id,
            details={"agreement": req.agreement, "requirement": what, "version": version},
        )


def ingest_locations(
    session: Session,
    collection_id: int,
    locations: Sequence[StorageLocation],
    *,
    description: Any = None,
    collection: str = "",
) -> list[StorageLocation]:
    """Of ``locations`` (the collection's, where an ingest stores a package's first copies),
    those the agreements over the collection (and, given the package's ``description``, those
    whose metadata rule selects it) allow; :class:`~preserve.errors.Conflict` naming each
    refusal when none is left, before anything is stored. The other copies the service level
    asks for are made by replication after the ingest."""
    from preserve.errors import Conflict

    req = requirement_for(session, collection_id, description=description)
    if req is None:
        return list(locations)
    allowed = [loc for loc in locations if req.eligible(loc)]
    if not allowed and locations:
        refusals = "; ".join(str(req.refusal(loc)) for loc in locations)
        where = f"collection {collection}" if collection else "the collection"
        raise Conflict(
            f"ingest refused: agreement {req.agreement} allows none of the storage locations of "
            f"{where}: {refusals}; add a location it allows to the collection (preserve "
            "collections edit --add-location) or describe the locations (preserve locations "
            "edit NAME --region ... --operator ...)"
        )
    return allowed


def all_locations(session: Session) -> list[StorageLocation]:
    """Every location in use (not retired), by name."""
    return list(
        session.scalars(
            sa.select(StorageLocation)
            .where(StorageLocation.retired_at.is_(None))
            .order_by(StorageLocation.name)
        )
    )


__all__ = [
    "EU_MEMBERS",
    "OPERATORS",
    "LocationFacts",
    "Requirement",
    "VersionPlan",
    "all_locations",
    "check_jurisdiction",
    "check_operator",
    "check_region",
    "check_site",
    "facts_of",
    "ingest_locations",
    "jurisdiction_of",
    "location_facts",
    "matching_rules",
    "plan_version",
    "record_unmet",
    "region_allowed",
    "requirement_for",
    "rule_agreements",
    "set_facts",
]
