"""preserve.sip.descriptive: Dublin Core and MODS as Dublin Core fields, languages kept."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from preserve.descriptive import dublin_core_xml, parse_dublin_core
from preserve.sip.descriptive import main_title_first, read_description
from tests import sipbuilder as b


def test_meemoo_dc_schema_keeps_every_language() -> None:
    schema, fields = read_description(
        ET.fromstring(b.dc_schema([("Harbour", "en"), ("Haven", "nl")]).encode())
    ) or ("", {})
    assert schema == "Dublin Core"
    assert fields["title"] == ["Harbour", "Haven"]
    assert fields["_lang"]["title"] == ["en", "nl"]
    assert fields["description"] == [
        "Glasplaatnegatieven van de haven.",
        "Glass plate negatives of the harbour.",
    ]
    assert fields["_lang"]["description"] == ["nl", "en"]
    assert fields["dcterms:created"] == ["1923-XX-XX"]  # EDTF kept as written
    assert fields["creator"] == ["Jan Peeters"]  # schema:creator/schema:name
    assert "language" not in fields["_lang"]  # no language given: not listed


def test_title_of_the_package_language_comes_first() -> None:
    fields = {"title": ["Harbour", "Haven"], "language": ["nld"], "_lang": {"title": ["en", "nl"]}}
    chosen = main_title_first(fields)
    assert chosen["title"] == ["Haven", "Harbour"]
    assert chosen["_lang"]["title"] == ["nl", "en"]
    # no language given, or none matching: the first title stays first
    assert main_title_first({**fields, "language": []})["title"] == ["Harbour", "Haven"]
    assert main_title_first({**fields, "language": ["fr"]})["title"] == ["Harbour", "Haven"]


def test_mods_title_is_never_the_alternative() -> None:
    schema, fields = read_description(ET.fromstring(b.mods_newspaper().encode())) or ("", {})
    assert schema == "MODS"
    assert fields["title"] == ["Het Volk: dagblad voor de arbeidersklasse"]
    assert fields["dcterms:alternative"] == ["Het Volk (Gent)"]
    assert fields["creator"] == ["Verhaeghe, Pieter"]
    assert fields["contributor"] == ["Het Volk NV"]
    assert fields["dcterms:issued"] == ["1914-08-04"]
    assert fields["subject"] == ["Eerste Wereldoorlog"]
    assert fields["dcterms:spatial"] == ["Gent"]
    assert fields["identifier"] == ["HETVOLK-19140804"]
    assert fields["dcterms:isPartOf"] == ["Het Volk"]
    assert fields["_lang"] == {"title": ["dut"]}


def test_unknown_schema_is_none() -> None:
    assert read_description(ET.fromstring(b.EAD.encode())) is None


def test_dc_xml_writes_and_reads_back_the_languages() -> None:
    fields = {
        "title": ["Haven", "Harbour"],
        "subject": ["haven"],
        "_lang": {"title": ["nl", "en"]},
    }
    xml = dublin_core_xml(fields)
    assert b'<dc:title xml:lang="nl">Haven</dc:title>' in xml
    assert b"<dc:subject>haven</dc:subject>" in xml
    assert parse_dublin_core(xml, languages=True) == fields
    assert parse_dublin_core(xml) == {"title": ["Haven", "Harbour"], "subject": ["haven"]}
