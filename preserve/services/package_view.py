"""What the web catalogue's package page (and the API's package detail) shows and does: the
description, versions, one page of the file tree, copies, the PREMIS timeline; editing the
description, running fixity now.

Everything is read through :mod:`preserve.services.packages` (its parts for files, copies and
events), a page of files at a time, so a package with 100,000 files is as quick to show as one
with ten. Every function takes the signed-in :class:`~preserve.services.access.Principal` and
checks what they may see and do: another organisation's package is :class:`NotFound`, exactly
like an unknown one.
"""

from __future__ import annotations

import copy
import logging
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from preserve.bootstrap import Application
from preserve.descriptive import DC_ELEMENTS, LANG_KEY
from preserve.errors import InvalidInput, NotFound
from preserve.services import packages as pk
from preserve.services.access import Principal
from preserve.services.sharing import can_see, require_owner_role, require_package_view

log = logging.getLogger(__name__)

#: Files per page of the file list.
FILES_PER_PAGE = 100
#: Files counted at most for the page count (beyond: "more than 10,000", next/previous only).
COUNT_LIMIT = 10_000
#: Events shown unless "show all" is asked for.
EVENTS_SHOWN = 50
#: The longest value of one description element the form takes (characters).
MAX_VALUE = 10_000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_LANGUAGE_TAG = re.compile(r"[A-Za-z]{2,8}(-[A-Za-z0-9]{1,8})*")


@dataclass(frozen=True)
class DerivativeInfo:
    kind: str
    width: int | None
    height: int | None
    #: why it could not be made (None when it was)
    error: str | None = None


@dataclass(frozen=True)
class FileEntry:
    """A file of the version shown, as the page lists it."""

    id: int
    path: str
    #: the folder it is in ("data/photos/") and its own name
    folder: str
    name: str
    role: str
    size: int
    format_name: str | None
    format_version: str | None
    puid: str | None
    mime: str | None
    sha512: str | None
    sha256: str | None
    #: what ingest recorded of an image: width, height, colour space, bit depth ...
    image: Mapping[str, Any] | None
    problems: tuple[str, ...]
    thumbnail: DerivativeInfo | None = None
    preview: DerivativeInfo | None = None

    @property
    def is_image(self) -> bool:
        return bool(self.image) or (self.mime or "").startswith("image/")


@dataclass(frozen=True)
class FilePage:
    """One page of the files of a version under ``folder`` ("" for all)."""

    folder: str
    entries: tuple[FileEntry, ...]
    page: int
    per_page: int
    #: how many files there are here, exactly, or :data:`COUNT_LIMIT` + 1 when more
    total: int
    #: False when there are more than :data:`COUNT_LIMIT` (``total`` is then a lower bound)
    exact: bool = True
    #: which files: "payload" (the package's own) or "tag" (the BagIt tag files: manifests,
    #: bag-info.txt, the metadata files)
    role: str = "payload"
    #: how many tag files the version has (listed apart from the payload)
    tag_files: int = 0

    @property
    def pages(self) -> int:
        """How many pages (when ``exact``; otherwise at least this many)."""
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        if self.exact:
            return self.page < self.pages
        return len(self.entries) == self.per_page

    @property
    def breadcrumbs(self) -> tuple[tuple[str, str], ...]:
        """(name, folder) of each folder from the top down to ``folder``."""
        parts = [p for p in self.folder.split("/") if p]
        return tuple((p, "/".join(parts[: i + 1]) + "/") for i, p in enumerate(parts))


@dataclass(frozen=True)
class PackageDetail:
    """Everything the package page shows of one version of a package."""

    id: str
    organisation: str
    organisation_name: str
    organisation_id: int
    collection: str
    collection_title: str
    summary: pk.PackageSummary
    external_identifier: str | None
    #: element -> values, and element -> the language of each value ("" when none given)
    description: dict[str, list[str]]
    languages: dict[str, list[str]]
    bag_info: tuple[tuple[str, str], ...]
    versions: tuple[pk.VersionDetail, ...]
    current_version: int
    files: FilePage
    copies: tuple[pk.CopyDetail, ...]
    events: tuple[pk.EventDetail, ...]
    events_total: int
    #: what the person may do here
    can_edit: bool
    #: the files of the version shown with no good copy anywhere: path -> reason
    damaged_files: dict[str, str]

    @property
    def version(self) -> int:
        return self.summary.version

    @property
    def identifiers(self) -> list[str]:
        return list(self.description.get("identifier", []))

    @property
    def events_cut(self) -> bool:
        return len(self.events) < self.events_total


def _package(uow: Any, principal: Principal, package_id: str) -> Any:
    """The package row ``package_id`` (a whole UUID) names, if the person may see it."""
    wanted = pk.uuid_of(package_id)
    p = uow.packages.get(wanted) if wanted else None
    if p is None:
        raise NotFound(f"package {package_id} not found")
    # its owner's members, and the parties of an agreement in force over it (read-only)
    require_package_view(uow.session, principal, p, f"package {package_id}")
    return p


def short_id_target(app: Application, principal: Principal, text: str) -> str | None:
    """The whole id of the one package the person sees whose id starts with ``text`` (the
    short id that lists show, at least :data:`~preserve.services.packages.SHORT_ID` hex
    digits, pasted into an address), else None: a whole UUID, anything else, or a prefix that
    no visible package or several share (packages of other organisations are never counted, so
    an answer says nothing about them)."""
    digits = pk.hex_digits(text.strip())
    if digits is None or not pk.SHORT_ID <= len(digits) < 32:
        return None
    with app.uow() as uow:
        seen = [
            p.id
            for p in uow.packages.with_id_prefix(pk.hyphenated(digits))
            if can_see(uow.session, principal, p)
        ]
    return seen[0] if len(seen) == 1 else None


def _folder(text: str | None) -> str:
    """A folder of the file tree as asked for: "" (all) or "a/b/" (never absolute, no '..')."""
    if not text:
        return ""
    if "\x00" in text or "\\" in text or text.startswith("/") or _CONTROL.search(text):
        raise InvalidInput(f"{text!r} is not a folder of this package")
    parts = [p for p in text.split("/") if p]
    if any(p in (".", "..") for p in parts):
        raise InvalidInput(f"{text!r} is not a folder of this package")
    return "/".join(parts) + "/" if parts else ""


def package_detail(
    app: Application,
    principal: Principal,
    package_id: str,
    version: int | None = None,
    *,
    folder: str | None = None,
    page: int = 1,
    per_page: int = FILES_PER_PAGE,
    all_events: bool = False,
    bag_files: bool = False,
) -> PackageDetail:
    """The package page's data for ``version`` (default: the current one): one page of its
    files (under ``folder``; its payload files, or with ``bag_files`` its BagIt tag files,
    which are counted apart), every version, every copy, the latest :data:`EVENTS_SHOWN` events
    (all with ``all_events``). An unknown package, or one of an organisation the person does not
    belong to: :class:`NotFound`; an unknown version: :class:`NotFound` naming those there are."""
    wanted = _folder(folder)
    if page < 1:
        raise InvalidInput("the page number starts at 1")
    per_page = max(1, min(per_page, 1000))
    with app.uow() as uow:
        p = _package(uow, principal, package_id)
        number = pk.choose_version(uow, p.id, p.version, version)
        records = uow.versions.for_package(p.id)
        shown = None if number == p.version else next(v for v in records if v.number == number)
        damaged = pk.damaged_paths(p, number)
        rows, total = uow.files.page(
            p.id,
            number,
            folder=wanted,
            offset=(page - 1) * per_page,
            limit=per_page,
            count_limit=COUNT_LIMIT,
            role="tag" if bag_files else "payload",
        )
        tag_files = uow.files.count(p.id, role="tag", version=number)
        derived = _derivatives(uow, [f.id for f in rows])
        entries = tuple(_entry(f, damaged, derived) for f in rows)
        description = dict((p.description if shown is None else shown.description) or {})
        languages = description.pop(LANG_KEY, None) or {}
        coll = p.collection
        events_total = uow.events.count_for_package(p.id)
        return PackageDetail(
            id=p.id,
            organisation=coll.organisation.slug,
            organisation_name=coll.organisation.name,
            organisation_id=coll.organisation_id,
            collection=coll.slug,
            collection_title=coll.title or coll.slug,
            summary=pk._summary(uow, p, shown),
            external_identifier=p.external_identifier,
            description={k: [str(v) for v in vs] for k, vs in description.items()},
            languages={k: list(v) for k, v in languages.items()},
            bag_info=tuple(
                (k, v) for k, v in ((p.bag_info if shown is None else shown.bag_info) or [])
            ),
            versions=tuple(pk._version_detail(v) for v in records),
            current_version=p.version,
            files=FilePage(
                wanted,
                entries,
                page,
                per_page,
                total,
                total <= COUNT_LIMIT,
                "tag" if bag_files else "payload",
                tag_files,
            ),
            copies=pk.copy_details(uow, p.id),
            events=pk.event_details(uow, p.id, None if all_events else EVENTS_SHOWN),
            events_total=events_total,
            can_edit=principal.can(coll.organisation_id, "archivist"),
            damaged_files=damaged,
        )


def _derivatives(uow: Any, file_ids: list[int]) -> dict[tuple[int, str], DerivativeInfo]:
    from sqlalchemy import select

    from preserve.catalogue.models import Derivative

    if not file_ids:
        return {}
    rows = uow.session.scalars(select(Derivative).where(Derivative.file_id.in_(file_ids))).all()
    return {(d.file_id, d.kind): DerivativeInfo(d.kind, d.width, d.height, d.error) for d in rows}


def _entry(f: Any, damaged: dict[str, str], derived: Mapping[Any, DerivativeInfo]) -> FileEntry:
    detail = pk.file_detail(f, damaged)
    folder, _, name = f.path.rpartition("/")
    return FileEntry(
        id=f.id,
        path=f.path,
        folder=folder + "/" if folder else "",
        name=name,
        role=f.role,
        size=f.size,
        format_name=f.format_name,
        format_version=f.format_version,
        puid=f.puid,
        mime=f.mime,
        sha512=f.sha512,
        sha256=f.sha256,
        image=dict(f.image) if isinstance(f.image, dict) else None,
        problems=detail.problems,
        thumbnail=derived.get((f.id, "thumbnail")),
        preview=derived.get((f.id, "preview")),
    )


def file_entry(
    app: Application, principal: Principal, package_id: str, file_id: int
) -> tuple[str, int, FileEntry]:
    """One file of the package (any version) for its own page: (package id, version, entry)."""
    with app.uow() as uow:
        p = _package(uow, principal, package_id)
        f = uow.files.get(file_id)
        if f is None or f.package_id != p.id:
            raise NotFound(f"package {package_id} has no file {file_id}")
        derived = _derivatives(uow, [f.id])
        return p.id, f.version, _entry(f, pk.damaged_paths(p, f.version), derived)


# ----------------------------------------------------------------------------- describe

#: The elements the description form edits, in the order it shows them.
FORM_ELEMENTS = DC_ELEMENTS
#: The elements whose values are text in a language: the language of the text typed applies
#: to these only (never to dates, identifiers, formats, language codes or names).
TEXT_ELEMENTS = frozenset({"title", "subject", "description", "coverage", "rights"})


@dataclass(frozen=True)
class EditResult:
    """What saving the description form did: ``status`` "stored" (a new metadata version,
    ``version``) or "unchanged" (nothing to change: no version made)."""

    package_id: str
    status: str
    version: int
    changed: tuple[str, ...] = ()


#: What can be wrong with a field of the description form: code -> message (the web page
#: shows each in the person's language; the API gives code and message).
FORM_PROBLEMS = {
    "language": "not a language tag (nl, en, fr, nl-BE ...)",
    "unknown": "not a Dublin Core element",
    "control": "contains control characters",
    "too_long": f"a value is longer than {MAX_VALUE} characters",
    "required": "a package needs a title",
}


class FormErrors(InvalidInput):
    """The description form's errors, one per field (``errors``: field -> a code of
    :data:`FORM_PROBLEMS`)."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {FORM_PROBLEMS[v]}" for k, v in errors.items()))
        self.errors = dict(errors)


def _lines(text: str) -> list[str]:
    """The values typed into one field: one a line, blank lines left out."""
    out = []
    for line in text.replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        value = unicodedata.normalize("NFC", line.strip())
        if value:
            out.append(value)
    return out


def acting_as(app: Application, principal: Principal) -> Application:
    """The application acting for ``principal``: their name is the implementing agent of the
    events it records (the web process is shared by many people, so it is not changed)."""
    app.session_factory  # noqa: B018 -- built once, shared by the copy
    acting = copy.copy(app)
    acting.actor = principal.username
    return acting


def edit_description(
    app: Application,
    principal: Principal,
    package_id: str,
    fields: Mapping[str, str],
    language: str = "",
) -> EditResult:
    """Save the description form: ``fields`` maps each Dublin Core element to its values, one
    a line (an empty field clears the element); ``language`` (a tag such as ``nl``, optional)
    is the language of the values typed anew in the :data:`TEXT_ELEMENTS` (a value kept keeps
    its own language; the field's error is "text_language"). Only the elements whose values
    differ are changed, through :func:`preserve.services.versions.describe` (a metadata
    version with a PREMIS metadata modification event); nothing changed: status "unchanged",
    no version. Bad values: :class:`FormErrors` naming each field."""
    from preserve.services.journal import flush_events
    from preserve.services.versions import describe

    errors: dict[str, str] = {}
    lang = language.strip()
    if lang and not _LANGUAGE_TAG.fullmatch(lang):
        errors["text_language"] = "language"
    unknown = sorted(set(fields) - set(FORM_ELEMENTS))
    if unknown:
        errors[unknown[0]] = "unknown"
    wanted: dict[str, list[str]] = {}
    for element in FORM_ELEMENTS:
        if element not in fields:
            continue
        values = _lines(fields[element])
        bad = next((v for v in values if _CONTROL.search(v)), None)
        if bad is not None:
            errors[element] = "control"
        elif any(len(v) > MAX_VALUE for v in values):
            errors[element] = "too_long"
        wanted[element] = values
    if "title" in fields and not wanted.get("title"):
        errors["title"] = "required"
    if errors:
        raise FormErrors(errors)
    with app.uow() as uow:
        p = _package(uow, principal, package_id)
        require_owner_role(uow.session, principal, p, "archivist", f"package {p.id}")
        current = dict(p.description or {})
        pid, number = p.id, p.version
    langs = current.get(LANG_KEY) or {}
    assignments: list[str] = []
    changed: list[str] = []
    for element, values in wanted.items():
        before = [str(v) for v in current.get(element) or []]
        if values == before:
            continue
        changed.append(element)
        # a value kept keeps its language; a value typed anew takes the language given, in
        # the elements that are text in a language (not dates, identifiers, language codes)
        tags = list(langs.get(element) or [])
        kept = {v: (tags[i] if i < len(tags) else "") for i, v in enumerate(before)}
        typed = lang if element in TEXT_ELEMENTS else ""
        groups: dict[str, list[str]] = {}
        for v in values:
            groups.setdefault(kept.get(v, typed), []).append(v)
        assignments.append(f"{element}=")
        for tag, group in groups.items():
            at = f"@{tag}" if tag else ""
            assignments.extend(f"{element}{at}={v}" for v in group)
    if not assignments:
        return EditResult(pid, "unchanged", number)
    result = describe(acting_as(app, principal), pid, assignments=assignments)
    if result.status == "unchanged":
        return EditResult(pid, "unchanged", result.version)
    flush_events(app, [pid], catch_up=0)
    log.info("description of %s changed by %s: %s", pid, principal.username, ", ".join(changed))
    return EditResult(pid, "stored", result.version, tuple(changed))


# ----------------------------------------------------------------------------- fixity now


@dataclass(frozen=True)
class FixityQueued:
    job_id: str
    #: False when a check of this package was already waiting (that job is given)
    new: bool
    state: str


def run_fixity(
    app: Application, principal: Principal, package_id: str, *, now: datetime | None = None
) -> FixityQueued:
    """Queue a fixity check of every copy of the package now (a ``fixity`` job, as
    ``preserve fixity --package ID --async``). While one queued from here still waits or runs,
    asking again gives that job instead of a second one."""
    from sqlalchemy import select

    from preserve.catalogue.models import Job
    from preserve.services.schedule import queue_check

    with app.uow() as uow:
        p = _package(uow, principal, package_id)
        require_owner_role(uow.session, principal, p, "archivist", f"package {p.id}")
        if p.status != "stored":
            raise InvalidInput(
                f"package {p.id} is not stored (status {p.status}): nothing to check"
            )
        pid = p.id
        waiting = uow.session.scalars(
            select(Job)
            .where(
                Job.kind == "fixity", Job.package_id == pid, Job.state.in_(("queued", "running"))
            )
            .order_by(Job.created_at.desc())
            .limit(1)
        ).first()
        if waiting is not None:
            return FixityQueued(waiting.id, False, waiting.state)
    job = queue_check(acting_as(app, principal), package_id=pid, now=now)
    with app.uow() as uow:  # so the page finds it by package
        row = uow.session.get(Job, job.id)
        if row is not None and row.package_id is None:
            row.package_id = pid
            uow.commit()
    return FixityQueued(job.id, True, job.state)
