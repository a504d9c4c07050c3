"""Deliveries of the field through the real command line (issue 9, section 1): meemoo SIP 1.x
and 2.x, E-ARK CSIP/SIP and a MODS newspaper, each as a folder (or bag) and as a zip or tar of
one; what the catalogue, bag-info.txt and premis.xml of the stored AIP then say; and every
broken SIP refused with its file and rule named, nothing stored."""

from __future__ import annotations

import json
import shutil
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from preserve.premis import PREMIS_NS
from tests import sipbuilder as b
from tests.functional.cli import Repo

REP = "representations/representation_1"


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    r = Repo(home=tmp_path / "home", database_url=f"sqlite:///{tmp_path / 'catalogue.sqlite3'}")
    r.run("init")
    r.run("collections", "add", "photos")
    return r


def aip(repo: Repo, package_id: str) -> Path:
    """The stored folder of the package's first version on the default (local) location."""
    (found,) = list(repo.storage_root.glob(f"*/*/{package_id}/v1"))
    return found


def bag_info(folder: Path) -> list[tuple[str, str]]:
    """bag-info.txt's elements, folded lines joined."""
    out: list[tuple[str, str]] = []
    for line in (folder / "bag-info.txt").read_text(encoding="utf-8").splitlines():
        if line.startswith((" ", "\t")):
            out[-1] = (out[-1][0], out[-1][1] + " " + line.strip())
        else:
            key, _, value = line.partition(": ")
            out.append((key, value))
    return out


def validation_events(folder: Path) -> list[tuple[str, str]]:
    """(outcome, detail) of the AIP's PREMIS validation events."""
    p = f"{{{PREMIS_NS}}}"
    root = ET.parse(folder / "metadata" / "premis.xml").getroot()
    found = []
    for e in root.iter(f"{p}event"):
        if e.findtext(f"{p}eventType") == "validation":
            found.append(
                (
                    e.findtext(f"{p}eventOutcomeInformation/{p}eventOutcome") or "",
                    e.findtext(f"{p}eventDetailInformation/{p}eventDetail") or "",
                )
            )
    return found


def ingest(repo: Repo, path: Path, *extra: str | Path) -> dict[str, Any]:
    result: dict[str, Any] = repo.json("ingest", path, "--collection", "photos", *extra)
    assert result["failures"] == [], result
    (package,) = result["packages"]
    return package


def as_given(form: str, root: Path, tmp_path: Path) -> Path:
    """The delivery ``root`` as a folder (or bag), a zip or a tar of it."""
    if form == "zip":
        return b.zip_of(root, tmp_path / f"{root.name}.zip")
    if form == "tar":
        return b.tar_of(root, tmp_path / f"{root.name}.tar")
    return root


@pytest.mark.parametrize("form", ["folder", "zip", "tar"])
def test_meemoo_2_basic(repo: Repo, tmp_path: Path, form: str) -> None:
    root = b.meemoo_2(tmp_path / "in")
    mets = (root / "METS.xml").read_bytes()
    package = ingest(repo, as_given(form, root, tmp_path))
    # the title of the package's language (dcterms:language nl), the other one kept
    assert package["title"] == "Haven van Antwerpen"
    assert package["title_source"] == "meemoo SIP metadata/descriptive/dc+schema.xml"
    detail = repo.json("show", package["package_id"])
    description = detail["description"]
    assert description["title"] == ["Haven van Antwerpen", "Harbour of Antwerp"]
    assert description["_lang"]["title"] == ["nl", "en"]
    assert description["description"] == [
        "Glasplaatnegatieven van de haven.",
        "Glass plate negatives of the harbour.",
    ]
    assert description["_lang"]["description"] == ["nl", "en"]
    assert description["dcterms:created"] == ["1923-XX-XX"]
    assert "FM-1923-001" in description["identifier"]

    stored = aip(repo, package["package_id"])
    info = bag_info(stored)
    assert ("Delivery-Type", "meemoo-sip") in info
    assert ("Delivery-Profile", f"meemoo SIP 2.1 {b.MEEMOO_21_BASIC}") in info
    # the producer's files stay in the payload exactly as delivered; ours are tag files
    assert (stored / "data" / "METS.xml").read_bytes() == mets
    assert (stored / "data" / REP / "data" / "harbour.tif").read_bytes() == b.MASTER
    dc = (stored / "metadata" / "dc.xml").read_text(encoding="utf-8")
    assert '<dc:title xml:lang="nl">Haven van Antwerpen</dc:title>' in dc
    assert '<dc:title xml:lang="en">Harbour of Antwerp</dc:title>' in dc
    (outcome, detail_text), *_ = [e for e in validation_events(stored) if "meemoo" in e[1]]
    assert outcome == "success"
    assert detail_text.startswith(f"meemoo SIP 2.1 {b.MEEMOO_21_BASIC} validated: 2 METS files")
    assert "checksums (md5)" in detail_text
    # the MD5s were computed to check the METS, not kept as the AIP's own manifests
    assert not (stored / "manifest-md5.txt").exists()


def test_text_output_says_where_the_title_came_from(repo: Repo, tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path / "in")
    out = repo.run("ingest", root, "--collection", "photos").stdout
    assert '"Haven van Antwerpen" (title from meemoo SIP metadata/descriptive/dc+schema.xml)' in (
        out
    )
    shown = repo.run("show", repo.packages()[0]["id"]).stdout
    assert "Harbour of Antwerp [en]" in shown and "_lang" not in shown


@pytest.mark.parametrize("form", ["bag", "zip", "tar"])
def test_meemoo_1_bag(repo: Repo, tmp_path: Path, form: str) -> None:
    bag = b.meemoo_1(tmp_path / "in")
    package = ingest(repo, as_given(form, bag, tmp_path))
    assert package["title"] == "Kermis in Brugge"
    assert package["title_source"] == "meemoo SIP data/metadata/descriptive/dc.xml"
    stored = aip(repo, package["package_id"])
    info = bag_info(stored)
    assert ("Delivery-Type", "meemoo-sip") in info
    assert ("Delivery-Profile", f"meemoo SIP 1.0 {b.MEEMOO_10_BASIC}") in info
    assert (stored / "data" / "mets.xml").is_file()
    events = validation_events(stored)
    # MD5 only is what the meemoo SIP 1.x requires: said, not warned about
    ((outcome, detail),) = [e for e in events if e[1].startswith("incoming BagIt 1.0 bag")]
    assert outcome == "success"
    assert "MD5 payload manifest only, as the meemoo SIP 1.x requires" in detail
    assert any(d.startswith("meemoo SIP 1.0") for _, d in events)


def test_meemoo_1_bag_is_not_told_to_add_sha256_but_a_plain_md5_bag_is(
    repo: Repo, tmp_path: Path
) -> None:
    result = repo.run("ingest", b.meemoo_1(tmp_path / "in"), "--collection", "photos")
    assert "SHA-256" not in result.stderr and "weak" not in result.stderr
    plain = tmp_path / "plain"
    plain.mkdir()
    (plain / "a.txt").write_text("a")
    repo.run("bag", "make", plain, tmp_path / "plain-bag", "--algorithm", "md5")
    result = repo.run("ingest", tmp_path / "plain-bag", "--collection", "photos")
    assert "only MD5/SHA-1 payload manifests: add SHA-256 or SHA-512" in result.stderr
    package_id = repo.packages()[-1]["id"]
    events = validation_events(aip(repo, package_id))
    assert [o for o, d in events if d.startswith("incoming BagIt")] == ["warning"]


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_eark_csip_with_two_representations(repo: Repo, tmp_path: Path, form: str) -> None:
    root = b.eark_csip(tmp_path / "in")
    package = ingest(repo, as_given(form, root, tmp_path))
    assert package["title"] == "Town council minutes 1951"
    assert package["files"] == len([p for p in root.rglob("*") if p.is_file()])
    stored = aip(repo, package["package_id"])
    info = bag_info(stored)
    assert ("Delivery-Type", "eark-sip") in info
    assert ("Delivery-Profile", f"E-ARK SIP 2.1.0 {b.EARK_SIP_210}") in info
    assert any("3 METS files" in d and "(sha256)" in d for _, d in validation_events(stored))


def test_mods_newspaper_titled_from_titleinfo_not_the_alternative(
    repo: Repo, tmp_path: Path
) -> None:
    package = ingest(repo, b.meemoo_newspaper(tmp_path / "in"))
    assert package["title"] == "Het Volk: dagblad voor de arbeidersklasse"
    assert package["title_source"] == "meemoo SIP data/metadata/descriptive/mods.xml"
    description = repo.json("show", package["package_id"])["description"]
    assert description["dcterms:alternative"] == ["Het Volk (Gent)"]
    assert description["dcterms:issued"] == ["1914-08-04"]
    assert description["creator"] == ["Verhaeghe, Pieter"]
    assert description["subject"] == ["Eerste Wereldoorlog"]
    info = bag_info(aip(repo, package["package_id"]))
    assert ("Delivery-Profile", f"meemoo SIP 1.1 {b.MEEMOO_11_NEWSPAPER}") in info


def test_title_precedence_title_over_csv_over_sip(repo: Repo, tmp_path: Path) -> None:
    root = b.meemoo_2(tmp_path / "in", name="uuid-one")
    csv_path = tmp_path / "meta.csv"
    csv_path.write_text(f"path,title,dc:subject\n{root},From the CSV,harbours\n", "utf-8")
    package = ingest(repo, root, "--metadata", csv_path)
    assert (package["title"], package["title_source"]) == (
        "From the CSV",
        f"metadata CSV {csv_path}",
    )
    description = repo.json("show", package["package_id"])["description"]
    assert description["subject"] == ["harbours"]  # the CSV's element replaces the SIP's
    assert "title" not in description.get("_lang", {})
    assert description["description"][0] == "Glasplaatnegatieven van de haven."  # SIP's kept

    other = b.meemoo_2(tmp_path / "in", name="uuid-two")
    csv_path.write_text(f"path,title\n{other},From the CSV\n", "utf-8")
    package = ingest(repo, other, "--metadata", csv_path, "--title", "Given")
    assert (package["title"], package["title_source"]) == ("Given", "--title")


def test_unknown_descriptive_schema_is_warned_and_titled_after_the_folder(
    repo: Repo, tmp_path: Path
) -> None:
    root = b.eark_csip(tmp_path / "in", name="council-1951", descriptive={"ead.xml": b.EAD})
    result = repo.run("ingest", root, "--collection", "photos")
    assert "council-1951/metadata/descriptive/ead.xml: descriptive metadata in a schema" in (
        result.stderr
    )
    (package,) = repo.packages()
    assert package["title"] == "council-1951"
    assert "(title from folder name)" in result.stdout


def _edit_file(root: Path) -> None:
    (root / REP / "data" / "harbour.tif").write_bytes(b"edited after packaging")


def _missing_file(root: Path) -> None:
    (root / REP / "data" / "harbour.tif").unlink()
    (root / REP / "data" / "other.tif").write_bytes(b"II*\x00")


def _bad_xml(root: Path) -> None:
    (root / "METS.xml").write_text("<mets><fileSec></mets>", encoding="utf-8")


def _bomb(root: Path) -> None:
    (root / "METS.xml").write_text(b.BILLION_LAUGHS, encoding="utf-8")


def _external(root: Path) -> None:
    (root / "METS.xml").write_text(b.EXTERNAL_ENTITY, encoding="utf-8")


def _no_data(root: Path) -> None:
    shutil.rmtree(root / REP / "data")


def _no_mets(root: Path) -> None:
    (root / "METS.xml").unlink()


BROKEN: dict[str, tuple[Callable[[Path], None], list[str]]] = {
    "wrong checksum": (
        _edit_file,
        [f"{REP}/data/harbour.tif", "[CSIP71]", "[CSIP69]", "[premis-fixity]", "3 problems"],
    ),
    "missing file": (_missing_file, [f"{REP}/data/harbour.tif", "not in the delivery [CSIP79]"]),
    "not well-formed METS": (_bad_xml, ["METS.xml: not well-formed XML (mismatched tag"]),
    "billion laughs": (_bomb, ["METS.xml: XML with entity declarations", "refused"]),
    "external entity": (_external, ["METS.xml: XML with entity declarations", "refused"]),
    "representation without data": (
        _no_data,
        [f"{REP}: representation without a data/ folder [CSIPSTR11]"],
    ),
    "missing METS": (_no_mets, ["METS.xml: missing", "at its root [CSIPSTR4]"]),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
@pytest.mark.parametrize("form", ["folder", "zip"])
def test_broken_sip_is_refused_naming_file_and_rule(
    repo: Repo, tmp_path: Path, case: str, form: str
) -> None:
    break_it, expected = BROKEN[case]
    root = b.meemoo_2(tmp_path / "in", name="uuid-broken")
    break_it(root)
    result = repo.run("ingest", as_given(form, root, tmp_path), "--collection", "photos", ok=False)
    assert result.exit_code == 1, result.stderr
    first = result.stderr.splitlines()[0]
    assert first.startswith("error: ") and "invalid" in first
    assert "invalid meemoo SIP" in first  # whatever is broken, never called an E-ARK SIP
    for text in expected:
        assert text in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert repo.packages() == [] and repo.stored_keys() == []
    assert repo.staging_entries() == []


def test_meemoo_1_bag_edited_after_bagging_is_refused_with_the_file(
    repo: Repo, tmp_path: Path
) -> None:
    bag = b.meemoo_1(tmp_path / "in")
    (bag / "data" / REP / "data" / "kermis.tif").write_bytes(b"retouched")
    result = repo.run("ingest", bag, "--collection", "photos", ok=False)
    assert result.exit_code == 1
    assert f"data/{REP}/data/kermis.tif" in result.stderr.splitlines()[0]
    assert repo.packages() == [] and repo.stored_keys() == []


def test_json_failure_names_the_rule(repo: Repo, tmp_path: Path) -> None:
    root = b.eark_csip(tmp_path / "in")
    shutil.rmtree(root / "representations" / "rep-access" / "data")
    result = repo.json("ingest", root, "--collection", "photos", ok=False)
    (failure,) = result["failures"]
    assert failure["code"] == "invalid-sip"
    assert (
        "representations/rep-access: representation without a data/ folder" in (failure["message"])
    )


def test_languages_on_sqlite_and_postgresql(tmp_path: Path, database_url: str) -> None:
    """The description with its languages round-trips through either catalogue; search finds
    values in any language and never the reserved "_lang" key's element names."""
    repo = Repo(home=tmp_path / "home", database_url=database_url)
    repo.run("init")
    repo.run("collections", "add", "photos")
    package = ingest(repo, b.meemoo_2(tmp_path / "in"))
    description = repo.json("show", package["package_id"])["description"]
    assert description["_lang"]["title"] == ["nl", "en"]
    found = json.loads(repo.run("packages", "search", "harbour of antw", "--json").stdout)
    assert [p["id"] for p in found] == [package["package_id"]]
    none = repo.run("packages", "search", "subject")
    assert "no packages match 'subject'" in none.stdout + none.stderr


@pytest.mark.parametrize("form", ["folder", "zip"])
def test_a_broken_package_mets_is_not_called_an_eark_sip(
    repo: Repo, tmp_path: Path, form: str
) -> None:
    """The METS file that would tell the kind cannot be read: a meemoo SIP is recognised by its
    dc+schema.xml, anything else is only a "SIP"."""
    meemoo = b.meemoo_2(tmp_path / "in", name="uuid-malformed")
    _bad_xml(meemoo)
    delivery = as_given(form, meemoo, tmp_path)
    result = repo.run("ingest", delivery, "--collection", "photos", ok=False)
    assert result.stderr.startswith(
        f"error: {delivery}: invalid meemoo SIP (1 problem): METS.xml: not well-formed XML"
    )
    eark = b.eark_csip(tmp_path / "in", name="csip-malformed")
    _external(eark)
    delivery = as_given(form, eark, tmp_path)
    result = repo.run("ingest", delivery, "--collection", "photos", ok=False)
    assert result.stderr.startswith(f"error: {delivery}: invalid SIP (1 problem): METS.xml: ")
    assert repo.packages() == [] and repo.stored_keys() == []


def _titled_bag(repo: Repo, tmp_path: Path, name: str, *info: str) -> Path:
    src = tmp_path / f"{name}-src"
    src.mkdir()
    (src / "brief-1.txt").write_text(f"Lieve moeder, ({name})\n", encoding="utf-8")
    args: list[str | Path] = []
    for element in info:
        args += ["--info", element]
    repo.run("bag", "make", src, tmp_path / name, *args)
    return tmp_path / name


def test_a_bags_title_titles_the_package(repo: Repo, tmp_path: Path) -> None:
    """bag-info's Title (APTrust, BTR) comes after --title, a CSV and a SIP's description,
    before External-Description and the folder name."""
    bag = _titled_bag(
        repo, tmp_path, "apt-good", "Title=Brieven 1914", "External-Description=Letters"
    )
    package = ingest(repo, bag)
    assert (package["title"], package["title_source"]) == ("Brieven 1914", "bag-info Title")
    assert repo.json("show", package["package_id"])["description"]["title"] == ["Brieven 1914"]
    out = repo.run("ingest", _titled_bag(repo, tmp_path, "two", "Title=Brieven 1915"),
                   "--collection", "photos").stdout  # fmt: skip
    assert '"Brieven 1915" (title from bag-info Title)' in out
    two = repo.packages()[-1]["id"]
    assert ("External-Description", "Brieven 1915") in bag_info(aip(repo, two))

    given = ingest(repo, _titled_bag(repo, tmp_path, "three", "Title=Brieven"), "--title", "Mine")
    assert (given["title"], given["title_source"]) == ("Mine", "--title")

    described = ingest(repo, _titled_bag(repo, tmp_path, "four", "External-Description=Letters"))
    assert (described["title"], described["title_source"]) == (
        "Letters",
        "bag-info External-Description",
    )

    # a meemoo 1.x bag's own description comes first
    sip = b.meemoo_1(tmp_path / "in")
    with (sip / "bag-info.txt").open("a", encoding="utf-8") as f:
        f.write("Title: Not this one\n")
    package = ingest(repo, sip)
    assert package["title"] == "Kermis in Brugge"
