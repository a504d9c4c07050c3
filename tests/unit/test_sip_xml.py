"""preserve.sip.xmlsafe: XML bombs and external entities are refused, never expanded."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from preserve.sip.xmlsafe import FORBIDDEN, NOT_WELL_FORMED, UNREADABLE, XmlProblem, parse
from tests import sipbuilder as b


@pytest.mark.parametrize("text", [b.BILLION_LAUGHS, b.EXTERNAL_ENTITY])
def test_entities_are_refused_at_once(tmp_path: Path, text: str) -> None:
    path = tmp_path / "METS.xml"
    path.write_text(text, encoding="utf-8")
    started = time.monotonic()
    with pytest.raises(XmlProblem) as caught:
        parse(path, "METS.xml")
    assert time.monotonic() - started < 5  # refused, not expanded
    problem = caught.value.problem
    assert (problem.code, problem.path) == (FORBIDDEN, "METS.xml")
    assert "refused" in problem.message and "\n" not in str(problem)


def test_not_well_formed_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "premis.xml"
    path.write_text("<a>\n<b></a>", encoding="utf-8")
    with pytest.raises(XmlProblem) as caught:
        parse(path, "metadata/preservation/premis.xml")
    assert caught.value.problem.code == NOT_WELL_FORMED
    assert "line 2" in caught.value.problem.message


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(XmlProblem) as caught:
        parse(tmp_path / "missing.xml", "missing.xml")
    assert caught.value.problem.code == UNREADABLE


def test_a_doctype_without_entities_is_read_and_nothing_is_fetched(tmp_path: Path) -> None:
    path = tmp_path / "METS.xml"
    path.write_text(
        '<!DOCTYPE mets SYSTEM "http://example.invalid/mets.dtd">'
        '<mets xmlns="http://www.loc.gov/METS/" OBJID="a"/>',
        encoding="utf-8",
    )
    assert parse(path, "METS.xml").get("OBJID") == "a"
