"""Stage 6, register: one transaction makes the package visible as stored.

File rows (payload with formats, then tag files), the PREMIS events written into the bag, a
replication event per verified copy, the ingestion end and the ``stored`` status are committed
together; before that commit the package is ``ingesting`` and recovery may remove it.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from preserve import premis
from preserve.bootstrap import Application
from preserve.catalogue.models import Agent
from preserve.errors import StorageError
from preserve.formats.mediatypes import media_type
from preserve.ingest.model import PRESERVE_AGENT, Delivery, now
from preserve.values import FormatInfo, StoredObject, as_dict


@dataclass(frozen=True)
class Stored:
    """What every location now holds, and the digests of the tag files written at bagging."""

    objects: dict[int, dict[str, StoredObject]]  # location id -> path in bag -> object
    tag_digests: dict[str, tuple[int, dict[str, str]]]  # tag path -> (size, digests)


def _file_rows(
    delivery: Delivery,
    result: Stored,
    descriptions: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    version: int = 1,
    fetched: Mapping[str, tuple[int, str]] | None = None,
) -> Iterator[dict[str, object]]:
    """Catalogue rows for every file of the bag: payload with formats (and the item-level
    description, by payload path, where the producer gave one), then tag files. ``fetched``:
    payload files (by path in the bag) that an earlier version holds: (that version, the
    file's path in it)."""
    descriptions = descriptions or {}
    fetched = fetched or {}
    normalize = unicodedata.normalize
    # helpers answer files of one format in a batch with one FormatInfo: convert each once
    identification: dict[int, tuple[FormatInfo, object]] = {}
    for f in delivery.files:
        fmt = f.fmt
        if fmt is not None:
            known = identification.get(id(fmt))
            if known is None or known[0] is not fmt:
                known = identification[id(fmt)] = (fmt, as_dict(fmt))
            converted = known[1]
        path = f.bag_path
        digests = f.digests
        held = fetched.get(path)
        yield {
            "path": path,
            "path_nfc": path if path.isascii() else normalize("NFC", path),
            "version": version,
            "stored_version": held[0] if held else version,
            "stored_path": held[1] if held and held[1] != path else None,
            "role": "payload",
            "size": f.size,
            "sha512": digests.get("sha512"),
            "sha256": digests.get("sha256"),
            "digests": {a: d for a, d in digests.items() if a not in ("sha512", "sha256")},
            "puid": fmt.puid if fmt else None,
            "format_name": fmt.format_name if fmt else None,
            "format_version": fmt.format_version if fmt else None,
            "mime": media_type(fmt) if fmt else None,  # with the charset of a text file
            "basis": fmt.basis if fmt else None,
            "identification": converted if fmt else None,
            "image": as_dict(f.image) if f.image else None,
            "description": (
                {k: list(v) for k, v in descriptions[f.relpath].items()}
                if f.relpath in descriptions
                else None
            ),
        }
    for path, (size, digests) in sorted(result.tag_digests.items()):
        yield {
            "path": path,
            "path_nfc": normalize("NFC", path),
            "version": version,
            "stored_version": version,
            "stored_path": None,
            "role": "tag",
            "size": size,
            "sha512": digests["sha512"],
            "sha256": digests["sha256"],
            "digests": {},
            "puid": None,
            "format_name": None,
            "format_version": None,
            "mime": None,
            "basis": None,
            "identification": None,
            "image": None,
            "description": None,
        }


def register(
    app: Application,
    package_id: str,
    delivery: Delivery,
    result: Stored,
    bag_info: Sequence[tuple[str, str]],
    descriptions: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
    *,
    version: int = 1,
    fetched: Mapping[str, tuple[int, str]] | None = None,
    actor: str = "",
    carried: Iterable[Mapping[str, object]] = (),
) -> None:
    """One transaction: file rows, events, verified copies, ``stored`` status; for a later
    version, it becomes the package's current one in the same transaction (title,
    description, totals and fingerprint are the version's, set when it was claimed)."""
    stored = result.objects
    when = now()
    with app.uow() as uow:
        package = uow.packages.get(package_id)
        record = uow.versions.get(package_id, version)
        if package is None or record is None:  # removed by someone else's clean-up
            raise StorageError(
                f"package {package_id} version {version} vanished from the catalogue during ingest"
            )
        if version > 1 and package.version != version - 1:
            raise StorageError(
                f"package {package_id} became version {package.version} while version "
                f"{version} was being made"
            )
        # a generator: add_many inserts in batches, so 100,000 rows are never all in memory
        uow.files.add_many(package_id, _file_rows(delivery, result, descriptions, version, fetched))
        uow.files.add_many(package_id, carried)  # payload rows a metadata version carries over

        agents: dict[tuple[str, str, str], Agent] = {}

        def agent_for(record: premis.AgentRecord) -> Agent:
            key = (record.name, record.version, record.agent_type)
            if key not in agents:
                agents[key] = uow.agents.get_or_create(
                    record.name, record.version, record.agent_type
                )
            return agents[key]

        linked = [(agent_for(a), role) for a, role in delivery.linked_agents]
        event_ids: list[str] = []
        for e in delivery.events:
            event_ids.append(e.identifier)
            uow.events.add(
                e.event_type,
                e.outcome,
                agent=agent_for(e.agent),
                package_id=package_id,
                detail=e.detail,
                outcome_detail=e.outcome_detail,
                occurred_at=e.occurred_at,
                event_type_uri=premis.event_type_uri(e.event_type),
                event_id=e.identifier,  # the same identifier as in the bag's premis.xml
                version=version,
                stored_in=f"v{version}/metadata/premis.xml",
            )
        for copy in uow.copies.for_package(package_id, version):
            objects = stored[copy.location_id]
            methods = sorted({o.verified_by for o in objects.values()})
            copy.status = "verified"
            copy.verified_by = ",".join(methods)
            copy.verified_at = when
            copy.size_bytes = sum(o.size for o in objects.values())  # what a check reads
            copy.last_checked_at = when
            copy.last_outcome = "ok"
            if copy.location.unreachable_at is not None:  # it answered again
                copy.location.unreachable_at = None
                copy.location.unreachable_error = None
            replication = uow.events.add(
                premis.REPLICATION,
                "success",
                agent=agent_for(PRESERVE_AGENT),
                package_id=package_id,
                copy_id=copy.id,
                detail=f"{len(objects)} files written to location {copy.location.name} "
                f"under {copy.key_prefix}",
                outcome_detail=f"every object verified ({', '.join(methods)})",
                occurred_at=when,
                version=version,
            )
            event_ids.append(replication.id)
        detail = "; ".join(str(w) for w in delivery.warnings[:100])
        end = uow.events.add(
            premis.INGESTION_END,
            "warning" if delivery.warnings else "success",
            agent=agent_for(PRESERVE_AGENT),
            package_id=package_id,
            detail=f"package stored with {len(stored)} verified "
            + ("copy" if len(stored) == 1 else "copies"),
            outcome_detail=detail,
            occurred_at=now(),
            version=version,
        )
        event_ids.append(end.id)
        # the person who ran the ingest and the owning organisation, on every event
        uow.events.link_agents((i, agent, role) for i in event_ids for agent, role in linked)
        record.bag_info = [list(item) for item in bag_info]
        record.status = "stored"
        record.stored_at = when
        record.ingest_pid = None
        record.delivery_kind = delivery.kind
        record.delivery_profile = delivery.profile
        record.actor = actor
        package.bag_info = record.bag_info
        if version == 1:
            package.status = "stored"
            package.stored_at = when
            package.ingest_pid = None
        else:  # the new version becomes the current one
            package.version = version
            package.title = record.title
            package.description = record.description
            package.size = record.size
            package.file_count = record.file_count
            package.payload_fingerprint = record.payload_fingerprint
        uow.commit()
