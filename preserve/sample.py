"""A small, reproducible sample delivery: what ``make run`` ingests.

Every run writes the same bytes (fixed dates inside the files, fixed seeds, no clock), so ingesting
it again finds the content already preserved.
"""

from __future__ import annotations

import csv
import io
import math
import random
import struct
import wave
from pathlib import Path

from PIL import Image, ImageCms, ImageDraw

__all__ = ["write_sample_delivery"]

PHOTOGRAPHS = "photographs-1932"
TEXTS = "born-digital-texts"
RECORDING = "radio-interview.wav"
CSV_HEADER = (
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
)

_SEED = 1932
# ICC header dateTimeNumber (bytes 24..35): littleCMS stamps the current time; fix it
_ICC_DATE = struct.pack(">6H", 2024, 1, 1, 0, 0, 0)


def write_sample_delivery(dest: Path) -> list[Path]:
    """Write the sample delivery under ``dest`` and its metadata CSV next to it.

    Returns the three paths to ingest: two package folders and one single file. The CSV is
    ``dest.parent / f"{dest.name}.csv"``.
    """
    dest = Path(dest).absolute()
    dest.mkdir(parents=True, exist_ok=True)
    photographs = dest / PHOTOGRAPHS
    texts = dest / TEXTS
    recording = dest / RECORDING
    photographs.mkdir(exist_ok=True)
    texts.mkdir(exist_ok=True)

    icc = _srgb_profile()
    _write(photographs / "harbour-antwerp-1932.jpg", _photo_jpeg(0, icc))
    _write(photographs / "market-square-1932.jpg", _photo_jpeg(1, icc))
    _write(photographs / "glass-plate-negative-1932.tif", _greyscale_tiff())

    _write(texts / "gedicht.txt", _POEM.encode("utf-8"))
    _write(texts / "programme-1932.pdf", _pdf(_PDF_LINES))
    _write(texts / "notes-caf\u00e9.txt", _NOTES.encode("utf-8"))  # NFC "é" in the name

    _write(recording, _wav())

    paths = [photographs, texts, recording]
    _write(dest.parent / f"{dest.name}.csv", _metadata_csv(paths))
    return paths


# ----------------------------------------------------------------------------------------------


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` unless the file already holds exactly these bytes (keeps mtimes stable)."""
    try:
        if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _srgb_profile() -> bytes:
    data = bytearray(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())
    data[24:36] = _ICC_DATE
    data[84:100] = bytes(16)  # no profile ID (it would cover the date)
    return bytes(data)


def _photo_jpeg(variant: int, icc: bytes) -> bytes:
    width, height = (480, 320) if variant == 0 else (320, 400)
    rng = random.Random(_SEED + variant)
    img = Image.new("RGB", (width, height))
    top = (70, 110, 160) if variant == 0 else (180, 150, 110)
    bottom = (200, 190, 170) if variant == 0 else (60, 50, 40)
    draw = ImageDraw.Draw(img)
    for y in range(height):
        t = y / (height - 1)
        r, g, b = (round(a + (z - a) * t) for a, z in zip(top, bottom, strict=True))
        draw.line([(0, y), (width, y)], fill=(r, g, b))
    for _ in range(12):
        x0, y0 = rng.randrange(width - 40), rng.randrange(height - 40)
        x1, y1 = x0 + rng.randrange(20, 120), y0 + rng.randrange(20, 90)
        shade = rng.randrange(40, 220)
        fill = (shade, max(0, shade - 20), max(0, shade - 40))
        if rng.random() < 0.5:
            draw.rectangle((x0, y0, x1, y1), fill=fill, outline=(20, 20, 20))
        else:
            draw.ellipse((x0, y0, x1, y1), fill=fill, outline=(240, 240, 230))
    # a sepia cast, as on the prints
    img = Image.merge(
        "RGB",
        (
            img.getchannel("R").point(lambda v: min(255, int(v * 1.07))),
            img.getchannel("G"),
            img.getchannel("B").point(lambda v: int(v * 0.82)),
        ),
    )

    exif = Image.Exif()
    exif[271] = "Hasselblad"  # Make
    exif[272] = "Flextight X5"  # Model
    exif[274] = 1 if variant == 0 else 6  # Orientation
    exif[305] = "preserve sample generator"  # Software
    exif[306] = "2024:01:15 10:00:00"  # DateTime (of the digitisation file)
    exif[270] = (
        "Harbour of Antwerp, 1932" if variant == 0 else "Market square, 1932"
    )  # ImageDescription
    exif[315] = "Unknown photographer"  # Artist
    exif[33432] = "Public domain"  # Copyright
    exif_ifd = exif.get_ifd(0x8769)
    exif_ifd[36867] = "1932:06:12 14:30:00" if variant == 0 else "1932:09:03 09:15:00"
    exif_ifd[36868] = "2024:01:15 10:00:00"  # DateTimeDigitized

    out = io.BytesIO()
    img.save(
        out,
        "JPEG",
        quality=90,
        dpi=(300, 300),
        icc_profile=icc,
        exif=exif.tobytes(),
        optimize=False,
        progressive=False,
    )
    return out.getvalue()


def _greyscale_tiff() -> bytes:
    width, height = 360, 280
    rng = random.Random(_SEED + 16)
    discs = [
        (rng.randrange(width), rng.randrange(height), rng.randrange(15, 60), rng.randrange(65536))
        for _ in range(6)
    ]
    pixels = bytearray()
    for y in range(height):
        for x in range(width):
            value = int(65535 * (x / (width - 1)) * (0.35 + 0.65 * y / (height - 1)))
            for cx, cy, r, level in discs:
                if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                    value = level
            pixels += struct.pack("<H", value)
    img = Image.frombytes("I;16", (width, height), bytes(pixels))
    out = io.BytesIO()
    img.save(
        out,
        "TIFF",
        compression="raw",
        dpi=(600, 600),
        tiffinfo={
            270: "Glass plate negative, 1932, scanned at 16 bits per sample",  # ImageDescription
            305: "preserve sample generator",  # Software
            306: "2024:01:15 10:00:00",  # DateTime
        },
    )
    return out.getvalue()


_POEM = """\
Haven, 1932

Ceci n'est pas une pipe, zei de schilder,
ceci n'est pas un port, zegt de foto.
Aan de kade een café, een kelner in wit,
de geur van koffie en teer, een meeuw die roept.

Wat het zilver bewaarde, bewaren wij nu:
bits in plaats van korrels, maar dezelfde zon.
Übermorgen, après-demain, overmorgen —
nog altijd leesbaar, nog altijd van ons.
"""

_NOTES = """\
Notes de travail — café Den Engel, Antwerpen

- Numérisation des plaques de verre : 16 bits, 600 dpi.
- Les tirages de 1932 : profil sRGB, 300 dpi.
- Interview radio : « souvenirs du port », enregistrée en mono.
- À vérifier : les légendes écrites au crayon au dos des photos.
"""

_PDF_LINES = (
    "Programme - Concert au caf\u00e9 du port",
    "Antwerpen, 12 juin 1932",
    "Ceci n'est pas un programme: a born-digital sample document.",
)


def _pdf_string(text: str) -> bytes:
    raw = text.encode("cp1252")  # WinAnsiEncoding for the standard fonts
    raw = raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")
    return b"(" + raw + b")"


def _pdf(lines: tuple[str, ...]) -> bytes:
    """A one-page PDF 1.4 with a correct cross-reference table, written by hand."""
    content = bytearray(b"BT\n/F1 18 Tf\n72 760 Td\n22 TL\n")
    for i, line in enumerate(lines):
        if i == 1:
            content += b"/F1 12 Tf\n"
        content += _pdf_string(line) + b" Tj\nT*\n"
    content += b"ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(content) + bytes(content) + b"endstream",
        b"<< /Title (Programme 1932) /Author (preserve sample generator) "
        b"/Producer (preserve) /CreationDate (D:20240115100000Z) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n" % (len(objects) + 1)
    out += b"0000000000 65535 f \n"
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\n" % (len(objects) + 1)
    out += b"startxref\n%d\n%%%%EOF\n" % xref
    return bytes(out)


def _wav() -> bytes:
    rate, seconds, frequency = 44100, 2, 440.0
    frames = bytearray()
    for n in range(rate * seconds):
        envelope = min(1.0, n / 2205, (rate * seconds - n) / 2205)  # 50 ms fade in and out
        sample = round(0.5 * 32767 * envelope * math.sin(2 * math.pi * frequency * n / rate))
        frames += struct.pack("<h", sample)
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return out.getvalue()


def _metadata_csv(paths: list[Path]) -> bytes:
    """The sample's ``--metadata`` CSV, following the rules it demonstrates (README, "Describing
    a delivery: the metadata CSV"): several values in one cell separated by ``|``, qualified
    DCMI terms as ``dcterms:NAME``, and rows for single files (``PATH/FILE``)."""
    photographs, texts, recording = paths
    rows = [
        (
            str(photographs),
            "Photographs of Antwerp, 1932",
            "Unknown photographer",
            "1932",
            "Two digitised prints and one glass plate negative of the harbour and the market "
            "square of Antwerp.",
            "Public domain|digitisation: CC0 1.0",
            "Antwerp|harbours|markets|photography",
            "SAMPLE-PH-1932",
            "Antwerp",
            "",
        ),
        (
            str(photographs / "harbour-antwerp-1932.jpg"),
            "Harbour of Antwerp",
            "Unknown photographer",
            "",
            "Digitised print of the harbour.",
            "",
            "harbours",
            "SAMPLE-PH-1932-001",
            "Antwerp, harbour",
            "1932-06-12",
        ),
        (
            str(photographs / "market-square-1932.jpg"),
            "Market square of Antwerp",
            "Unknown photographer",
            "",
            "Digitised print of the market square.",
            "",
            "markets",
            "SAMPLE-PH-1932-002",
            "Antwerp, Grote Markt",
            "1932-09-03",
        ),
        (
            str(texts),
            "Born-digital texts about the 1932 collection",
            "Sample Archive Service",
            "2024-01-15",
            "A poem, working notes and a concert programme written for the sample collection.",
            "CC BY 4.0",
            "poetry|concerts|cafés",
            "SAMPLE-TX-2024",
            "",
            "",
        ),
        (
            str(recording),
            "Radio interview (test tone)",
            "Sample Archive Service",
            "2024-01-15",
            "Two seconds of a 440 Hz tone standing in for a radio interview.",
            "CC0 1.0",
            "radio|oral history",
            "SAMPLE-AU-2024",
            "",
            "",
        ),
    ]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    writer.writerows(rows)
    return out.getvalue().encode("utf-8")
