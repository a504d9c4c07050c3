"""If the catalogue is lost: rebuild it from what one storage location holds.

``preserve catalogue rebuild --from-location NAME`` reads every package folder on the location
(``<org>/<collection>/<package>/``) and recreates, in an empty catalogue and in one transaction:

- organisations and collections, from ``<org>/_organisation.json`` and
  ``<org>/<coll>/_collection.json`` (written beside the packages by
  :mod:`preserve.services.journal`), else from the slugs in the keys and the owner named in
  ``bag-info.txt``;
- each package with every complete version ``v<N>/``: ``bag-info.txt``, the payload manifests
  (every file with its digests), ``fetch.txt`` (which earlier version holds a file, under which
  path), ``metadata/dc.xml`` (the description), ``metadata/premis.xml`` (sizes, formats, image
  properties; the events of the version's making with their agents),
  ``metadata/items.csv`` (item-level descriptions) and the tag files;
- the copies on that location, checked against what is present (every object a version stores
  itself), with their last fixity outcome from the events;
- the events of the event files (``<package>/events/``), linked again to their version, copy
  and file, and the event files themselves.

What storage does not say is reported, never guessed: where the deliveries came from, every
identification match and siegfried's basis and warnings, the CRC64NVME transport checksums,
copies on other locations (named by the events, to be registered again), and whatever is
damaged or incomplete (a ``premis.xml`` that cannot be read: that version's files keep their
digests and lose their formats; the rest is recovered).

Damage is never catalogued as the truth: payload files get the digests their manifests list
(their bytes are not read), and tag files those their tag manifests list, so a tag file whose
bytes differ or that is lost is catalogued as the bag says it should be (a lost one with size
0, unknown) and its copy is ``failed`` or ``missing`` at once; the next fixity run names it.

The location must be registered in the new catalogue (``preserve init`` registers the default
one; ``preserve locations add NAME URL`` any other) under the name it had: the events name the
copies by location name.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import logging
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from preserve import premis
from preserve.errors import (
    InvalidInput,
    NotFound,
    ObjectNotFound,
    StorageError,
    StorageUnavailable,
)
from preserve.services import journal
from preserve.text import plural
from preserve.values import ImageInfo

if TYPE_CHECKING:
    from preserve.bootstrap import Application
    from preserve.catalogue.models import Agent, Collection, Organisation
    from preserve.storage import Storage
    from preserve.uow import UnitOfWork

log = logging.getLogger(__name__)

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_VERSION_KEY = re.compile(r"v([1-9][0-9]*)/(.+)", re.DOTALL)  # a name may hold a line break
_MANIFEST = re.compile(r"manifest-([a-z0-9]+)\.txt")
_TAGMANIFEST = re.compile(r"tagmanifest-([a-z0-9]+)\.txt")
_STAMP = re.compile(r"([0-9]{8}T[0-9]{6}Z)-")
_PREMIS = f"{{{premis.PREMIS_NS}}}"
_EXTENSION = f"{{{premis.PRESERVE_NS}}}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
#: image properties as preserve.values.ImageInfo types them (the rest are text)
_IMAGE_INTS = {"width", "height", "bit_depth", "orientation"}
_IMAGE_FLOATS = {"x_resolution", "y_resolution"}
_IMAGE_BOOLS = {"complete"}
_IMAGE_FIELDS = tuple(f.name for f in dataclasses.fields(ImageInfo))
#: what a copy's last check outcome makes of its status (an error leaves it verified)
_COPY_STATUS = {"ok": "verified", "mismatch": "failed", "missing": "missing"}
_VERIFIED_BY = re.compile(r"every object verified \(([^)]*)\)")
#: a hold's policy assignment events (preserve.services.holds): placed and lifted
_HOLD_PLACED = re.compile(r"hold ([0-9]+) placed \(([a-z_]+)\): (.*)", re.DOTALL)
_HOLD_PLACED_BY = re.compile(r"placed by (.*?): (.*?)(?: \(mandate: (.*)\))?", re.DOTALL)
_HOLD_LIFTED = re.compile(r"hold ([0-9]+) \(([a-z_]+)\) .* lifted(?: from .*)?", re.DOTALL)
_HOLD_LIFTED_BY = re.compile(r"lifted by (.*?): (.*)", re.DOTALL)

#: Listed in every report: what the catalogue held that storage does not keep.
NOT_IN_STORAGE = (
    "where each delivery was ingested from (packages.source, package_versions.source): "
    "bag-info.txt names only the folder or file",
    "every identification match, siegfried's basis and its warnings (files.identification, "
    "files.basis): premis.xml keeps the PUID, format name and version, MIME type, tool and "
    "signature version, and has no place for warnings, so preserve show no longer flags the "
    "files whose identification warned (preserve identify on an export finds them again)",
    "the CRC64NVME transport checksums (files.digests): never part of the bag, no fixity reference",
    "when rows were made (created_at of packages, versions and copies): taken from the first "
    "event of the version; event files' from their names (to the second)",
    "organisations and collections that hold no package: nothing of them is on storage",
    "agreements (issue 12): they live only in the catalogue; a package's bag-info names the "
    "agreement version it was ingested under, and once that version is entered again "
    "(preserve agreements ...) and in force, its activation or preserve retention recompute "
    "links the packages to it and computes their retention again",
    "holds placed on a whole collection, and who may see them: a hold's PREMIS policy "
    "assignment events, kept with each package it covered, restore it as a hold on those "
    "packages (one target each); a package ingested later into a held collection is not "
    "covered, nor is a collection that held no package; the audit log of holds is not kept",
    "the fixity schedule of copies only ingested (never checked by a fixity run): they are "
    "first in line again",
)


@dataclass(frozen=True)
class Finding:
    """Something the rebuild could not recover, or found damaged: ``kind`` is one of
    ``other-location``, ``damaged``, ``incomplete``, ``no-descriptor``, ``ignored``,
    ``agreement`` (packages name an agreement the catalogue does not have), ``hold`` (a hold
    restored from its events, with what of it is lost)."""

    kind: str
    subject: str
    message: str

    def __str__(self) -> str:
        return f"{self.subject}: {self.message}" if self.subject else self.message


@dataclass(frozen=True)
class RebuildReport:
    location: str
    url: str
    organisations: int
    collections: int
    packages: int
    versions: int
    files: int
    copies: int
    events: int
    event_files: int
    findings: tuple[Finding, ...] = ()
    #: packages linked again to the agreement version their bag-info names (issue 12)
    agreement_links: int = 0
    #: holds restored from their policy assignment events (active or lifted)
    holds: int = 0
    not_in_storage: tuple[str, ...] = NOT_IN_STORAGE

    @property
    def caution(self) -> str:
        """What a rebuilt catalogue does to the location it was rebuilt from."""
        return (
            f"this catalogue writes event files to location {self.location} from now on "
            "(fixity, export, describe and ingest record their events there): if the original "
            "catalogue is still in use (a drill), its next fixity run finds them; rebuild into "
            "a catalogue pointed at a copy of the storage instead"
        )

    @property
    def complete(self) -> bool:
        """Nothing damaged or incomplete was found (other locations may still hold copies)."""
        return not any(f.kind in ("damaged", "incomplete") for f in self.findings)


def rebuild_catalogue(app: Application, location: str) -> RebuildReport:
    """Recreate the catalogue from ``location`` (a registered location's name) into an empty
    catalogue; see the module's text. :class:`InvalidInput` when the catalogue holds anything
    already, :class:`NotFound` for an unknown location, :class:`StorageUnavailable` when it
    does not answer; nothing is written then. One transaction: an interrupted rebuild leaves
    the catalogue empty."""
    from preserve.names import unknown

    with app.uow() as uow:
        loc = uow.locations.get_by_name(location)
        if loc is None:
            known = [x.name for x in uow.locations.list()]
            error = unknown("storage location", location, known)
            raise NotFound(
                f"{error}; register the location first, under the name it had: "
                f"preserve locations add {location} URL"
            )
        counts = {k: v for k, v in uow.journal.table_counts().items() if v}
        if counts:
            from preserve.catalogue.database import catalogue_name

            nouns = {"copies": ("copy", "copies")}
            held = ", ".join(
                plural(n, *nouns.get(table, (table[:-1], table))) for table, n in counts.items()
            )
            raise InvalidInput(
                f"the catalogue at {catalogue_name(app.settings.database_url)} is not empty "
                f"({held}): a rebuild fills an empty catalogue only; point PRESERVE_HOME or "
                "PRESERVE_DATABASE_URL at a new one and run preserve init there first"
            )
        target = _Location(loc.id, loc.name, loc.url)
    storage = app.storage(target.url)
    why = storage.answers()
    if why is not None:
        raise StorageUnavailable(
            f"storage location {target.name} ({target.url}) does not answer: {why}"
        )
    with app.uow() as uow:
        builder = _Builder(app, uow, storage, target)
        for folder, keys in _package_folders(storage, builder):
            builder.package(folder, keys)
        builder.finish()
        report = builder.report()
        uow.commit()
    log.info(
        "catalogue rebuilt from %s: %s, %s, %s",
        target.name,
        plural(report.packages, "package"),
        plural(report.files, "file"),
        plural(report.events, "event"),
    )
    return report


@dataclass(frozen=True)
class _Location:
    id: int
    name: str
    url: str


def _package_folders(storage: Storage, builder: _Builder) -> Iterator[tuple[str, list[str]]]:
    """(``<org>/<coll>/<package>/``, its keys) of every package folder, streamed: the keys
    come sorted, so a folder's keys come together. Other keys are noted as ignored."""
    folder: str | None = None
    keys: list[str] = []
    for key in storage.iter_keys(""):
        parts = key.split("/")
        if len(parts) == 2 and parts[1] == journal.ORGANISATION_FILE:
            continue
        if len(parts) == 3 and parts[2] == journal.COLLECTION_FILE:
            continue
        if len(parts) < 4 or not _UUID.fullmatch(parts[2]):
            builder.ignored(key)
            continue
        here = "/".join(parts[:3]) + "/"
        if here != folder:
            if folder is not None:
                yield folder, keys
            folder, keys = here, []
        keys.append(key[len(here) :])
    if folder is not None:
        yield folder, keys


# ------------------------------------------------------------------------------ reading a bag


@dataclass(frozen=True)
class _Object:
    """A payload file as premis.xml describes it."""

    size: int | None
    puid: str | None
    format_name: str | None
    format_version: str | None
    mime: str | None
    tool: str
    signature_version: str
    image: dict[str, Any] | None


@dataclass
class _Version:
    """One version's bag as storage holds it."""

    number: int
    #: its key prefix on the location, ``<org>/<coll>/<package>/v<N>/``
    prefix: str = ""
    bag_info: list[tuple[str, str]] = field(default_factory=list)
    #: payload path -> algorithm -> digest (every payload manifest)
    payload: dict[str, dict[str, str]] = field(default_factory=dict)
    #: tag path -> (size, sha512, sha256), computed from the stored bytes
    tags: dict[str, tuple[int, str, str]] = field(default_factory=dict)
    #: payload path -> (version, path there, length) of the files fetch.txt names
    fetched: dict[str, tuple[int, str, int | None]] = field(default_factory=dict)
    #: payload paths the version's own data/ holds
    present: set[str] = field(default_factory=set)
    description: dict[str, Any] = field(default_factory=dict)
    objects: dict[str, _Object] = field(default_factory=dict)
    events: list[premis.EventRecord] = field(default_factory=list)
    items: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    #: tag files listed in a tag manifest but not stored
    missing_tags: list[str] = field(default_factory=list)
    #: tag files whose stored bytes differ from what a tag manifest lists
    damaged_tags: list[str] = field(default_factory=list)

    @property
    def sha512(self) -> dict[str, str]:
        return {p: d.get("sha512", "") for p, d in self.payload.items()}


def _read(storage: Storage, key: str) -> bytes | None:
    try:
        with storage.open(key) as stream:
            return stream.read()
    except ObjectNotFound:
        return None


def _safe_xml(data: bytes) -> ET.Element:
    """The root of stored XML, parsed without expanding entities or fetching anything (what a
    damaged or tampered location holds is not trusted more than a delivery)."""
    from defusedxml import DefusedXmlException
    from defusedxml.ElementTree import fromstring

    try:
        root: ET.Element = fromstring(data, forbid_dtd=False, forbid_entities=True)
        return root
    except DefusedXmlException as exc:
        raise ValueError(f"XML with entity declarations ({type(exc).__name__}): refused") from None
    except ET.ParseError as exc:
        raise ValueError(f"not well-formed XML ({exc})") from None


def _text(element: ET.Element, path: str) -> str:
    found = element.find(path)
    return (found.text or "") if found is not None else ""


def premis_objects(xml: bytes) -> dict[str, _Object]:
    """The file objects of a package's premis.xml by bag path: size, format, MIME type, the
    identification tool and signature version, image properties."""
    root = _safe_xml(xml)
    out: dict[str, _Object] = {}
    p, x = _PREMIS, _EXTENSION
    for obj in root.iter(f"{p}object"):
        if obj.get(_XSI_TYPE) != "premis:file":
            continue
        path = premis.decode_path(_text(obj, f"{p}objectIdentifier/{p}objectIdentifierValue"))
        characteristics = obj.find(f"{p}objectCharacteristics")
        if not path or characteristics is None:
            continue
        size_text = _text(characteristics, f"{p}size")
        fmt = characteristics.find(f"{p}format")
        name = version = puid = ""
        if fmt is not None:
            name = _text(fmt, f"{p}formatDesignation/{p}formatName")
            version = _text(fmt, f"{p}formatDesignation/{p}formatVersion")
            puid = _text(fmt, f"{p}formatRegistry/{p}formatRegistryKey")
        if not puid:  # written as "no PRONOM match" with the name UNKNOWN
            puid = "UNKNOWN"
            name = "" if name == "UNKNOWN" else name
        extension = characteristics.find(f"{p}objectCharacteristicsExtension/{x}characteristics")
        mime = tool = signature = ""
        image: dict[str, Any] | None = None
        if extension is not None:
            mime = _text(extension, f"{x}mimeType")
            tool = _text(extension, f"{x}identificationTool")
            signature = _text(extension, f"{x}signatureVersion")
            found = extension.find(f"{x}image")
            if found is not None:  # every property of ImageInfo, None where not written
                image = dict.fromkeys(_IMAGE_FIELDS)
                image.update(
                    {_local(c.tag): _image_value(_local(c.tag), c.text or "") for c in found}
                )
        out[path] = _Object(
            int(size_text) if size_text.isdigit() else None,
            puid,
            name,
            version,
            mime or None,
            tool,
            signature,
            image,
        )
    return out


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _image_value(key: str, text: str) -> Any:
    try:
        if key in _IMAGE_INTS:
            return int(text)
        if key in _IMAGE_FLOATS:
            return float(text)
    except ValueError:
        return text
    if key in _IMAGE_BOOLS:
        return text == "true"
    return text


def _items(data: bytes) -> dict[str, dict[str, list[str]]]:
    """``metadata/items.csv`` (see :func:`preserve.descriptive.items_csv`): payload path ->
    Dublin Core element -> values."""
    from preserve.descriptive import column_term

    rows = list(csv.reader(io.StringIO(data.decode("utf-8"))))
    if not rows:
        return {}
    terms = [column_term(h) for h in rows[0]]
    out: dict[str, dict[str, list[str]]] = {}
    for row in rows[1:]:
        if not row:
            continue
        fields: dict[str, list[str]] = {}
        for term, value in zip(terms[1:], row[1:], strict=False):
            if term and value:
                fields.setdefault(term, []).append(value)
        out[row[0]] = fields
    return out


# ------------------------------------------------------------------------------ the builder


class _Builder:
    """Fills the catalogue package by package within one unit of work."""

    def __init__(self, app: Application, uow: UnitOfWork, storage: Storage, loc: _Location):
        self.app = app
        self.uow = uow
        self.storage = storage
        self.loc = loc
        self.findings: list[Finding] = []
        self.counts = dict.fromkeys(
            (
                "organisations",
                "collections",
                "packages",
                "versions",
                "files",
                "copies",
                "events",
                "event_files",
            ),
            0,
        )
        self.organisations: dict[str, Organisation] = {}
        self.collections: dict[tuple[str, str], Collection] = {}
        self.agents: dict[tuple[str, str, str], Agent] = {}
        self.seen_events: set[str] = set()
        #: location name -> package ids with copies there that this location is not
        self.elsewhere: dict[str, set[str]] = {}
        self.ignored_keys: list[str] = []
        self.ignored_count = 0
        self.started = datetime.now(UTC)
        #: the copies whose last check was a fixity run's (their next check is scheduled)
        self.fixity_checked: list[int] = []
        #: (package id, policy assignment event) of every package, for the holds
        self.policy_events: dict[str, tuple[str, premis.EventRecord]] = {}
        self.agreement_links = 0
        self.holds = 0

    # -- findings

    def note(self, kind: str, subject: str, message: str) -> None:
        log.info("rebuild: %s: %s", subject, message)
        self.findings.append(Finding(kind, subject, message))

    def ignored(self, key: str) -> None:
        self.ignored_count += 1
        if len(self.ignored_keys) < 5:  # named in the report; the others counted
            self.ignored_keys.append(key)

    def report(self) -> RebuildReport:
        findings = list(self.findings)
        for name, packages in sorted(self.elsewhere.items()):
            findings.append(
                Finding(
                    "other-location",
                    f"location {name}",
                    f"holds copies of {plural(len(packages), 'package')} according to their "
                    "events; register it (preserve locations add "
                    f"{name} URL) and rebuild from it to recover them",
                )
            )
        if self.ignored_count:
            shown = ", ".join(self.ignored_keys)
            more = self.ignored_count - len(self.ignored_keys)
            findings.append(
                Finding(
                    "ignored",
                    "",
                    f"{plural(self.ignored_count, 'object')} outside the packages' versions and "
                    f"event files ignored: {shown}" + (f" and {more} more" if more else ""),
                )
            )
        c = self.counts
        return RebuildReport(
            self.loc.name,
            self.loc.url,
            c["organisations"],
            c["collections"],
            c["packages"],
            c["versions"],
            c["files"],
            c["copies"],
            c["events"],
            c["event_files"],
            tuple(findings),
            self.agreement_links,
            self.holds,
        )

    # -- what issue 12 added: agreement links, holds; and the fixity schedule

    def finish(self) -> None:
        """After every package: link the packages to the agreement versions their bag-info
        names, restore the holds from their events, and schedule the copies a fixity run had
        checked."""
        from preserve.services.retention import relink_named
        from preserve.services.schedule import reschedule

        session = self.uow.session
        session.flush()
        linked, missing = relink_named(session, self.started)
        self.agreement_links = linked
        for label, packages in sorted(missing.items()):
            shown = ", ".join(packages[:5]) + (
                f" and {len(packages) - 5} more" if len(packages) > 5 else ""
            )
            self.note(
                "agreement",
                f"agreement {label}",
                f"named by the bag-info of {plural(len(packages), 'package')} ({shown}) but "
                "not in this catalogue: agreements are kept only in the catalogue; enter it "
                "again (preserve agreements create ... activate), then preserve retention "
                "recompute links these packages to it (their bag-info keeps its name)",
            )
        self._restore_holds()
        if self.fixity_checked:
            reschedule(
                session,
                [c.id for c in self.collections.values()],
                self.app.settings.fixity_interval_days,
                copy_ids=self.fixity_checked,
            )
        session.flush()

    def _restore_holds(self) -> None:
        """One hold per hold the policy assignment events name, with a target per package
        it covered (lifted where a lift event says so)."""
        from preserve.catalogue.holds import HOLD_KINDS, Hold, HoldTarget

        placed: dict[str, dict[str, Any]] = {}
        for package_id, e in sorted(
            self.policy_events.values(), key=lambda pe: (pe[1].occurred_at, pe[0])
        ):
            who = next(
                (a.name for a, role in e.linked_agents if role == premis.IMPLEMENTER),
                "",
            )
            m = _HOLD_PLACED.fullmatch(e.outcome_detail)
            if m is not None:
                number, kind, title = m.groups()
                d = _HOLD_PLACED_BY.fullmatch(e.detail)
                hold = placed.setdefault(
                    number,
                    {
                        "kind": kind,
                        "title": title,
                        "reason": d.group(2) if d else e.detail,
                        "mandate": d.group(3) if d else None,
                        "created_by": (d.group(1) if d else who)[:100],
                        "created_at": e.occurred_at,
                        "targets": {},
                    },
                )
                hold["targets"].setdefault(package_id, [who[:100], e.occurred_at, None])
                continue
            m = _HOLD_LIFTED.fullmatch(e.outcome_detail)
            if m is not None and m.group(1) in placed:
                target = placed[m.group(1)]["targets"].get(package_id)
                if target is not None:
                    d = _HOLD_LIFTED_BY.fullmatch(e.detail)
                    target[2] = (
                        (d.group(1) if d else who)[:100],
                        e.occurred_at,
                        d.group(2) if d else e.detail,
                    )
        session = self.uow.session
        for number, h in sorted(placed.items(), key=lambda item: int(item[0])):
            if h["kind"] not in HOLD_KINDS:
                self.note("damaged", f"hold {number}", f"unknown kind {h['kind']!r}: not restored")
                continue
            targets = h["targets"]
            lifts = [t[2] for t in targets.values()]
            whole = all(lift is not None for lift in lifts)
            last = max(lifts, key=lambda lift: lift[1]) if whole else None
            row = Hold(
                kind=h["kind"],
                title=h["title"][:255],
                reason=h["reason"],
                mandate=h["mandate"],
                state="lifted" if whole else "active",
                created_by=h["created_by"],
                created_at=h["created_at"],
                lifted_by=last[0] if last else None,
                lifted_at=last[1] if last else None,
                lift_reason=last[2] if last else None,
            )
            session.add(row)
            session.flush()
            for package_id, (who, when, lift) in sorted(targets.items()):
                session.add(
                    HoldTarget(
                        hold_id=row.id,
                        package_id=package_id,
                        added_by=who or h["created_by"],
                        added_at=when,
                        lifted_by=lift[0] if lift else None,
                        lifted_at=lift[1] if lift else None,
                        lift_reason=lift[2] if lift else None,
                    )
                )
            self.holds += 1
            self.note(
                "hold",
                f"hold {number}",
                f"restored from its events as hold {row.id} ({row.state}) on "
                f"{plural(len(targets), 'package')}: whether it was placed on their collection "
                "is not kept (a package ingested into that collection later is not held); "
                "check it with preserve holds show",
            )

    # -- organisations and collections

    def _descriptor(self, key: str) -> dict[str, Any] | None:
        import json

        try:
            data = _read(self.storage, key)
        except StorageError as exc:
            self.note("damaged", key, f"could not be read: {exc}")
            return None
        if data is None:
            return None
        try:
            document = json.loads(data)
        except (ValueError, UnicodeDecodeError) as exc:
            self.note("damaged", key, f"is not JSON: {exc}")
            return None
        return document if isinstance(document, dict) else None

    def organisation(self, slug: str, bag_info: Sequence[tuple[str, str]]) -> Organisation:
        from preserve.catalogue.models import Organisation

        if slug in self.organisations:
            return self.organisations[slug]
        described = self._descriptor(f"{slug}/{journal.ORGANISATION_FILE}")
        info = {k.lower(): v for k, v in reversed(bag_info)}  # the first value of each label
        if described is None:
            self.note(
                "no-descriptor",
                f"organisation {slug}",
                f"no {journal.ORGANISATION_FILE}: its name, address and contact taken from "
                "bag-info.txt",
            )
            details = {
                "name": info.get("source-organization", slug),
                "address": info.get("organization-address", ""),
                "contact_name": info.get("contact-name", ""),
                "contact_email": info.get("contact-email", ""),
            }
        else:
            details = {
                k: str(described.get(k) or "")
                for k in ("name", "address", "contact_name", "contact_email")
            }
            details["name"] = details["name"] or slug
        org = self.uow.organisations.get_by_slug(slug)
        self.counts["organisations"] += 1
        if org is None:
            org = self.uow.organisations.add(Organisation(slug=slug, **details))
        else:  # preserve init's default organisation: storage says what it is
            for key, value in details.items():
                setattr(org, key, value)
        self.organisations[slug] = org
        return org

    def collection(
        self, org: Organisation, slug: str, bag_info: Sequence[tuple[str, str]]
    ) -> Collection:
        from preserve.catalogue.models import Collection

        known = self.collections.get((org.slug, slug))
        if known is not None:
            return known
        described = self._descriptor(f"{org.slug}/{slug}/{journal.COLLECTION_FILE}")
        if described is None:
            self.note(
                "no-descriptor",
                f"collection {org.slug}/{slug}",
                f"no {journal.COLLECTION_FILE}: its title is its slug, its description, BagIt "
                "profile and locations are not known",
            )
            described = {}
        profile = described.get("bagit_profile")
        coll = self.uow.collections.add(
            Collection(
                organisation_id=org.id,
                slug=slug,
                title=str(described.get("title") or slug),
                description=str(described.get("description") or ""),
                bagit_profile=profile if isinstance(profile, dict) else None,
            )
        )
        self.counts["collections"] += 1
        wanted = [str(n) for n in described.get("locations") or ()]
        chosen = [loc for n in wanted if (loc := self.uow.locations.get_by_name(n)) is not None]
        missing = [n for n in wanted if self.uow.locations.get_by_name(n) is None]
        if chosen:
            self.uow.collections.set_locations(coll, chosen)
        if missing:
            self.note(
                "other-location",
                f"collection {org.slug}/{slug}",
                f"stored its packages on {', '.join(missing)}, not registered here: "
                "register them and add them with preserve collections edit --add-location",
            )
        self.collections[(org.slug, slug)] = coll
        return coll

    def agent(self, record: premis.AgentRecord) -> Agent:
        key = (record.name, record.version, record.agent_type)
        if key not in self.agents:
            self.agents[key] = self.uow.agents.get_or_create(*key)
        return self.agents[key]

    # -- a package

    def package(self, folder: str, keys: list[str]) -> None:
        org_slug, coll_slug, package_id = folder.rstrip("/").split("/")
        subject = f"package {package_id}"
        by_version: dict[int, set[str]] = {}
        event_files: list[str] = []
        for key in keys:
            m = _VERSION_KEY.fullmatch(key)
            if m is not None:
                by_version.setdefault(int(m.group(1)), set()).add(m.group(2))
            elif journal.is_event_file(key):
                event_files.append(key)
            else:
                self.ignored(folder + key)
        versions: list[_Version] = []
        for number in sorted(by_version):
            version = self._version(folder, number, by_version[number], subject)
            if version is not None:
                versions.append(version)
        if not versions:
            self.note("incomplete", subject, "no complete version (v<N>/ with its manifests)")
            return
        latest = versions[-1]
        org = self.organisation(org_slug, latest.bag_info)
        coll = self.collection(org, coll_slug, latest.bag_info)
        files = self._event_files(folder, event_files, subject)
        self._store(package_id, folder, coll, versions, files, subject)

    def _version(self, folder: str, number: int, names: set[str], package: str) -> _Version | None:
        prefix = f"{folder}v{number}/"
        subject = f"{package} version {number}"
        tag_names = sorted(n for n in names if not n.startswith("data/"))
        if "bagit.txt" not in names or not any(_TAGMANIFEST.fullmatch(n) for n in names):
            self.note(
                "incomplete",
                subject,
                "not a complete bag (no bagit.txt or tag manifest: a version whose making was "
                "interrupted?); left out",
            )
            return None
        v = _Version(number, prefix, present={n for n in names if n.startswith("data/")})
        contents: dict[str, bytes] = {}
        for name in tag_names:
            try:
                data = _read(self.storage, prefix + name)
            except StorageError as exc:
                self.note("damaged", f"{subject}: {name}", f"could not be read: {exc}")
                continue
            if data is None:
                continue
            contents[name] = data
            v.tags[name] = (
                len(data),
                hashlib.sha512(data).hexdigest(),
                hashlib.sha256(data).hexdigest(),
            )
        self._check_tag_manifests(v, contents, subject)
        self._bag_info(v, contents.get("bag-info.txt"), subject)
        for name in sorted(contents):
            m = _MANIFEST.fullmatch(name)
            if m is not None:
                self._manifest(v, name, m.group(1), contents[name], subject)
        if "sha512" not in {a for d in v.payload.values() for a in d} and v.payload:
            self.note("damaged", subject, "no SHA-512 payload manifest")
        if "fetch.txt" in contents:
            self._fetch(v, folder, contents["fetch.txt"], subject)
        if "metadata/dc.xml" in contents:
            from preserve.descriptive import parse_dublin_core

            try:
                _safe_xml(contents["metadata/dc.xml"])
                v.description = parse_dublin_core(contents["metadata/dc.xml"], languages=True)
            except (ValueError, ET.ParseError) as exc:
                self.note("damaged", f"{subject}: metadata/dc.xml", f"not read: {exc}")
        else:
            self.note("damaged", subject, "metadata/dc.xml is missing: no description")
        if "metadata/premis.xml" in contents:
            self._premis(v, contents["metadata/premis.xml"], subject)
        else:
            self.note("damaged", subject, "metadata/premis.xml is missing: no formats, no events")
        if "metadata/items.csv" in contents:
            try:
                v.items = _items(contents["metadata/items.csv"])
            except (ValueError, UnicodeDecodeError, csv.Error) as exc:
                self.note("damaged", f"{subject}: metadata/items.csv", f"not read: {exc}")
        for path in v.payload:
            if path not in v.present and path not in v.fetched:
                self.note(
                    "damaged",
                    f"{subject}: {path}",
                    "listed in the manifests but neither stored in the version nor named in "
                    "its fetch.txt",
                )
        return v

    def _check_tag_manifests(self, v: _Version, contents: dict[str, bytes], subject: str) -> None:
        from preserve.bagit.manifest import parse_manifest

        claims: dict[str, dict[str, str]] = {}
        for name in sorted(contents):
            m = _TAGMANIFEST.fullmatch(name)
            if m is None or m.group(1) not in ("sha512", "sha256"):
                continue
            try:
                parsed = parse_manifest(
                    contents[name].decode("utf-8"),
                    name=name,
                    algorithm=m.group(1),
                    version=(1, 0),
                    tag=True,
                )
            except UnicodeDecodeError as exc:
                self.note("damaged", f"{subject}: {name}", f"not UTF-8: {exc}")
                continue
            for path, digest in parsed.entries.items():
                claims.setdefault(path, {})[m.group(1)] = digest.lower()
        # what the tag manifests claim is the reference: a tag file damaged or lost is
        # catalogued as the bag says it should be, so that fixity reports it
        for path, claimed in sorted(claims.items()):
            stored = v.tags.get(path)
            if stored is None:
                v.missing_tags.append(path)
                # its size is not written anywhere: 0, never compared (fixity reports the
                # object missing before it looks at a size)
                v.tags[path] = (0, claimed.get("sha512", ""), claimed.get("sha256", ""))
                listed = " and ".join(f"tagmanifest-{a}.txt" for a in sorted(claimed))
                self.note(
                    "damaged",
                    f"{subject}: {path}",
                    f"listed in {listed} but missing (catalogued with the digests listed and "
                    "an unknown size: fixity reports it missing)",
                )
                continue
            size, sha512, sha256 = stored
            differs = sorted(
                a for a, d in claimed.items() if d != (sha512 if a == "sha512" else sha256)
            )
            if differs:
                v.damaged_tags.append(path)
                # only the digests a tag manifest gives: the stored bytes' are no reference
                v.tags[path] = (size, claimed.get("sha512", ""), claimed.get("sha256", ""))
                self.note(
                    "damaged",
                    f"{subject}: {path}",
                    "differs from "
                    + " and ".join(f"tagmanifest-{a}.txt" for a in differs)
                    + " (catalogued as the tag manifest lists it: fixity reports the mismatch)",
                )

    def _bag_info(self, v: _Version, data: bytes | None, subject: str) -> None:
        from preserve.bagit.taginfo import parse_bag_info

        if data is None:
            self.note("damaged", subject, "bag-info.txt is missing")
            return
        try:
            elements, errors, _warnings = parse_bag_info(data.decode("utf-8"), (1, 0))
        except UnicodeDecodeError as exc:
            self.note("damaged", f"{subject}: bag-info.txt", f"not UTF-8: {exc}")
            return
        for problem in errors:
            self.note("damaged", f"{subject}: bag-info.txt", problem.message)
        # a long value is folded over lines at single spaces (format_bag_info): joined again
        v.bag_info = [(label, value.replace("\n", " ")) for label, value in elements]

    def _manifest(self, v: _Version, name: str, algorithm: str, data: bytes, subject: str) -> None:
        from preserve.bagit.manifest import parse_manifest

        try:
            parsed = parse_manifest(
                data.decode("utf-8"), name=name, algorithm=algorithm, version=(1, 0)
            )
        except UnicodeDecodeError as exc:
            self.note("damaged", f"{subject}: {name}", f"not UTF-8: {exc}")
            return
        for problem in parsed.errors:
            self.note("damaged", f"{subject}: {name}", problem.message)
        for path, digest in parsed.entries.items():
            v.payload.setdefault(path, {})[algorithm] = digest

    def _fetch(self, v: _Version, folder: str, data: bytes, subject: str) -> None:
        from preserve.bagit.fetch import FetchRefused, parse_fetch, stored_object

        try:
            entries, errors = parse_fetch(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            self.note("damaged", f"{subject}: fetch.txt", f"not UTF-8: {exc}")
            return
        for message in errors:
            self.note("damaged", f"{subject}: fetch.txt", message)
        for entry in entries:
            try:
                held, path = stored_object(entry.url, folder, v.number)
            except (FetchRefused, ValueError) as exc:
                self.note("damaged", f"{subject}: fetch.txt", f"refused: {exc}")
                continue
            v.fetched[entry.path] = (held, path, entry.length)

    def _premis(self, v: _Version, data: bytes, subject: str) -> None:
        where = f"{subject}: metadata/premis.xml"
        try:
            v.objects = premis_objects(data)
        except ValueError as exc:
            self.note(
                "damaged",
                where,
                f"cannot be read ({exc}): this version's files keep their digests but not "
                "their formats, and the events of its making are lost",
            )
            return
        try:
            v.events = premis.parse_events(data)
        except (ValueError, ET.ParseError) as exc:
            self.note("damaged", where, f"its events cannot be read: {exc}")

    def _event_files(
        self, folder: str, paths: Sequence[str], subject: str
    ) -> list[tuple[str, bytes, list[premis.EventRecord]]]:
        out = []
        for path in sorted(paths):
            where = f"{subject}: {path}"
            try:
                data = _read(self.storage, folder + path)
            except StorageError as exc:
                self.note("damaged", where, f"could not be read: {exc}")
                continue
            if data is None:
                continue
            try:
                _safe_xml(data)
                events = premis.parse_events(data)
            except (ValueError, ET.ParseError) as exc:
                self.note("damaged", where, f"cannot be read, its events are lost: {exc}")
                continue
            out.append((path, data, events))
        return out

    # -- writing the rows

    def _store(
        self,
        package_id: str,
        folder: str,
        coll: Collection,
        versions: list[_Version],
        event_files: list[tuple[str, bytes, list[premis.EventRecord]]],
        subject: str,
    ) -> None:
        from preserve.catalogue.models import Copy, EventFile, Package, PackageVersion

        uow = self.uow
        file_events = [e for _path, _data, events in event_files for e in events]
        first = versions[0]
        latest = versions[-1]
        external = next((v for k, v in first.bag_info if k.lower() == "external-identifier"), None)
        rows: dict[int, PackageVersion] = {}
        previous: _Version | None = None
        for v in versions:
            created = _first_time(v.events)
            stored = _stored_at(file_events, v.number) or created
            kind = (
                "metadata"
                if any(e.event_type == premis.METADATA_MODIFICATION for e in v.events)
                else "content"
            )
            own = [p for p in v.payload if p in v.present]
            info = {k.lower(): val for k, val in reversed(v.bag_info)}
            rows[v.number] = PackageVersion(
                package_id=package_id,
                number=v.number,
                kind=kind,
                status="stored",
                title=(v.description.get("title") or [""])[0],
                description=v.description,
                bag_info=[list(item) for item in v.bag_info],
                payload_fingerprint=_fingerprint(v),
                file_count=len(v.payload),
                size=sum(self._size(v, p) or 0 for p in v.payload),
                stored_files=len(own),
                stored_bytes=sum(self._size(v, p) or 0 for p in own),
                changes=_changes(previous, v, kind),
                source="",
                delivery_kind=info.get("delivery-type", "") if kind == "content" else "",
                delivery_profile=info.get("delivery-profile", "") if kind == "content" else "",
                actor=_implementer(v.events),
                created_at=created,
                stored_at=stored,
            )
            previous = v
        current = rows[latest.number]
        uow.packages.add(
            Package(
                id=package_id,
                collection_id=coll.id,
                external_identifier=external,
                title=current.title,
                description=current.description,
                status="stored",
                version=latest.number,
                size=current.size,
                file_count=current.file_count,
                payload_fingerprint=current.payload_fingerprint,
                bag_info=current.bag_info,
                source="",
                created_at=rows[first.number].created_at,
                stored_at=rows[first.number].stored_at,
            )
        )
        self.counts["packages"] += 1
        for row in rows.values():
            uow.versions.add(row)
            self.counts["versions"] += 1
        for v in versions:
            self.counts["files"] += uow.files.add_many(package_id, self._file_rows(v))
        copies: dict[int, Copy] = {}
        for v in versions:
            state = self._copy_state(package_id, v, versions, file_events)
            fixity_checked = state.pop("fixity_checked")
            copy = uow.copies.add(
                Copy(
                    package_id=package_id,
                    location_id=self.loc.id,
                    version=v.number,
                    key_prefix=f"{folder}v{v.number}/",
                    created_at=rows[v.number].created_at,
                    # what a check reads: the payload files the version stores and its tag files
                    size_bytes=sum(self._size(v, p) or 0 for p in v.payload if p in v.present)
                    + sum(size for size, _sha512, _sha256 in v.tags.values()),
                    **state,
                )
            )
            copies[v.number] = copy
            if fixity_checked:
                self.fixity_checked.append(copy.id)
            self.counts["copies"] += 1
        for e in (*(e for v in versions for e in v.events), *file_events):
            if e.event_type == premis.POLICY_ASSIGNMENT:
                self.policy_events.setdefault(f"{package_id} {e.identifier}", (package_id, e))
        for v in versions:
            for e in v.events:
                self._event(package_id, e, v.number, f"v{v.number}/metadata/premis.xml", {})
        for path, data, events in event_files:
            for e in events:
                self._event(package_id, e, None, path, copies)
            stamp = _STAMP.search(path)
            uow.journal.add_file(
                EventFile(
                    package_id=package_id,
                    path=path,
                    size=len(data),
                    sha512=hashlib.sha512(data).hexdigest(),
                    sha256=hashlib.sha256(data).hexdigest(),
                    event_count=len(events),
                    created_at=datetime.strptime(stamp.group(1), "%Y%m%dT%H%M%SZ").replace(
                        tzinfo=UTC
                    )
                    if stamp
                    else datetime.now(UTC),
                )
            )
            self.counts["event_files"] += 1
        uow.flush()
        # what is written stays in the transaction; the session forgets it (memory)
        kept = {*self.organisations.values(), *self.collections.values(), *self.agents.values()}
        for obj in list(uow.session):
            if obj not in kept:
                uow.session.expunge(obj)

    def _size(self, v: _Version, path: str) -> int | None:
        described = v.objects.get(path)
        if described is not None and described.size is not None:
            return described.size
        held = v.fetched.get(path)
        if held is not None and held[2] is not None:
            return held[2]
        if path in v.present:
            try:
                return self.storage.stat(v.prefix + path).size
            except StorageError:
                return None
        return None

    def _file_rows(self, v: _Version) -> Iterator[dict[str, Any]]:
        import unicodedata

        for path in sorted(v.payload):
            digests = v.payload[path]
            obj = v.objects.get(path)
            held = v.fetched.get(path)
            stored_version, stored_path = (held[0], held[1]) if held else (v.number, path)
            identification = None
            if obj is not None:
                identification = {
                    "puid": obj.puid,
                    "format_name": obj.format_name or "",
                    "format_version": obj.format_version or "",
                    "mime": obj.mime or "",
                    "tool": obj.tool,
                    "signature_version": obj.signature_version,
                }
            yield {
                "path": path,
                "path_nfc": unicodedata.normalize("NFC", path),
                "version": v.number,
                "stored_version": stored_version,
                "stored_path": stored_path if stored_path != path else None,
                "role": "payload",
                "size": self._size(v, path) or 0,
                "sha512": digests.get("sha512"),
                "sha256": digests.get("sha256"),
                "digests": {a: d for a, d in digests.items() if a not in ("sha512", "sha256")},
                "puid": obj.puid if obj else None,
                "format_name": obj.format_name if obj else None,
                "format_version": obj.format_version if obj else None,
                "mime": obj.mime if obj else None,
                "identification": identification,
                "image": obj.image if obj else None,
                "description": v.items.get(path),
            }
        for path, (size, sha512, sha256) in sorted(v.tags.items()):
            yield {
                "path": path,
                "version": v.number,
                "role": "tag",
                "size": size,
                "sha512": sha512 or None,
                "sha256": sha256 or None,
            }

    def _copy_state(
        self,
        package_id: str,
        v: _Version,
        versions: Sequence[_Version],
        events: Sequence[premis.EventRecord],
    ) -> dict[str, Any]:
        """Status, how and when the copy of ``v`` on this location was verified and last
        checked: from what is present and from its replication and fixity-check events."""
        mine = journal.copy_object(self.loc.name, v.number)
        state: dict[str, Any] = {"status": "verified", "verified_by": "", "last_outcome": None}
        checks: list[tuple[datetime, str]] = []
        fixity: list[datetime] = []
        for e in events:
            if journal.version_object(v.number) not in e.objects and mine not in e.objects:
                continue
            links = journal.links_of(e.objects, package_id)
            for name, _number in links.copies:
                if name != self.loc.name:
                    self.elsewhere.setdefault(name, set()).add(package_id)
            if mine not in e.objects:
                continue
            if e.event_type == premis.REPLICATION:
                m = _VERIFIED_BY.search(e.outcome_detail)
                state["verified_by"] = m.group(1) if m else ""
                checks.append((e.occurred_at, "ok"))
            elif e.event_type == premis.FIXITY_CHECK:
                outcome = e.outcome_detail.split(":", 1)[0].strip()
                checks.append((e.occurred_at, outcome if outcome in _OUTCOMES else "error"))
                fixity.append(e.occurred_at)
        if checks:
            checks.sort()
            last_at, last = checks[-1]
            state["last_checked_at"], state["last_outcome"] = last_at, last
            good = [at for at, outcome in checks if outcome == "ok"]
            state["verified_at"] = good[-1] if good else None
            state["status"] = _COPY_STATUS.get(last, "verified")
        # a fixity run set when the copy is next due (an ingest or a replication leaves it
        # first in line)
        state["fixity_checked"] = bool(fixity) and max(fixity) >= state.get(
            "last_checked_at", max(fixity)
        )
        by_number = {x.number: x for x in versions}
        absent = [p for p in v.payload if p not in v.present and p not in v.fetched]
        for path, (held, stored_path, _length) in v.fetched.items():
            source = by_number.get(held)
            if source is None or stored_path not in source.present:
                absent.append(path)
        # what the rebuild found is the copy's state now, until a fixity run checks it all
        found = "mismatch" if v.damaged_tags else "missing" if absent or v.missing_tags else None
        if found is not None:
            state["status"] = _COPY_STATUS[found]
            state["last_outcome"] = found
            state["last_checked_at"] = self.started
            state["fixity_checked"] = False
        return state

    def _event(
        self,
        package_id: str,
        e: premis.EventRecord,
        version: int | None,
        stored_in: str,
        copies: Mapping[int, Any],
    ) -> None:
        in_bag = version is not None
        if e.identifier in self.seen_events:
            return  # written twice (an event file of events older than the event files)
        self.seen_events.add(e.identifier)
        copy_id = file_id = None
        if version is None:  # an event file's: what it concerns is in its objects
            links = journal.links_of(e.objects, package_id)
            version = links.version
            for name, number in links.copies:
                if name == self.loc.name and number in copies:
                    copy_id = copies[number].id
            for number, path in links.files:
                found = self.uow.files.get_by_path(package_id, path, number)
                if found is not None:
                    file_id = found.id
        event = self.uow.events.add(
            e.event_type,
            e.outcome,
            agent=self.agent(e.agent),
            package_id=package_id,
            copy_id=copy_id,
            file_id=file_id,
            detail=e.detail,
            outcome_detail=e.outcome_detail,
            occurred_at=e.occurred_at,
            # as the catalogue records them: with the LoC URI when written into a bag
            event_type_uri=premis.event_type_uri(e.event_type) if in_bag else None,
            event_id=e.identifier,
            version=version,
            stored_in=stored_in,
        )
        self.uow.events.link_agents((event.id, self.agent(a), role) for a, role in e.linked_agents)
        self.counts["events"] += 1


_OUTCOMES = ("ok", "mismatch", "missing", "error")


def _first_time(events: Sequence[premis.EventRecord]) -> datetime:
    return min((e.occurred_at for e in events), default=datetime.now(UTC))


def _stored_at(events: Sequence[premis.EventRecord], number: int) -> datetime | None:
    """When a version became stored: its replication events carry the time of the final
    transaction of its ingest."""
    times = [
        e.occurred_at
        for e in events
        if e.event_type == premis.REPLICATION and journal.version_object(number) in e.objects
    ]
    return min(times, default=None)


def _implementer(events: Sequence[premis.EventRecord]) -> str:
    """The person who made the version: the implementer of the events of its making."""
    for e in events:
        for agent, role in e.linked_agents:
            if role == premis.IMPLEMENTER and agent.agent_type == "person":
                return agent.name
    return ""


def _fingerprint(v: _Version) -> str:
    """As :func:`preserve.ingest.stage.fingerprint`: SHA-256 of the sorted ``<sha512>  <path
    under data/>`` lines."""
    h = hashlib.sha256()
    for path in sorted(v.payload, key=lambda p: p[len("data/") :]):
        line = f"{v.payload[path].get('sha512', '')}  {path[len('data/') :]}\n"
        h.update(line.encode("utf-8", "surrogateescape"))
    return h.hexdigest()


def _changes(previous: _Version | None, v: _Version, kind: str) -> dict[str, Any]:
    """What changed from the version before, as the version's making recorded it: for a
    metadata-only version the description's elements before and after
    (:func:`preserve.services.versions.describe`), else the files matched by SHA-512
    (:func:`preserve.ingest.versions.compare`)."""
    from preserve.services.versions import description_changes

    if previous is None:
        return {}
    if kind == "metadata":
        changed = description_changes(previous.description, v.description)
        return {"metadata": {k: [list(a), list(b)] for k, (a, b) in changed.items()}}
    from preserve.ingest.versions import classify

    return classify(previous.sha512, v.sha512)
