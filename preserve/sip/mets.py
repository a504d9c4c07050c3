"""METS files of a SIP (METS 1.12 as E-ARK CSIP 2.x and the meemoo SIP use it).

What is read: the root ``<mets>`` attributes (``@OBJID``, ``@TYPE``, ``@PROFILE``,
``@csip:CONTENTINFORMATIONTYPE``, ``@csip:OTHERCONTENTINFORMATIONTYPE``, ``@LABEL``) and
``metsHdr/@csip:OAISPACKAGETYPE`` and ``metsHdr/altRecordID[@TYPE="SUBMISSIONAGREEMENT"]`` (the
agreement a meemoo SIP is delivered under); every file reference with what it promises: ``fileSec``
``file/FLocat/@xlink:href`` (CSIP79) with ``@SIZE`` (CSIP69), ``@CHECKSUM`` (CSIP71) and
``@CHECKSUMTYPE`` (CSIP72), ``dmdSec``/``amdSec`` ``mdRef/@xlink:href`` (CSIP24) with the same
attributes, and ``structMap`` ``mptr/@xlink:href`` (CSIP110), the representation METS files.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from preserve.sip.xmlsafe import local, namespace, parse

METS_NS = "http://www.loc.gov/METS/"
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

#: what kind of reference a :class:`FileRef` is, and the CSIP rule that requires its href
FILE, DESCRIPTIVE, ADMINISTRATIVE, POINTER = "file", "dmdSec", "amdSec", "mptr"
HREF_RULE = {FILE: "CSIP79", DESCRIPTIVE: "CSIP24", ADMINISTRATIVE: "CSIP24", POINTER: "CSIP110"}


@dataclass(frozen=True)
class FileRef:
    """One file a METS file references, with what it says of the file."""

    kind: str  # FILE, DESCRIPTIVE, ADMINISTRATIVE or POINTER
    href: str  # as written
    path: str  # resolved against the METS file's folder, relative to the SIP root; "" if unsafe
    size: int | None  # @SIZE, None when absent or not a number
    size_text: str  # @SIZE as written ("" when absent)
    checksum: str  # @CHECKSUM, lower case ("" when absent)
    checksum_type: str  # @CHECKSUMTYPE as written ("" when absent)
    use: str = ""  # fileGrp/@USE, mdRef/@MDTYPE
    unsafe: str = ""  # why the href cannot be followed ("" when it can)


@dataclass(frozen=True)
class Mets:
    """A METS file read: its root attributes and the files it references."""

    path: str  # relative to the SIP root
    objid: str
    type: str
    label: str
    profile: str
    content_information_type: str
    other_content_information_type: str
    oais_package_type: str
    references: tuple[FileRef, ...]
    #: ``metsHdr/altRecordID[@TYPE="SUBMISSIONAGREEMENT"]`` ("" when absent)
    submission_agreement: str = ""

    @property
    def files(self) -> tuple[FileRef, ...]:
        return tuple(r for r in self.references if r.kind == FILE)

    @property
    def pointers(self) -> tuple[FileRef, ...]:
        return tuple(r for r in self.references if r.kind == POINTER)

    @property
    def descriptive(self) -> tuple[FileRef, ...]:
        return tuple(r for r in self.references if r.kind == DESCRIPTIVE)


def is_mets(root: ET.Element) -> bool:
    return root.tag == f"{{{METS_NS}}}mets"


def _csip_attribute(element: ET.Element, name: str) -> str:
    """An attribute of the CSIP extension namespace, whatever the case of its URI (the
    specifications write both ``https://DILCIS.eu/...`` and ``https://dilcis.eu/...``)."""
    for key, value in element.attrib.items():
        if local(key) == name and namespace(key).lower().endswith("csipextensionmets"):
            return value.strip()
    return ""


_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


def resolve_href(href: str, mets_path: str) -> tuple[str, str]:
    """(path relative to the SIP root, "") for a relative URL in the METS file at
    ``mets_path``; ("", why) for one that leaves the SIP or is not a relative file URL."""
    raw = href.strip()
    if raw.lower().startswith("file://"):
        raw = raw[len("file://") :]
        if raw.startswith("/"):  # file:///x is absolute; CSIP wants relative locations
            return "", "an absolute file URL, not a location inside the package"
    elif raw.lower().startswith("file:"):
        raw = raw[len("file:") :]
    elif _SCHEME.match(raw):
        return "", "a URL outside the package"
    if not raw:
        return "", "empty"
    if "\\" in raw:
        return "", "a backslash in the path (use /)"
    decoded = unquote(raw)
    if decoded.startswith("/"):
        return "", "an absolute path"
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(mets_path), decoded))
    if joined == ".." or joined.startswith("../"):
        return "", "a path that leaves the package"
    return joined, ""


def _size(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _ref(kind: str, element: ET.Element, href: str, mets_path: str, use: str) -> FileRef:
    path, unsafe = resolve_href(href, mets_path) if href.strip() else ("", "")
    size_text = element.get("SIZE", "").strip()
    return FileRef(
        kind=kind,
        href=href,
        path=path,
        size=_size(size_text),
        size_text=size_text,
        checksum=element.get("CHECKSUM", "").strip().lower(),
        checksum_type=element.get("CHECKSUMTYPE", "").strip(),
        use=use,
        unsafe=unsafe,
    )


def read_mets(file: Path, rel: str) -> Mets:
    """The METS file at ``file`` (``rel``: its path relative to the SIP root). Raises
    :class:`~preserve.sip.xmlsafe.XmlProblem` for XML that cannot be read; the caller checks
    :func:`is_mets` through :attr:`Mets.profile` and friends."""
    return mets_from(parse(file, rel), rel)


def mets_from(root: ET.Element, rel: str) -> Mets:
    """A :class:`Mets` of the parsed document ``root``."""
    m = f"{{{METS_NS}}}"
    refs: list[FileRef] = []
    for section, kind in (("dmdSec", DESCRIPTIVE), ("amdSec", ADMINISTRATIVE)):
        for sec in root.iter(f"{m}{section}"):
            for md in sec.iter(f"{m}mdRef"):
                refs.append(_ref(kind, md, md.get(XLINK_HREF, ""), rel, md.get("MDTYPE", "")))
    for group in root.iter(f"{m}fileGrp"):
        use = group.get("USE", "")
        for f in group.findall(f"{m}file"):
            locations = f.findall(f"{m}FLocat")
            if not locations:
                refs.append(_ref(FILE, f, "", rel, use))
            for loc in locations:
                refs.append(_ref(FILE, f, loc.get(XLINK_HREF, ""), rel, use))
    for struct in root.iter(f"{m}structMap"):
        for pointer in struct.iter(f"{m}mptr"):
            refs.append(_ref(POINTER, pointer, pointer.get(XLINK_HREF, ""), rel, ""))
    header = root.find(f"{m}metsHdr")
    return Mets(
        path=rel,
        objid=root.get("OBJID", "").strip(),
        type=root.get("TYPE", "").strip(),
        label=root.get("LABEL", "").strip(),
        profile=root.get("PROFILE", "").strip(),
        content_information_type=_csip_attribute(root, "CONTENTINFORMATIONTYPE"),
        other_content_information_type=_csip_attribute(root, "OTHERCONTENTINFORMATIONTYPE"),
        oais_package_type=_csip_attribute(header, "OAISPACKAGETYPE") if header is not None else "",
        references=tuple(refs),
        submission_agreement=_submission_agreement(header, m),
    )


def _submission_agreement(header: ET.Element | None, m: str) -> str:
    """The first ``altRecordID`` of the header whose ``@TYPE`` is SUBMISSIONAGREEMENT."""
    if header is None:
        return ""
    for alt in header.findall(f"{m}altRecordID"):
        if (
            alt.get("TYPE", "").strip().upper() == "SUBMISSIONAGREEMENT"
            and (alt.text or "").strip()
        ):
            return (alt.text or "").strip()
    return ""
