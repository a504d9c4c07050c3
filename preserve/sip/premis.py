"""The producer's PREMIS: fixity values of its file objects (PREMIS 3, and 2.x alike).

A file object's ``objectCharacteristics/fixity`` (``messageDigestAlgorithm``, ``messageDigest``)
names its file by ``originalName`` (meemoo: the file's name in the representation's ``data/``)
or ``storage/contentLocation/contentLocationValue`` (a path). Our own PREMIS is written by
:mod:`preserve.premis`; this module only reads what a producer delivered.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass

from preserve.sip.xmlsafe import local, namespace, text_of

PREMIS_NAMESPACES = ("http://www.loc.gov/premis/v3", "info:lc/xmlns/premis-v2")


@dataclass(frozen=True)
class Fixity:
    """One fixity value a PREMIS file gives for a file."""

    premis: str  # the PREMIS file, relative to the SIP root
    original_name: str
    content_location: str
    algorithm: str  # as written ("MD5", "SHA-256" ...)
    digest: str  # lower case


def is_premis(root: ET.Element) -> bool:
    return namespace(root.tag) in PREMIS_NAMESPACES and local(root.tag) in ("premis", "object")


def fixities(root: ET.Element, rel: str) -> list[Fixity]:
    """Every fixity value of the file objects under ``root`` (the PREMIS file ``rel``)."""
    ns = namespace(root.tag)
    p = f"{{{ns}}}"
    objects = [root] if local(root.tag) == "object" else list(root.iter(f"{p}object"))
    found: list[Fixity] = []
    for obj in objects:
        name = obj.find(f"{p}originalName")
        location = obj.find(f"{p}storage/{p}contentLocation/{p}contentLocationValue")
        for fixity in obj.iterfind(f"{p}objectCharacteristics/{p}fixity"):
            algorithm = fixity.find(f"{p}messageDigestAlgorithm")
            digest = fixity.find(f"{p}messageDigest")
            if algorithm is None or digest is None:
                continue
            found.append(
                Fixity(
                    premis=rel,
                    original_name=text_of(name) if name is not None else "",
                    content_location=text_of(location) if location is not None else "",
                    algorithm=text_of(algorithm),
                    digest=text_of(digest).lower(),
                )
            )
    return found
