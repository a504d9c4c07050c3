"""preserve.sip.checks: structure rules, references, sizes, checksums and PREMIS fixity, every
problem at once, each naming its file and rule."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest

import preserve.sip.checks as checks
from preserve.sip import validate_sip
from tests import sipbuilder as b

REP = "representations/representation_1"


def codes(found: Any) -> list[tuple[str, str]]:
    return sorted((p.code, p.path) for p in found)


def test_valid_meemoo_2_promises_md5_from_mets_and_premis(tmp_path: Path) -> None:
    check = validate_sip(b.meemoo_2(tmp_path))
    assert check.problems == [] and check.warnings == []
    assert check.algorithms == ("md5",)
    promised = {(p.path, p.rule) for p in check.promised}
    assert (f"{REP}/data/harbour.tif", "CSIP71") in promised
    assert (f"{REP}/data/harbour.tif", "premis-fixity") in promised
    assert (f"{REP}/METS.xml", "CSIP71") in promised
    assert ("metadata/descriptive/dc+schema.xml", "CSIP24") in promised
    assert check.mets_files == ["METS.xml", f"{REP}/METS.xml"]
    assert check.description_file == "metadata/descriptive/dc+schema.xml"
    assert "2 METS files" in check.summary() and "1 PREMIS fixity value" in check.summary()


def test_valid_eark_csip_with_two_representations(tmp_path: Path) -> None:
    check = validate_sip(b.eark_csip(tmp_path))
    assert check.problems == [] and check.warnings == []
    assert check.algorithms == ("sha256",)
    assert len(check.mets_files) == 3 and check.premis_values == 2


def test_edited_file_breaks_checksum_size_and_premis_all_reported(tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path)
    (root / REP / "data" / "harbour.tif").write_bytes(b"edited after packaging")
    check = validate_sip(root)
    assert codes(check.problems) == [
        ("CSIP69", f"{REP}/data/harbour.tif"),
        ("CSIP71", f"{REP}/data/harbour.tif"),
        ("premis-fixity", f"{REP}/data/harbour.tif"),
    ]
    message = str(check.refuse("delivery"))
    assert message.startswith("delivery: invalid meemoo SIP 2.1 ")
    assert "(3 problems)" in message and "\n" not in message


def test_missing_file_and_wrong_checksum_listed_together(tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path)
    (root / "representations" / "rep-access" / "data" / "minutes.jpg").unlink()
    master = root / "representations" / "rep-master" / "data" / "minutes.tif"
    master.write_bytes(b"X" + master.read_bytes()[1:])  # same size, other bytes
    check = validate_sip(root)
    found = codes(check.problems)
    assert ("CSIP79", "representations/rep-access/data/minutes.jpg") in found
    assert ("CSIP71", "representations/rep-master/data/minutes.tif") in found
    assert ("premis-fixity", "representations/rep-master/data/minutes.tif") in found
    # the empty data folder is a warning for E-ARK (SHOULD), not an error
    assert ("CSIPSTR11", "representations/rep-access/data") in codes(check.warnings)


def test_representation_without_data_is_refused(tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path)
    shutil.rmtree(root / REP / "data")
    check = validate_sip(root)
    assert ("CSIPSTR11", REP) in codes(check.problems)
    assert ("CSIP79", f"{REP}/data/harbour.tif") in codes(check.problems)


def test_meemoo_representation_without_mets_is_an_error_eark_a_warning(tmp_path: Path) -> None:
    meemoo = b.meemoo_2(tmp_path / "m")
    (meemoo / REP / "METS.xml").unlink()
    assert ("CSIPSTR12", REP) in codes(validate_sip(meemoo).problems)
    eark = b.eark_csip(tmp_path / "e")
    (eark / "representations" / "rep-access" / "METS.xml").unlink()
    check = validate_sip(eark)
    assert ("CSIPSTR12", "representations/rep-access") in codes(check.warnings)
    # the root METS still points at it: the reference to a missing file is an error
    assert ("CSIP79", "representations/rep-access/METS.xml") in codes(check.problems)


def test_premis_fixity_mismatch_alone(tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path, premis_digest={"harbour.tif": "0" * 32})
    check = validate_sip(root)
    assert codes(check.problems) == [("premis-fixity", f"{REP}/data/harbour.tif")]
    assert f"{REP}/metadata/preservation/premis.xml lists {'0' * 32}" in str(check.problems[0])


def test_reference_outside_the_package_is_refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", encoding="utf-8")
    root = b.eark_csip(tmp_path, extra_refs=[b.Ref("../outside.txt", outside, "SHA-256")])
    (problem,) = validate_sip(root).problems
    assert (problem.code, problem.path) == ("CSIP79", "METS.xml")
    assert "leaves the package" in problem.message


def test_unknown_descriptive_schema_is_a_warning(tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path, descriptive={"ead.xml": b.EAD})
    check = validate_sip(root)
    assert check.problems == [] and check.description == {}
    (warning,) = check.warnings
    assert (warning.code, warning.path) == (
        "unknown-descriptive-schema",
        "metadata/descriptive/ead.xml",
    )
    assert "titled after the delivery" in warning.message


def test_xml_bomb_in_a_representation_mets_is_a_problem(tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path)
    (root / "representations" / "rep-master" / "METS.xml").write_text(
        b.BILLION_LAUGHS, encoding="utf-8"
    )
    found = codes(validate_sip(root).problems)
    assert ("xml-forbidden", "representations/rep-master/METS.xml") in found


def test_unsupported_checksum_type_is_warned_not_verified(tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path)
    mets = root / "METS.xml"
    mets.write_text(mets.read_text(encoding="utf-8").replace("SHA-256", "Adler-32"), "utf-8")
    check = validate_sip(root)
    assert check.problems == []
    assert {w.code for w in check.warnings} == {"unsupported-checksum"}


def test_every_file_is_read_once_for_all_its_promises(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file with a METS checksum and a PREMIS fixity value is read once."""
    reads: list[str] = []
    real = checks.hash_file

    def counting(path: Any, algorithms: Any) -> Any:
        reads.append(str(path))
        return real(path, algorithms)

    monkeypatch.setattr(checks, "hash_file", counting)
    check = validate_sip(b.meemoo_2(tmp_path))
    assert len(check.promised) > len(reads)
    assert sorted(reads) == sorted(set(reads))
    assert sum(r.endswith("harbour.tif") for r in reads) == 1


def test_meemoo_1_bag_problems_name_files_as_the_bag_holds_them(tmp_path: Path) -> None:
    bag = b.meemoo_1(tmp_path)
    (bag / "data" / REP / "data" / "kermis.tif").write_bytes(b"other")
    check = validate_sip(bag / "data", bag=True)
    assert ("CSIP71", f"data/{REP}/data/kermis.tif") in codes(check.problems)
    assert check.description_file == "data/metadata/descriptive/dc.xml"
