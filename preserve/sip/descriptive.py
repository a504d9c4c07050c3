"""A SIP's package-level description as Dublin Core fields (element -> values, in TERMS keys).

- **Dublin Core**: every ``dc:`` (``http://purl.org/dc/elements/1.1/``) and ``dcterms:``
  (``http://purl.org/dc/terms/``) element of the document, wherever it sits (``oai_dc:dc``,
  ``dcterms:dublincore``, meemoo's ``<metadata>`` of ``dc+schema.xml``), with its ``xml:lang``;
  meemoo's ``schema:creator``/``schema:contributor``/``schema:publisher`` names too.
- **MODS 3.x** (``http://www.loc.gov/mods/v3``, as meemoo's newspaper profile uses it): the
  title from ``titleInfo/title`` (with ``nonSort`` and ``subTitle``) of a ``titleInfo`` without
  ``@type``; a ``titleInfo[@type]`` (alternative, translated, abbreviated, uniform) is kept as
  ``dcterms:alternative``, never the title. Names, dates, subjects, identifiers, languages,
  abstract, genre and type of resource, publisher, extent, access condition, host title.
- Anything else is an unknown schema: :func:`read_description` returns None and the caller warns.

Values in several languages are kept, not merged: the reserved key ``"_lang"`` maps an element
to the language of each of its values, aligned by index ("" when none is given).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from typing import Any

from preserve.descriptive import DC_ELEMENTS, DC_NS, DCTERMS_NS, TERMS
from preserve.sip.xmlsafe import XML_LANG, local, namespace, text_of

MODS_NS = "http://www.loc.gov/mods/v3"
SCHEMA_ORG_NS = ("https://schema.org/", "http://schema.org/")
LANG_KEY = "_lang"

#: "Dublin Core" or "MODS", as the description's origin names its schema
DUBLIN_CORE, MODS = "Dublin Core", "MODS"

#: ISO 639-2 codes (bibliographic and terminology) of the languages met in Flanders and around,
#: to match a title's xml:lang with the package's dc:language however each is written
_ISO639_2 = {
    "nld": "nl",
    "dut": "nl",
    "eng": "en",
    "fra": "fr",
    "fre": "fr",
    "deu": "de",
    "ger": "de",
    "spa": "es",
    "ita": "it",
    "lat": "la",
}
_NAMES = {"dutch": "nl", "nederlands": "nl", "english": "en", "french": "fr", "german": "de"}


class _Fields:
    """Values and their languages, in the order found."""

    def __init__(self) -> None:
        self.values: dict[str, list[str]] = {}
        self.langs: dict[str, list[str]] = {}

    def add(self, key: str, value: str, lang: str = "") -> None:
        if key not in TERMS or not value.strip():
            return
        self.values.setdefault(key, []).append(value.strip())
        self.langs.setdefault(key, []).append(lang.strip())

    def result(self) -> dict[str, Any]:
        out: dict[str, Any] = {k: self.values[k] for k in TERMS if k in self.values}
        langs = {k: self.langs[k] for k in out if any(self.langs[k])}
        if langs:
            out[LANG_KEY] = langs
        return out


def _dc_key(element: ET.Element) -> str | None:
    ns, name = namespace(element.tag), local(element.tag)
    if ns == DC_NS:
        return name if name in DC_ELEMENTS else None
    if ns == DCTERMS_NS:
        key = name if name in DC_ELEMENTS else f"dcterms:{name}"
        return key if key in TERMS else None
    return None


def _lang(element: ET.Element, inherited: str = "") -> str:
    return element.get(XML_LANG) or element.get("lang") or inherited


def dublin_core(root: ET.Element) -> dict[str, Any] | None:
    """The Dublin Core elements of ``root`` (None when it holds none)."""
    fields = _Fields()
    found = False
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue
        key = _dc_key(element)
        if key is not None:
            found = True
            fields.add(key, text_of(element), _lang(element))
        elif namespace(element.tag) in SCHEMA_ORG_NS and local(element.tag) in (
            "creator",
            "contributor",
            "publisher",
        ):
            names = [n for n in element if local(n.tag) == "name" and text_of(n)]
            for n in names:
                fields.add(local(element.tag), text_of(n), _lang(n))
    return fields.result() if found else None


def _mods_name(name: ET.Element) -> str:
    m = f"{{{MODS_NS}}}"
    parts = {p.get("type", ""): text_of(p) for p in name.findall(f"{m}namePart")}
    if "family" in parts and "given" in parts:
        text = f"{parts['family']}, {parts['given']}"
        if parts.get("date"):
            text += f" ({parts['date']})"
        return text
    return " ".join(text_of(p) for p in name.findall(f"{m}namePart") if text_of(p))


def _mods_title(info: ET.Element) -> str:
    m = f"{{{MODS_NS}}}"
    title = " ".join(
        text_of(e) for tag in ("nonSort", "title") for e in info.findall(f"{m}{tag}") if text_of(e)
    )
    subtitle = " ".join(text_of(e) for e in info.findall(f"{m}subTitle") if text_of(e))
    return f"{title}: {subtitle}" if title and subtitle else title or subtitle


_CREATOR_ROLES = {"aut", "cre", "author", "creator"}


def mods(root: ET.Element) -> dict[str, Any]:
    """The Dublin Core fields of the first ``mods`` record under ``root``."""
    m = f"{{{MODS_NS}}}"
    record = root if local(root.tag) == "mods" else root.find(f"{m}mods")
    fields = _Fields()
    if record is None:
        return fields.result()
    record_lang = _lang(record)
    for info in record.findall(f"{m}titleInfo"):
        key = "dcterms:alternative" if info.get("type") else "title"
        fields.add(key, _mods_title(info), _lang(info, record_lang))
    for name in record.findall(f"{m}name"):
        roles = {text_of(r).lower() for r in name.iterfind(f"{m}role/{m}roleTerm")}
        key = "creator" if not roles or roles & _CREATOR_ROLES else "contributor"
        fields.add(key, _mods_name(name), _lang(name, record_lang))
    for origin in record.findall(f"{m}originInfo"):
        for child in origin:
            tag, value = local(child.tag), text_of(child)
            if tag == "dateIssued":
                fields.add("dcterms:issued", value)
            elif tag == "dateCreated":
                fields.add("dcterms:created", value)
            elif tag in ("dateCaptured", "dateOther", "copyrightDate", "dateValid"):
                fields.add("date", value)
            elif tag == "publisher":
                fields.add("publisher", value, _lang(child, record_lang))
    for subject in record.findall(f"{m}subject"):
        lang = _lang(subject, record_lang)
        for child in subject:
            tag, value = local(child.tag), text_of(child)
            if tag == "geographic":
                fields.add("dcterms:spatial", value, _lang(child, lang))
            elif tag == "temporal":
                fields.add("dcterms:temporal", value, _lang(child, lang))
            elif tag == "name":
                fields.add("subject", _mods_name(child), _lang(child, lang))
            elif tag in ("topic", "genre", "occupation"):
                fields.add("subject", value, _lang(child, lang))
            elif tag == "titleInfo":
                fields.add("subject", _mods_title(child), _lang(child, lang))
    for identifier in record.findall(f"{m}identifier"):
        fields.add("identifier", text_of(identifier))
    for abstract in record.findall(f"{m}abstract"):
        fields.add("description", text_of(abstract), _lang(abstract, record_lang))
    for language in record.iterfind(f"{m}language/{m}languageTerm"):
        fields.add("language", text_of(language))
    for tag, key in (("typeOfResource", "type"), ("genre", "type"), ("accessCondition", "rights")):
        for element in record.findall(f"{m}{tag}"):
            fields.add(key, text_of(element), _lang(element, record_lang))
    for extent in record.iterfind(f"{m}physicalDescription/{m}extent"):
        fields.add("dcterms:extent", text_of(extent))
    for host in record.iterfind(f"{m}relatedItem"):
        if host.get("type") == "host":
            for info in host.findall(f"{m}titleInfo"):
                if not info.get("type"):
                    fields.add("dcterms:isPartOf", _mods_title(info), _lang(info, record_lang))
    return fields.result()


def read_description(root: ET.Element) -> tuple[str, dict[str, Any]] | None:
    """(schema, fields) of a parsed descriptive file: MODS, or Dublin Core; None for another
    schema."""
    if namespace(root.tag) == MODS_NS and local(root.tag) in ("mods", "modsCollection"):
        return MODS, mods(root)
    found = dublin_core(root)
    return (DUBLIN_CORE, found) if found is not None else None


def _language(code: str) -> str:
    """``nl`` of ``nl-BE``, ``nld``, ``dut`` or ``Dutch``; the code folded otherwise."""
    folded = code.strip().casefold().replace("_", "-")
    primary = folded.split("-")[0]
    return _ISO639_2.get(primary) or _NAMES.get(primary) or primary


def main_title_first(fields: Mapping[str, Any]) -> dict[str, Any]:
    """``fields`` with the title of the package's language first: the first title whose
    ``xml:lang`` matches the first ``dc:language`` (the first title when none does, or when no
    language is given). Every value stays, its language aligned."""
    out = dict(fields)
    titles: Sequence[str] = out.get("title") or ()
    langs_of: dict[str, list[str]] = dict(out.get(LANG_KEY) or {})
    langs = list(langs_of.get("title") or [""] * len(titles))
    languages = [v for v in out.get("language") or () if v.strip()]
    if len(titles) < 2 or not languages or len(langs) != len(titles):
        return out
    wanted = _language(languages[0])
    index = next((i for i, lang in enumerate(langs) if lang and _language(lang) == wanted), 0)
    if index:
        order = [index, *(i for i in range(len(titles)) if i != index)]
        out["title"] = [titles[i] for i in order]
        langs_of["title"] = [langs[i] for i in order]
        out[LANG_KEY] = langs_of
    return out
