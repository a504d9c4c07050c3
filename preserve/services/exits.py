"""The exit of an agreement (issue 12; retention-agreements.md 3.11, 4.1 and 5.1 E13).

An agreement in ``exiting`` hands everything in its scope to the receiving party named by its
exit terms (the owner, a successor, another archive)::

    export (custodian staff) -> confirm (a person of the receiving party, with a receipt of
    the checksums they computed; every one must match) -> the post-exit action
    (delete_with_certificate: a disposal of kind ``exit``; retain_until: kept until a date;
    transfer: recorded as transferred to the recipient) -> close (refused before)

:func:`export` writes, into a new folder::

    bags/<package id>/        every stored package in scope, its current version as a BagIt bag
                              with its PREMIS metadata (preserve.services.export: read back from
                              a verified copy, every file checked against the catalogue, the bag
                              validated); metadata/premis.xml and metadata/events/ inside
    documents/v<N>/<name>     the agreement's documents, of every version, checked against
                              their recorded SHA-256
    exit-manifest.tsv         one line per bag (package id, bag name, SHA-256 of its
                              tagmanifest-sha256.txt, which pins every other file of the bag) and
                              per document (its SHA-256)
    README.txt                how to check it
    manifest-sha256.txt       the SHA-256 of every other file, as ``sha256sum`` writes it

so that the receiver checks the whole export with ``sha256sum -c manifest-sha256.txt`` and each
bag with any BagIt validator, and writes the receipt with ``sha256sum`` of the files the lines of
``exit-manifest.tsv`` name (:data:`RECEIPT_COMMAND`: it also holds for an export without
documents, where a ``documents/*/*`` pattern matches nothing and fails). The export is
written in a temporary folder next to the destination and renamed into place only when whole;
nothing is recorded until then. It is recorded (who, when, where, counts, the manifest's
SHA-256, each item) with a PREMIS ``exporting`` event per package.

Which packages an agreement covers (:func:`packages_in_scope`): the stored packages of the
collections in its scope, and those linked to it at ingest (``package_retention``, also through
a metadata rule).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from preserve import __version__, premis
from preserve.bagit.serialise import check_parents, make_parents, partial_name, remove_folders
from preserve.bootstrap import Application
from preserve.catalogue.agreements import Agreement, AgreementParty
from preserve.catalogue.exits import AgreementExit, AgreementExitItem
from preserve.catalogue.models import Collection, Package
from preserve.catalogue.retention import PackageRetention
from preserve.checksums import hash_file
from preserve.errors import Conflict, InvalidInput, NotFound, PermissionDenied, PreserveError
from preserve.interrupts import critical
from preserve.services import agreements as ag
from preserve.services.access import Principal
from preserve.text import plural

log = logging.getLogger(__name__)

MANIFEST = "manifest-sha256.txt"
EXIT_MANIFEST = "exit-manifest.tsv"
README = "README.txt"
#: Disposal requests in these states have done their deletion (the certificate exists).
DISPOSED = ("executed", "permanently_deleted")
#: Disposal states that end a request without deleting anything.
ENDED_WITHOUT_DELETING = ("rejected", "withdrawn", "restored", "execution_failed")
#: How the receiver writes the receipt, in the export's folder: ``sha256sum`` of every path of
#: the exit manifest (column 4; no path has a tab or newline: :func:`_safe_name`).
RECEIPT_COMMAND = f"grep -v '^#' {EXIT_MANIFEST} | cut -f4 | xargs -d '\\n' sha256sum > receipt.txt"
_LINE = re.compile(r"^([0-9a-fA-F]{64}) [ *](.+)$")


# ---------------------------------------------------------------------------- values out


@dataclass(frozen=True)
class ExitItemInfo:
    kind: str
    package_id: str | None
    name: str
    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class ExitExportInfo:
    id: int
    agreement: str
    destination: str
    exported_by: str
    exported_at: datetime
    packages: int
    documents: int
    files: int
    bytes: int
    manifest_sha256: str
    confirmed_party: str | None
    confirmed_by: str | None
    confirmed_at: datetime | None
    receipt_sha256: str | None
    post_exit_action: str
    #: waiting (for the confirmation), pending (the post-exit action), done
    post_exit_state: str
    post_exit_at: datetime | None
    post_exit_detail: str
    retain_until: date | None
    items: tuple[ExitItemInfo, ...]


@dataclass(frozen=True)
class ExitDisposalRun:
    """What one proposal of the post-exit deletion did (:func:`propose_disposal`)."""

    export: ExitExportInfo
    #: the disposals this run proposed: (request id, its package ids)
    proposed: tuple[tuple[int, tuple[str, ...]], ...]
    #: how many packages the export has, and how many of them were in an exit disposal of the
    #: agreement before this run (pending to executed), with those disposals' ids
    exported: int
    in_disposal_before: int
    disposals_before: tuple[int, ...]


@dataclass(frozen=True)
class ExitStatus:
    agreement: str
    reference: str
    version_no: int
    state: str
    #: the receiving party (organisation slug) and what follows the confirmation
    recipient: str | None
    post_exit_action: str | None
    #: when the exit began (the agreement entered exiting) and its deadline by the exit terms
    exiting_since: datetime | None
    deadline: date | None
    packages_in_scope: int
    #: newest first
    exports: tuple[ExitExportInfo, ...]
    #: why the agreement cannot be closed yet (None: it can)
    close_refusal: str | None


@dataclass(frozen=True)
class ReceiptProblem:
    path: str
    #: "mismatch", "missing" (an item the receipt does not list) or "unknown" (a line for
    #: something that is not an item of the exit manifest)
    problem: str
    expected: str | None
    given: str | None

    def describe(self) -> str:
        if self.problem == "mismatch":
            return f"{self.path}: receipt says {self.given}, exported {self.expected}"
        if self.problem == "missing":
            return f"{self.path}: not in the receipt"
        return f"{self.path}: not an item of the exit manifest"


class ReceiptRefused(Conflict):
    """The receipt does not confirm the export: every mismatch and missing item."""

    def __init__(self, message: str, problems: list[ReceiptProblem]) -> None:
        super().__init__(message, [p.describe() for p in problems])
        self.receipt_problems = problems


# ---------------------------------------------------------------------------- scope


def packages_in_scope(a: Agreement) -> sa.ColumnElement[bool]:
    """The condition on :class:`Package` rows that selects the stored packages ``a`` covers:
    those of the collections in its scope, and those linked to its reference at ingest."""
    collections = [s.collection_id for s in a.scopes if s.selector == "collection"]
    linked = sa.select(PackageRetention.package_id).where(PackageRetention.reference == a.reference)
    covered: sa.ColumnElement[bool] = Package.id.in_(linked)
    if collections:
        covered = sa.or_(Package.collection_id.in_(collections), covered)
    return sa.and_(Package.status == "stored", covered)


def _find(session: Session, ident: str, who: Principal | None, *, for_update: bool = False) -> Any:
    return ag._find_visible(session, ident, who, for_update=for_update)


def _label(a: Agreement) -> str:
    return f"{a.reference} v{a.version_no}"


def _recipient(a: Agreement) -> AgreementParty:
    terms = a.exit_terms
    if terms is None or terms.recipient is None:
        raise Conflict(f"{_label(a)} has no exit recipient in its exit terms")
    return terms.recipient


# ---------------------------------------------------------------------------- export


def export(
    app: Application,
    who: Principal,
    ident: str,
    destination: Path,
    *,
    now: datetime | None = None,
) -> ExitExportInfo:
    """Export everything in the scope of the exiting agreement ``ident`` into the new folder
    ``destination`` (see the module's description) and record it. Custodian staff only; refused
    (Conflict) unless the agreement is exiting and its exit was not confirmed yet."""
    destination = Path(destination)
    if destination.exists() and (not destination.is_dir() or any(destination.iterdir())):
        raise InvalidInput(f"{destination}: already exists and is not an empty folder")
    check_parents(destination)
    with app.uow() as uow:
        s = uow.session
        a = _find(s, ident, who)
        ag._require(a, ("exiting",), "export for the exit of")
        ag._custodian_staff(who, a, "export for the exit of")
        confirmed = s.scalar(
            sa.select(AgreementExit.id).where(
                AgreementExit.agreement_id == a.id, AgreementExit.confirmed_at.is_not(None)
            )
        )
        if confirmed is not None:
            raise Conflict(
                f"the exit of {_label(a)} was confirmed already (export {confirmed}): "
                "nothing more is exported"
            )
        terms = a.exit_terms
        if terms is None:
            raise Conflict(f"{_label(a)} has no exit terms")
        action = terms.post_exit_action
        label = _label(a)
        agreement_id, title = a.id, a.title
        packages = list(
            s.execute(
                sa.select(Package.id, Package.title)
                .where(packages_in_scope(a))
                .order_by(Package.created_at, Package.id)
            )
        )
        versions = {v.id: v.version_no for v in _versions(s, a.reference)}
        documents = [
            (versions.get(d.agreement_id, 0), d.name, d.sha256, d.size, d.storage_key)
            for v in _versions(s, a.reference)
            for d in v.documents
        ]
    target = destination.absolute()
    created = make_parents(target.parent)
    work = target.parent / partial_name(target.name)
    try:
        items, files, nbytes = _write(app, work, label, title, packages, documents, who)
        manifest_sha256 = hashlib.sha256((work / MANIFEST).read_bytes()).hexdigest()
        if destination.exists():
            destination.rmdir()
        work.rename(destination)
    except BaseException:
        with critical():
            shutil.rmtree(work, ignore_errors=True)
            remove_folders(created)
        raise
    at = ag._now(now)
    with app.uow() as uow:
        a = uow.session.get_one(Agreement, agreement_id)
        row = AgreementExit(
            agreement_id=a.id,
            reference=a.reference,
            version_no=a.version_no,
            destination=str(target),
            exported_by=who.username,
            exported_at=at,
            packages=len(packages),
            documents=len(documents),
            files=files,
            bytes=nbytes,
            manifest_sha256=manifest_sha256,
            post_exit_action=action,
            post_exit_state="waiting",
            items=[AgreementExitItem(**item) for item in items],
        )
        uow.session.add(row)
        software = uow.agents.get_or_create("preserve", __version__, "software")
        person = uow.agents.get_or_create(who.label, "", "person")
        links = []
        for item in items:
            if item["kind"] != "bag":
                continue
            event = uow.events.add(
                premis.EXPORTING,
                "success",
                agent=software,
                package_id=item["package_id"],
                detail=f"exported for the exit of agreement {label} as bag {item['name']} "
                f"to {target}",
                outcome_detail=f"every file matched its reference digests and the bag validated; "
                f"{item['path']} has sha256 {item['sha256']}",
                occurred_at=at,
            )
            links.append((event.id, person, "implementer"))
        uow.events.link_agents(links)
        ag._event(
            a,
            "exit_export",
            a.state,
            who,
            at,
            from_state=a.state,
            comment=f"{plural(len(packages), 'package')} and {plural(len(documents), 'document')}"
            f" exported to {target}; {MANIFEST} sha256 {manifest_sha256}",
        )
        uow.commit()
        info = _info(row, label)
    _flush(app, [p for p, _t in packages])
    log.info("exit of %s: exported %d packages to %s", label, len(packages), target)
    return info


def _versions(session: Session, reference: str) -> list[Agreement]:
    return list(
        session.scalars(
            sa.select(Agreement)
            .where(Agreement.reference == reference)
            .options(selectinload(Agreement.documents))
            .order_by(Agreement.version_no)
        )
    )


def _one_line(text: str) -> str:
    """``text`` as one field of one line of the exit manifest: no tab, no line break."""
    return "".join(" " if ord(c) < 32 else c for c in text)


def _safe_name(name: str) -> str:
    """A document's name as a file name: one path segment, no control characters."""
    cleaned = "".join("_" if ord(c) < 32 or c in "/\\" else c for c in name).strip()
    return cleaned if cleaned not in ("", ".", "..") else "document"


def _write(
    app: Application,
    work: Path,
    label: str,
    title: str,
    packages: list[Any],
    documents: list[tuple[int, str, str, int, str]],
    who: Principal,
) -> tuple[list[dict[str, Any]], int, int]:
    """Write the export into ``work``: the items, every file and its bytes."""
    from preserve.services.export import export_package

    work.mkdir()
    items: list[dict[str, Any]] = []
    for package_id, _title in packages:
        bag = work / "bags" / package_id
        result = export_package(app, package_id, bag, record=False)
        tagmanifest = "tagmanifest-sha256.txt"
        if not (bag / tagmanifest).is_file():
            tagmanifest = "tagmanifest-sha512.txt"
        path = f"bags/{package_id}/{tagmanifest}"
        items.append(
            {
                "kind": "bag",
                "package_id": package_id,
                "name": package_id,
                "path": path,
                "sha256": hash_file(work / path, ("sha256",))[1]["sha256"],
                "size": result.bag_bytes,
            }
        )
    home = Path(app.settings.home)
    used: set[str] = set()
    for version_no, name, sha256, size, key in documents:
        safe = _safe_name(name)
        path = f"documents/v{version_no}/{safe}"
        n = 1
        while path in used:
            n += 1
            path = f"documents/v{version_no}/{n}-{safe}"
        used.add(path)
        target = work / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(home / key, target)
        got = hash_file(target, ("sha256",))[1]["sha256"]
        if got != sha256:
            raise PreserveError(
                f"document {name!r} of {label} v{version_no} differs from its recorded SHA-256 "
                f"({got}, expected {sha256}): the kept copy under {home / key} is damaged"
            )
        items.append(
            {
                "kind": "document",
                "package_id": None,
                "name": name,
                "path": path,
                "sha256": sha256,
                "size": size,
            }
        )
    lines = [
        f"# Exit of agreement {label}: {_one_line(title)}",
        f"# exported {datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} by {who.username} with preserve "
        f"{__version__}",
        "# kind\tpackage\tname\tpath\tsha256",
    ]
    for item in items:
        lines.append(
            "\t".join(
                (
                    item["kind"],
                    item["package_id"] or "",
                    _one_line(item["name"]),
                    item["path"],
                    item["sha256"],
                )
            )
        )
    (work / EXIT_MANIFEST).write_text("\n".join(lines) + "\n", encoding="utf-8")
    (work / README).write_text(_readme(label, len(packages), len(documents)), encoding="utf-8")
    files, nbytes, entries = 0, 0, []
    for folder, dirs, names in os.walk(work):
        dirs.sort()
        for name in sorted(names):
            found = Path(folder) / name
            rel = found.relative_to(work).as_posix()
            size, digests = hash_file(found, ("sha256",))
            entries.append(f"{digests['sha256']}  {rel}\n")
            files += 1
            nbytes += size
    (work / MANIFEST).write_text("".join(entries), encoding="utf-8")
    return items, files, nbytes


def _readme(label: str, packages: int, documents: int) -> str:
    return f"""Exit of agreement {label}: {plural(packages, "package")} as BagIt bags, \
{plural(documents, "document")} of the agreement.

bags/<package id>/   one BagIt 1.0 bag per package (metadata/premis.xml: its PREMIS metadata)
documents/v<N>/      the agreement's documents, per version
{EXIT_MANIFEST}    one line per bag and per document: the SHA-256 to confirm
{MANIFEST}  the SHA-256 of every other file

Check everything:     sha256sum -c {MANIFEST}
Check one bag:        bagit.py --validate bags/<package id>   (or any BagIt validator)
Make the receipt:     {RECEIPT_COMMAND}
(the SHA-256 of every file {EXIT_MANIFEST} lists in its fourth column)
and send receipt.txt back: the archive records the confirmation only if every checksum matches.
"""


# ---------------------------------------------------------------------------- confirmation


def parse_receipt(text: str) -> dict[str, str]:
    """``sha256sum`` output: path -> lower-case hex; blank and ``#`` lines skipped, ``./``
    dropped. A line of another form, or a path given twice with two values, is InvalidInput
    naming its line."""
    found: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line.strip())
        if m is None:
            raise InvalidInput(
                f"receipt line {number}: {line[:80]!r} is not '<sha256 hex>  <path>' "
                "(as sha256sum writes it)"
            )
        digest, path = m.group(1).lower(), m.group(2).strip()
        while path.startswith("./"):
            path = path[2:]
        if path in found and found[path] != digest:
            raise InvalidInput(f"receipt line {number}: {path} is given twice, with two values")
        found[path] = digest
    if not found:
        raise InvalidInput("the receipt lists no checksum")
    return found


def check_receipt(row: AgreementExit, given: dict[str, str]) -> list[ReceiptProblem]:
    """Every item must be in the receipt with its SHA-256; the receipt may also list the
    export's manifest-sha256.txt; anything else is unknown."""
    expected = {i.path: i.sha256 for i in row.items}
    optional = {MANIFEST: row.manifest_sha256}
    problems: list[ReceiptProblem] = []
    for path, digest in expected.items():
        if path not in given:
            problems.append(ReceiptProblem(path, "missing", digest, None))
        elif given[path] != digest:
            problems.append(ReceiptProblem(path, "mismatch", digest, given[path]))
    for path, digest in given.items():
        if path in expected:
            continue
        if path in optional:
            if optional[path] != digest:
                problems.append(ReceiptProblem(path, "mismatch", optional[path], digest))
        else:
            problems.append(ReceiptProblem(path, "unknown", None, digest))
    return problems


def confirm(
    app: Application,
    who: Principal,
    ident: str,
    receipt: str,
    party: str,
    *,
    now: datetime | None = None,
) -> ExitExportInfo:
    """Record the receiving party's confirmation of the latest export of ``ident``: ``receipt``
    (``sha256sum`` lines) must list every item with its SHA-256, else :class:`ReceiptRefused`
    lists every mismatch and missing item and nothing is recorded. Only a person of the
    receiving party (its archivists and admins, or those of the umbrella party that represents
    it) may confirm. Then the post-exit action runs."""
    at = ag._now(now)
    given = parse_receipt(receipt)
    receipt_sha256 = hashlib.sha256(receipt.encode("utf-8")).hexdigest()
    package_ids: list[str] = []
    with app.uow() as uow:
        s = uow.session
        a = _find(s, ident, who, for_update=True)
        ag._require(a, ("exiting",), "confirm the exit of")
        recipient = _recipient(a)
        slug = recipient.organisation.slug
        if party != slug:
            raise PermissionDenied(
                f"only the receiving party may confirm the exit of {_label(a)}: its exit terms "
                f"name {slug}, not {party}"
            )
        ag._may_act_for(who, recipient, "confirm the exit")
        row = _latest(s, a.id)
        if row is None:
            raise Conflict(
                f"nothing was exported for the exit of {_label(a)} yet: "
                f"preserve exit export {a.reference} --to DIR first"
            )
        if row.confirmed_at is not None:
            raise Conflict(
                f"the exit of {_label(a)} was confirmed already by {row.confirmed_by} "
                f"({row.confirmed_party}) on {row.confirmed_at:%Y-%m-%d}"
            )
        problems = check_receipt(row, given)
        if problems:
            shown = "; ".join(p.describe() for p in problems[:20])
            more = f"; and {len(problems) - 20} more" if len(problems) > 20 else ""
            raise ReceiptRefused(
                f"the receipt does not confirm export {row.id} of {_label(a)}: "
                f"{plural(len(problems), 'problem')}: {shown}{more}; nothing was recorded",
                problems,
            )
        row.confirmed_party = slug
        row.confirmed_by = who.username
        row.confirmed_at = at
        row.receipt_sha256 = receipt_sha256
        row.post_exit_state = "pending"
        ag._event(
            a,
            "exit_confirm",
            a.state,
            who,
            at,
            from_state=a.state,
            party=slug,
            comment=f"receipt of export {row.id} confirms {plural(len(row.items), 'checksum')}"
            f" (receipt sha256 {receipt_sha256})",
        )
        package_ids = _post_exit(uow, a, row, recipient, who, at)
        uow.commit()
        info = _info(row, _label(a))
        row_id, reference = row.id, a.reference
    _flush(app, package_ids)
    if info.post_exit_action == "delete_with_certificate":
        info = _propose_disposal(app, _requesters(app, info, who), row_id, reference, now=at).export
    return info


def _requesters(
    app: Application, info: ExitExportInfo, confirmer: Principal
) -> tuple[Principal, ...]:
    """Who proposes the exit disposal, in this order: the custodian's person who made the
    export (the receiving party then approves it as any other party: a requester may not
    approve), else the confirming person (when the exporter may not propose it, or is no
    longer a user)."""
    try:
        exporter = ag.principal_for_cli(app, info.exported_by)
    except PreserveError:
        return (confirmer,)
    return (exporter, confirmer) if exporter.user_id != confirmer.user_id else (confirmer,)


def _propose_disposal(
    app: Application,
    requesters: tuple[Principal, ...],
    row_id: int,
    reference: str,
    *,
    now: datetime,
    strict: bool = False,
) -> ExitDisposalRun:
    """The post-exit deletion: one disposal of kind ``exit`` per organisation owning exported
    packages (:func:`preserve.services.disposal.propose_what_can`, in the name of the first of
    ``requesters`` who may propose it); the parties then approve and execute it, and its
    declaration is the certificate. A package that cannot be proposed by itself (on hold,
    already in another disposal) is left out and named with why in the exit's post-exit
    detail; the others are proposed. What refuses an organisation's whole list (no one of
    ``requesters`` may propose it) is said there too. Either waits for
    :func:`propose_disposal` (``preserve exit dispose``). ``strict``: when there was something
    to propose and nothing was, raise why (the whole refusal, or Conflict naming what was left
    out and, for a hold, how to lift it) instead of recording it."""
    from preserve.catalogue.disposal import DisposalPackage, DisposalRequest
    from preserve.services import disposal

    with app.uow() as uow:
        s = uow.session
        row = s.get_one(AgreementExit, row_id)
        exported = [i.package_id for i in row.items if i.kind == "bag" and i.package_id]
        before = s.execute(
            sa.select(DisposalPackage.package_id, DisposalRequest.id)
            .join(DisposalRequest, DisposalRequest.id == DisposalPackage.request_id)
            .where(
                DisposalRequest.kind == "exit",
                DisposalRequest.reference == reference,
                DisposalRequest.state.in_(disposal.OPEN_STATES),
                DisposalPackage.state.in_(disposal.SPOKEN_FOR),
            )
        ).all()
        proposed_before = {pid for pid, _rid in before}
        covered = {rid for pid, rid in before if pid in exported}
        linked = s.execute(
            sa.select(Package.id, Collection.organisation_id)
            .join(Collection, Collection.id == Package.collection_id)
            .join(PackageRetention, PackageRetention.package_id == Package.id)
            .where(
                Package.id.in_(exported),
                Package.status == "stored",
                PackageRetention.reference == reference,
            )
            .order_by(Package.id)
        ).all()
    by_org: dict[int, list[str]] = {}
    for pid, org_id in linked:
        if pid not in proposed_before:
            by_org.setdefault(org_id, []).append(pid)
    notes: list[str] = []
    if proposed_before:
        notes.append(f"{plural(len(proposed_before), 'package')} proposed before")
    left_out: dict[str, str] = {}
    refusals: list[PreserveError] = []
    proposed: list[tuple[int, tuple[str, ...]]] = []
    for _org, ids in sorted(by_org.items()):
        refused: PreserveError | None = None
        made = None
        for who in requesters:
            try:
                made = disposal.propose_what_can(
                    app,
                    who,
                    ids,
                    kind="exit",
                    agreement=reference,
                    reason=f"post-exit deletion of agreement {reference} (export {row_id} "
                    "confirmed by the receiving party)",
                    now=now,
                )
            except (NotFound, PermissionDenied, disposal.NoOtherApprover) as exc:
                refused = exc  # this person may not (or could not be approved): the next one
                continue
            except PreserveError as exc:
                refused = exc
            break
        if made is None:
            assert refused is not None
            refusals.append(refused)
            notes.append(
                f"{plural(len(ids), 'package')} not proposed for disposal: {refused} (the "
                f"custodian proposes it: preserve exit dispose {reference} --as USER)"
            )
            continue
        if made.request is not None:
            proposed.append((made.request.id, tuple(i.package_id for i in made.request.items)))
            notes.append(
                f"disposal {made.request.id} proposed "
                f"({plural(len(made.request.items), 'package')})"
            )
        left_out.update(made.left_out)
    if strict and by_org and not proposed:
        if refusals and not left_out:
            raise refusals[0]
        with app.uow() as uow:
            held = sorted(
                {
                    h.hold_id
                    for b in disposal.blocked(uow.session, list(left_out)).values()
                    for h in b.on_hold
                }
            )
        # for a hold, the hint is how to lift it (not the command just refused)
        then = _lift_hint(reference, held) if held else None
        raise Conflict(
            f"nothing was proposed for the post-exit deletion of {reference}: "
            + "; ".join(notes + _left_out_notes(reference, left_out, then=then))
        )
    notes += _left_out_notes(reference, left_out)
    left = len(exported) - len(linked)
    if left:
        notes.append(f"{plural(left, 'package')} not linked to {reference} at ingest: not proposed")
    with app.uow() as uow:
        s = uow.session
        row = s.get_one(AgreementExit, row_id)
        a = s.get_one(Agreement, row.agreement_id)
        row.post_exit_detail = "; ".join(notes) or row.post_exit_detail
        _refresh(s, a, row)
        uow.commit()
        return ExitDisposalRun(
            export=_info(row, _label(a)),
            proposed=tuple(proposed),
            exported=len(exported),
            in_disposal_before=len(proposed_before & set(exported)),
            disposals_before=tuple(sorted(covered)),
        )


def _lift_hint(reference: str, holds: list[int]) -> str:
    """How to lift the holds ``holds`` (ids) that keep packages out of the exit disposal."""
    which = (
        f"hold {holds[0]}"
        if len(holds) == 1
        else "holds " + ", ".join(str(h) for h in holds[:-1]) + f" and {holds[-1]}"
    )
    first = holds[0] if len(holds) == 1 else "HOLD_ID"
    return (
        f"once {which} {'is' if len(holds) == 1 else 'are'} lifted "
        f'(preserve holds lift {first} --reason "..." --as USER), '
        f"then: preserve exit dispose {reference} --as USER"
    )


#: The post-exit detail names this many packages left out, one by one (the rest are counted).
_NAMED = 10


def _left_out_notes(
    reference: str, left_out: Mapping[str, str], waiting: int = 0, *, then: str | None = None
) -> list[str]:
    """The post-exit detail's words for the packages not in an exit disposal: those left out
    (package id -> why: a hold, another disposal) and ``waiting`` more that nothing blocks;
    ``then`` replaces the words on what to do once nothing blocks the ones left out."""
    notes = [f"package {pid} not proposed: {why}" for pid, why in sorted(left_out.items())[:_NAMED]]
    if len(left_out) > _NAMED:
        notes.append(
            f"{plural(len(left_out) - _NAMED, 'more package')} not proposed (on hold or in "
            "another disposal)"
        )
    if left_out and then is not None:
        notes.append(then)
    elif left_out:
        notes.append(
            f"once nothing blocks {'it' if len(left_out) == 1 else 'them'}: "
            f"preserve exit dispose {reference} --as USER"
        )
    if waiting:
        notes.append(
            f"{plural(waiting, 'package')} not proposed yet: "
            f"preserve exit dispose {reference} --as USER"
        )
    return notes


def _not_proposed(
    session: Session, reference: str, exported: list[str], disposals: list[Any]
) -> list[str]:
    """The post-exit detail's words for the exported packages still stored that are in none of
    ``disposals`` (the exit's) while it is open, with why (:func:`disposal.blocked`)."""
    from preserve.services import disposal

    spoken_for = {
        i.package_id
        for d in disposals
        if d.state in disposal.OPEN_STATES
        for i in d.items
        if i.state in disposal.SPOKEN_FOR
    }
    stored = session.execute(
        sa.select(Package.id, PackageRetention.reference)
        .outerjoin(PackageRetention, PackageRetention.package_id == Package.id)
        .where(Package.id.in_(exported), Package.status == "stored")
    ).all()
    rest = sorted(pid for pid, ref in stored if ref == reference and pid not in spoken_for)
    unlinked = sum(1 for _pid, ref in stored if ref != reference)
    found = {pid: b.describe() for pid, b in disposal.blocked(session, rest).items()}
    notes = _left_out_notes(reference, found, len(rest) - len(found))
    if unlinked:
        notes.append(
            f"{plural(unlinked, 'package')} not linked to {reference} at ingest: not proposed"
        )
    return notes


def _post_exit(
    uow: Any,
    a: Agreement,
    row: AgreementExit,
    recipient: AgreementParty,
    who: Principal,
    at: datetime,
) -> list[str]:
    """Run the post-exit action of ``a``'s exit terms once the exit is confirmed; the
    packages that got a PREMIS event."""
    terms = a.exit_terms
    assert terms is not None
    action = row.post_exit_action
    s = uow.session
    if action == "retain_until":
        row.retain_until = terms.retain_until
        row.post_exit_state = "done"
        row.post_exit_at = at
        row.post_exit_detail = f"the packages are kept until {terms.retain_until}"
        return []
    if action == "transfer":
        ids = [i.package_id for i in row.items if i.kind == "bag" and i.package_id]
        org = recipient.organisation
        software = uow.agents.get_or_create("preserve", __version__, "software")
        person = uow.agents.get_or_create(who.label, "", "person")
        receiver = uow.agents.get_or_create(org.name, "", "organization")
        links = []
        present = set(s.scalars(sa.select(Package.id).where(Package.id.in_(ids))))
        for pid in ids:
            if pid not in present:
                continue
            event = uow.events.add(
                premis.TRANSFER,
                "success",
                agent=software,
                package_id=pid,
                detail=f"transferred to {org.slug} ({org.name}) on the exit of agreement "
                f"{_label(a)}",
                outcome_detail=f"{org.slug} confirmed the checksums of export {row.id}",
                occurred_at=at,
            )
            links += [(event.id, person, "implementer"), (event.id, receiver, "recipient")]
        uow.events.link_agents(links)
        row.post_exit_state = "done"
        row.post_exit_at = at
        row.post_exit_detail = f"{plural(len(ids), 'package')} transferred to {org.slug}"
        return sorted(present)
    # delete_with_certificate: the packages go only through a disposal with its approvals
    row.post_exit_detail = (
        "waiting for the disposal of kind exit of the exported packages (preserve disposal: "
        "proposed, approved by the parties, executed with its declaration)"
    )
    _refresh(s, a, row)
    return []


def propose_disposal(
    app: Application, who: Principal, ident: str, *, now: datetime | None = None
) -> ExitDisposalRun:
    """Propose (again) the exit disposal of a confirmed exit whose post-exit action is
    delete_with_certificate and is still pending: for the packages not proposed yet (the
    confirming person may not have been allowed to, or a hold was lifted since). Packages still
    on hold or in another disposal are left out and named in the post-exit detail; when nothing
    could be proposed, the refusal is raised (PermissionDenied when ``who`` may not, Conflict
    naming every package left out and why). What this run proposed, if anything, is in the
    result (nothing when every package was in an exit disposal already)."""
    at = ag._now(now)
    with app.uow() as uow:
        s = uow.session
        a = _find(s, ident, who)
        row = _latest(s, a.id)
        if row is None or row.confirmed_at is None:
            raise Conflict(
                f"the exit of {_label(a)} is not confirmed: its packages are disposed of only "
                "after the receiving party confirmed the checksums"
            )
        if row.post_exit_action != "delete_with_certificate":
            raise Conflict(
                f"the post-exit action of {_label(a)} is {row.post_exit_action}, not "
                "delete_with_certificate"
            )
        _refresh(s, a, row)
        uow.commit()
        if row.post_exit_state == "done":
            raise Conflict(f"the post-exit deletion of {_label(a)} is done: {row.post_exit_detail}")
        row_id, reference = row.id, a.reference
    return _propose_disposal(app, (who,), row_id, reference, now=at, strict=True)


def _disposals(session: Session, a: Agreement, since: datetime) -> list[Any] | None:
    """The exit disposals of ``a``'s reference proposed since ``since`` (None: the disposal
    tables are not there)."""
    try:
        from preserve.catalogue.disposal import DisposalRequest
    except ImportError:  # pragma: no cover - the disposal model comes with its own task
        return None
    return list(
        session.scalars(
            sa.select(DisposalRequest)
            .where(
                DisposalRequest.kind == "exit",
                DisposalRequest.reference == a.reference,
                DisposalRequest.requested_at >= since,
            )
            .order_by(DisposalRequest.id)
        )
    )


def _refresh(session: Session, a: Agreement, row: AgreementExit) -> None:
    """A delete_with_certificate exit is done once its disposals were executed."""
    if row.post_exit_state != "pending" or row.post_exit_action != "delete_with_certificate":
        return
    assert row.confirmed_at is not None
    found = _disposals(session, a, row.confirmed_at - timedelta(seconds=1))
    if not found:
        return
    exported = [i.package_id for i in row.items if i.kind == "bag" and i.package_id]
    left = session.scalar(
        sa.select(sa.func.count())
        .select_from(Package)
        .where(Package.id.in_(exported), Package.status != "disposed")
    )
    # a disposal that ended without deleting (rejected, withdrawn, restored, failed) does not
    # stand in the way once its packages were disposed of by a later one
    live = [d for d in found if d.state not in ENDED_WITHOUT_DELETING]
    if live and all(d.state in DISPOSED for d in live) and not left:
        row.post_exit_state = "done"
        row.post_exit_at = max(d.executed_at or row.confirmed_at for d in live)
        row.post_exit_detail = "deleted with certificate: " + ", ".join(
            f"disposal {d.id} (declaration sha256 {d.declaration_sha256})" for d in live
        )
    else:
        row.post_exit_detail = "; ".join(
            [
                "disposal " + ", ".join(f"{d.id} {d.state.replace('_', ' ')}" for d in found),
                *_not_proposed(session, a.reference, exported, found),
            ]
        )


def _latest(session: Session, agreement_id: int) -> AgreementExit | None:
    return session.scalars(
        sa.select(AgreementExit)
        .where(AgreementExit.agreement_id == agreement_id)
        .options(selectinload(AgreementExit.items))
        .order_by(AgreementExit.id.desc())
        .limit(1)
    ).first()


# ---------------------------------------------------------------------------- close guard


def close_refusal(session: Session, a: Agreement) -> str | None:
    """Why ``a`` (exiting) may not be closed yet, or None: an agreement with packages in scope
    closes only once an export was confirmed by the receiving party and its post-exit action is
    done (retention-agreements.md 5.1 E13)."""
    row = _latest(session, a.id)
    if row is None:
        held = session.scalar(
            sa.select(sa.func.count()).select_from(Package).where(packages_in_scope(a))
        )
        if not held:
            return None
        return (
            f"{plural(held or 0, 'package')} in its scope were not exported for the exit: "
            f"preserve exit export {a.reference} --to DIR, then the receiving party confirms"
        )
    if row.confirmed_at is None:
        return (
            f"the receiving party has not confirmed the checksums of export {row.id} yet: "
            f"preserve exit confirm {a.reference} --receipt FILE --party ORG"
        )
    _refresh(session, a, row)
    if row.post_exit_state != "done":
        return f"its post-exit action ({row.post_exit_action}) is not done: {row.post_exit_detail}"
    return None


# ---------------------------------------------------------------------------- status


def status(
    app: Application, who: Principal | None, ident: str, *, now: datetime | None = None
) -> ExitStatus:
    """Where the exit of ``ident`` stands: its exports, the confirmation, the post-exit action
    and whether it may be closed."""
    with app.uow() as uow:
        s = uow.session
        a = _find(s, ident, who)
        terms = a.exit_terms
        rows = list(
            s.scalars(
                sa.select(AgreementExit)
                .where(AgreementExit.agreement_id == a.id)
                .options(selectinload(AgreementExit.items))
                .order_by(AgreementExit.id.desc())
            )
        )
        if rows:
            _refresh(s, a, rows[0])
        since = max(
            (
                e.occurred_at
                for e in a.events
                if e.to_state == "exiting" and e.from_state != e.to_state
            ),
            default=None,
        )
        held = s.scalar(sa.select(sa.func.count()).select_from(Package).where(packages_in_scope(a)))
        refusal: str | None
        if a.state == "exiting":
            refusal = close_refusal(s, a)
        elif a.state == "closed":
            refusal = "it is closed"
        else:
            refusal = f"it is {a.state.replace('_', ' ')}, not exiting"
        label = _label(a)
        result = ExitStatus(
            agreement=label,
            reference=a.reference,
            version_no=a.version_no,
            state=a.state,
            recipient=terms.recipient.organisation.slug if terms and terms.recipient else None,
            post_exit_action=terms.post_exit_action if terms else None,
            exiting_since=since,
            deadline=(since.date() + timedelta(days=terms.deadline_days))
            if since is not None and terms is not None
            else None,
            packages_in_scope=held or 0,
            exports=tuple(_info(r, label) for r in rows),
            close_refusal=refusal,
        )
        uow.commit()  # a disposal found executed marks the post-exit action done
        return result


def _info(row: AgreementExit, label: str) -> ExitExportInfo:
    return ExitExportInfo(
        id=row.id,
        agreement=label,
        destination=row.destination,
        exported_by=row.exported_by,
        exported_at=row.exported_at,
        packages=row.packages,
        documents=row.documents,
        files=row.files,
        bytes=row.bytes,
        manifest_sha256=row.manifest_sha256,
        confirmed_party=row.confirmed_party,
        confirmed_by=row.confirmed_by,
        confirmed_at=row.confirmed_at,
        receipt_sha256=row.receipt_sha256,
        post_exit_action=row.post_exit_action,
        post_exit_state=row.post_exit_state,
        post_exit_at=row.post_exit_at,
        post_exit_detail=row.post_exit_detail,
        retain_until=row.retain_until,
        items=tuple(
            ExitItemInfo(i.kind, i.package_id, i.name, i.path, i.sha256, i.size) for i in row.items
        ),
    )


def _flush(app: Application, package_ids: list[str]) -> None:
    """Write the new events to storage with the packages' other events."""
    if package_ids:
        from preserve.services.journal import flush_events

        flush_events(app, package_ids, catch_up=0)


__all__ = [
    "RECEIPT_COMMAND",
    "ExitDisposalRun",
    "ExitExportInfo",
    "ExitItemInfo",
    "ExitStatus",
    "ReceiptProblem",
    "ReceiptRefused",
    "check_receipt",
    "close_refusal",
    "confirm",
    "export",
    "packages_in_scope",
    "parse_receipt",
    "propose_disposal",
    "status",
]
