"""preserve.sip.detect: what a delivery root is, with its profile and version."""

from __future__ import annotations

from pathlib import Path

import pytest

from preserve.sip import detect, validate_sip
from tests import sipbuilder as b


def test_meemoo_2_basic_is_recognised_with_its_profile(tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path)
    found = detect(root)
    assert (found.kind, found.family, found.version) == ("meemoo-sip", "meemoo SIP", "2.1")
    assert found.profile == "meemoo SIP 2.1 https://data.hetarchief.be/id/sip/2.1/basic"
    assert found.mets is not None and found.mets.objid == root.name


def test_meemoo_profile_in_profile_attribute_also_counts(tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path, profile=b.MEEMOO_21_BASIC, other_content_type="")
    assert detect(root).profile.startswith("meemoo SIP 2.1 ")


def test_meemoo_1_bag_payload_is_recognised(tmp_path: Path) -> None:
    bag = b.meemoo_1(tmp_path)
    found = detect(bag / "data", bag=True)
    assert (found.kind, found.version, found.mets_name) == ("meemoo-sip", "1.0", "mets.xml")
    assert found.shown_prefix == "data/"


def test_meemoo_1_layout_without_profile_uri_is_still_a_1x_sip(tmp_path: Path) -> None:
    bag = b.meemoo_1(tmp_path, content_type="OTHER")
    found = detect(bag / "data", bag=True)
    assert (found.kind, found.version) == ("meemoo-sip", "1.x")


def test_eark_sip_with_versioned_profile(tmp_path: Path) -> None:
    found = detect(b.eark_csip(tmp_path))
    assert (found.kind, found.family, found.version) == ("eark-sip", "E-ARK SIP", "2.1.0")
    assert found.uri == b.EARK_SIP_210


def test_eark_csip_profile_without_version(tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path, profile="https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml")
    found = detect(root)
    assert (found.family, found.version) == ("E-ARK CSIP", "")
    assert found.profile == "E-ARK CSIP https://earkcsip.dilcis.eu/profile/E-ARK-CSIP.xml"


def test_plain_folder_is_no_sip(tmp_path: Path) -> None:
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "a.tif").write_bytes(b"x")
    found = detect(tmp_path / "photos")
    assert not found.is_sip and not found.problems and not found.warnings


def test_mets_without_profile_is_a_plain_folder_with_a_warning(tmp_path: Path) -> None:
    folder = tmp_path / "digitised"
    folder.mkdir()
    (folder / "METS.xml").write_text(
        '<mets xmlns="http://www.loc.gov/METS/" OBJID="x"/>', encoding="utf-8"
    )
    found = detect(folder)
    assert not found.is_sip
    assert [w.code for w in found.warnings] == ["no-sip-profile"]


def test_sip_layout_without_mets_is_a_broken_sip(tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path)
    (root / "METS.xml").unlink()
    found = detect(root)
    assert found.kind == "eark-sip"
    assert [(p.code, p.path) for p in found.problems] == [("CSIPSTR4", "METS.xml")]


def test_mets_not_well_formed_is_a_problem_naming_the_file(tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path)
    (root / "METS.xml").write_text("<mets><fileSec></mets>", encoding="utf-8")
    (problem,) = detect(root).problems
    assert (problem.code, problem.path) == ("xml-not-well-formed", "METS.xml")
    assert "mismatched tag" in problem.message


def _break_mets(root: Path, how: str) -> None:
    mets = root / "METS.xml" if (root / "METS.xml").exists() else root / "mets.xml"
    if how == "missing":
        mets.unlink()
    elif how == "not well-formed":
        mets.write_text("<mets><fileSec></mets>", encoding="utf-8")
    else:
        mets.write_text(b.EXTERNAL_ENTITY, encoding="utf-8")


BROKEN_METS = ["missing", "not well-formed", "external entity"]


@pytest.mark.parametrize("how", BROKEN_METS)
def test_a_broken_mets_leaves_the_kind_to_the_layout(tmp_path: Path, how: str) -> None:
    """A METS file that cannot be read tells nothing: an E-ARK SIP is then only a "SIP", a
    meemoo SIP 2.x is recognised by its dc+schema.xml and a meemoo 1.x bag by its folders;
    none is called an E-ARK SIP."""
    eark = b.eark_csip(tmp_path / "e")
    _break_mets(eark, how)
    found = detect(eark)
    assert (found.family, found.version, found.profile) == ("SIP", "", "SIP")
    assert str(validate_sip(eark).refuse("csip")).startswith("csip: invalid SIP (1 problem): ")

    meemoo = b.meemoo_2(tmp_path / "m")
    _break_mets(meemoo, how)
    found = detect(meemoo)
    assert (found.kind, found.family, found.profile) == ("meemoo-sip", "meemoo SIP", "meemoo SIP")
    assert str(validate_sip(meemoo).refuse("m")).startswith("m: invalid meemoo SIP (1 problem)")

    bag = b.meemoo_1(tmp_path / "b")
    _break_mets(bag / "data", how)
    found = detect(bag / "data", bag=True)
    assert (found.kind, found.profile) == ("meemoo-sip", "meemoo SIP 1.x")
    (problem,) = found.problems
    assert problem.path == "data/mets.xml"
