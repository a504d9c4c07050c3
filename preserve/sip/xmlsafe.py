"""XML of a delivery, parsed safely: no entity is expanded, no external entity or DTD fetched.

A producer's METS, PREMIS and descriptive files are untrusted input. ``defusedxml`` refuses
entity declarations (the "billion laughs" expansion bomb, external entities reading local files
or URLs) and external references; ElementTree itself never fetches a DTD or a schema. Every
failure becomes one :class:`~preserve.values.Problem` naming the file.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import parse as _defused_parse

from preserve.values import Problem

XML_NS = "http://www.w3.org/XML/1998/namespace"
XML_LANG = f"{{{XML_NS}}}lang"

#: the Problem codes of XML that cannot be read
NOT_WELL_FORMED = "xml-not-well-formed"
FORBIDDEN = "xml-forbidden"
UNREADABLE = "xml-unreadable"


class XmlProblem(Exception):
    """An XML file that cannot be used; ``problem`` says why, naming the file."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(str(problem))
        self.problem = problem


def parse(path: Path, shown: str) -> ET.Element:
    """The root element of the XML file at ``path`` (``shown`` names it in problems)."""
    try:
        tree = _defused_parse(str(path), forbid_dtd=False, forbid_entities=True)
    except DefusedXmlException as exc:
        raise XmlProblem(
            Problem(
                FORBIDDEN,
                shown,
                f"XML with entity declarations or external references ({type(exc).__name__}): "
                "refused, never expanded or fetched (an XML bomb or external entity)",
            )
        ) from None
    except ET.ParseError as exc:
        raise XmlProblem(Problem(NOT_WELL_FORMED, shown, f"not well-formed XML ({exc})")) from None
    except OSError as exc:
        raise XmlProblem(
            Problem(UNREADABLE, shown, f"cannot read ({exc.strerror or exc})")
        ) from None
    return tree.getroot()


def namespace(tag: str) -> str:
    """``http://www.loc.gov/METS/`` of ``{http://www.loc.gov/METS/}mets``; "" without one."""
    return tag[1 : tag.index("}")] if tag.startswith("{") else ""


def local(tag: str) -> str:
    """``mets`` of ``{http://www.loc.gov/METS/}mets``."""
    return tag[tag.index("}") + 1 :] if tag.startswith("{") else tag


def text_of(element: ET.Element) -> str:
    """The element's text with its descendants', whitespace folded to single spaces."""
    return " ".join("".join(element.itertext()).split())
