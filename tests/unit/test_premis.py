"""PREMIS 3 XML: schema order, LoC vocabulary, round trips, awkward names, determinism."""

from __future__ import annotations

import dataclasses
import io
import os
import random
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from preserve import premis
from preserve.premis import (
    AgentRecord,
    EventRecord,
    FileObject,
    RightsRecord,
    decode_path,
    encode_path,
    event_type_uri,
    parse_events,
    premis_document,
    write_premis,
)

P = "{http://www.loc.gov/premis/v3}"
XSI = "{http://www.w3.org/2001/XMLSchema-instance}"
EXT = "{" + premis.PRESERVE_NS + "}"
NS = {"premis": "http://www.loc.gov/premis/v3"}
LOC = "http://id.loc.gov/vocabulary/preservation/"

PACKAGE = "6f1c5b0e-6c1a-4c47-9b7e-7d8b0e0f3a21"
T0 = datetime(2025, 3, 1, 10, 0, 0, tzinfo=UTC)

# The PREMIS 3.0 schema sequences of the elements we write (premis.xsd, v3).
SEQUENCES = {
    "premis": ["object", "event", "agent", "rights"],
    "file": [
        "objectIdentifier",
        "preservationLevel",
        "significantProperties",
        "objectCharacteristics",
        "originalName",
        "storage",
        "signatureInformation",
        "relationship",
        "linkingEventIdentifier",
        "linkingRightsStatementIdentifier",
    ],
    "intellectualEntity": [
        "objectIdentifier",
        "preservationLevel",
        "significantProperties",
        "originalName",
        "environmentFunction",
        "environmentDesignation",
        "environmentRegistry",
        "environmentExtension",
        "relationship",
        "linkingEventIdentifier",
        "linkingRightsStatementIdentifier",
    ],
    "objectCharacteristics": [
        "compositionLevel",
        "fixity",
        "size",
        "format",
        "creatingApplication",
        "inhibitors",
        "objectCharacteristicsExtension",
    ],
    "fixity": ["messageDigestAlgorithm", "messageDigest", "messageDigestOriginator"],
    "format": ["formatDesignation", "formatRegistry", "formatNote"],
    "formatDesignation": ["formatName", "formatVersion"],
    "formatRegistry": ["formatRegistryName", "formatRegistryKey", "formatRegistryRole"],
    "relationship": [
        "relationshipType",
        "relationshipSubType",
        "relatedObjectIdentifier",
        "relatedEventIdentifier",
    ],
    "event": [
        "eventIdentifier",
        "eventType",
        "eventDateTime",
        "eventDetailInformation",
        "eventOutcomeInformation",
        "linkingAgentIdentifier",
        "linkingObjectIdentifier",
    ],
    "eventOutcomeInformation": ["eventOutcome", "eventOutcomeDetail"],
    "linkingAgentIdentifier": [
        "linkingAgentIdentifierType",
        "linkingAgentIdentifierValue",
        "linkingAgentRole",
    ],
    "agent": [
        "agentIdentifier",
        "agentName",
        "agentType",
        "agentVersion",
        "agentNote",
        "agentExtension",
        "linkingEventIdentifier",
    ],
    "rightsStatement": [
        "rightsStatementIdentifier",
        "rightsBasis",
        "copyrightInformation",
        "licenseInformation",
        "statuteInformation",
        "otherRightsInformation",
        "rightsGranted",
        "linkingObjectIdentifier",
        "linkingAgentIdentifier",
    ],
    "rightsGranted": [
        "act",
        "restriction",
        "termOfGrant",
        "termOfRestriction",
        "rightsGrantedNote",
    ],
}
REQUIRED = {
    "file": {"objectIdentifier", "objectCharacteristics"},
    "intellectualEntity": {"objectIdentifier"},
    "objectCharacteristics": {"format"},
    "event": {"eventIdentifier", "eventType", "eventDateTime"},
    "agent": {"agentIdentifier"},
    "rightsStatement": {"rightsStatementIdentifier", "rightsBasis"},
    "rightsGranted": {"act"},
}

TOOL = AgentRecord("preserve", "0.1.0")
SIEGFRIED = AgentRecord("siegfried", "1.11.9")
ARCHIVIST = AgentRecord("An Peeters", "", "person")

ODD_NAME = "data/line\nbreak 100%.txt"


def tag(element: ET.Element) -> str:
    return element.tag.split("}", 1)[1]


def assert_schema_order(element: ET.Element, kind: str) -> None:
    sequence = SEQUENCES[kind]
    names = [tag(child) for child in element if isinstance(child.tag, str)]
    unexpected = [name for name in names if name not in sequence]
    assert not unexpected, f"{kind}: unexpected children {unexpected}"
    positions = [sequence.index(name) for name in names]
    assert positions == sorted(positions), f"{kind}: out of schema order: {names}"
    assert REQUIRED.get(kind, set()) <= set(names), f"{kind}: missing required in {names}"


def make_files() -> list[FileObject]:
    return [
        FileObject(
            path="data/scans/page-001.tif",
            size=1024,
            digests={"sha512": "AA" * 64, "sha256": "bb" * 32},
            puid="fmt/353",
            format_name="Tagged Image File Format",
            format_version="",
            mime="image/tiff",
            identification_tool="siegfried 1.11.9",
            signature_version="DROID_SignatureFile_V120.xml",
            image={"width": 2480, "height": 3508, "mode": "RGB", "complete": True, "icc": None},
        ),
        FileObject(
            path=ODD_NAME,
            size=5,
            digests={"sha512": "cc" * 64, "sha256": "dd" * 32, "md5": "ee" * 16},
            puid="x-fmt/111",
            format_name="Plain Text File",
            format_version="",
            mime="text/plain",
            identification_tool="siegfried 1.11.9",
            signature_version="DROID_SignatureFile_V120.xml",
            image=None,
        ),
        FileObject(
            path="data/mystery.bin",
            size=7,
            digests={"sha512": "ff" * 64},
            puid="UNKNOWN",
            format_name="",
            format_version="",
            mime="application/octet-stream",
            identification_tool="siegfried 1.11.9",
            signature_version="DROID_SignatureFile_V120.xml",
        ),
    ]


def event(n: int, event_type: str, agent: AgentRecord = TOOL, **kwargs: object) -> EventRecord:
    values: dict[str, object] = {
        "identifier": f"00000000-0000-4000-8000-{n:012d}",
        "event_type": event_type,
        "occurred_at": T0 + timedelta(seconds=n),
        "outcome": "success",
        "detail": f"{event_type} by {agent.identifier}",
        "outcome_detail": "",
        "agent": agent,
        "objects": (PACKAGE,),
    }
    values.update(kwargs)
    return EventRecord(**values)  # type: ignore[arg-type]


def make_events() -> list[EventRecord]:
    return [
        event(1, premis.INGESTION_START),
        event(2, premis.MESSAGE_DIGEST_CALCULATION, objects=("data/scans/page-001.tif", ODD_NAME)),
        event(
            3,
            premis.FORMAT_IDENTIFICATION,
            SIEGFRIED,
            outcome="warning",
            outcome_detail="data/mystery.bin: no match",
            objects=("data/mystery.bin",),
        ),
        event(
            4,
            premis.FIXITY_CHECK,
            outcome="failure",
            outcome_detail="expected sha256 dd…, got 00…",
            objects=(ODD_NAME,),
        ),
        event(5, premis.POLICY_ASSIGNMENT, ARCHIVIST, detail="agreement 2025/7 v2"),
        event(6, premis.INGESTION_END, detail=""),
    ]


def document() -> bytes:
    return premis_document(
        PACKAGE,
        make_files(),
        make_events(),
        [TOOL, SIEGFRIED],
        rights=[RightsRecord("replicate"), RightsRecord("disseminate", "restricted", note="n")],
        package_title="Scans of the 1920 minutes",
    )


@pytest.fixture
def root() -> ET.Element:
    return ET.fromstring(document())


# -- vocabulary -------------------------------------------------------------------------------

# Independent of the implementation: the codes of id.loc.gov/vocabulary/preservation/eventType.
LOC_CODES = {
    "ingestion start": "ins",
    "ingestion end": "ine",
    "ingestion": "ing",
    "message digest calculation": "mes",
    "fixity check": "fix",
    "format identification": "for",
    "validation": "val",
    "virus check": "vir",
    "replication": "rep",
    "transfer": "tra",
    "information package creation": "ipc",
    "metadata modification": "mem",
    "recovery": "rec",
    "quarantine": "qua",
    "unquarantine": "unq",
    "dissemination": "dis",
    "deletion": "del",
    "accession": "acc",
    "appraisal": "app",
    "deaccession": "dea",
    "policy assignment": "poa",
    "unpacking": "unp",
    "creation": "cre",
    "decompression": "dec",
    "decryption": "der",
    "exporting": "exp",
    "metadata extraction": "mee",
    "filename change": "fil",
    "refreshment": "ref",
    "compiling": "cop",
    "compression": "com",
    "digital signature validation": "dig",
    "digital signature generation": "dsg",
}


@pytest.mark.parametrize(("label", "code"), sorted(LOC_CODES.items()))
def test_event_type_uris_use_the_loc_codes(label: str, code: str) -> None:
    assert event_type_uri(label) == f"{LOC}eventType/{code}"


def test_constants_are_the_loc_labels() -> None:
    assert premis.INGESTION_START == "ingestion start"
    assert premis.VIRUS_CHECK == "virus check"
    assert premis.INFORMATION_PACKAGE_CREATION == "information package creation"
    assert len(premis.EVENT_TYPE_URIS) == 50
    assert len(set(premis.EVENT_TYPE_URIS.values())) == 50


def test_unknown_event_type_has_no_uri() -> None:
    assert event_type_uri("teleportation") is None


# -- document shape ---------------------------------------------------------------------------


def test_declaration_root_and_schema_location() -> None:
    xml = document()
    assert xml.startswith(b'<?xml version="1.0" encoding="UTF-8"?>\n')
    root = ET.fromstring(xml)
    assert root.tag == f"{P}premis"
    assert root.get("version") == "3.0"
    location = root.get(f"{XSI}schemaLocation", "").split()
    assert location[0] == "http://www.loc.gov/premis/v3"
    assert location[1].endswith(".xsd")
    assert_schema_order(root, "premis")
    assert b"\n  <premis:object" in xml  # pretty-printed


def test_every_element_follows_the_schema_sequence(root: ET.Element) -> None:
    checked = 0
    for element in root.iter():
        if not isinstance(element.tag, str) or not element.tag.startswith(P):
            continue
        kind = tag(element)
        if kind == "object":
            kind = element.get(f"{XSI}type", "").split(":")[1]
        if kind in SEQUENCES:
            assert_schema_order(element, kind)
            checked += 1
    assert checked > 30


def test_package_is_one_intellectual_entity_first(root: ET.Element) -> None:
    objects = root.findall("premis:object", NS)
    assert [o.get(f"{XSI}type") for o in objects] == [
        "premis:intellectualEntity",
        "premis:file",
        "premis:file",
        "premis:file",
    ]
    entity = objects[0]
    assert entity.findtext("premis:objectIdentifier/premis:objectIdentifierType", None, NS) == (
        "UUID"
    )
    assert entity.findtext("premis:objectIdentifier/premis:objectIdentifierValue", None, NS) == (
        PACKAGE
    )
    assert entity.findtext("premis:originalName", None, NS) == "Scans of the 1920 minutes"


def file_objects(root: ET.Element) -> dict[str, ET.Element]:
    found = {}
    for obj in root.findall("premis:object", NS):
        if obj.get(f"{XSI}type") == "premis:file":
            ident = obj.find("premis:objectIdentifier", NS)
            assert ident is not None
            assert ident.findtext("premis:objectIdentifierType", None, NS) == "local"
            value = ident.findtext("premis:objectIdentifierValue", "", NS)
            found[decode_path(value)] = obj
    return found


def test_file_objects_sorted_by_path(root: ET.Element) -> None:
    assert list(file_objects(root)) == sorted(f.path for f in make_files())


def test_file_object_characteristics(root: ET.Element) -> None:
    tif = file_objects(root)["data/scans/page-001.tif"]
    chars = tif.find("premis:objectCharacteristics", NS)
    assert chars is not None
    assert chars.findtext("premis:compositionLevel", None, NS) == "0"
    assert chars.findtext("premis:size", None, NS) == "1024"
    fixity = {
        f.findtext("premis:messageDigestAlgorithm", None, NS): f.findtext(
            "premis:messageDigest", None, NS
        )
        for f in chars.findall("premis:fixity", NS)
    }
    assert fixity == {"SHA-256": "bb" * 32, "SHA-512": "aa" * 64}
    algorithm = chars.find("premis:fixity/premis:messageDigestAlgorithm", NS)
    assert algorithm is not None
    assert algorithm.get("valueURI") == f"{LOC}cryptographicHashFunctions/sha256"

    fmt = chars.find("premis:format", NS)
    assert fmt is not None
    assert fmt.findtext("premis:formatDesignation/premis:formatName", None, NS) == (
        "Tagged Image File Format"
    )
    assert fmt.find("premis:formatDesignation/premis:formatVersion", NS) is None
    assert fmt.findtext("premis:formatRegistry/premis:formatRegistryName", None, NS) == "PRONOM"
    assert fmt.findtext("premis:formatRegistry/premis:formatRegistryKey", None, NS) == "fmt/353"
    assert fmt.findtext("premis:formatRegistry/premis:formatRegistryRole", None, NS) == (
        "specification"
    )
    assert chars.find("premis:creatingApplication", NS) is None

    ours = chars.find(f"premis:objectCharacteristicsExtension/{EXT}characteristics", NS)
    assert ours is not None
    assert ours.findtext(f"{EXT}mimeType") == "image/tiff"
    assert ours.findtext(f"{EXT}identificationTool") == "siegfried 1.11.9"
    assert ours.findtext(f"{EXT}signatureVersion") == "DROID_SignatureFile_V120.xml"
    image = ours.find(f"{EXT}image")
    assert image is not None
    assert {tag(c): c.text for c in image} == {
        "complete": "true",
        "height": "3508",
        "mode": "RGB",
        "width": "2480",
    }

    assert tif.findtext("premis:originalName", None, NS) == "scans/page-001.tif"
    related = tif.find("premis:relationship/premis:relatedObjectIdentifier", NS)
    assert related is not None
    assert related.findtext("premis:relatedObjectIdentifierValue", None, NS) == PACKAGE


def test_md5_and_sha1_labels() -> None:
    item = make_files()[1]
    item = FileObject(**{**item.__dict__, "digests": {"md5": "00", "sha1": "11"}})
    root = ET.fromstring(premis_document(PACKAGE, [item], [], []))
    labels = [e.text for e in root.iter(f"{P}messageDigestAlgorithm")]
    assert labels == ["MD5", "SHA-1"]


def test_unknown_format_has_no_registry_entry(root: ET.Element) -> None:
    fmt = file_objects(root)["data/mystery.bin"].find(
        "premis:objectCharacteristics/premis:format", NS
    )
    assert fmt is not None
    assert fmt.find("premis:formatRegistry", NS) is None
    assert fmt.findtext("premis:formatDesignation/premis:formatName", None, NS) == "UNKNOWN"
    assert fmt.findtext("premis:formatNote", None, NS) == "no PRONOM match"


def test_events_carry_loc_uris_outcomes_agents_and_objects(root: ET.Element) -> None:
    events = root.findall("premis:event", NS)
    assert len(events) == 6
    first = events[0]
    assert first.findtext("premis:eventIdentifier/premis:eventIdentifierType", None, NS) == "UUID"
    event_type = first.find("premis:eventType", NS)
    assert event_type is not None
    assert event_type.text == "ingestion start"
    assert event_type.get("valueURI") == f"{LOC}eventType/ins"
    assert first.findtext("premis:eventDateTime", None, NS) == "2025-03-01T10:00:01Z"
    assert first.findtext("premis:eventDetailInformation/premis:eventDetail", None, NS) == (
        "ingestion start by preserve/0.1.0"
    )
    outcome = first.find("premis:eventOutcomeInformation/premis:eventOutcome", NS)
    assert outcome is not None
    assert outcome.text == "success"
    assert outcome.get("valueURI") == f"{LOC}eventOutcome/suc"
    agent = first.find("premis:linkingAgentIdentifier", NS)
    assert agent is not None
    assert agent.findtext("premis:linkingAgentIdentifierValue", None, NS) == "preserve/0.1.0"
    role = agent.find("premis:linkingAgentRole", NS)
    assert role is not None
    assert role.get("valueURI") == f"{LOC}eventRelatedAgentRole/exe"
    link = first.find("premis:linkingObjectIdentifier", NS)
    assert link is not None
    assert link.findtext("premis:linkingObjectIdentifierType", None, NS) == "UUID"

    fixity = events[3]
    assert fixity.find("premis:eventType", NS).get("valueURI") == f"{LOC}eventType/fix"  # type: ignore[union-attr]
    note = "premis:eventOutcomeInformation/premis:eventOutcomeDetail/premis:eventOutcomeDetailNote"
    assert fixity.findtext(note, None, NS) == "expected sha256 dd…, got 00…"
    assert (
        fixity.findtext("premis:eventOutcomeInformation/premis:eventOutcome", None, NS) == "failure"
    )

    person = events[4].find("premis:linkingAgentIdentifier/premis:linkingAgentRole", NS)
    assert person is not None
    assert person.text == "implementer"
    assert events[5].find("premis:eventDetailInformation", NS) is None


def test_agents_include_those_only_named_by_events(root: ET.Element) -> None:
    agents = {
        a.findtext("premis:agentIdentifier/premis:agentIdentifierValue", None, NS): a
        for a in root.findall("premis:agent", NS)
    }
    assert list(agents) == ["person:An Peeters", "preserve/0.1.0", "siegfried/1.11.9"]
    sf = agents["siegfried/1.11.9"]
    assert sf.findtext("premis:agentName", None, NS) == "siegfried"
    assert sf.findtext("premis:agentVersion", None, NS) == "1.11.9"
    agent_type = sf.find("premis:agentType", NS)
    assert agent_type is not None
    assert agent_type.text == "software"
    assert agent_type.get("valueURI") == f"{LOC}agentType/sof"
    assert agents["person:An Peeters"].find("premis:agentVersion", NS) is None


def test_rights_statements_link_to_the_package(root: ET.Element) -> None:
    statements = root.findall("premis:rights/premis:rightsStatement", NS)
    assert [s.findtext("premis:rightsGranted/premis:act", None, NS) for s in statements] == [
        "replicate",
        "disseminate",
    ]
    second = statements[1]
    assert second.findtext("premis:rightsBasis", None, NS) == "other"
    assert second.findtext("premis:rightsGranted/premis:restriction", None, NS) == "restricted"
    assert second.findtext("premis:rightsGranted/premis:rightsGrantedNote", None, NS) == "n"
    ids = [
        s.findtext(
            "premis:rightsStatementIdentifier/premis:rightsStatementIdentifierValue", None, NS
        )
        for s in statements
    ]
    entity = root.find("premis:object", NS)
    assert entity is not None
    linked = [
        e.findtext("premis:linkingRightsStatementIdentifierValue", None, NS)
        for e in entity.findall("premis:linkingRightsStatementIdentifier", NS)
    ]
    assert linked == ids
    assert len(set(ids)) == 2


def test_no_rights_no_rights_element() -> None:
    root = ET.fromstring(premis_document(PACKAGE, make_files(), make_events(), []))
    assert root.find("premis:rights", NS) is None


# -- round trips ------------------------------------------------------------------------------


def test_parse_events_round_trip() -> None:
    assert parse_events(document()) == make_events()


def test_events_are_ordered_by_time_with_subsecond_precision() -> None:
    late = event(1, premis.INGESTION_END, occurred_at=T0 + timedelta(seconds=1))
    early = event(2, premis.INGESTION_START, occurred_at=T0 + timedelta(microseconds=500_000))
    parsed = parse_events(premis_document(PACKAGE, [], [late, early], []))
    assert [e.event_type for e in parsed] == ["ingestion start", "ingestion end"]
    assert parsed[0].occurred_at == early.occurred_at


def test_times_in_other_zones_are_written_in_utc() -> None:
    brussels = timezone(timedelta(hours=2))
    when = datetime(2025, 6, 1, 12, 0, tzinfo=brussels)
    xml = premis_document(PACKAGE, [], [event(1, premis.ACCESSION, occurred_at=when)], [])
    assert b"<premis:eventDateTime>2025-06-01T10:00:00Z</premis:eventDateTime>" in xml
    assert parse_events(xml)[0].occurred_at == when


AWKWARD = [
    ODD_NAME,
    "data/cr\rname",
    "data/crlf\r\nname",
    "data/100%.txt",
    "data/%0A-literal.txt",
    "data/bell\x07and\x1fus",
    "data/nul\x00byte",
    "data/tab\tname",
    "data/café/Ω 𝄞.txt",
    os.fsdecode(b"data/latin1-caf\xe9.txt"),
]


@pytest.mark.parametrize("name", AWKWARD)
def test_awkward_names_round_trip(name: str) -> None:
    item = FileObject(name, 1, {"sha512": "00"}, "fmt/1", "x", "", "", "", "")
    happened = event(1, premis.MESSAGE_DIGEST_CALCULATION, objects=(name,))
    xml = premis_document(PACKAGE, [item], [happened], [])
    root = ET.fromstring(xml)  # well-formed XML 1.0 despite the name
    assert list(file_objects(root)) == [name]
    original = file_objects(root)[name].findtext("premis:originalName", None, NS)
    assert decode_path(original or "") == name[len("data/") :]
    assert parse_events(xml)[0].objects == (name,)


def test_path_encoding_matches_bagit_manifests() -> None:
    assert encode_path("data/a\nb") == "data/a%0Ab"
    assert encode_path("data/a\rb") == "data/a%0Db"
    assert encode_path("data/100%.txt") == "data/100%25.txt"
    assert encode_path("data/plain name é.txt") == "data/plain name é.txt"
    assert encode_path("data/\x01") == "data/%01"
    assert encode_path(os.fsdecode(b"data/\xff")) == "data/%FF"
    assert decode_path("data/100%25.txt") == "data/100%.txt"


def test_a_lone_surrogate_that_is_not_a_byte_is_refused() -> None:
    with pytest.raises(ValueError, match="surrogate"):
        encode_path("data/\ud800")


def test_document_says_how_paths_are_encoded() -> None:
    assert b"percent-encoded" in document()
    assert b"%25" in document()


def test_control_characters_in_free_text_do_not_break_the_xml() -> None:
    noisy = event(
        1,
        premis.VALIDATION,
        detail="tool said \x00\x1b[31mred",
        outcome_detail=os.fsdecode(b"bad byte \xfe"),
    )
    xml = premis_document(PACKAGE, [], [noisy], [], package_title="title\x0c")
    parsed = parse_events(xml)[0]
    assert parsed.detail == "tool said \\x00\\x1b[31mred"
    assert parsed.outcome_detail == "bad byte \\xfe"


# -- determinism ------------------------------------------------------------------------------


def test_same_input_same_bytes() -> None:
    assert document() == document()


def test_input_order_of_files_and_agents_does_not_matter() -> None:
    files = make_files()
    agents = [TOOL, SIEGFRIED, ARCHIVIST]
    expected = premis_document(PACKAGE, files, make_events(), agents)
    shuffler = random.Random(7)
    for _ in range(5):
        shuffler.shuffle(files)
        shuffler.shuffle(agents)
        assert premis_document(PACKAGE, files, make_events(), agents) == expected


# -- refused input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"occurred_at": datetime(2025, 1, 1)}, "timezone-aware"),
        ({"event_type": "teleportation"}, "not a LoC event type"),
        ({"outcome": "ok"}, "outcome"),
        ({"identifier": "not-a-uuid"}, "UUID"),
        ({"agent": AgentRecord("robot", "1", "alien")}, "type must be one of"),
    ],
)
def test_bad_events_are_refused(change: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        premis_document(PACKAGE, [], [dataclasses.replace(event(1, premis.TRANSFER), **change)], [])


def test_bad_package_id_is_refused() -> None:
    with pytest.raises(ValueError, match="UUID"):
        premis_document("package-1", [], [], [])


def test_duplicate_paths_are_refused() -> None:
    files = make_files()
    with pytest.raises(ValueError, match="listed twice"):
        premis_document(PACKAGE, [*files, files[0]], [], [])


def test_conflicting_agents_are_refused() -> None:
    with pytest.raises(ValueError, match="share the identifier"):
        premis_document(PACKAGE, [], [], [TOOL, AgentRecord("preserve", "0.1.0", "hardware")])


# -- streaming --------------------------------------------------------------------------------


def write(files: Any, **kwargs: Any) -> bytes:
    stream = io.BytesIO()
    write_premis(stream, PACKAGE, files, make_events(), [TOOL, SIEGFRIED], **kwargs)
    return stream.getvalue()


def sorted_files() -> list[FileObject]:
    return sorted(make_files(), key=lambda f: f.path)


def test_write_premis_writes_the_bytes_of_premis_document() -> None:
    rights = [RightsRecord("replicate"), RightsRecord("disseminate", "restricted", note="n")]
    title = "Scans of the 1920 minutes"
    streamed = write(sorted_files(), rights=rights, package_title=title)
    assert streamed == document()


def test_write_premis_takes_a_generator_once() -> None:
    consumed = []

    def generate() -> Iterator[FileObject]:
        for item in sorted_files():
            consumed.append(item.path)
            yield item

    assert write(generate()) == premis_document(PACKAGE, make_files(), make_events(), [TOOL])
    assert consumed == sorted(f.path for f in make_files())


def test_write_premis_wants_files_sorted_by_path() -> None:
    with pytest.raises(ValueError, match="sorted by path"):
        write(reversed(sorted_files()))
    first = sorted_files()[0]
    with pytest.raises(ValueError, match="listed twice"):
        write([first, first])


def test_write_premis_checks_events_before_writing() -> None:
    stream = io.BytesIO()
    bad = dataclasses.replace(event(1, premis.TRANSFER), outcome="ok")
    with pytest.raises(ValueError, match="outcome"):
        write_premis(stream, PACKAGE, iter(sorted_files()), [bad], [])
    assert stream.getvalue() == b""


def test_many_file_objects_stream_into_a_valid_document() -> None:
    count = 20_000

    def generate() -> Iterator[FileObject]:
        for n in range(count):
            yield FileObject(
                f"data/{n:06d}.txt", n, {"sha256": f"{n:064x}"}, "x-fmt/111", "Text", "", "", "", ""
            )

    stream = io.BytesIO()
    write_premis(stream, PACKAGE, generate(), make_events(), [])
    stream.seek(0)
    files = events = 0
    for _, element in ET.iterparse(stream):
        if element.tag == f"{P}object" and element.get(f"{XSI}type") == "premis:file":
            files += 1
            assert element.findtext("premis:objectCharacteristics/premis:size", None, NS) == str(
                files - 1
            )
            element.clear()
        elif element.tag == f"{P}event":
            events += 1
    assert (files, events) == (count, len(make_events()))


def test_preserve_namespace_is_declared_even_when_unused() -> None:
    # Streaming cannot know in advance whether a file object will use it.
    xml = premis_document(PACKAGE, [], [], [])
    assert b'xmlns:preserve="urn:preserve:premis-extension:1"' in xml.split(b"\n")[1]


# The output of the ElementTree implementation this module used before it wrote text itself.
GOLDEN = """\
<?xml version="1.0" encoding="UTF-8"?>
<premis:premis xmlns:premis="http://www.loc.gov/premis/v3" xmlns:preserve="urn:preserve:premis-extension:1" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="3.0" xsi:schemaLocation="http://www.loc.gov/premis/v3 http://www.loc.gov/standards/premis/v3/premis.xsd">
  <!-- File paths (objectIdentifierValue and linkingObjectIdentifierValue of type 'local', and originalName) are percent-encoded as in the BagIt manifests: '%' as %25, CR as %0D, LF as %0A, and every other character XML 1.0 cannot carry as %XX of its UTF-8 bytes. -->
  <premis:object xsi:type="premis:intellectualEntity">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>UUID</premis:objectIdentifierType>
      <premis:objectIdentifierValue>6f1c5b0e-6c1a-4c47-9b7e-7d8b0e0f3a21</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:originalName>T &amp; T</premis:originalName>
    <premis:linkingRightsStatementIdentifier>
      <premis:linkingRightsStatementIdentifierType>UUID</premis:linkingRightsStatementIdentifierType>
      <premis:linkingRightsStatementIdentifierValue>44f5c268-aafc-5317-ba64-0b5d02bb861a</premis:linkingRightsStatementIdentifierValue>
    </premis:linkingRightsStatementIdentifier>
  </premis:object>
  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>local</premis:objectIdentifierType>
      <premis:objectIdentifierValue>data/a&amp;b &lt;1&gt;%0A100%25.tif</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:objectCharacteristics>
      <premis:compositionLevel>0</premis:compositionLevel>
      <premis:fixity>
        <premis:messageDigestAlgorithm authority="cryptographicHashFunctions">crc32</premis:messageDigestAlgorithm>
        <premis:messageDigest>0f</premis:messageDigest>
      </premis:fixity>
      <premis:fixity>
        <premis:messageDigestAlgorithm authority="cryptographicHashFunctions" authorityURI="http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions" valueURI="http://id.loc.gov/vocabulary/preservation/cryptographicHashFunctions/sha256">SHA-256</premis:messageDigestAlgorithm>
        <premis:messageDigest>abababab</premis:messageDigest>
      </premis:fixity>
      <premis:size>12</premis:size>
      <premis:format>
        <premis:formatDesignation>
          <premis:formatName>TIFF</premis:formatName>
          <premis:formatVersion>6.0</premis:formatVersion>
        </premis:formatDesignation>
        <premis:formatRegistry>
          <premis:formatRegistryName>PRONOM</premis:formatRegistryName>
          <premis:formatRegistryKey>fmt/353</premis:formatRegistryKey>
          <premis:formatRegistryRole>specification</premis:formatRegistryRole>
        </premis:formatRegistry>
      </premis:format>
      <premis:objectCharacteristicsExtension>
        <preserve:characteristics>
          <preserve:mimeType>image/tiff</preserve:mimeType>
          <preserve:identificationTool>siegfried 1.11.9</preserve:identificationTool>
          <preserve:signatureVersion>v120</preserve:signatureVersion>
          <preserve:image>
            <preserve:ok>false</preserve:ok>
            <preserve:width>3</preserve:width>
          </preserve:image>
        </preserve:characteristics>
      </premis:objectCharacteristicsExtension>
    </premis:objectCharacteristics>
    <premis:originalName>a&amp;b &lt;1&gt;%0A100%25.tif</premis:originalName>
    <premis:relationship>
      <premis:relationshipType>structural</premis:relationshipType>
      <premis:relationshipSubType>is included in</premis:relationshipSubType>
      <premis:relatedObjectIdentifier>
        <premis:relatedObjectIdentifierType>UUID</premis:relatedObjectIdentifierType>
        <premis:relatedObjectIdentifierValue>6f1c5b0e-6c1a-4c47-9b7e-7d8b0e0f3a21</premis:relatedObjectIdentifierValue>
      </premis:relatedObjectIdentifier>
    </premis:relationship>
  </premis:object>
  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>local</premis:objectIdentifierType>
      <premis:objectIdentifierValue>data/empty</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:objectCharacteristics>
      <premis:compositionLevel>0</premis:compositionLevel>
      <premis:size>0</premis:size>
      <premis:format>
        <premis:formatDesignation>
          <premis:formatName>UNKNOWN</premis:formatName>
        </premis:formatDesignation>
        <premis:formatNote>no PRONOM match</premis:formatNote>
      </premis:format>
    </premis:objectCharacteristics>
    <premis:originalName>empty</premis:originalName>
    <premis:relationship>
      <premis:relationshipType>structural</premis:relationshipType>
      <premis:relationshipSubType>is included in</premis:relationshipSubType>
      <premis:relatedObjectIdentifier>
        <premis:relatedObjectIdentifierType>UUID</premis:relatedObjectIdentifierType>
        <premis:relatedObjectIdentifierValue>6f1c5b0e-6c1a-4c47-9b7e-7d8b0e0f3a21</premis:relatedObjectIdentifierValue>
      </premis:relatedObjectIdentifier>
    </premis:relationship>
  </premis:object>
  <premis:event>
    <premis:eventIdentifier>
      <premis:eventIdentifierType>UUID</premis:eventIdentifierType>
      <premis:eventIdentifierValue>00000000-0000-4000-8000-000000000001</premis:eventIdentifierValue>
    </premis:eventIdentifier>
    <premis:eventType authority="eventType" authorityURI="http://id.loc.gov/vocabulary/preservation/eventType" valueURI="http://id.loc.gov/vocabulary/preservation/eventType/fix">fixity check</premis:eventType>
    <premis:eventDateTime>2025-03-01T10:00:00Z</premis:eventDateTime>
    <premis:eventDetailInformation>
      <premis:eventDetail>checked \\x07</premis:eventDetail>
    </premis:eventDetailInformation>
    <premis:eventOutcomeInformation>
      <premis:eventOutcome valueURI="http://id.loc.gov/vocabulary/preservation/eventOutcome/war">warning</premis:eventOutcome>
      <premis:eventOutcomeDetail>
        <premis:eventOutcomeDetailNote>a &lt; b</premis:eventOutcomeDetailNote>
      </premis:eventOutcomeDetail>
    </premis:eventOutcomeInformation>
    <premis:linkingAgentIdentifier>
      <premis:linkingAgentIdentifierType>local</premis:linkingAgentIdentifierType>
      <premis:linkingAgentIdentifierValue>preserve/0.1.0</premis:linkingAgentIdentifierValue>
      <premis:linkingAgentRole valueURI="http://id.loc.gov/vocabulary/preservation/eventRelatedAgentRole/exe">executing program</premis:linkingAgentRole>
    </premis:linkingAgentIdentifier>
    <premis:linkingObjectIdentifier>
      <premis:linkingObjectIdentifierType>UUID</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>6f1c5b0e-6c1a-4c47-9b7e-7d8b0e0f3a21</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>
    <premis:linkingObjectIdentifier>
      <premis:linkingObjectIdentifierType>local</premis:linkingObjectIdentifierType>
      <premis:linkingObjectIdentifierValue>data/empty</premis:linkingObjectIdentifierValue>
    </premis:linkingObjectIdentifier>
  </premis:event>
  <premis:agent>
    <premis:agentIdentifier>
      <premis:agentIdentifierType>local</premis:agentIdentifierType>
      <premis:agentIdentifierValue>preserve/0.1.0</premis:agentIdentifierValue>
    </premis:agentIdentifier>
    <premis:agentName>preserve</premis:agentName>
    <premis:agentType valueURI="http://id.loc.gov/vocabulary/preservation/agentType/sof">software</premis:agentType>
    <premis:agentVersion>0.1.0</premis:agentVersion>
  </premis:agent>
  <premis:rights>
    <premis:rightsStatement>
      <premis:rightsStatementIdentifier>
        <premis:rightsStatementIdentifierType>UUID</premis:rightsStatementIdentifierType>
        <premis:rightsStatementIdentifierValue>44f5c268-aafc-5317-ba64-0b5d02bb861a</premis:rightsStatementIdentifierValue>
      </premis:rightsStatementIdentifier>
      <premis:rightsBasis>other</premis:rightsBasis>
      <premis:rightsGranted>
        <premis:act>replicate</premis:act>
        <premis:rightsGrantedNote>n</premis:rightsGrantedNote>
      </premis:rightsGranted>
      <premis:linkingObjectIdentifier>
        <premis:linkingObjectIdentifierType>UUID</premis:linkingObjectIdentifierType>
        <premis:linkingObjectIdentifierValue>6f1c5b0e-6c1a-4c47-9b7e-7d8b0e0f3a21</premis:linkingObjectIdentifierValue>
      </premis:linkingObjectIdentifier>
    </premis:rightsStatement>
  </premis:rights>
</premis:premis>
"""  # noqa: E501


def test_output_is_what_elementtree_wrote() -> None:
    files = [
        FileObject(
            "data/a&b <1>\n100%.tif",
            12,
            {"sha256": "AB" * 4, "crc32": "0f"},
            "fmt/353",
            "TIFF",
            "6.0",
            "image/tiff",
            "siegfried 1.11.9",
            "v120",
            {"width": 3, "ok": False, "icc": None},
        ),
        FileObject("data/empty", 0, {}, "UNKNOWN", "", "", "", "", "", None),
    ]
    happened = EventRecord(
        "00000000-0000-4000-8000-000000000001",
        premis.FIXITY_CHECK,
        datetime(2025, 3, 1, 10, tzinfo=UTC),
        "warning",
        "checked \x07",
        "a < b",
        TOOL,
        (PACKAGE, "data/empty"),
    )
    xml = premis_document(
        PACKAGE,
        files,
        [happened],
        [],
        rights=[RightsRecord("replicate", note="n")],
        package_title="T & T",
    )
    assert xml.decode() == GOLDEN


# -- who did it: the person and the owning organisation ----------------------------------------

JAN = premis.person("jan")
MEEMOO = premis.organisation("meemoo, Vlaams Instituut voor het Archief")
WHO = ((JAN, premis.IMPLEMENTER), (MEEMOO, premis.OWNER))


def test_linked_agents_are_written_with_their_roles() -> None:
    xml = premis_document(PACKAGE, [], [event(1, premis.INGESTION_START, linked_agents=WHO)], [])
    root = ET.fromstring(xml)
    links = root.findall("premis:event/premis:linkingAgentIdentifier", NS)
    assert [
        (
            link.findtext("premis:linkingAgentIdentifierValue", None, NS),
            link.findtext("premis:linkingAgentRole", None, NS),
            link.find("premis:linkingAgentRole", NS).get("valueURI"),  # type: ignore[union-attr]
        )
        for link in links
    ] == [
        (
            "preserve/0.1.0",
            "executing program",
            "http://id.loc.gov/vocabulary/preservation/eventRelatedAgentRole/exe",
        ),
        (
            "person:jan",
            "implementer",
            "http://id.loc.gov/vocabulary/preservation/eventRelatedAgentRole/imp",
        ),
        # "owner" is not in the LoC vocabulary: written without a URI
        ("organization:meemoo, Vlaams Instituut voor het Archief", "owner", None),
    ]
    agents = {
        a.findtext("premis:agentIdentifier/premis:agentIdentifierValue", None, NS): (
            a.findtext("premis:agentName", None, NS),
            a.findtext("premis:agentType", None, NS),
        )
        for a in root.findall("premis:agent", NS)
    }
    assert agents == {
        "organization:meemoo, Vlaams Instituut voor het Archief": (
            "meemoo, Vlaams Instituut voor het Archief",
            "organization",
        ),
        "person:jan": ("jan", "person"),
        "preserve/0.1.0": ("preserve", "software"),
    }


def test_linked_agents_round_trip() -> None:
    events = [event(1, premis.INGESTION_START, linked_agents=WHO), event(2, premis.INGESTION_END)]
    assert parse_events(premis_document(PACKAGE, [], events, [])) == events


def test_a_person_and_an_organisation_of_the_same_name_are_two_agents() -> None:
    same = ((premis.person("meemoo"), premis.IMPLEMENTER), (premis.organisation("meemoo"), "owner"))
    xml = premis_document(PACKAGE, [], [event(1, premis.INGESTION_START, linked_agents=same)], [])
    ids = [
        a.findtext("premis:agentIdentifier/premis:agentIdentifierValue", None, NS)
        for a in ET.fromstring(xml).findall("premis:agent", NS)
    ]
    assert ids == ["organization:meemoo", "person:meemoo", "preserve/0.1.0"]
