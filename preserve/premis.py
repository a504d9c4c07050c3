"""PREMIS 3 preservation metadata: events, agents, objects and rights, and their XML.

Every package (AIP) carries one PREMIS 3.0 document as a tag file, so that the bag alone says what
it holds, how its fixity and formats were established and what happened to it. Standard library
only (``xml.etree.ElementTree``).

Controlled values come from the Library of Congress preservation vocabularies
(https://id.loc.gov/vocabulary/preservation/): event types, event outcomes, agent types, event
related agent roles and cryptographic hash functions. Element order follows the sequences of the
PREMIS 3.0 XML schema (http://www.loc.gov/standards/premis/v3/premis.xsd).

File paths as identifiers: XML 1.0 cannot carry most control characters at all, and parsers turn
CR and CRLF into LF. Paths are therefore written the way RFC 8493 writes them in a BagIt manifest:
``%`` becomes ``%25``, CR ``%0D``, LF ``%0A``, and every other character XML cannot carry is
percent-encoded too (as its UTF-8 bytes; an undecodable byte kept by ``os.fsdecode`` as the byte
itself). This applies to objectIdentifierValue and linkingObjectIdentifierValue of type ``local``
and to originalName; :func:`encode_path` and :func:`decode_path` do it, and the document says so in
a comment. Names without ``%`` or control characters are written unchanged.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

PREMIS_NS = "http://www.loc.gov/premis/v3"
PREMIS_SCHEMA_LOCATION = "http://www.loc.gov/standards/premis/v3/premis.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
# Our own small element set under objectCharacteristicsExtension (MIME type, identification tool,
# image properties). PREMIS lets extensions use any namespace; this URN is only a name.
PRESERVE_NS = "urn:preserve:premis-extension:1"

_LOC = "http://id.loc.gov/vocabulary/preservation/"
EVENT_TYPE_AUTHORITY_URI = _LOC + "eventType"

# -- LoC event types --------------------------------------------------------------------------
# Labels are the LoC authoritative labels; the codes were checked against the LoC RDF.
ACCESSION = "accession"
APPRAISAL = "appraisal"
CAPTURE = "capture"
COMPILING = "compiling"
COMPRESSION = "compression"
CREATION = "creation"
DEACCESSION = "deaccession"
DECOMPRESSION = "decompression"
DECRYPTION = "decryption"
DELETION = "deletion"
DIGITAL_SIGNATURE_GENERATION = "digital signature generation"
DIGITAL_SIGNATURE_VALIDATION = "digital signature validation"
DISPLAYING = "displaying"
DISSEMINATION = "dissemination"
ENCRYPTION = "encryption"
EXECUTION = "execution"
EXPORTING = "exporting"
EXTRACTION = "extraction"
FILENAME_CHANGE = "filename change"
FIXITY_CHECK = "fixity check"
FORENSIC_FEATURE_ANALYSIS = "forensic feature analysis"
FORMAT_IDENTIFICATION = "format identification"
IMAGING = "imaging"
INFORMATION_PACKAGE_CREATION = "information package creation"
INFORMATION_PACKAGE_MERGING = "information package merging"
INFORMATION_PACKAGE_SPLITTING = "information package splitting"
INGESTION = "ingestion"
INGESTION_END = "ingestion end"
INGESTION_START = "ingestion start"
INTERPRETING = "interpreting"
MESSAGE_DIGEST_CALCULATION = "message digest calculation"
METADATA_EXTRACTION = "metadata extraction"
METADATA_MODIFICATION = "metadata modification"
MIGRATION = "migration"
MODIFICATION = "modification"
NORMALIZATION = "normalization"
PACKING = "packing"
POLICY_ASSIGNMENT = "policy assignment"
PRINTING = "printing"
QUARANTINE = "quarantine"
RECOVERY = "recovery"
REDACTION = "redaction"
REFRESHMENT = "refreshment"
RENDERING = "rendering"
REPLICATION = "replication"
TRANSFER = "transfer"
UNPACKING = "unpacking"
UNQUARANTINE = "unquarantine"
VALIDATION = "validation"
VIRUS_CHECK = "virus check"

_EVENT_TYPE_CODES: dict[str, str] = {
    ACCESSION: "acc",
    APPRAISAL: "app",
    CAPTURE: "cap",
    COMPILING: "cop",
    COMPRESSION: "com",
    CREATION: "cre",
    DEACCESSION: "dea",
    DECOMPRESSION: "dec",
    DECRYPTION: "der",
    DELETION: "del",
    DIGITAL_SIGNATURE_GENERATION: "dsg",
    DIGITAL_SIGNATURE_VALIDATION: "dig",
    DISPLAYING: "dsp",
    DISSEMINATION: "dis",
    ENCRYPTION: "enc",
    EXECUTION: "exe",
    EXPORTING: "exp",
    EXTRACTION: "ext",
    FILENAME_CHANGE: "fil",
    FIXITY_CHECK: "fix",
    FORENSIC_FEATURE_ANALYSIS: "ffa",
    FORMAT_IDENTIFICATION: "for",
    IMAGING: "ima",
    INFORMATION_PACKAGE_CREATION: "ipc",
    INFORMATION_PACKAGE_MERGING: "ipm",
    INFORMATION_PACKAGE_SPLITTING: "ips",
    INGESTION: "ing",
    INGESTION_END: "ine",
    INGESTION_START: "ins",
    INTERPRETING: "int",
    MESSAGE_DIGEST_CALCULATION: "mes",
    METADATA_EXTRACTION: "mee",
    METADATA_MODIFICATION: "mem",
    MIGRATION: "mig",
    MODIFICATION: "mod",
    NORMALIZATION: "nor",
    PACKING: "pac",
    POLICY_ASSIGNMENT: "poa",
    PRINTING: "prt",
    QUARANTINE: "qua",
    RECOVERY: "rec",
    REDACTION: "red",
    REFRESHMENT: "ref",
    RENDERING: "ren",
    REPLICATION: "rep",
    TRANSFER: "tra",
    UNPACKING: "unp",
    UNQUARANTINE: "unq",
    VALIDATION: "val",
    VIRUS_CHECK: "vir",
}

EVENT_TYPE_URIS: dict[str, str] = {
    label: f"{EVENT_TYPE_AUTHORITY_URI}/{code}" for label, code in _EVENT_TYPE_CODES.items()
}

OUTCOMES = ("success", "failure", "warning")
_OUTCOME_URIS = {
    "success": _LOC + "eventOutcome/suc",
    "failure": _LOC + "eventOutcome/fai",
    "warning": _LOC + "eventOutcome/war",
}
AGENT_TYPES = ("software", "person", "organization", "hardware")
_AGENT_TYPE_URIS = {
    "software": _LOC + "agentType/sof",
    "person": _LOC + "agentType/per",
    "organization": _LOC + "agentType/org",
    "hardware": _LOC + "agentType/har",
}
# The role an agent of each type plays in an event (LoC eventRelatedAgentRole).
_AGENT_ROLES = {
    "software": ("executing program", _LOC + "eventRelatedAgentRole/exe"),
    "hardware": ("executing program", _LOC + "eventRelatedAgentRole/exe"),
    "person": ("implementer", _LOC + "eventRelatedAgentRole/imp"),
    "organization": ("implementer", _LOC + "eventRelatedAgentRole/imp"),
}
# BagIt algorithm tokens -> LoC cryptographicHashFunctions labels and codes.
HASH_FUNCTIONS: dict[str, tuple[str, str]] = {
    "md5": ("MD5", "md5"),
    "sha1": ("SHA-1", "sha1"),
    "sha256": ("SHA-256", "sha256"),
    "sha384": ("SHA-384", "sha384"),
    "sha512": ("SHA-512", "sha512"),
}

PATH_ENCODING_NOTE = (
    " File paths (objectIdentifierValue and linkingObjectIdentifierValue of type 'local', and"
    " originalName) are percent-encoded as in the BagIt manifests: '%' as %25, CR as %0D, LF as"
    " %0A, and every other character XML 1.0 cannot carry as %XX of its UTF-8 bytes. "
)


def event_type_uri(label: str) -> str | None:
    """The LoC URI of an event-type label (``"fixity check"`` -> ``.../eventType/fix``), or None."""
    return EVENT_TYPE_URIS.get(label)


@dataclass(frozen=True)
class AgentRecord:
    """Who did it: a piece of software with its version, a person or an organisation."""

    name: str
    version: str
    agent_type: str = "software"

    @property
    def identifier(self) -> str:
        """``name/version`` (just ``name`` when there is no version, e.g. for a person)."""
        return f"{self.name}/{self.version}" if self.version else self.name


@dataclass(frozen=True)
class EventRecord:
    """One PREMIS event; ``objects`` are bag paths (``data/...``) or the package UUID."""

    identifier: str
    event_type: str
    occurred_at: datetime
    outcome: str
    detail: str
    outcome_detail: str
    agent: AgentRecord
    objects: tuple[str, ...] = ()


@dataclass(frozen=True)
class FileObject:
    """A payload file as PREMIS describes it: fixity, size, format and characteristics."""

    path: str
    size: int
    digests: Mapping[str, str]
    puid: str
    format_name: str
    format_version: str
    mime: str
    identification_tool: str
    signature_version: str
    image: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class RightsRecord:
    """A right granted to the repository (a PREMIS act such as replicate, migrate, delete)."""

    act: str
    restriction: str = ""
    basis: str = "other"
    note: str = ""


# -- text and path encoding -------------------------------------------------------------------

_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_PATH_SPECIAL = re.compile("[%\r\n\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _pct(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte os.fsdecode could not decode: write the byte itself
        return f"%{code - 0xDC00:02X}"
    if 0xD800 <= code <= 0xDFFF:
        raise ValueError(f"lone surrogate U+{code:04X} cannot be written as a path")
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8"))


def encode_path(path: str) -> str:
    """A bag path as written in PREMIS: ``%``, CR, LF and XML-illegal characters as ``%XX``."""
    return _PATH_SPECIAL.sub(_pct, path)


def decode_path(value: str) -> str:
    """The inverse of :func:`encode_path` (undecodable bytes come back surrogate-escaped)."""
    if "%" not in value:
        return value
    return unquote_to_bytes(value).decode("utf-8", "surrogateescape")


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group())
    if 0xDC80 <= code <= 0xDCFF:
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def xml_safe_text(text: str) -> str:
    """Free text made writable as XML 1.0: illegal characters become visible ``\\xNN`` escapes.

    Used for details, notes and titles (not for paths, see :func:`encode_path`). Parsers still
    turn CR and CRLF into LF in element content.
    """
    return _XML_ILLEGAL.sub(_escape_char, text)


# -- building ---------------------------------------------------------------------------------


def _p(tag: str) -> str:
    return f"{{{PREMIS_NS}}}{tag}"


def _register_namespaces() -> None:
    # ElementTree's prefix registry is process-wide; xsi:type values below rely on "premis".
    ET.register_namespace("premis", PREMIS_NS)
    ET.register_namespace("xsi", XSI_NS)
    ET.register_namespace("preserve", PRESERVE_NS)


_register_namespaces()


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrib: str) -> ET.Element:
    element = ET.SubElement(parent, _p(tag), attrib)
    if text is not None:
        element.text = xml_safe_text(text)
    return element


def _pair(parent: ET.Element, tag: str, id_type: str, value: str) -> ET.Element:
    """An identifier container such as objectIdentifier(objectIdentifierType, ...Value)."""
    element = _sub(parent, tag)
    _sub(element, f"{tag}Type", id_type)
    _sub(element, f"{tag}Value", value)
    return element


def _check_uuid(value: str, what: str) -> str:
    try:
        uuid.UUID(value)
    except (ValueError, AttributeError, TypeError):
        raise ValueError(f"{what} must be a UUID, got {value!r}") from None
    return value


def _is_uuid(value: str) -> bool:
    if "/" in value:
        return False
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


def _object_ref(value: str) -> tuple[str, str]:
    """(identifier type, written value) of an object an event or rights statement links to."""
    return ("UUID", value) if _is_uuid(value) else ("local", encode_path(value))


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"event time must be timezone-aware, got {moment!r}")
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _add_package_object(
    root: ET.Element, package_id: str, title: str, rights_ids: Sequence[str]
) -> None:
    obj = _sub(root, "object", **{f"{{{XSI_NS}}}type": "premis:intellectualEntity"})
    _pair(obj, "objectIdentifier", "UUID", package_id)
    if title:
        _sub(obj, "originalName", title)
    for rights_id in rights_ids:
        _pair(obj, "linkingRightsStatementIdentifier", "UUID", rights_id)


def _add_image(parent: ET.Element, image: Mapping[str, Any]) -> None:
    element = ET.SubElement(parent, f"{{{PRESERVE_NS}}}image")
    for key in sorted(image):
        value = image[key]
        if value is None:
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.-]*", key):
            raise ValueError(f"image property name {key!r} is not a valid XML name")
        child = ET.SubElement(element, f"{{{PRESERVE_NS}}}{key}")
        if isinstance(value, bool):
            child.text = "true" if value else "false"
        else:
            child.text = xml_safe_text(str(value))


def _add_file_object(root: ET.Element, package_id: str, item: FileObject) -> None:
    obj = _sub(root, "object", **{f"{{{XSI_NS}}}type": "premis:file"})
    _pair(obj, "objectIdentifier", "local", encode_path(item.path))

    chars = _sub(obj, "objectCharacteristics")
    _sub(chars, "compositionLevel", "0")
    for token in sorted(item.digests):
        label, code = HASH_FUNCTIONS.get(token.lower(), (token, ""))
        fixity = _sub(chars, "fixity")
        attrib = {"authority": "cryptographicHashFunctions"}
        if code:
            attrib["authorityURI"] = _LOC + "cryptographicHashFunctions"
            attrib["valueURI"] = f"{_LOC}cryptographicHashFunctions/{code}"
        _sub(fixity, "messageDigestAlgorithm", label, **attrib)
        _sub(fixity, "messageDigest", item.digests[token].lower())
    _sub(chars, "size", str(int(item.size)))

    fmt = _sub(chars, "format")
    designation = _sub(fmt, "formatDesignation")
    _sub(designation, "formatName", item.format_name or "UNKNOWN")
    if item.format_version:
        _sub(designation, "formatVersion", item.format_version)
    known = bool(item.puid) and item.puid.upper() != "UNKNOWN"
    if known:
        registry = _sub(fmt, "formatRegistry")
        _sub(registry, "formatRegistryName", "PRONOM")
        _sub(registry, "formatRegistryKey", item.puid)
        _sub(registry, "formatRegistryRole", "specification")
    else:
        _sub(fmt, "formatNote", "no PRONOM match")

    if item.mime or item.identification_tool or item.signature_version or item.image:
        extension = _sub(chars, "objectCharacteristicsExtension")
        ours = ET.SubElement(extension, f"{{{PRESERVE_NS}}}characteristics")
        for tag, value in (
            ("mimeType", item.mime),
            ("identificationTool", item.identification_tool),
            ("signatureVersion", item.signature_version),
        ):
            if value:
                ET.SubElement(ours, f"{{{PRESERVE_NS}}}{tag}").text = xml_safe_text(value)
        if item.image:
            _add_image(ours, item.image)

    name = item.path[len("data/") :] if item.path.startswith("data/") else item.path
    _sub(obj, "originalName", encode_path(name))

    relationship = _sub(obj, "relationship")
    _sub(relationship, "relationshipType", "structural")
    _sub(relationship, "relationshipSubType", "is included in")
    _pair(relationship, "relatedObjectIdentifier", "UUID", package_id)


def _add_event(root: ET.Element, event: EventRecord) -> None:
    if event.outcome not in OUTCOMES:
        raise ValueError(f"event {event.identifier}: outcome must be one of {OUTCOMES}")
    uri = event_type_uri(event.event_type)
    if uri is None:
        raise ValueError(f"event {event.identifier}: {event.event_type!r} is not a LoC event type")
    element = _sub(root, "event")
    _pair(element, "eventIdentifier", "UUID", _check_uuid(event.identifier, "event identifier"))
    _sub(
        element,
        "eventType",
        event.event_type,
        authority="eventType",
        authorityURI=EVENT_TYPE_AUTHORITY_URI,
        valueURI=uri,
    )
    _sub(element, "eventDateTime", _iso(event.occurred_at))
    if event.detail:
        _sub(_sub(element, "eventDetailInformation"), "eventDetail", event.detail)
    outcome = _sub(element, "eventOutcomeInformation")
    _sub(outcome, "eventOutcome", event.outcome, valueURI=_OUTCOME_URIS[event.outcome])
    if event.outcome_detail:
        _sub(_sub(outcome, "eventOutcomeDetail"), "eventOutcomeDetailNote", event.outcome_detail)
    agent = _pair(element, "linkingAgentIdentifier", "local", event.agent.identifier)
    role, role_uri = _AGENT_ROLES[event.agent.agent_type]
    _sub(agent, "linkingAgentRole", role, valueURI=role_uri)
    for obj in event.objects:
        _pair(element, "linkingObjectIdentifier", *_object_ref(obj))


def _add_agent(root: ET.Element, agent: AgentRecord) -> None:
    element = _sub(root, "agent")
    _pair(element, "agentIdentifier", "local", agent.identifier)
    _sub(element, "agentName", agent.name)
    _sub(element, "agentType", agent.agent_type, valueURI=_AGENT_TYPE_URIS[agent.agent_type])
    if agent.version:
        _sub(element, "agentVersion", agent.version)


def _add_rights(root: ET.Element, statement_id: str, record: RightsRecord, package_id: str) -> None:
    container = _sub(root, "rights")
    statement = _sub(container, "rightsStatement")
    _pair(statement, "rightsStatementIdentifier", "UUID", statement_id)
    _sub(statement, "rightsBasis", record.basis)
    granted = _sub(statement, "rightsGranted")
    _sub(granted, "act", record.act)
    if record.restriction:
        _sub(granted, "restriction", record.restriction)
    if record.note:
        _sub(granted, "rightsGrantedNote", record.note)
    _pair(statement, "linkingObjectIdentifier", "UUID", package_id)


def _collect_agents(
    agents: Iterable[AgentRecord], events: Iterable[EventRecord]
) -> list[AgentRecord]:
    """Every agent given or named by an event, once, sorted by identifier."""
    by_id: dict[str, AgentRecord] = {}
    for agent in [*agents, *(event.agent for event in events)]:
        if agent.agent_type not in AGENT_TYPES:
            raise ValueError(f"agent {agent.identifier}: type must be one of {AGENT_TYPES}")
        known = by_id.setdefault(agent.identifier, agent)
        if known != agent:
            raise ValueError(f"two different agents share the identifier {agent.identifier!r}")
    return [by_id[key] for key in sorted(by_id)]


def premis_document(
    package_id: str,
    files: Sequence[FileObject],
    events: Sequence[EventRecord],
    agents: Sequence[AgentRecord],
    *,
    rights: Sequence[RightsRecord] = (),
    package_title: str = "",
) -> bytes:
    """The PREMIS 3.0 XML of a package: UTF-8, pretty-printed, the same bytes for the same input.

    One intellectualEntity object for the package, one file object per payload file (sorted by
    path), the events (by time; equal times keep the given order), every agent (given or linked
    from an event, sorted by identifier) and the rights statements. Raises ValueError for input
    that would make a wrong document (unknown event type, naive time, duplicate path, ...).
    """
    _check_uuid(package_id, "package identifier")
    paths = [item.path for item in files]
    duplicates = sorted({path for path in paths if paths.count(path) > 1})
    if duplicates:
        raise ValueError(f"file objects listed twice: {duplicates}")
    _register_namespaces()

    root = ET.Element(
        _p("premis"),
        {"version": "3.0", f"{{{XSI_NS}}}schemaLocation": f"{PREMIS_NS} {PREMIS_SCHEMA_LOCATION}"},
    )
    root.append(ET.Comment(PATH_ENCODING_NOTE))

    rights_ids = [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{package_id}/rights/{index}"))
        for index in range(len(rights))
    ]
    _add_package_object(root, package_id, package_title, rights_ids)
    for item in sorted(files, key=lambda f: f.path):
        _add_file_object(root, package_id, item)
    all_agents = _collect_agents(agents, events)
    for event in events:
        _iso(event.occurred_at)  # naive times cannot be ordered against aware ones: fail first
    for event in sorted(events, key=lambda e: e.occurred_at):
        _add_event(root, event)
    for agent in all_agents:
        _add_agent(root, agent)
    for statement_id, record in zip(rights_ids, rights, strict=True):
        _add_rights(root, statement_id, record, package_id)

    ET.indent(root, space="  ")
    body = ET.tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body + b"\n"


# -- reading ----------------------------------------------------------------------------------


def _text(element: ET.Element | None, path: str) -> str:
    found = element.find(path, {"premis": PREMIS_NS}) if element is not None else None
    return (found.text or "") if found is not None else ""


def parse_events(xml: bytes) -> list[EventRecord]:
    """The events of a PREMIS 3 document, in document order, with their agents resolved.

    Local object identifiers are percent-decoded back into bag paths. An agent that the document
    links to but does not describe is rebuilt from its ``name/version`` identifier.
    """
    ns = {"premis": PREMIS_NS}
    root = ET.fromstring(xml)  # noqa: S314 - our own tag files, not untrusted network input
    agents: dict[str, AgentRecord] = {}
    for element in root.iterfind("premis:agent", ns):
        identifier = _text(element, "premis:agentIdentifier/premis:agentIdentifierValue")
        agents[identifier] = AgentRecord(
            name=_text(element, "premis:agentName"),
            version=_text(element, "premis:agentVersion"),
            agent_type=_text(element, "premis:agentType") or "software",
        )

    events: list[EventRecord] = []
    for element in root.iterfind("premis:event", ns):
        agent_id = _text(
            element, "premis:linkingAgentIdentifier/premis:linkingAgentIdentifierValue"
        )
        if agent_id in agents:
            agent = agents[agent_id]
        else:
            name, _, version = agent_id.rpartition("/")
            agent = AgentRecord(name=name or version, version=version if name else "")
        objects = []
        for link in element.iterfind("premis:linkingObjectIdentifier", ns):
            kind = _text(link, "premis:linkingObjectIdentifierType")
            value = _text(link, "premis:linkingObjectIdentifierValue")
            objects.append(decode_path(value) if kind == "local" else value)
        events.append(
            EventRecord(
                identifier=_text(element, "premis:eventIdentifier/premis:eventIdentifierValue"),
                event_type=_text(element, "premis:eventType"),
                occurred_at=datetime.fromisoformat(_text(element, "premis:eventDateTime")),
                outcome=_text(element, "premis:eventOutcomeInformation/premis:eventOutcome"),
                detail=_text(element, "premis:eventDetailInformation/premis:eventDetail"),
                outcome_detail=_text(
                    element,
                    "premis:eventOutcomeInformation/premis:eventOutcomeDetail"
                    "/premis:eventOutcomeDetailNote",
                ),
                agent=agent,
                objects=tuple(objects),
            )
        )
    return events
