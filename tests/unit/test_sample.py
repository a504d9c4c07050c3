"""The sample delivery that `make run` ingests."""

from __future__ import annotations

import csv
import hashlib
import re
import unicodedata
import wave
from pathlib import Path

import pytest
from PIL import Image

from preserve.descriptive import read_metadata_csv
from preserve.formats import Identifier, image_properties, is_image
from preserve.sample import write_sample_delivery


def digests(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def delivery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Path]]:
    dest = tmp_path_factory.mktemp("sample") / "sample-delivery"
    return dest, write_sample_delivery(dest)


def test_layout(delivery: tuple[Path, list[Path]]) -> None:
    dest, paths = delivery
    assert paths == [
        dest / "photographs-1932",
        dest / "born-digital-texts",
        dest / "radio-interview.wav",
    ]
    assert paths[0].is_dir() and paths[1].is_dir() and paths[2].is_file()
    photos = sorted(p.name for p in paths[0].iterdir())
    assert len(photos) == 3
    assert sum(name.endswith(".jpg") for name in photos) == 2
    assert sum(name.endswith(".tif") for name in photos) == 1
    texts = sorted(p.name for p in paths[1].iterdir())
    assert any(name.endswith(".pdf") for name in texts)
    accented = [n for n in texts if not n.isascii()]
    assert len(accented) == 1
    assert accented[0] == unicodedata.normalize("NFC", accented[0])
    assert "é" in accented[0]
    assert all(n.isascii() for n in texts if n not in accented)
    assert not [p for p in dest.rglob(".*")], "no temporary files left behind"


def test_formats_identify_as_expected(delivery: tuple[Path, list[Path]]) -> None:
    dest, _ = delivery
    identifier = Identifier()
    puids = {
        p.relative_to(dest).as_posix(): identifier.identify(p).puid
        for p in dest.rglob("*")
        if p.is_file()
    }
    jpegs = [v for k, v in puids.items() if k.endswith(".jpg")]
    assert len(jpegs) == 2 and all(v in {"fmt/43", "fmt/44", "fmt/645"} for v in jpegs)
    assert [v for k, v in puids.items() if k.endswith(".tif")] == ["fmt/353"]
    assert [v for k, v in puids.items() if k.endswith(".pdf")] == ["fmt/18"]  # PDF 1.4
    assert puids["radio-interview.wav"] in {"fmt/141", "fmt/6"}
    texts = [v for k, v in puids.items() if k.endswith(".txt")]
    assert len(texts) == 2 and set(texts) == {"x-fmt/111"}


def test_photographs_carry_the_promised_properties(delivery: tuple[Path, list[Path]]) -> None:
    _, paths = delivery
    identifier = Identifier()
    for jpeg in sorted(paths[0].glob("*.jpg")):
        info = identifier.identify(jpeg)
        assert is_image(info)
        props = image_properties(jpeg, info.mime)
        assert props is not None and props.complete
        assert props.exif_datetime and props.exif_datetime.startswith("1932-")
        assert props.camera_make and props.camera_model
        assert props.orientation in {1, 6}
        assert (props.x_resolution, props.y_resolution, props.resolution_unit) == (300, 300, "dpi")
        assert props.icc_profile and "sRGB" in props.icc_profile
        assert 200 <= max(props.width, props.height) <= 1000
    (tiff,) = paths[0].glob("*.tif")
    props = image_properties(tiff)
    assert props is not None and props.complete
    assert props.mode.startswith("I;16") and props.bit_depth == 16
    with Image.open(tiff) as img:
        low, high = img.getextrema()
        assert high - low > 30_000  # a drawing over the 16-bit range, not a flat grey


def test_text_and_pdf_content(delivery: tuple[Path, list[Path]]) -> None:
    _, paths = delivery
    texts = {p.name: p.read_bytes() for p in paths[1].glob("*.txt")}
    joined = b"".join(texts.values()).decode("utf-8")  # valid UTF-8
    assert "Ceci n'est pas" in joined and "café" in joined
    (pdf,) = paths[1].glob("*.pdf")
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF-1.4") and data.rstrip().endswith(b"%%EOF")
    # the cross-reference table points at every object, byte exact
    startxref = int(re.search(rb"startxref\s+(\d+)\s+%%EOF\s*$", data).group(1))  # type: ignore[union-attr]
    assert data[startxref:].startswith(b"xref\n")
    header = re.match(rb"xref\n0 (\d+)\n", data[startxref:])
    assert header
    count = int(header.group(1))
    rows = data[startxref + header.end() :].split(b"\n")[:count]
    assert rows[0] == b"0000000000 65535 f "
    for number, row in enumerate(rows[1:], start=1):
        assert len(row) == 19 and row.endswith(b" n ")
        offset = int(row[:10])
        assert data[offset:].startswith(b"%d 0 obj" % number)
    stream = re.search(rb"<< /Length (\d+) >>\nstream\n", data)
    assert stream
    length = int(stream.group(1))
    assert data[stream.end() + length :].startswith(b"endstream")


def test_wav_is_two_seconds_of_16_bit_44k(delivery: tuple[Path, list[Path]]) -> None:
    _, paths = delivery
    with wave.open(str(paths[2])) as w:
        assert (w.getsampwidth(), w.getframerate()) == (2, 44100)
        assert w.getnframes() == 2 * 44100


def test_metadata_csv(delivery: tuple[Path, list[Path]]) -> None:
    dest, paths = delivery
    csv_path = dest.parent / "sample-delivery.csv"
    with open(csv_path, newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        assert reader.fieldnames == [
            "path",
            "title",
            "creator",
            "date",
            "description",
            "rights",
            "subject",
            "identifier",
            "dcterms:spatial",
            "dcterms:created",
        ]
        rows = list(reader)
    packages = [r for r in rows if Path(r["path"]) in paths]
    items = [r for r in rows if Path(r["path"]) not in paths]
    assert [Path(r["path"]) for r in packages] == paths
    assert all(Path(r["path"]).is_absolute() for r in rows)
    for row in packages:
        assert all(row[k] for k in ("title", "creator", "date", "rights", "identifier"))
        assert re.fullmatch(r"\d{4}(-\d{2}-\d{2})?", row["date"])
    # item-level rows: single photographs inside the photographs folder
    assert [Path(r["path"]).parent for r in items] == [paths[0], paths[0]]
    assert all(Path(r["path"]).is_file() for r in items)


def test_metadata_csv_follows_its_own_rules(delivery: tuple[Path, list[Path]]) -> None:
    """Several values are separated by '|', never '; ' (four subjects stay four)."""
    dest, paths = delivery
    table = read_metadata_csv(dest.parent / "sample-delivery.csv")
    photographs = table[paths[0].resolve()]
    assert photographs["subject"] == ["Antwerp", "harbours", "markets", "photography"]
    assert photographs["rights"] == ["Public domain", "digitisation: CC0 1.0"]
    assert photographs["dcterms:spatial"] == ["Antwerp"]
    assert not any("; " in v for fields in table.values() for vs in fields.values() for v in vs)
    harbour = table[(paths[0] / "harbour-antwerp-1932.jpg").resolve()]
    assert harbour["dcterms:created"] == ["1932-06-12"]


def test_identical_bytes_on_every_run(tmp_path: Path) -> None:
    first = tmp_path / "a" / "sample-delivery"
    second = tmp_path / "b" / "sample-delivery"
    write_sample_delivery(first)
    before = digests(first)
    write_sample_delivery(first)  # regenerating in place changes nothing
    assert digests(first) == before
    write_sample_delivery(second)  # nor does a fresh directory
    assert digests(second) == before
    csv_a = (first.parent / "sample-delivery.csv").read_text(encoding="utf-8")
    csv_b = (second.parent / "sample-delivery.csv").read_text(encoding="utf-8")
    assert csv_a.replace(str(first), "X") == csv_b.replace(str(second), "X")


def test_relative_destination_gives_absolute_paths(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    paths = write_sample_delivery(Path("rel"))
    assert all(p.is_absolute() for p in paths)
    text = (tmp_path / "rel.csv").read_text(encoding="utf-8")
    assert str(tmp_path / "rel" / "radio-interview.wav") in text
