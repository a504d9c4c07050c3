"""Stage 4, describe: the AIP's own metadata. Dublin Core (``metadata/dc.xml``), PREMIS 3
(``metadata/premis.xml``: objects with fixity and format, events, agents) and ``bag-info.txt``."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from preserve import premis
from preserve.bagit import BagWriter
from preserve.bagit.profiles import AIP_PROFILE_IDENTIFIER
from preserve.descriptive import LANG_KEY, bag_info_from_dublin_core, dublin_core_xml
from preserve.formats.mediatypes import media_type
from preserve.ingest.model import TRANSPORT_ALGORITHM, Delivery, Owner, StagedFile
from preserve.values import as_dict

#: bag-info.txt labels of what the producer delivered: the kind ("file", "folder", "bag",
#: "meemoo-sip", "eark-sip") and, for a SIP, the profile and version its METS declares
DELIVERY_TYPE = "Delivery-Type"
DELIVERY_PROFILE = "Delivery-Profile"


def dublin_core(
    fields: Mapping[str, Sequence[str]], delivery: Delivery, title: str | None, package_id: str
) -> dict[str, Any]:
    """The package's description: a SIP's own description, the CSV's fields over it (a CSV
    element replaces the SIP's values of that element), ``--title`` over both, a title from
    the delivery when none is given, and the package's own URN as an identifier. The
    languages of the values are kept under ``"_lang"`` (element -> one language per value,
    "" when none), aligned by index."""
    out: dict[str, Any] = {
        k: list(v) for k, v in delivery.description.items() if k != LANG_KEY and v
    }
    langs: dict[str, list[str]] = {
        k: list(v) for k, v in (delivery.description.get(LANG_KEY) or {}).items()
    }
    for k, v in fields.items():
        if v and k != LANG_KEY:
            out[k] = list(v)
            langs.pop(k, None)
    if title:  # the main title; the delivery's titles in other languages stay
        others = list(out.get("title", []))[1:]
        tags = list(langs.get("title", []))
        out["title"] = [title, *others]
        if len(tags) == len(others) + 1 and any(tags[1:]):
            langs["title"] = tags
        else:
            langs.pop("title", None)
    if not out.get("title"):
        described = next(
            (v for k, v in delivery.bag_info if k.lower() == "external-description"), None
        )
        out["title"] = [described or delivery.external_identifier]
        langs.pop("title", None)
    identifiers = out.setdefault("identifier", [])
    if f"urn:uuid:{package_id}" not in identifiers:
        identifiers.append(f"urn:uuid:{package_id}")
        if "identifier" in langs:
            langs["identifier"].append("")
    kept = {k: v for k, v in langs.items() if k in out and len(v) == len(out[k]) and any(v)}
    if kept:
        out[LANG_KEY] = kept
    return out


def title_source(fields: Mapping[str, Sequence[str]], delivery: Delivery, title: str | None) -> str:
    """Where :func:`dublin_core` took the title from: ``--title``, ``metadata CSV`` (the
    adapter names the file), the SIP's descriptive file (``meemoo SIP
    metadata/descriptive/dc.xml``), ``bag-info External-Description``, ``bag-info
    External-Identifier``, or the ``folder name``, ``archive name`` or ``file name``."""
    if title:
        return "--title"
    if fields.get("title"):
        return "metadata CSV"
    if delivery.description.get("title"):
        return delivery.description_source
    labels = {k.lower() for k, _ in delivery.bag_info}
    if "external-description" in labels:
        return "bag-info External-Description"
    if "external-identifier" in labels:
        return "bag-info External-Identifier"
    if delivery.kind == "file":
        return "file name"
    return "archive name" if delivery.source.is_file() else "folder name"


def bag_info(
    delivery: Delivery,
    fields: Mapping[str, Sequence[str]],
    owner: Owner,
    collection: str,
    package_id: str,
    external_identifier: str | None = None,
) -> list[tuple[str, str]]:
    """bag-info.txt of the AIP: the producer's elements in their order, then ours. Elements that
    should not repeat and that we set (the group is the collection; the BagIt profile is
    preserve's AIP profile) keep the producer's value as a description. The owning
    organisation (name, address, contact) comes first unless the producer's bag names its
    Source-Organization itself. ``external_identifier``, the catalogue's, is the first
    External-Identifier (the others follow it), so a catalogue rebuilt from storage has it."""
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
    if external_identifier:
        info = _catalogue_identifier_first(info, external_identifier)
    info.append(("Internal-Sender-Identifier", f"urn:uuid:{package_id}"))
    info.append(("Bag-Group-Identifier", collection))
    # the profile every AIP follows (`preserve bag profile`); a producer's is kept above
    info.append(("BagIt-Profile-Identifier", AIP_PROFILE_IDENTIFIER))
    # what was delivered: file, folder, bag, meemoo-sip or eark-sip, and the profile declared
    info.append((DELIVERY_TYPE, delivery.kind))
    if delivery.profile:
        info.append((DELIVERY_PROFILE, delivery.profile))
    return info


def _catalogue_identifier_first(
    info: list[tuple[str, str]], identifier: str
) -> list[tuple[str, str]]:
    """``info`` with ``identifier`` as its first External-Identifier, in the place of the first
    one (or last when there is none), given once."""
    label = "external-identifier"
    kept = [(k, v) for k, v in info if not (k.lower() == label and v == identifier)]
    at = next((i for i, (k, _v) in enumerate(kept) if k.lower() == label), len(kept))
    kept.insert(at, ("External-Identifier", identifier))
    return kept


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
