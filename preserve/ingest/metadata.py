"""Stage 4, describe: the AIP's own metadata. Dublin Core (``metadata/dc.xml``), PREMIS 3
(``metadata/premis.xml``: objects with fixity and format, events, agents) and ``bag-info.txt``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from preserve import premis
from preserve.bagit import BagWriter
from preserve.bagit.profiles import AIP_PROFILE_IDENTIFIER
from preserve.descriptive import bag_info_from_dublin_core, dublin_core_xml
from preserve.formats.mediatypes import media_type
from preserve.ingest.model import TRANSPORT_ALGORITHM, Delivery, Owner, StagedFile
from preserve.values import as_dict


def dublin_core(
    fields: Mapping[str, Sequence[str]], delivery: Delivery, title: str | None, package_id: str
) -> dict[str, list[str]]:
    """The package's description: the CSV's fields, ``--title`` over them, a title from the
    delivery when none is given, and the package's own URN as an identifier."""
    out = {k: list(v) for k, v in fields.items() if v}
    if title:
        out["title"] = [title]
    if not out.get("title"):
        described = next(
            (v for k, v in delivery.bag_info if k.lower() == "external-description"), None
        )
        out["title"] = [described or delivery.external_identifier]
    identifiers = out.setdefault("identifier", [])
    if f"urn:uuid:{package_id}" not in identifiers:
        identifiers.append(f"urn:uuid:{package_id}")
    return out


def bag_info(
    delivery: Delivery,
    fields: Mapping[str, Sequence[str]],
    owner: Owner,
    collection: str,
    package_id: str,
) -> list[tuple[str, str]]:
    """bag-info.txt of the AIP: the producer's elements in their order, then ours. Elements that
    should not repeat and that we set (the group is the collection; the BagIt profile is
    preserve's AIP profile) keep the producer's value as a description. The owning
    organisation (name, address, contact) comes first unless the producer's bag names its
    Source-Organization itself."""
    info: list[tuple[str, str]] = []
    for label, value in delivery.bag_info:
        if label.lower() in ("bag-group-identifier", "bag-count", "bagit-profile-identifier"):
            info.append(("Internal-Sender-Description", f"producer's {label}: {value}"))
        else:
            info.append((label, value))
    labels = {k.lower() for k, _ in info}
    if "source-organization" not in labels:
        info[:0] = [(k, v) for k, v in owner.bag_info() if k.lower() not in labels]
    for k, v in bag_info_from_dublin_core(fields):
        if k.lower() not in labels:
            info.append((k, v))
    # the producer's dc:identifier names the package; the name it was delivered under is kept
    ours = f"urn:uuid:{package_id}"
    given = {v for k, v in info if k.lower() == "external-identifier"}
    producer_ids = [i for i in fields.get("identifier", ()) if i != ours and i not in given]
    info.extend(("External-Identifier", i) for i in producer_ids)
    if "external-identifier" not in labels:
        if not producer_ids:
            info.append(("External-Identifier", delivery.external_identifier))
        elif delivery.external_identifier not in producer_ids:
            kind = "folder" if delivery.source.is_dir() else "file"
            info.append(
                ("Internal-Sender-Description", f"delivered as {kind} {delivery.source.name}")
            )
    info.append(("Internal-Sender-Identifier", f"urn:uuid:{package_id}"))
    info.append(("Bag-Group-Identifier", collection))
    # the profile every AIP follows (`preserve bag profile`); a producer's is kept above
    info.append(("BagIt-Profile-Identifier", AIP_PROFILE_IDENTIFIER))
    return info


def _file_objects(files: Sequence[StagedFile]) -> Iterator[premis.FileObject]:
    for f in sorted(files, key=lambda f: f.relpath):
        fmt = f.fmt
        yield premis.FileObject(
            path=f.bag_path,
            size=f.size,
            digests={a: d for a, d in f.digests.items() if a != TRANSPORT_ALGORITHM},
            puid=fmt.puid if fmt else "UNKNOWN",
            format_name=fmt.format_name if fmt else "",
            format_version=fmt.format_version if fmt else "",
            mime=media_type(fmt) if fmt else "",
            identification_tool=fmt.tool if fmt else "",
            signature_version=fmt.signature_version if fmt else "",
            image=as_dict(f.image) if f.image else None,
        )


def write_metadata(
    writer: BagWriter,
    delivery: Delivery,
    fields: Mapping[str, Sequence[str]],
    package_id: str,
    title: str,
) -> None:
    """Write dc.xml and premis.xml into the bag being assembled."""
    writer.add_tag_file("metadata/dc.xml", dublin_core_xml(fields))
    agents = {e.agent for e in delivery.events}
    with writer.open_tag_file("metadata/premis.xml") as stream:
        premis.write_premis(
            stream,
            package_id,
            _file_objects(delivery.files),
            delivery.events,
            sorted(agents, key=lambda a: (a.name, a.version)),
            package_title=title,
        )
