"""SIPs built as the published specifications lay them out, valid and broken, for the tests.

- :func:`meemoo_2` — meemoo SIP 2.1 ``basic`` (E-ARK CSIP based): ``uuid-.../METS.xml`` with
  ``@csip:OTHERCONTENTINFORMATIONTYPE="https://data.hetarchief.be/id/sip/2.1/basic"``,
  ``metadata/descriptive/dc+schema.xml`` (dcterms with ``xml:lang``),
  ``metadata/preservation/premis.xml``, ``representations/representation_1/{METS.xml, data/,
  metadata/preservation/premis.xml}``; MD5 checksums and sizes in every fileSec and mdRef.
- :func:`meemoo_1` — meemoo SIP 1.x: a BagIt bag (``manifest-md5.txt``) whose payload holds
  ``mets.xml`` (lower case), ``metadata/descriptive/dc.xml``, ``metadata/preservation/
  premis.xml`` and ``representations/representation_1/{mets.xml, data/, metadata/...}``;
  ``@csip:CONTENTINFORMATIONTYPE="https://data.hetarchief.be/id/sip/1.0/basic"`` (1.0), or a
  1.1 newspaper with MODS (:func:`meemoo_newspaper`).
- :func:`eark_csip` — an E-ARK SIP 2.1.0 (``@PROFILE=https://earksip.dilcis.eu/profile/
  E-ARK-SIP-v2-1-0.xml``) with two representations and SHA-256 checksums.

Each builder returns the SIP's root folder; :func:`zip_of` and :func:`tar_of` pack one.
"""

from __future__ import annotations

import hashlib
import tarfile
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

MEEMOO_21_BASIC = "https://data.hetarchief.be/id/sip/2.1/basic"
MEEMOO_10_BASIC = "https://data.hetarchief.be/id/sip/1.0/basic"
MEEMOO_11_NEWSPAPER = "https://data.hetarchief.be/id/sip/1.1/newspaper"
EARK_SIP_210 = "https://earksip.dilcis.eu/profile/E-ARK-SIP-v2-1-0.xml"
EARK_SIP = "https://earksip.dilcis.eu/profile/E-ARK-SIP.xml"

_NS = (
    'xmlns="http://www.loc.gov/METS/" '
    'xmlns:csip="https://DILCIS.eu/XML/METS/CSIPExtensionMETS" '
    'xmlns:sip="https://DILCIS.eu/XML/METS/SIPExtensionMETS" '
    'xmlns:xlink="http://www.w3.org/1999/xlink" '
    'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
)


def _id() -> str:
    return f"uuid-{uuid.uuid4()}"


@dataclass
class Ref:
    """A file a METS lists: its href (relative to the METS file) and what is said of it."""

    href: str
    path: Path
    checksum_type: str = "MD5"
    #: overrides of what the METS says (a wrong checksum or size)
    checksum: str | None = None
    size: int | None = None
    mimetype: str = "application/octet-stream"

    def attributes(self) -> str:
        data = self.path.read_bytes() if self.path.is_file() else b""
        alg = self.checksum_type.replace("-", "").lower()
        checksum = self.checksum or hashlib.new(alg, data).hexdigest()
        size = len(data) if self.size is None else self.size
        return (
            f'MIMETYPE="{self.mimetype}" SIZE="{size}" CREATED="2024-05-02T10:01:15+02:00" '
            f'CHECKSUM="{checksum}" CHECKSUMTYPE="{self.checksum_type}"'
        )


@dataclass
class MetsDoc:
    """A METS file: root attributes, dmdSec/amdSec references, file groups, mptr pointers."""

    objid: str
    content_type: str = ""  # @csip:CONTENTINFORMATIONTYPE
    other_content_type: str = ""  # @csip:OTHERCONTENTINFORMATIONTYPE
    profile: str = EARK_SIP
    type: str = "Photographs – Digital"
    descriptive: list[tuple[Ref, str]] = field(default_factory=list)  # (ref, MDTYPE)
    preservation: list[Ref] = field(default_factory=list)
    groups: list[tuple[str, list[Ref]]] = field(default_factory=list)  # (USE, files)
    pointers: list[tuple[str, str]] = field(default_factory=list)  # (LABEL, href)
    package: bool = True

    def xml(self) -> str:
        attrs = [f'OBJID="{self.objid}"', f"TYPE={quoteattr(self.type)}"]
        if self.profile:
            attrs.append(f'PROFILE="{self.profile}"')
        if self.content_type:
            attrs.append(f'csip:CONTENTINFORMATIONTYPE="{self.content_type}"')
        if self.other_content_type:
            attrs.append(f'csip:OTHERCONTENTINFORMATIONTYPE="{self.other_content_type}"')
        out = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            f"<mets {_NS} {' '.join(attrs)}>",
            '  <metsHdr CREATEDATE="2024-05-02T10:01:15+02:00" csip:OAISPACKAGETYPE="SIP">',
            '    <agent ROLE="CREATOR" TYPE="OTHER" OTHERTYPE="SOFTWARE">',
            "      <name>preserve test SIP builder</name>",
            '      <note csip:NOTETYPE="SOFTWARE VERSION">1.0</note>',
            "    </agent>",
            "  </metsHdr>",
        ]
        dmd_ids, amd_ids = [], []
        for ref, mdtype in self.descriptive:
            dmd = _id()
            dmd_ids.append(dmd)
            out += [
                f'  <dmdSec ID="{dmd}">',
                f'    <mdRef LOCTYPE="URL" MDTYPE="{mdtype}" xlink:type="simple" '
                f"xlink:href={quoteattr(ref.href)} {ref.attributes()}/>",
                "  </dmdSec>",
            ]
        if self.preservation:
            out.append("  <amdSec>")
            for ref in self.preservation:
                amd = _id()
                amd_ids.append(amd)
                out += [
                    f'    <digiprovMD ID="{amd}">',
                    f'      <mdRef LOCTYPE="URL" MDTYPE="PREMIS" xlink:type="simple" '
                    f"xlink:href={quoteattr(ref.href)} {ref.attributes()}/>",
                    "    </digiprovMD>",
                ]
            out.append("  </amdSec>")
        out.append(f'  <fileSec ID="{_id()}">')
        for use, refs in self.groups:
            out.append(f'    <fileGrp USE="{use}" ID="{_id()}">')
            for ref in refs:
                out += [
                    f'      <file ID="{_id()}" {ref.attributes()}>',
                    f'        <FLocat LOCTYPE="URL" xlink:type="simple" '
                    f"xlink:href={quoteattr(ref.href)}/>",
                    "      </file>",
                ]
            out.append("    </fileGrp>")
        out.append("  </fileSec>")
        out += [
            f'  <structMap ID="{_id()}" TYPE="PHYSICAL" LABEL="CSIP">',
            f'    <div ID="{_id()}" LABEL="{self.objid}">',
            f'      <div ID="{_id()}" LABEL="Metadata" DMDID="{" ".join(dmd_ids)}" '
            f'ADMID="{" ".join(amd_ids)}"/>',
        ]
        for label, href in self.pointers:
            out += [
                f'      <div ID="{_id()}" LABEL="{label}">',
                f'        <mptr xlink:type="simple" xlink:href={quoteattr(href)} LOCTYPE="URL"/>',
                "      </div>",
            ]
        out += ["    </div>", "  </structMap>", "</mets>", ""]
        return "\n".join(out)


def dc_schema(titles: Iterable[tuple[str, str]], *, profile: str = MEEMOO_21_BASIC) -> str:
    """meemoo's dc+schema.xml: dcterms elements (titles with their xml:lang) in <metadata>."""
    lines = [
        "<?xml version='1.0' encoding='UTF-8'?>",
        f'<metadata xmlns="{profile}" xmlns:dcterms="http://purl.org/dc/terms/" '
        'xmlns:schema="https://schema.org/" xmlns:edtf="http://id.loc.gov/datatypes/edtf/" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">',
    ]
    for title, lang in titles:
        lines.append(f'  <dcterms:title xml:lang="{lang}">{escape(title)}</dcterms:title>')
    lines += [
        '  <dcterms:description xml:lang="nl">Glasplaatnegatieven van de haven.'
        "</dcterms:description>",
        '  <dcterms:description xml:lang="en">Glass plate negatives of the harbour.'
        "</dcterms:description>",
        '  <dcterms:created xsi:type="edtf:EDTF-level1">1923-XX-XX</dcterms:created>',
        "  <dcterms:language>nl</dcterms:language>",
        '  <dcterms:subject xml:lang="nl">haven</dcterms:subject>',
        "  <dcterms:identifier>FM-1923-001</dcterms:identifier>",
        "  <dcterms:rights>CC BY 4.0</dcterms:rights>",
        "  <schema:creator><schema:name>Jan Peeters</schema:name></schema:creator>",
        "</metadata>",
        "",
    ]
    return "\n".join(lines)


def oai_dc(title: str) -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<oai_dc:dc xmlns:oai_dc="http://www.openarchives.org/OAI/2.0/oai_dc/" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/">\n'
        f"  <dc:title>{escape(title)}</dc:title>\n"
        "  <dc:creator>Stadsarchief</dc:creator>\n"
        "  <dc:date>1951</dc:date>\n"
        "</oai_dc:dc>\n"
    )


def mods_newspaper() -> str:
    return """<?xml version='1.0' encoding='UTF-8'?>
<mods xmlns="http://www.loc.gov/mods/v3" version="3.7">
  <titleInfo type="alternative"><title>Het Volk (Gent)</title></titleInfo>
  <titleInfo lang="dut">
    <nonSort>Het</nonSort><title>Volk</title>
    <subTitle>dagblad voor de arbeidersklasse</subTitle>
  </titleInfo>
  <name type="corporate">
    <namePart>Het Volk NV</namePart>
    <role><roleTerm type="text">publisher</roleTerm></role>
  </name>
  <name type="personal">
    <namePart type="family">Verhaeghe</namePart><namePart type="given">Pieter</namePart>
    <role><roleTerm type="code" authority="marcrelator">aut</roleTerm></role>
  </name>
  <originInfo>
    <publisher>Het Volk</publisher><dateIssued encoding="w3cdtf">1914-08-04</dateIssued>
  </originInfo>
  <language><languageTerm type="code" authority="iso639-2b">dut</languageTerm></language>
  <subject><topic>Eerste Wereldoorlog</topic><geographic>Gent</geographic></subject>
  <identifier type="local">HETVOLK-19140804</identifier>
  <relatedItem type="host"><titleInfo><title>Het Volk</title></titleInfo></relatedItem>
</mods>
"""


EAD = """<?xml version='1.0' encoding='UTF-8'?>
<ead xmlns="urn:isbn:1-931666-22-9"><eadheader><eadid>X</eadid></eadheader></ead>
"""

BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
]>
<mets xmlns="http://www.loc.gov/METS/" PROFILE="https://earksip.dilcis.eu/profile/E-ARK-SIP.xml">&lol4;</mets>
"""

EXTERNAL_ENTITY = """<?xml version="1.0"?>
<!DOCTYPE mets [ <!ENTITY secret SYSTEM "file:///etc/passwd"> ]>
<mets xmlns="http://www.loc.gov/METS/" OBJID="&secret;"/>
"""


def _premis_file(name: str, data: bytes, algorithm: str = "MD5", digest: str | None = None) -> str:
    value = digest or hashlib.new(algorithm.replace("-", "").lower(), data).hexdigest()
    return f"""  <premis:object xsi:type="premis:file">
    <premis:objectIdentifier>
      <premis:objectIdentifierType>UUID</premis:objectIdentifierType>
      <premis:objectIdentifierValue>{uuid.uuid4()}</premis:objectIdentifierValue>
    </premis:objectIdentifier>
    <premis:objectCharacteristics>
      <premis:compositionLevel>0</premis:compositionLevel>
      <premis:fixity>
        <premis:messageDigestAlgorithm>{algorithm}</premis:messageDigestAlgorithm>
        <premis:messageDigest>{value}</premis:messageDigest>
      </premis:fixity>
      <premis:size>{len(data)}</premis:size>
    </premis:objectCharacteristics>
    <premis:originalName>{escape(name)}</premis:originalName>
  </premis:object>
"""


def premis(objects: str = "") -> str:
    return (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        '<premis:premis xmlns:premis="http://www.loc.gov/premis/v3" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" version="3.0">\n'
        '  <premis:object xsi:type="premis:intellectualEntity">\n'
        "    <premis:objectIdentifier><premis:objectIdentifierType>UUID"
        f"</premis:objectIdentifierType><premis:objectIdentifierValue>{uuid.uuid4()}"
        "</premis:objectIdentifierValue></premis:objectIdentifier>\n"
        "  </premis:object>\n"
        f"{objects}</premis:premis>\n"
    )


def _write(path: Path, data: str | bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        path.write_text(data, encoding="utf-8")
    else:
        path.write_bytes(data)
    return path


@dataclass
class Representation:
    name: str
    files: dict[str, bytes]  # name in data/ -> bytes


def _representation(
    root: Path,
    rep: Representation,
    *,
    mets_name: str,
    checksum_type: str,
    objid: str,
    premis_digest: dict[str, str] | None = None,
) -> Ref:
    """Write a representation (data files, PREMIS with their fixity, its METS); the Ref of
    its METS for the package METS."""
    folder = root / "representations" / rep.name
    objects = ""
    refs = []
    for name, data in rep.files.items():
        path = _write(folder / "data" / name, data)
        refs.append(Ref(f"./data/{name}", path, checksum_type))
        digest = (premis_digest or {}).get(name)
        objects += _premis_file(name, data, checksum_type, digest)
    premis_path = _write(folder / "metadata" / "preservation" / "premis.xml", premis(objects))
    mets = MetsDoc(
        objid=f"{objid}-{rep.name}",
        profile="",
        preservation=[Ref("./metadata/preservation/premis.xml", premis_path, checksum_type)],
        groups=[("Data", refs)],
        package=False,
    )
    mets_path = _write(folder / mets_name, mets.xml())
    return Ref(f"./representations/{rep.name}/{mets_name}", mets_path, checksum_type)


def build(
    root: Path,
    *,
    mets_name: str = "METS.xml",
    profile: str = EARK_SIP,
    content_type: str = "OTHER",
    other_content_type: str = "",
    descriptive: dict[str, str] | None = None,
    representations: Iterable[Representation] = (),
    checksum_type: str = "MD5",
    premis_digest: dict[str, str] | None = None,
    extra_refs: Iterable[Ref] = (),
) -> Path:
    """A CSIP-shaped package at ``root``: METS, metadata/{descriptive,preservation},
    representations; every file listed with its checksum and size."""
    objid = root.name
    root.mkdir(parents=True, exist_ok=True)
    dmd = []
    for name, text in (descriptive or {}).items():
        path = _write(root / "metadata" / "descriptive" / name, text)
        mdtype = "MODS" if "mods" in name else "DC" if "dc" in name else "OTHER"
        dmd.append((Ref(f"./metadata/descriptive/{name}", path, checksum_type), mdtype))
    premis_path = _write(root / "metadata" / "preservation" / "premis.xml", premis())
    rep_refs = []
    pointers = []
    for rep in representations:
        ref = _representation(
            root,
            rep,
            mets_name=mets_name,
            checksum_type=checksum_type,
            objid=objid,
            premis_digest=premis_digest,
        )
        rep_refs.append((f"Representations/{rep.name}", [ref]))
        pointers.append((f"Representations/{rep.name}", ref.href))
    mets = MetsDoc(
        objid=objid,
        content_type=content_type,
        other_content_type=other_content_type,
        profile=profile,
        descriptive=dmd,
        preservation=[Ref("./metadata/preservation/premis.xml", premis_path, checksum_type)],
        groups=[*rep_refs, *([("Other", list(extra_refs))] if extra_refs else [])],
        pointers=pointers,
    )
    _write(root / mets_name, mets.xml())
    return root


#: a small TIFF-like master and a JPEG-like access copy (identification is not the point)
MASTER = b"II*\x00" + bytes(range(256)) * 4
ACCESS = b"\xff\xd8\xff\xe0" + b"JFIF" + bytes(300)


def meemoo_2(parent: Path, name: str | None = None, **changes: object) -> Path:
    """A meemoo SIP 2.1 basic: one representation, a bilingual dc+schema.xml."""
    root = parent / (name or f"uuid-{uuid.uuid4()}")
    options: dict[str, object] = {
        "profile": EARK_SIP,
        "other_content_type": MEEMOO_21_BASIC,
        "descriptive": {
            "dc+schema.xml": dc_schema(
                [("Harbour of Antwerp", "en"), ("Haven van Antwerpen", "nl")]
            )
        },
        "representations": [Representation("representation_1", {"harbour.tif": MASTER})],
    }
    options.update(changes)
    return build(root, **options)  # type: ignore[arg-type]


def eark_csip(parent: Path, name: str = "csip-1951", **changes: object) -> Path:
    """An E-ARK SIP 2.1.0 with two representations (a master and an access copy), SHA-256."""
    options: dict[str, object] = {
        "profile": EARK_SIP_210,
        "content_type": "MIXED",
        "checksum_type": "SHA-256",
        "descriptive": {"dc.xml": oai_dc("Town council minutes 1951")},
        "representations": [
            Representation("rep-master", {"minutes.tif": MASTER}),
            Representation("rep-access", {"minutes.jpg": ACCESS}),
        ],
    }
    options.update(changes)
    return build(parent / name, **options)  # type: ignore[arg-type]


def bag_of(folder: Path, bag: Path) -> Path:
    """``folder``'s content as the payload of a BagIt 1.0 bag with an MD5 manifest (what the
    meemoo SIP 1.x bag level requires)."""
    data = bag / "data"
    data.parent.mkdir(parents=True, exist_ok=True)
    folder.rename(data)
    lines = []
    total = 0
    count = 0
    for path in sorted(p for p in data.rglob("*") if p.is_file()):
        content = path.read_bytes()
        total += len(content)
        count += 1
        lines.append(f"{hashlib.md5(content).hexdigest()}  {path.relative_to(bag).as_posix()}")
    _write(bag / "bagit.txt", "BagIt-Version: 1.0\nTag-File-Character-Encoding: UTF-8\n")
    _write(bag / "manifest-md5.txt", "\n".join(lines) + "\n")
    _write(bag / "bag-info.txt", f"Payload-Oxum: {total}.{count}\nBagging-Date: 2024-05-02\n")
    return bag


def meemoo_1(parent: Path, name: str = "meemoo-1-delivery", **changes: object) -> Path:
    """A meemoo SIP 1.0 basic: a bag whose payload is the package (mets.xml, lower case)."""
    folder = parent / f"{name}.payload"
    options: dict[str, object] = {
        "mets_name": "mets.xml",
        "content_type": MEEMOO_10_BASIC,
        "descriptive": {"dc.xml": dc_schema([("Kermis in Brugge", "nl")], profile=MEEMOO_10_BASIC)},
        "representations": [Representation("representation_1", {"kermis.tif": MASTER})],
    }
    options.update(changes)
    build(folder, **options)  # type: ignore[arg-type]
    return bag_of(folder, parent / name)


def meemoo_newspaper(parent: Path, name: str = "het-volk-1914-08-04") -> Path:
    """A meemoo SIP 1.1 newspaper bag described in MODS (and a short dc.xml beside it)."""
    return meemoo_1(
        parent,
        name,
        content_type="OTHER",
        other_content_type=MEEMOO_11_NEWSPAPER,
        descriptive={
            "mods.xml": mods_newspaper(),
            "dc.xml": oai_dc("Het Volk 4 augustus 1914 (dc)"),
        },
        representations=[
            Representation("representation_1", {"page-1.tif": MASTER, "page-1.xml": b"<alto/>"})
        ],
    )


def zip_of(folder: Path, target: Path) -> Path:
    """A zip holding ``folder`` as its single top folder."""
    with zipfile.ZipFile(target, "w") as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, f"{folder.name}/{path.relative_to(folder).as_posix()}")
    return target


def tar_of(folder: Path, target: Path) -> Path:
    """A tar holding ``folder`` as its single top folder."""
    with tarfile.open(target, "w") as t:
        t.add(folder, arcname=folder.name)
    return target
