"""MIME types that agree with PRONOM: measured over files of ~45 real formats (made by
format_samples.py), through the Identifier, the helper processes and the command line."""

from __future__ import annotations

import json
import os
import random
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import magic
import pygfried
import pytest
from click.testing import CliRunner

from preserve.cli import cli
from preserve.formats import (
    UNKNOWN,
    Identifier,
    identify_files,
    shutdown_pool,
    submit_identification,
)
from preserve.formats.libmagic import LibMagic
from preserve.formats.mediatypes import is_textual
from preserve.values import FormatInfo
from tests.integration.format_samples import SAMPLES, write_samples

# PRONOM's preferred MIME type for each PUID the samples may get ("" where the PRONOM record has
# none). Where PRONOM lists several, siegfried gives its first; siegfried embeds PRONOM, so its
# value is taken as the record's.
PRONOM_MIME = {
    "fmt/18": "application/pdf",
    "fmt/276": "application/pdf",
    "fmt/290": "application/vnd.oasis.opendocument.text",
    "fmt/291": "application/vnd.oasis.opendocument.text",
    "fmt/1756": "application/vnd.oasis.opendocument.text",
    "fmt/294": "application/vnd.oasis.opendocument.spreadsheet",
    "fmt/295": "application/vnd.oasis.opendocument.spreadsheet",
    "fmt/1755": "application/vnd.oasis.opendocument.spreadsheet",
    "fmt/412": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "fmt/214": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "fmt/483": "application/epub+zip",
    "fmt/1440": "application/epub+zip",
    "fmt/50": "application/rtf",
    "fmt/52": "application/rtf",
    "fmt/53": "application/rtf",
    "fmt/355": "application/rtf",
    "fmt/969": "application/rtf",
    "x-fmt/406": "application/postscript",
    "x-fmt/407": "application/postscript",
    "x-fmt/408": "application/postscript",
    "fmt/124": "application/postscript",
    "fmt/96": "text/html",
    "fmt/99": "text/html",
    "fmt/100": "text/html",
    "fmt/471": "text/html",
    "fmt/101": "application/xml",
    "fmt/102": "application/xhtml+xml",
    "fmt/103": "application/xhtml+xml",
    "fmt/91": "image/svg+xml",
    "fmt/92": "image/svg+xml",
    "fmt/413": "image/svg+xml",
    "fmt/395": "text/vcard",
    "fmt/1880": "text/vcard",
    "fmt/388": "text/calendar",
    "fmt/817": "application/json",
    "x-fmt/18": "text/csv",
    "x-fmt/111": "text/plain",
    "fmt/1149": "text/markdown",
    "fmt/11": "image/png",
    "fmt/12": "image/png",
    "fmt/13": "image/png",
    "fmt/43": "image/jpeg",
    "fmt/44": "image/jpeg",
    "fmt/645": "image/jpeg",
    "fmt/3": "image/gif",
    "fmt/4": "image/gif",
    "fmt/353": "image/tiff",
    "fmt/114": "image/bmp",
    "fmt/116": "image/bmp",
    "fmt/117": "image/bmp",
    "fmt/118": "image/bmp",
    "fmt/119": "image/bmp",
    "fmt/566": "image/webp",
    "fmt/567": "image/webp",
    "fmt/568": "image/webp",
    "x-fmt/392": "image/jp2",
    "x-fmt/418": "image/vnd.microsoft.icon",
    "fmt/90": "image/vnd.zbrush.pcx",
    "fmt/141": "audio/x-wav",
    "fmt/6": "audio/x-wav",
    "x-fmt/135": "audio/x-aiff",
    "fmt/414": "",  # AIFF 1.3
    "fmt/134": "audio/mpeg",
    "fmt/203": "audio/ogg",
    "fmt/946": "audio/ogg",
    "fmt/279": "audio/flac",
    "fmt/199": "application/mp4",
    "x-fmt/384": "video/quicktime",
    "fmt/573": "video/webm",
    "fmt/569": "",  # Matroska
    "fmt/5": "video/x-msvideo",
    "x-fmt/230": "audio/midi",
    "x-fmt/263": "application/zip",
    "x-fmt/266": "application/gzip",
    "x-fmt/265": "application/x-tar",
    "x-fmt/268": "application/x-bzip2",
    "fmt/484": "",  # 7-Zip
    "fmt/1098": "",  # XZ
}
COPIES = 5  # the samples five times over: enough files for identify_files to use its helpers


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("formats")
    first = write_samples(root / "copy-0")
    paths = list(first)
    for copy in range(1, COPIES):
        folder = root / f"copy-{copy}"
        folder.mkdir()
        for path in first:
            paths.append(Path(shutil.copyfile(path, folder / path.name)))
    return paths


@pytest.fixture(scope="module")
def in_process(corpus: list[Path]) -> list[FormatInfo]:
    return Identifier().identify_many(corpus)


@pytest.fixture
def pool() -> Iterator[None]:
    yield
    shutdown_pool()


def agreement(paths: list[Path], answers: list[Any]) -> tuple[int, int, list[str]]:
    """(files whose MIME type is PRONOM's, files whose PRONOM record has one, disagreements)."""
    agree, total, wrong = 0, 0, []
    for path, (puid, mime) in zip(paths, answers, strict=True):
        expected = PRONOM_MIME[puid]
        if expected:
            total += 1
            if mime == expected:
                agree += 1
            else:
                wrong.append(f"{path.name}: {puid} {mime!r}, PRONOM {expected!r}")
    return agree, total, wrong


def test_puids_are_siegfrieds(corpus: list[Path], in_process: list[FormatInfo]) -> None:
    files = pygfried.Scanner().identify_many([str(p) for p in corpus])["files"]
    assert [i.puid for i in in_process] == [f["matches"][0]["id"] for f in files]
    assert [len(i.matches) for i in in_process] == [len(f["matches"]) for f in files]
    for sample, info in zip(SAMPLES, in_process, strict=False):
        assert info.puid in sample.puids, f"{sample.name}: {info.puid} {info.warnings}"
        assert info.puid in PRONOM_MIME, f"{info.puid} ({sample.name}) missing from the table"


def test_table_is_pronoms_record(corpus: list[Path], in_process: list[FormatInfo]) -> None:
    # the table says what siegfried's embedded PRONOM says, so the figure below is against PRONOM
    for info in in_process[: len(SAMPLES)]:
        assert PRONOM_MIME[info.puid] == (info.matches[0].mime_types or ("",))[0], info.puid


def test_mime_agrees_with_pronom_everywhere(
    corpus: list[Path], in_process: list[FormatInfo], pool: None
) -> None:
    by_identifier = [(i.puid, i.mime) for i in in_process]
    helpers = identify_files(corpus, workers=2)
    submitted = [
        info
        for start in range(0, len(corpus), 64)
        for info in submit_identification(corpus[start : start + 64], workers=2).result()
    ]
    result = CliRunner().invoke(cli, ["identify", "--json", *map(str, corpus)])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["path"] for r in records] == [str(p) for p in corpus]

    assert helpers == in_process
    assert submitted == in_process
    view = [(i.puid, i.mime, i.mime_source, i.charset) for i in in_process]
    assert [(r["puid"], r["mime"], r["mime_source"], r["charset"]) for r in records] == view

    agree, total, wrong = agreement(corpus, by_identifier)
    handle = magic.Magic(mime=True)
    alone = [(i.puid, handle.from_file(str(p))) for p, i in zip(corpus, in_process, strict=True)]
    before, _, _ = agreement(corpus, alone)
    print(
        f"\nMIME type agrees with PRONOM for {agree}/{total} files ({agree / total:.0%}) "
        f"of {len(SAMPLES)} formats; libmagic alone: {before}/{total} ({before / total:.0%})"
    )
    assert total >= 30 * COPIES
    assert agree / total >= 0.95, "\n".join(wrong)


@pytest.fixture
def libmagic_calls(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, int]]:
    """Every call through the libmagic adapter in this process: (method, descriptor)."""
    calls: list[tuple[str, int]] = []
    mime_and_charset, describe = LibMagic.mime_and_charset, LibMagic.describe

    def counted_mime(self: LibMagic, fd: int) -> tuple[str, str | None]:
        calls.append(("mime_and_charset", fd))
        return mime_and_charset(self, fd)

    def counted_describe(self: LibMagic, fd: int) -> str:
        calls.append(("describe", fd))
        return describe(self, fd)

    monkeypatch.setattr(LibMagic, "mime_and_charset", counted_mime)
    monkeypatch.setattr(LibMagic, "describe", counted_describe)
    return calls


def test_libmagic_only_where_siegfried_leaves_a_gap(
    corpus: list[Path], libmagic_calls: list[tuple[str, int]]
) -> None:
    identifier = Identifier()
    for path in corpus[: len(SAMPLES)]:
        libmagic_calls.clear()
        info = identifier.identify(path)
        pronom = (info.matches[0].mime_types or ("",))[0] if info.matches else ""
        if pronom and not is_textual(pronom):
            assert libmagic_calls == [], f"{path.name}: siegfried's {pronom} settles it"
            assert (info.mime, info.mime_source, info.charset) == (pronom, "siegfried", None)
        else:
            assert [c[0] for c in libmagic_calls] == ["mime_and_charset"], path.name
    libmagic_calls.clear()
    infos = identifier.identify_many(corpus)
    gaps = [i for i in infos if not i.matches[0].mime or is_textual(i.mime)]
    assert len(libmagic_calls) == len(gaps) < len(corpus) / 2


def test_sources_of_the_mime_type(corpus: list[Path], in_process: list[FormatInfo]) -> None:
    for path, info in zip(corpus, in_process, strict=False):
        if PRONOM_MIME[info.puid]:
            assert info.mime_source == "siegfried", path.name
        else:  # AIFF 1.3, Matroska, 7-Zip, XZ: PRONOM has no MIME type, libmagic has one
            assert info.mime_source == "libmagic", path.name
            assert info.mime and info.mime != "application/octet-stream", path.name
    by_name = {p.name: i for p, i in zip(corpus, in_process, strict=False)}
    assert by_name["toon.aiff"].mime == "audio/x-aiff"
    assert by_name["pakket.7z"].mime == "application/x-7z-compressed"
    assert all(i.magic_description == "" for i in in_process)


def test_charset_of_text_files(corpus: list[Path], in_process: list[FormatInfo]) -> None:
    by_name = {p.name: i for p, i in zip(corpus, in_process, strict=False)}
    utf8, latin1 = by_name["utf8.txt"], by_name["latin1.txt"]
    assert (utf8.puid, utf8.mime, utf8.mime_source, utf8.charset) == (
        "x-fmt/111",
        "text/plain",
        "siegfried",
        "utf-8",
    )
    assert (latin1.mime, latin1.charset) == ("text/plain", "iso-8859-1")
    for name in ("pagina.html", "catalogus.xml", "data.json", "lijst.csv", "tekening.svg"):
        assert by_name[name].charset == "us-ascii", name
    for name in ("document.pdf", "brief.rtf", "beeld.png", "lied.mp3", "pakket.zip", "toon.aiff"):
        assert by_name[name].charset is None, name


def test_unknown_and_empty_files_get_libmagic_mime(
    tmp_path: Path, libmagic_calls: list[tuple[str, int]]
) -> None:
    noise = tmp_path / "noise"
    noise.write_bytes(random.Random(3).randbytes(4096))
    text = tmp_path / "no-extension"
    text.write_text("Gewoon wat tekst, één regel.\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    infos = Identifier().identify_many([noise, text, empty])
    assert [(i.puid, i.mime, i.mime_source, i.charset) for i in infos] == [
        (UNKNOWN, "application/octet-stream", "libmagic", None),
        (infos[1].puid, "text/plain", infos[1].mime_source, "utf-8"),
        (UNKNOWN, "application/x-empty", "libmagic", None),
    ]
    assert infos[0].warnings and "no match" in infos[0].warnings[0]
    assert infos[2].warnings == ("empty file",)
    assert len(libmagic_calls) == 3


def test_describe_adds_one_call_and_the_description(
    corpus: list[Path], libmagic_calls: list[tuple[str, int]]
) -> None:
    by_name = {p.name: p for p in corpus[: len(SAMPLES)]}
    identifier = Identifier(describe=True)
    pdf = identifier.identify(by_name["document.pdf"])
    assert "PDF document" in pdf.magic_description
    assert [c[0] for c in libmagic_calls] == ["describe"]
    libmagic_calls.clear()
    text = identifier.identify(by_name["utf8.txt"])
    assert "text" in text.magic_description.lower() and text.charset == "utf-8"
    assert sorted(c[0] for c in libmagic_calls) == ["describe", "mime_and_charset"]


def test_cli_describe(corpus: list[Path]) -> None:
    path = next(p for p in corpus if p.name == "document.pdf")
    result = CliRunner().invoke(cli, ["identify", "--json", "--describe", str(path)])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    assert (record["puid"], record["mime"], record["mime_source"]) == (
        "fmt/18",
        "application/pdf",
        "siegfried",
    )
    assert "PDF document" in record["description"]
    plain = CliRunner().invoke(cli, ["identify", str(path)])
    assert plain.stdout.split("\t")[:3] == [str(path), "fmt/18", "application/pdf"]
    assert os.path.basename(path) in plain.stdout
