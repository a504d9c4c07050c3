"""What a delivery root is: a meemoo SIP (1.x or 2.x), an E-ARK CSIP/SIP, or neither.

- **meemoo SIP 1.x**: a BagIt bag whose payload holds ``mets.xml``, ``metadata/descriptive/``,
  ``metadata/preservation/`` and ``representations/``; the METS declares a content profile
  ``https://data.hetarchief.be/id/sip/1.<n>/<profile>`` in ``@csip:CONTENTINFORMATIONTYPE``
  (1.0) or ``@csip:OTHERCONTENTINFORMATIONTYPE`` (1.1, 1.2).
- **meemoo SIP 2.x**: ``METS.xml`` at the root declaring such a URI with a 2.x version in
  ``@PROFILE``, ``@csip:OTHERCONTENTINFORMATIONTYPE`` or ``@csip:CONTENTINFORMATIONTYPE``.
- **E-ARK CSIP/SIP**: ``METS.xml`` at the root whose ``@PROFILE`` is a DILCIS profile
  (``https://earksip.dilcis.eu/profile/E-ARK-SIP-v2-1-0.xml``,
  ``https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml`` ...) or that carries CSIP attributes.
- A folder with ``metadata/`` and ``representations/`` but no METS file is a SIP that broke
  CSIPSTR4 (refused by :mod:`preserve.sip.checks`); anything else is a plain folder or bag.

When the root METS file is missing, or cannot be read (not well-formed, or refused as unsafe),
it cannot tell the kind, so the delivery is named after what the rest of its layout shows
(:func:`family_from_layout`): a meemoo SIP 1.x (a bag with its folders), a meemoo SIP (its
``metadata/descriptive/dc+schema.xml``), else only a "SIP".
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from preserve.sip.mets import Mets, is_mets, mets_from
from preserve.sip.xmlsafe import XmlProblem, parse
from preserve.values import Problem

MEEMOO_SIP, EARK_SIP = "meemoo-sip", "eark-sip"

_MEEMOO_URI = re.compile(
    r"^https?://data\.hetarchief\.be/id/sip/(\d+(?:\.\d+)*)/([A-Za-z0-9._-]+)/?$"
)
_EARK_URI = re.compile(
    r"^https?://eark(?:c?sip)\.dilcis\.eu/profile/E-ARK-(CSIP|SIP)(?:-v(\d+)-(\d+)-(\d+))?\.xml$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Detected:
    """What a delivery root is. ``root`` is the SIP's own root folder (a bag's ``data/``)."""

    kind: str  # MEEMOO_SIP, EARK_SIP, or "" for neither
    root: Path
    #: "meemoo SIP", "E-ARK SIP" or "E-ARK CSIP"
    family: str = ""
    #: "2.1", "1.2", "2.1.0"; "1.x" for a meemoo 1.x bag that names no version
    version: str = ""
    #: the profile URI the METS declares (meemoo content profile, or the E-ARK profile)
    uri: str = ""
    #: the root METS file's name ("METS.xml", or "mets.xml" in meemoo 1.x), "" when missing
    mets_name: str = ""
    mets: Mets | None = None
    #: in a bag: "data/", so problems name files as the bag holds them
    shown_prefix: str = ""
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def is_sip(self) -> bool:
        return bool(self.kind)

    @property
    def profile(self) -> str:
        """``meemoo SIP 2.1 https://data.hetarchief.be/id/sip/2.1/basic``: family, version
        and URI, as bag-info.txt and the catalogue record it."""
        return " ".join(p for p in (self.family, self.version, self.uri) if p)


def meemoo_profile(mets: Mets) -> tuple[str, str] | None:
    """(version, URI) of the meemoo content profile ``mets`` declares, or None."""
    for value in (
        mets.profile,
        mets.other_content_information_type,
        mets.content_information_type,
    ):
        found = _MEEMOO_URI.match(value)
        if found:
            return found.group(1), value
    return None


def eark_profile(mets: Mets) -> tuple[str, str, str] | None:
    """(family, version, URI) of the DILCIS profile in ``@PROFILE``, or None."""
    found = _EARK_URI.match(mets.profile)
    if not found:
        return None
    family = "E-ARK CSIP" if found.group(1).upper() == "CSIP" else "E-ARK SIP"
    version = ".".join(found.group(i) for i in (2, 3, 4)) if found.group(2) else ""
    return family, version, mets.profile


def _meemoo_1_layout(root: Path) -> bool:
    """The payload of a meemoo SIP 1.x bag: metadata/descriptive, metadata/preservation and
    representations/ beside mets.xml."""
    return all(
        (root / sub).is_dir()
        for sub in ("metadata/descriptive", "metadata/preservation", "representations")
    )


def _looks_like_sip(root: Path) -> bool:
    return (root / "metadata").is_dir() and (root / "representations").is_dir()


#: meemoo's name for the package-level descriptive file of its SIP 2.x (dcterms + schema.org)
_MEEMOO_DESCRIPTIVE = "metadata/descriptive/dc+schema.xml"


def family_from_layout(root: Path, *, bag: bool) -> tuple[str, str, str]:
    """(kind, family, version) of a SIP whose root METS file cannot tell: what its folders
    show. The kind only chooses which structure rules are checked (meemoo's MUSTs for a
    meemoo SIP, CSIP's otherwise); the family is how messages name it."""
    if bag and _meemoo_1_layout(root):
        return MEEMOO_SIP, "meemoo SIP", "1.x"
    if (root / _MEEMOO_DESCRIPTIVE).is_file():
        return MEEMOO_SIP, "meemoo SIP", ""
    return EARK_SIP, "SIP", ""  # CSIP's rules: the common ground of E-ARK and meemoo SIPs


def detect(root: Path, *, bag: bool = False) -> Detected:
    """What the delivery folder ``root`` is (``bag``: it is a bag's ``data/`` folder).

    The root METS file is parsed here (safely) and returned, with the problems that make the
    delivery unusable: XML that cannot be read, a SIP layout without its METS."""
    shown = "data/" if bag else ""
    present = [n for n in ("METS.xml", "mets.xml") if (root / n).is_file()]
    if not present:
        if _looks_like_sip(root):
            kind, family, version = family_from_layout(root, bag=bag)
            wanted = "mets.xml" if version == "1.x" else "METS.xml"
            return Detected(
                kind,
                root,
                family=family,
                version=version,
                shown_prefix=shown,
                problems=[
                    Problem(
                        "CSIPSTR4",
                        f"{shown}{wanted}",
                        "missing: a package with metadata/ and representations/ folders (the "
                        "E-ARK CSIP and meemoo SIP layout) must have its METS file at its root",
                    )
                ],
            )
        return Detected("", root)
    name = present[0]
    try:
        element = parse(root / name, f"{shown}{name}")
    except XmlProblem as exc:
        kind, family, version = family_from_layout(root, bag=bag)
        return Detected(
            kind,
            root,
            family=family,
            version=version,
            mets_name=name,
            shown_prefix=shown,
            problems=[exc.problem],
        )
    if not is_mets(element):
        return Detected(
            "",
            root,
            warnings=[
                Problem(
                    "not-mets",
                    f"{shown}{name}",
                    "not a METS document: the delivery is kept as a plain "
                    + ("bag" if bag else "folder"),
                    "warning",
                )
            ],
        )
    mets = mets_from(element, name)
    meemoo = meemoo_profile(mets)
    if meemoo is not None:
        version, uri = meemoo
        return Detected(
            MEEMOO_SIP, root, "meemoo SIP", version, uri, name, mets, shown_prefix=shown
        )
    if bag and name == "mets.xml" and _meemoo_1_layout(root):  # no content profile declared
        return Detected(MEEMOO_SIP, root, "meemoo SIP", "1.x", "", name, mets, shown_prefix=shown)
    eark = eark_profile(mets)
    if eark is not None:
        family, version, uri = eark
        return Detected(EARK_SIP, root, family, version, uri, name, mets, shown_prefix=shown)
    if mets.content_information_type or mets.oais_package_type:
        return Detected(EARK_SIP, root, "E-ARK CSIP", "", mets.profile, name, mets, shown)
    return Detected(
        "",
        root,
        warnings=[
            Problem(
                "no-sip-profile",
                f"{shown}{name}",
                "declares no E-ARK or meemoo profile: the delivery is kept as a plain "
                + ("bag" if bag else "folder"),
                "warning",
            )
        ],
    )
