"""PREMIS 3 preservation metadata: events, agents, objects and rights, and their XML.

Every package (AIP) carries one PREMIS 3.0 document as a tag file, so that the bag alone says what
it holds, how its fixity and formats were established and what happened to it. Standard library
only: the document is written as text (:func:`write_premis` streams it, :func:`premis_document`
returns it) and read back with ``xml.etree.ElementTree``.

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

import io
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import pairwise
from typing import Any, BinaryIO
from urllib.parse import unquote_to_bytes
from xml.sax.saxutils import escape

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
# Roles an agent plays in an event: the LoC eventRelatedAgentRole terms we use, and "owner"
# (the organisation the package belongs to), which that vocabulary lacks: written without a URI.
EXECUTING_PROGRAM = "executing program"
IMPLEMENTER = "implementer"
OWNER = "owner"
_ROLE_URIS = {
    EXECUTING_PROGRAM: _LOC + "eventRelatedAgentRole/exe",
    IMPLEMENTER: _LOC + "eventRelatedAgentRole/imp",
    "authorizer": _LOC + "eventRelatedAgentRole/aut",
    "validator": _LOC + "eventRelatedAgentRole/val",
}
# The role the main agent of an event plays, by its type.
_AGENT_ROLES = {
    "software": EXECUTING_PROGRAM,
    "hardware": EXECUTING_PROGRAM,
    "person": IMPLEMENTER,
    "organization": IMPLEMENTER,
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
        """``name/version`` of software and hardware (just ``name`` without a version);
        ``person:name`` and ``organization:name`` for the others, so that a login name never
        collides with an organisation's name."""
        if self.agent_type in ("person", "organization"):
            return f"{self.agent_type}:{self.name}"
        return f"{self.name}/{self.version}" if self.version else self.name


def person(name: str) -> AgentRecord:
    """The person (or account) who ran a command: the implementer of what it recorded."""
    return AgentRecord(name=name, version="", agent_type="person")


def organisation(name: str) -> AgentRecord:
    """An organisation by its full name: the owner of the packages it recorded events on."""
    return AgentRecord(name=name, version="", agent_type="organization")


#: An agent linked to an event besides its main agent, with its role (``implementer``, ``owner``).
LinkedAgent = tuple[AgentRecord, str]


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
    #: Further agents and their roles: the person who ran the command, the owning organisation.
    linked_agents: tuple[LinkedAgent, ...] = ()


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


# -- writing ----------------------------------------------------------------------------------
#
# The document is written as text, not built as an ElementTree: a package can hold 100,000 files
# and a tree of all their elements would take seconds and hundreds of megabytes. The output is
# what ``ET.indent(root, space="  ")`` and ``ET.tostring`` made of the same elements: two spaces
# per level, ``<tag />`` for an element without content, content escaped as ElementTree escapes
# it. Every text value passes :func:`xml_safe_text` (paths: :func:`encode_path`) and is then
# escaped; attribute values are fixed vocabulary URIs.

_PAD = tuple("\n" + "  " * level for level in range(8))
_XML_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_ATTRIBUTE_ENTITIES = {'"': "&quot;", "\r": "&#13;", "\n": "&#10;", "\t": "&#09;"}
_BATCH = 256  # file objects rendered per write to the stream


def _xt(text: str) -> str:
    """Element content: characters XML cannot carry made visible, then ``&<>`` escaped."""
    return escape(xml_safe_text(text))


def _attrs(**values: str) -> str:
    return "".join(
        f' {name}="{escape(value, _ATTRIBUTE_ENTITIES)}"' for name, value in values.items()
    )


def _leaf(level: int, tag: str, text: str, attrs: str = "") -> str:
    """One element with escaped ``text`` on its own indented line (``<tag />`` when empty)."""
    if not text:
        return f"{_PAD[level]}<{tag}{attrs} />"
    return f"{_PAD[level]}<{tag}{attrs}>{text}</{tag}>"


def _pair(level: int, tag: str, id_type: str, value: str, extra: str = "") -> str:
    """An identifier container such as objectIdentifier(objectIdentifierType, ...Value)."""
    return (
        f"{_PAD[level]}<premis:{tag}>"
        f"{_leaf(level + 1, f'premis:{tag}Type', id_type)}"
        f"{_leaf(level + 1, f'premis:{tag}Value', value)}"
        f"{extra}{_PAD[level]}</premis:{tag}>"
    )


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


_HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n<premis:premis'
    + _attrs(**{"xmlns:premis": PREMIS_NS, "xmlns:preserve": PRESERVE_NS, "xmlns:xsi": XSI_NS})
    + _attrs(**{"version": "3.0", "xsi:schemaLocation": f"{PREMIS_NS} {PREMIS_SCHEMA_LOCATION}"})
    + f">{_PAD[1]}<!--{PATH_ENCODING_NOTE}-->"
)
_TAIL = "\n</premis:premis>\n"

# The fixed parts of a file object.
_FILE_OPEN = f"{_PAD[1]}<premis:object{_attrs(**{'xsi:type': 'premis:file'})}>"
_CHARACTERISTICS_OPEN = f"{_PAD[2]}<premis:objectCharacteristics>" + _leaf(
    3, "premis:compositionLevel", "0"
)
_CHARACTERISTICS_CLOSE = f"{_PAD[2]}</premis:objectCharacteristics>"
_EXTENSION_CLOSE = (
    f"{_PAD[4]}</preserve:characteristics>{_PAD[3]}</premis:objectCharacteristicsExtension>"
)
_OBJECT_CLOSE = f"{_PAD[1]}</premis:object>"
_FIXITY_OPEN = f"{_PAD[3]}<premis:fixity>"
_FIXITY_CLOSE = f"{_PAD[3]}</premis:fixity>"
_ALGORITHM_AUTHORITY = _attrs(authority="cryptographicHashFunctions")
_KNOWN_ALGORITHMS = {
    token: _leaf(
        4,
        "premis:messageDigestAlgorithm",
        _xt(label),
        _attrs(
            authority="cryptographicHashFunctions",
            authorityURI=_LOC + "cryptographicHashFunctions",
            valueURI=f"{_LOC}cryptographicHashFunctions/{code}",
        ),
    )
    for token, (label, code) in HASH_FUNCTIONS.items()
}


def _fixity(token: str, digest: str) -> str:
    algorithm = _KNOWN_ALGORITHMS.get(token.lower())
    if algorithm is None:
        algorithm = _leaf(4, "premis:messageDigestAlgorithm", _xt(token), _ALGORITHM_AUTHORITY)
    digest_xml = _leaf(4, "premis:messageDigest", _xt(digest.lower()))
    return f"{_FIXITY_OPEN}{algorithm}{digest_xml}{_FIXITY_CLOSE}"


# Most files of a package share a few formats: their blocks are rendered once (bounded caches).
@lru_cache(maxsize=1024)
def _format(name: str, version: str, puid: str) -> str:
    parts = [
        f"{_PAD[3]}<premis:format>{_PAD[4]}<premis:formatDesignation>",
        _leaf(5, "premis:formatName", _xt(name or "UNKNOWN")),
    ]
    if version:
        parts.append(_leaf(5, "premis:formatVersion", _xt(version)))
    parts.append(f"{_PAD[4]}</premis:formatDesignation>")
    if puid and puid.upper() != "UNKNOWN":
        parts += [
            f"{_PAD[4]}<premis:formatRegistry>",
            _leaf(5, "premis:formatRegistryName", "PRONOM"),
            _leaf(5, "premis:formatRegistryKey", _xt(puid)),
            _leaf(5, "premis:formatRegistryRole", "specification"),
            f"{_PAD[4]}</premis:formatRegistry>",
        ]
    else:
        parts.append(_leaf(4, "premis:formatNote", "no PRONOM match"))
    parts.append(f"{_PAD[3]}</premis:format>")
    return "".join(parts)


@lru_cache(maxsize=1024)
def _extension_open(mime: str, tool: str, signature_version: str) -> str:
    parts = [f"{_PAD[3]}<premis:objectCharacteristicsExtension>{_PAD[4]}<preserve:characteristics>"]
    for tag, value in (
        ("mimeType", mime),
        ("identificationTool", tool),
        ("signatureVersion", signature_version),
    ):
        if value:
            parts.append(_leaf(5, f"preserve:{tag}", _xt(value)))
    return "".join(parts)


def _image(image: Mapping[str, Any]) -> str:
    children = []
    for key in sorted(image):
        value = image[key]
        if value is None:
            continue
        if not _XML_NAME.fullmatch(key):
            raise ValueError(f"image property name {key!r} is not a valid XML name")
        text = ("true" if value else "false") if isinstance(value, bool) else _xt(str(value))
        children.append(_leaf(6, f"preserve:{key}", text))
    if not children:
        return f"{_PAD[5]}<preserve:image />"
    return f"{_PAD[5]}<preserve:image>{''.join(children)}{_PAD[5]}</preserve:image>"


def _relationship(package_id: str) -> str:
    """A file object's structural link to the package (the same for every file)."""
    return (
        f"{_PAD[2]}<premis:relationship>"
        + _leaf(3, "premis:relationshipType", "structural")
        + _leaf(3, "premis:relationshipSubType", "is included in")
        + _pair(3, "relatedObjectIdentifier", "UUID", _xt(package_id))
        + f"{_PAD[2]}</premis:relationship>"
    )


def _file_object(item: FileObject, relationship: str) -> str:
    path = encode_path(item.path)  # leaves nothing xml_safe_text would change
    parts = [_FILE_OPEN, _pair(2, "objectIdentifier", "local", escape(path)), _CHARACTERISTICS_OPEN]
    digests = item.digests
    parts += [_fixity(token, digests[token]) for token in sorted(digests)]
    parts.append(_leaf(3, "premis:size", str(int(item.size))))
    parts.append(_format(item.format_name, item.format_version, item.puid))
    if item.mime or item.identification_tool or item.signature_version or item.image:
        parts.append(_extension_open(item.mime, item.identification_tool, item.signature_version))
        if item.image:
            parts.append(_image(item.image))
        parts.append(_EXTENSION_CLOSE)
    parts.append(_CHARACTERISTICS_CLOSE)
    # "data/" is not encoded, so the encoded name is the encoded path without it.
    name = path[len("data/") :] if path.startswith("data/") else path
    parts.append(_leaf(2, "premis:originalName", escape(name)))
    parts.append(relationship)
    parts.append(_OBJECT_CLOSE)
    return "".join(parts)


def _package_object(package_id: str, title: str, rights_ids: Sequence[str]) -> str:
    parts = [
        f"{_PAD[1]}<premis:object{_attrs(**{'xsi:type': 'premis:intellectualEntity'})}>",
        _pair(2, "objectIdentifier", "UUID", _xt(package_id)),
    ]
    if title:
        parts.append(_leaf(2, "premis:originalName", _xt(title)))
    for rights_id in rights_ids:
        parts.append(_pair(2, "linkingRightsStatementIdentifier", "UUID", _xt(rights_id)))
    parts.append(_OBJECT_CLOSE)
    return "".join(parts)


def _event(event: EventRecord) -> str:
    if event.outcome not in OUTCOMES:
        raise ValueError(f"event {event.identifier}: outcome must be one of {OUTCOMES}")
    uri = event_type_uri(event.event_type)
    if uri is None:
        raise ValueError(f"event {event.identifier}: {event.event_type!r} is not a LoC event type")
    identifier = _check_uuid(event.identifier, "event identifier")
    parts = [
        f"{_PAD[1]}<premis:event>",
        _pair(2, "eventIdentifier", "UUID", _xt(identifier)),
        _leaf(
            2,
            "premis:eventType",
            _xt(event.event_type),
            _attrs(authority="eventType", authorityURI=EVENT_TYPE_AUTHORITY_URI, valueURI=uri),
        ),
        _leaf(2, "premis:eventDateTime", _xt(_iso(event.occurred_at))),
    ]
    if event.detail:
        parts += [
            f"{_PAD[2]}<premis:eventDetailInformation>",
            _leaf(3, "premis:eventDetail", _xt(event.detail)),
            f"{_PAD[2]}</premis:eventDetailInformation>",
        ]
    parts.append(f"{_PAD[2]}<premis:eventOutcomeInformation>")
    parts.append(
        _leaf(
            3,
            "premis:eventOutcome",
            _xt(event.outcome),
            _attrs(valueURI=_OUTCOME_URIS[event.outcome]),
        )
    )
    if event.outcome_detail:
        parts += [
            f"{_PAD[3]}<premis:eventOutcomeDetail>",
            _leaf(4, "premis:eventOutcomeDetailNote", _xt(event.outcome_detail)),
            f"{_PAD[3]}</premis:eventOutcomeDetail>",
        ]
    parts.append(f"{_PAD[2]}</premis:eventOutcomeInformation>")
    links = [(event.agent, _AGENT_ROLES[event.agent.agent_type]), *event.linked_agents]
    for agent, role in links:
        uri = _ROLE_URIS.get(role)
        role_xml = _leaf(
            3, "premis:linkingAgentRole", _xt(role), _attrs(valueURI=uri) if uri else ""
        )
        parts.append(_pair(2, "linkingAgentIdentifier", "local", _xt(agent.identifier), role_xml))
    for obj in event.objects:
        id_type, value = _object_ref(obj)
        parts.append(_pair(2, "linkingObjectIdentifier", id_type, _xt(value)))
    parts.append(f"{_PAD[1]}</premis:event>")
    return "".join(parts)


def _agent(agent: AgentRecord) -> str:
    parts = [
        f"{_PAD[1]}<premis:agent>",
        _pair(2, "agentIdentifier", "local", _xt(agent.identifier)),
        _leaf(2, "premis:agentName", _xt(agent.name)),
        _leaf(
            2,
            "premis:agentType",
            _xt(agent.agent_type),
            _attrs(valueURI=_AGENT_TYPE_URIS[agent.agent_type]),
        ),
    ]
    if agent.version:
        parts.append(_leaf(2, "premis:agentVersion", _xt(agent.version)))
    parts.append(f"{_PAD[1]}</premis:agent>")
    return "".join(parts)


def _rights(statement_id: str, record: RightsRecord, package_id: str) -> str:
    parts = [
        f"{_PAD[1]}<premis:rights>{_PAD[2]}<premis:rightsStatement>",
        _pair(3, "rightsStatementIdentifier", "UUID", _xt(statement_id)),
        _leaf(3, "premis:rightsBasis", _xt(record.basis)),
        f"{_PAD[3]}<premis:rightsGranted>",
        _leaf(4, "premis:act", _xt(record.act)),
    ]
    if record.restriction:
        parts.append(_leaf(4, "premis:restriction", _xt(record.restriction)))
    if record.note:
        parts.append(_leaf(4, "premis:rightsGrantedNote", _xt(record.note)))
    parts.append(f"{_PAD[3]}</premis:rightsGranted>")
    parts.append(_pair(3, "linkingObjectIdentifier", "UUID", _xt(package_id)))
    parts.append(f"{_PAD[2]}</premis:rightsStatement>{_PAD[1]}</premis:rights>")
    return "".join(parts)


def _collect_agents(
    agents: Iterable[AgentRecord], events: Iterable[EventRecord]
) -> list[AgentRecord]:
    """Every agent given or named by an event, once, sorted by identifier."""
    by_id: dict[str, AgentRecord] = {}
    linked = (agent for event in events for agent, _ in event.linked_agents)
    for agent in [*agents, *(event.agent for event in events), *linked]:
        if agent.agent_type not in AGENT_TYPES:
            raise ValueError(f"agent {agent.identifier}: type must be one of {AGENT_TYPES}")
        known = by_id.setdefault(agent.identifier, agent)
        if known != agent:
            raise ValueError(f"two different agents share the identifier {agent.identifier!r}")
    return [by_id[key] for key in sorted(by_id)]


def _encode(text: str) -> bytes:
    # Nothing unencodable is left after xml_safe_text/encode_path; the error handler is the one
    # ElementTree used, kept for safety.
    return text.encode("utf-8", "xmlcharrefreplace")


def write_premis(
    stream: BinaryIO,
    package_id: str,
    files: Iterable[FileObject],
    events: Iterable[EventRecord],
    agents: Iterable[AgentRecord],
    *,
    rights: Iterable[RightsRecord] = (),
    package_title: str = "",
) -> None:
    """Write the PREMIS 3.0 XML of a package to ``stream``: the bytes of :func:`premis_document`.

    ``files`` may be any iterable, a generator included; it is consumed once and never held, so
    memory does not grow with the number of files. It must be **sorted by path** (plain ``str``
    order, as ``sorted(files, key=lambda f: f.path)``): that keeps the output deterministic and
    lets duplicates be found without remembering paths. Out-of-order or repeated paths raise
    ValueError. Events, agents and rights (small) are checked and rendered before anything is
    written; a file object that cannot be written (a lone surrogate in its path, an image property
    that is no XML name) raises ValueError with the document half written, so the caller must
    discard the stream's content on any exception.
    """
    _check_uuid(package_id, "package identifier")
    events = list(events)
    rights = list(rights)
    rights_ids = [
        str(uuid.uuid5(uuid.NAMESPACE_URL, f"urn:uuid:{package_id}/rights/{index}"))
        for index in range(len(rights))
    ]
    all_agents = _collect_agents(agents, events)
    for event in events:
        _iso(event.occurred_at)  # naive times cannot be ordered against aware ones: fail first
    tail = [_event(event) for event in sorted(events, key=lambda e: e.occurred_at)]
    tail += [_agent(agent) for agent in all_agents]
    tail += [
        _rights(statement_id, record, package_id)
        for statement_id, record in zip(rights_ids, rights, strict=True)
    ]
    tail.append(_TAIL)

    stream.write(_encode(_HEAD + _package_object(package_id, package_title, rights_ids)))
    relationship = _relationship(package_id)
    batch: list[str] = []
    previous: str | None = None
    for item in files:
        path = item.path
        if previous is not None and path <= previous:
            if path == previous:
                raise ValueError(f"file object listed twice: {path!r}")
            raise ValueError(f"file objects must be sorted by path: {path!r} after {previous!r}")
        previous = path
        batch.append(_file_object(item, relationship))
        if len(batch) >= _BATCH:
            stream.write(_encode("".join(batch)))
            batch.clear()
    stream.write(_encode("".join(batch + tail)))


def premis_document(
    package_id: str,
    files: Iterable[FileObject],
    events: Iterable[EventRecord],
    agents: Iterable[AgentRecord],
    *,
    rights: Iterable[RightsRecord] = (),
    package_title: str = "",
) -> bytes:
    """The PREMIS 3.0 XML of a package: UTF-8, pretty-printed, the same bytes for the same input.

    One intellectualEntity object for the package, one file object per payload file (sorted by
    path here, in any order given), the events (by time; equal times keep the given order), every
    agent (given or linked from an event, sorted by identifier) and the rights statements. Raises
    ValueError for input that would make a wrong document (unknown event type, naive time,
    duplicate path, ...). The whole document is held in memory: for large packages stream it
    with :func:`write_premis` instead.
    """
    _check_uuid(package_id, "package identifier")
    ordered = sorted(files, key=lambda f: f.path)
    duplicates = sorted({a.path for a, b in pairwise(ordered) if a.path == b.path})
    if duplicates:
        raise ValueError(f"file objects listed twice: {duplicates}")
    buffer = io.BytesIO()
    write_premis(
        buffer,
        package_id,
        ordered,
        events,
        agents,
        rights=rights,
        package_title=package_title,
    )
    return buffer.getvalue()


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
        links = [
            (
                _agent_by_id(agents, _text(link, "premis:linkingAgentIdentifierValue")),
                _text(link, "premis:linkingAgentRole"),
            )
            for link in element.iterfind("premis:linkingAgentIdentifier", ns)
        ]
        agent = links[0][0] if links else AgentRecord(name="", version="")
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
                linked_agents=tuple(links[1:]),
            )
        )
    return events


def _agent_by_id(agents: Mapping[str, AgentRecord], identifier: str) -> AgentRecord:
    """The agent the document describes under ``identifier``, else one rebuilt from it."""
    if identifier in agents:
        return agents[identifier]
    for agent_type in ("person", "organization"):
        if identifier.startswith(f"{agent_type}:"):
            return AgentRecord(identifier[len(agent_type) + 1 :], "", agent_type)
    name, _, version = identifier.rpartition("/")
    return AgentRecord(name=name or version, version=version if name else "")
