"""Correcting a package's description without touching its payload: a metadata-only version.

``preserve describe PACKAGE_ID --title ... --metadata FILE.csv --set dcterms:subject=...``
makes version N+1 whose bag has new tag files (dc.xml, premis.xml with a metadata modification
event, bag-info.txt) and a ``fetch.txt`` naming every payload file where an earlier version
stores it: no payload byte is copied or sent. The description of every earlier version stays
as it was, in its own bag and in ``package_versions``: nothing is overwritten.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from preserve import SOFTWARE_AGENT, premis
from preserve.bagit import BagWriter
from preserve.bootstrap import Application
from preserve.catalogue.models import PackageVersion
from preserve.descriptive import (
    LANG_KEY,
    bag_info_from_dublin_core,
    corrected_description,
    dublin_core_xml,
    parse_assignments,
    read_metadata,
)
from preserve.errors import InvalidInput
from preserve.ingest.model import (
    TRANSPORT_ALGORITHM,
    Delivery,
    Owner,
    agents_of,
    event,
)
from preserve.ingest.recover import ACTIVE, this_process
from preserve.ingest.register import Stored, register
from preserve.ingest.store import store, tag_items
from preserve.ingest.versions import (
    Base,
    BaseFile,
    abandon_version,
    begin_staging,
    claim_version,
    load_base,
)
from preserve.progress import NoProgress, Progress
from preserve.services.packages import resolve_package

log = logging.getLogger(__name__)

#: Our own tag files, written anew for every version; the others (the producer's submission
#: documents, items.csv ...) are carried over unchanged.
_OURS = {"bagit.txt", "bag-info.txt", "fetch.txt", "metadata/dc.xml", "metadata/premis.xml"}
#: bag-info elements written anew (computed, or about the version)
_RECOMPUTED = {
    "bagging-date",
    "payload-oxum",
    "bag-size",
    "bag-software-agent",
    "package-version",
    "external-description",
}


@dataclass(frozen=True)
class DescribeResult:
    package_id: str
    #: "stored" (a new version) or "unchanged" (the description was already so)
    status: str
    version: int
    title: str
    #: element -> (values before, values after), for every element that changed
    changed: dict[str, tuple[list[str], list[str]]]
    copies: tuple[str, ...] = ()


def _csv_fields(csv_path: Path, source: str, encoding: str | None) -> dict[str, list[str]]:
    """The package-level row of a ``--metadata`` CSV: its only row, or the row whose path is
    the folder the package was ingested from."""
    table = read_metadata(csv_path, encoding=encoding)
    rows = table.rows
    if len(rows) == 1:
        return dict(next(iter(rows.values())))
    if source:
        wanted = Path(source).resolve()
        if wanted in rows:
            return dict(rows[wanted])
    raise InvalidInput(
        f"{csv_path}: {len(rows)} rows and none for {source or 'this package'}: give a CSV "
        "with one row (its path column may name anything), or a row whose path is the folder "
        "the package was ingested from"
    )


def description_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    keys = sorted((set(before) | set(after)) - {LANG_KEY})
    changed: dict[str, Any] = {
        k: (list(before.get(k, [])), list(after.get(k, [])))
        for k in keys
        if list(before.get(k, [])) != list(after.get(k, []))
    }
    if (before.get(LANG_KEY) or {}) != (after.get(LANG_KEY) or {}) and not changed:
        changed[LANG_KEY] = (before.get(LANG_KEY) or {}, after.get(LANG_KEY) or {})
    return changed


def describe(
    app: Application,
    package: str,
    *,
    title: str | None = None,
    metadata_csv: Path | None = None,
    metadata_encoding: str | None = None,
    assignments: Sequence[str] = (),
    progress: Progress | None = None,
) -> DescribeResult:
    """Correct the description of ``package`` (its id, a prefix, or the producer's
    identifier) in a metadata-only version; see the module's text."""
    progress = progress or NoProgress()
    assigned = parse_assignments(assignments)
    with app.uow() as uow:
        package_id = resolve_package(uow, package)
        record = uow.packages.get(package_id)
        source = record.source if record is not None else ""
    if title is None and metadata_csv is None and not assigned:
        raise InvalidInput("nothing to correct: give --title, --metadata or --set")
    csv_fields = _csv_fields(metadata_csv, source, metadata_encoding) if metadata_csv else {}
    base = load_base(app, package_id)
    after = corrected_description(
        base.description, title=title, replacements=csv_fields, assignments=assigned
    )
    changed = description_changes(base.description, after)
    if not changed:
        return DescribeResult(package_id, "unchanged", base.number, base.title, {})
    result = _make_version(app, base, after, changed, progress)
    from preserve.services.retention import schedule

    schedule(app, package_id)  # the retention trigger may be in the description
    from preserve.services.retention_locks import protect

    protect(app, [package_id], new_objects=True)  # the new version's objects are locked too
    return result


def _other_tag_files(app: Application, base: Base) -> list[tuple[str, bytes]]:
    """The current version's tag files that are not ours to rewrite (the producer's
    submission documents, items.csv ...), read from its first copy."""
    with app.uow() as uow:
        paths = [
            f.path
            for f in uow.files.iter_for_package(base.package_id, "tag", base.number)
            if f.path not in _OURS and not f.path.startswith(("manifest-", "tagmanifest-"))
        ]
    storage = app.storage(base.locations[0].url)
    out = []
    for path in paths:
        with storage.open(base.key_prefix(base.number) + path) as stream:
            out.append((path, stream.read()))
    return out


def _file_objects(files: Sequence[BaseFile]) -> Iterator[premis.FileObject]:
    for f in sorted(files, key=lambda f: f.path):
        ident = f.identification or {}
        yield premis.FileObject(
            path=f.path,
            size=f.size,
            digests={a: d for a, d in f.all_digests().items() if a != TRANSPORT_ALGORITHM},
            puid=f.puid or "UNKNOWN",
            format_name=f.format_name or "",
            format_version=f.format_version or "",
            mime=f.mime or "",
            identification_tool=str(ident.get("tool") or ""),
            signature_version=str(ident.get("signature_version") or ""),
            image=f.image,
        )


def _carried_rows(base: Base, version: int) -> Iterator[dict[str, object]]:
    """The payload rows of the current version, for the new one: the same files, held where
    they are."""
    for f in base.files.values():
        yield {
            "path": f.path,
            "version": version,
            "stored_version": f.stored_version,
            "stored_path": f.stored_path if f.stored_path != f.path else None,
            "role": "payload",
            "size": f.size,
            "sha512": f.sha512,
            "sha256": f.sha256,
            "digests": f.digests,
            "puid": f.puid,
            "format_name": f.format_name,
            "format_version": f.format_version,
            "mime": f.mime,
            "basis": f.basis,
            "identification": f.identification,
            "image": f.image,
            "description": f.description,
        }


def _bag_info(base: Base, fields: Mapping[str, Any], version: int, summary: str) -> list[Any]:
    kept = [
        (k, v)
        for k, v in base.bag_info
        if k.lower() not in _RECOMPUTED
        and not (k.lower() == "internal-sender-description" and v.startswith("version "))
    ]
    return [
        *kept,
        *bag_info_from_dublin_core(fields),
        ("Package-Version", str(version)),
        (
            "Internal-Sender-Description",
            f"version {version} of urn:uuid:{base.package_id}: {summary}",
        ),
    ]


def _make_version(
    app: Application,
    base: Base,
    fields: dict[str, Any],
    changed: dict[str, Any],
    progress: Progress,
) -> DescribeResult:
    settings = app.settings
    version = base.number + 1
    package_id = base.package_id
    staging, busy = begin_staging(app, package_id, version)  # recovery leaves them alone
    registered = False
    try:
        elements = ", ".join(k for k in changed if k != LANG_KEY) or "languages"
        summary = f"metadata correction of version {base.number} ({elements}); payload unchanged"
        title = fields["title"][0]
        host, pid, started = this_process()
        locations, o = claim_version(
            app,
            base,
            PackageVersion(
                package_id=package_id,
                number=version,
                kind="metadata",
                status="ingesting",
                title=title,
                description=fields,
                payload_fingerprint=base.payload_fingerprint,
                file_count=len(base.files),
                size=sum(f.size for f in base.files.values()),
                stored_files=0,
                stored_bytes=0,
                changes={"metadata": {k: [list(a), list(b)] for k, (a, b) in changed.items()}},
                source="",
                actor=app.actor,
                ingest_host=host,
                ingest_pid=pid,
                ingest_process_started=started,
            ),
        )
        registered = True
        owner = Owner(*o)
        key_prefix = base.key_prefix(version)
        writer = BagWriter(staging / "bag", settings.algorithms)
        for f in sorted(base.files.values(), key=lambda f: f.path):
            writer.add_fetch_entry(
                f.path[len("data/") :], f.size, f.all_digests(), base.fetch_url(f), present=False
            )
        before = "; ".join(
            f"{k}: {' | '.join(a) or '(none)'} -> {' | '.join(b) or '(none)'}"
            for k, (a, b) in changed.items()
            if k != LANG_KEY
        )
        delivery = Delivery(
            source=Path(""),
            payload_root=None,
            files=[],
            warnings=[],
            bag_info=[],
            producer_digests={},
            events=[
                event(
                    premis.METADATA_MODIFICATION,
                    "success",
                    f"description of package {package_id} corrected in version {version}",
                    before[:4000],
                    objects=[package_id],
                ),
                event(
                    premis.INFORMATION_PACKAGE_CREATION,
                    "success",
                    f"BagIt 1.0 package {package_id} version {version} created by "
                    f"{SOFTWARE_AGENT}: {summary}; every payload file is named in fetch.txt",
                    objects=[package_id],
                ),
            ],
            external_identifier=base.external_identifier or package_id,
            kind="",
        )
        delivery.link_agents(agents_of(app.actor, owner))
        writer.add_tag_file("metadata/dc.xml", dublin_core_xml(fields))
        for path, content in _other_tag_files(app, base):
            writer.add_tag_file(path, content)
        with writer.open_tag_file("metadata/premis.xml") as stream:
            premis.write_premis(
                stream,
                package_id,
                _file_objects(list(base.files.values())),
                delivery.events,
                sorted({e.agent for e in delivery.events}, key=lambda a: (a.name, a.version)),
                package_title=title,
            )
        summary_bag = writer.finish(_bag_info(base, fields, version, summary))
        tag_digests, items = tag_items(summary_bag.path)
        stored = store(app, items, key_prefix, locations, progress, "metadata")
        register(
            app,
            package_id,
            delivery,
            Stored(stored, tag_digests),
            summary_bag.bag_info,
            version=version,
            actor=app.actor,
            carried=_carried_rows(base, version),
        )
        shutil.rmtree(staging, ignore_errors=True)
        log.info("package %s: description corrected in version %s", package_id, version)
        return DescribeResult(
            package_id,
            "stored",
            version,
            title,
            {k: v for k, v in changed.items() if k != LANG_KEY},
            tuple(loc.name for loc in locations),
        )
    except BaseException:
        abandon_version(app, package_id, version, staging, registered)
        raise
    finally:
        ACTIVE.difference_update(busy)


__all__ = ["DescribeResult", "describe", "description_changes"]
