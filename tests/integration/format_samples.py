"""Small files of real formats, generated here (no downloads): Pillow, the standard library and
hand-written headers. Each sample is the smallest file that siegfried identifies by its content
(or its container), not by its name alone. Written for these tests; no third-party content.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import tarfile
import wave
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from PIL import Image


@dataclass(frozen=True)
class Sample:
    name: str  # file name, with the extension a producer would give it
    puids: frozenset[str]  # the PRONOM identifiers siegfried may answer
    make: Callable[[], bytes]


# ------------------------------------------------------------------------------- documents


def pdf() -> bytes:
    content = b"BT /F1 12 Tf 72 720 Td (Hello, PDF) Tj ET\n"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"endstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _zip(members: list[tuple[str, bytes]], *, stored_first: bool) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for index, (name, data) in enumerate(members):
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 2, 3, 4, 6))
            first = index == 0 and stored_first
            info.compress_type = zipfile.ZIP_STORED if first else zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return out.getvalue()


_ODF_NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0"'
)


def _odf(mimetype: str, body: str) -> bytes:
    manifest = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"'
        ' manifest:version="1.2">\n'
        f' <manifest:file-entry manifest:full-path="/" manifest:version="1.2"'
        f' manifest:media-type="{mimetype}"/>\n'
        ' <manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>\n'
        ' <manifest:file-entry manifest:full-path="meta.xml" manifest:media-type="text/xml"/>\n'
        "</manifest:manifest>\n"
    )
    content = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<office:document-content {_ODF_NS} office:version="1.2">'
        f"<office:body>{body}</office:body></office:document-content>\n"
    )
    meta = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<office:document-meta xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0"'
        ' office:version="1.2"><office:meta/></office:document-meta>\n'
    )
    return _zip(
        [
            ("mimetype", mimetype.encode()),
            ("content.xml", content.encode()),
            ("meta.xml", meta.encode()),
            ("META-INF/manifest.xml", manifest.encode()),
        ],
        stored_first=True,
    )


def odt() -> bytes:
    return _odf(
        "application/vnd.oasis.opendocument.text",
        "<office:text><text:p>Hallo, wereld</text:p></office:text>",
    )


def ods() -> bytes:
    return _odf(
        "application/vnd.oasis.opendocument.spreadsheet",
        "<office:spreadsheet><table:table table:name='Blad1'><table:table-row>"
        "<table:table-cell><text:p>1</text:p></table:table-cell>"
        "</table:table-row></table:table></office:spreadsheet>",
    )


_RELS = (
    '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
    'relationships/officeDocument" Target="{target}"/></Relationships>'
)


def _content_types(part: str, content_type: str) -> str:
    return (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
        '<Default Extension="rels" '
        'ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
        '<Default Extension="xml" ContentType="application/xml"/>'
        f'<Override PartName="/{part}" ContentType="{content_type}"/></Types>'
    )


def docx() -> bytes:
    document = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        "<w:body><w:p><w:r><w:t>Hallo</w:t></w:r></w:p></w:body></w:document>"
    )
    ct = "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
    return _zip(
        [
            ("[Content_Types].xml", _content_types("word/document.xml", ct).encode()),
            ("_rels/.rels", _RELS.format(target="word/document.xml").encode()),
            ("word/document.xml", document.encode()),
        ],
        stored_first=False,
    )


def xlsx() -> bytes:
    workbook = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" '
        'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">'
        '<sheets><sheet name="Blad1" sheetId="1" r:id="rId1"/></sheets></workbook>'
    )
    sheet = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        '<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData></worksheet>'
    )
    wb_rels = (
        '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
        '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
        '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>'
    )
    ct = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"
    return _zip(
        [
            ("[Content_Types].xml", _content_types("xl/workbook.xml", ct).encode()),
            ("_rels/.rels", _RELS.format(target="xl/workbook.xml").encode()),
            ("xl/workbook.xml", workbook.encode()),
            ("xl/_rels/workbook.xml.rels", wb_rels.encode()),
            ("xl/worksheets/sheet1.xml", sheet.encode()),
        ],
        stored_first=False,
    )


def epub() -> bytes:
    container = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<container version="1.0" xmlns="urn:oasis:names:tc:opendocument:xmlns:container">'
        '<rootfiles><rootfile full-path="OEBPS/content.opf" '
        'media-type="application/oebps-package+xml"/></rootfiles></container>'
    )
    opf = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<package xmlns="http://www.idpf.org/2007/opf" version="3.0" unique-identifier="id">'
        '<metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
        '<dc:identifier id="id">urn:uuid:0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0</dc:identifier>'
        "<dc:title>Proef</dc:title><dc:language>nl</dc:language>"
        '<meta property="dcterms:modified">2024-01-02T03:04:05Z</meta></metadata>'
        '<manifest><item id="c1" href="c1.xhtml" media-type="application/xhtml+xml"/>'
        "</manifest><spine><itemref idref='c1'/></spine></package>"
    )
    chapter = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml">'
        "<head><title>1</title></head><body><p>Hallo</p></body></html>"
    )
    return _zip(
        [
            ("mimetype", b"application/epub+zip"),
            ("META-INF/container.xml", container.encode()),
            ("OEBPS/content.opf", opf.encode()),
            ("OEBPS/c1.xhtml", chapter.encode()),
        ],
        stored_first=True,
    )


def rtf() -> bytes:
    return (
        b"{\\rtf1\\ansi\\ansicpg1252\\deff0{\\fonttbl{\\f0 Times New Roman;}}"
        b"\\f0\\fs24 Hallo, wereld.\\par}\n"
    )


def postscript() -> bytes:
    return (
        b"%!PS-Adobe-3.0\n%%Creator: preserve tests\n%%Pages: 1\n%%EndComments\n"
        b"/Helvetica findfont 12 scalefont setfont 72 720 moveto (Hallo) show\nshowpage\n%%EOF\n"
    )


# ------------------------------------------------------------------------------- text


def html() -> bytes:
    return (
        b"<!DOCTYPE html>\n<html lang='nl'>\n<head><meta charset='utf-8'>"
        b"<title>Proef</title></head>\n<body><p>Hallo</p></body>\n</html>\n"
    )


def xml() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<catalogue><item id="1">Hallo</item></catalogue>\n'
    )


def svg() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8" standalone="no"?>\n'
        b'<!DOCTYPE svg PUBLIC "-//W3C//DTD SVG 1.1//EN" '
        b'"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd">\n'
        b'<svg xmlns="http://www.w3.org/2000/svg" version="1.1" width="10" height="10">'
        b'<rect width="10" height="10" fill="red"/></svg>\n'
    )


def xhtml() -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" '
        b'"http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Proef</title></head>'
        b"<body><p>Hallo</p></body></html>\n"
    )


def vcard() -> bytes:
    return b"BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jan Janssens\r\nN:Janssens;Jan;;;\r\nEND:VCARD\r\n"


def icalendar() -> bytes:
    return (
        b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//preserve//tests//NL\r\n"
        b"BEGIN:VEVENT\r\nUID:1@example.org\r\nDTSTAMP:20240102T030405Z\r\n"
        b"DTSTART:20240102T100000Z\r\nSUMMARY:Opening\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )


def json_() -> bytes:
    return b'{"title": "Proef", "items": [1, 2, 3], "nested": {"ok": true}}\n'


def csv_() -> bytes:
    return b"id,title,date\n1,Glasplaat,1932-06-12\n2,Affiche,1958-04-17\n"


def text_utf8() -> bytes:
    return "Ceci n'est pas un café. Één, twee, drie — ĳzer, smørrebrød.\n".encode()


def text_latin1() -> bytes:
    return "Ceci n'est pas un café. Déjà vu à la crème brûlée, ça va.\n".encode("latin-1")


def markdown() -> bytes:
    return b"# Proef\n\nEen *korte* tekst met een [link](https://example.org).\n"


# ------------------------------------------------------------------------------- images


def _image(fmt: str, mode: str = "RGB", size: tuple[int, int] = (16, 12), **kw: object) -> bytes:
    img = Image.new(mode, size, (200, 120, 40) if mode == "RGB" else 0)
    out = io.BytesIO()
    img.save(out, fmt, **kw)
    return out.getvalue()


def png() -> bytes:
    return _image("PNG")


def jpeg() -> bytes:
    return _image("JPEG", quality=80)


def gif() -> bytes:
    return _image("GIF", mode="P")


def tiff() -> bytes:
    return _image("TIFF")


def bmp() -> bytes:
    return _image("BMP")


def webp() -> bytes:
    return _image("WEBP", lossless=True)


def jp2() -> bytes:
    return _image("JPEG2000", size=(32, 32), irreversible=False)


def ico() -> bytes:
    return _image("ICO", size=(16, 16), sizes=[(16, 16)], bitmap_format="bmp")


def pcx() -> bytes:
    return _image("PCX")


# ------------------------------------------------------------------------------- audio, video


def wav(frames: int = 441) -> bytes:
    """A mono 16-bit 44.1 kHz WAV of a 440 Hz tone, ``frames`` samples long."""
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(44100)
        w.writeframes(
            b"".join(
                struct.pack("<h", int(8000 * math.sin(2 * math.pi * 440 * n / 44100)))
                for n in range(frames)
            )
        )
    return out.getvalue()


def _ieee_extended(value: float) -> bytes:
    """An 80-bit IEEE 754 extended float (AIFF's sample rate)."""
    mantissa, exponent = math.frexp(value)
    return struct.pack(">HQ", exponent + 16382, int(mantissa * (1 << 64)))


def aiff() -> bytes:
    frames = 441
    comm = struct.pack(">hLh", 1, frames, 16) + _ieee_extended(44100.0)
    ssnd = struct.pack(">LL", 0, 0) + bytes(frames * 2)
    body = b"AIFF" + b"COMM" + struct.pack(">L", len(comm)) + comm
    body += b"SSND" + struct.pack(">L", len(ssnd)) + ssnd
    return b"FORM" + struct.pack(">L", len(body)) + body


def _synchsafe(n: int) -> bytes:
    return bytes(((n >> 21) & 0x7F, (n >> 14) & 0x7F, (n >> 7) & 0x7F, n & 0x7F))


def mp3() -> bytes:
    title = b"\x03Proef"  # text encoding UTF-8, then the text
    frame = b"TIT2" + struct.pack(">L", len(title)) + b"\x00\x00" + title
    tag = b"ID3\x03\x00\x00" + _synchsafe(len(frame)) + frame
    # MPEG-1 Layer III, 128 kbit/s, 44.1 kHz, no padding, no CRC: 417-byte frames
    header = b"\xff\xfb\x90\x64"
    return tag + (header + bytes(417 - 4)) * 12


def _ogg_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte << 24
        for _ in range(8):
            crc = ((crc << 1) ^ 0x04C11DB7) if crc & 0x80000000 else crc << 1
            crc &= 0xFFFFFFFF
    return crc


def _ogg_page(packet: bytes, *, sequence: int, flags: int, granule: int = 0) -> bytes:
    segments = [255] * (len(packet) // 255) + [len(packet) % 255]
    header = b"OggS" + struct.pack("<BBqLLL", 0, flags, granule, 0x50524553, sequence, 0)
    header += bytes([len(segments)]) + bytes(segments)
    page = header + packet
    crc = _ogg_crc(page)
    return page[:22] + struct.pack("<L", crc) + page[26:]


def ogg_vorbis() -> bytes:
    ident = b"\x01vorbis" + struct.pack("<LBLlLlB", 0, 1, 44100, 0, 128000, 0, 0xB8) + b"\x01"
    comment = b"\x03vorbis" + struct.pack("<L", 8) + b"preserve" + struct.pack("<L", 0) + b"\x01"
    return _ogg_page(ident, sequence=0, flags=2) + _ogg_page(comment, sequence=1, flags=0)


def ogg_opus() -> bytes:
    head = b"OpusHead" + struct.pack("<BBHLhB", 1, 1, 312, 48000, 0, 0)
    tags = b"OpusTags" + struct.pack("<L", 8) + b"preserve" + struct.pack("<L", 0)
    return _ogg_page(head, sequence=0, flags=2) + _ogg_page(tags, sequence=1, flags=0)


def flac() -> bytes:
    # STREAMINFO: block sizes, frame sizes, 44.1 kHz, 1 channel, 16 bits, 441 samples, no MD5
    info = struct.pack(">HH", 4096, 4096) + b"\x00\x00\x00" + b"\x00\x00\x00"
    packed = (44100 << 44) | (0 << 41) | (15 << 36) | 441
    info += packed.to_bytes(8, "big") + bytes(16)
    return b"fLaC" + b"\x80" + len(info).to_bytes(3, "big") + info + bytes(64)


def _box(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">L", 8 + len(payload)) + kind + payload


def _mvhd() -> bytes:
    matrix = struct.pack(">9L", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
    body = struct.pack(">BxxxLLLL", 0, 0, 0, 1000, 0) + struct.pack(">LH", 0x10000, 0x100)
    body += bytes(10) + matrix + bytes(24) + struct.pack(">L", 2)
    return _box(b"mvhd", body)


def mp4() -> bytes:
    ftyp = _box(b"ftyp", b"isom" + struct.pack(">L", 512) + b"isomiso2mp41")
    return ftyp + _box(b"moov", _mvhd()) + _box(b"mdat", bytes(32))


def mov() -> bytes:
    ftyp = _box(b"ftyp", b"qt  " + struct.pack(">L", 0x20050300) + b"qt  ")
    return ftyp + _box(b"moov", _mvhd()) + _box(b"mdat", bytes(32))


def _ebml(doc_type: bytes) -> bytes:
    """An EBML header (Matroska, WebM): version, read version, DocType and its versions."""
    body = b"\x42\x86\x81\x01" + b"\x42\xf7\x81\x01" + b"\x42\xf2\x81\x04"
    body += b"\x42\xf3\x81\x08" + b"\x42\x82" + bytes([0x80 | len(doc_type)]) + doc_type
    body += b"\x42\x87\x81\x04" + b"\x42\x85\x81\x02"
    segment = b"\x18\x53\x80\x67\x01\x00\x00\x00\x00\x00\x00\x00"  # empty Segment
    return b"\x1a\x45\xdf\xa3" + bytes([0x80 | len(body)]) + body + segment


def matroska() -> bytes:
    return _ebml(b"matroska")


def webm() -> bytes:
    return _ebml(b"webm")


def avi() -> bytes:
    avih = struct.pack("<14L", 40000, 0, 0, 0x10, 1, 0, 1, 0, 16, 12, 0, 0, 0, 0)
    hdrl = b"hdrl" + b"avih" + struct.pack("<L", len(avih)) + avih
    movi = b"movi"
    body = b"AVI " + b"LIST" + struct.pack("<L", len(hdrl)) + hdrl
    body += b"LIST" + struct.pack("<L", len(movi)) + movi
    return b"RIFF" + struct.pack("<L", len(body)) + body


def midi() -> bytes:
    track = b"\x00\xff\x51\x03\x07\xa1\x20\x00\x90\x3c\x40\x60\x80\x3c\x40\x00\xff\x2f\x00"
    return (
        b"MThd"
        + struct.pack(">LHHH", 6, 0, 1, 96)
        + b"MTrk"
        + struct.pack(">L", len(track))
        + track
    )


# ------------------------------------------------------------------------------- archives


def zip_() -> bytes:
    return _zip([("a.txt", b"Hallo\n" * 20), ("b/c.txt", b"wereld\n" * 20)], stored_first=False)


def gzip_() -> bytes:
    return gzip.compress(b"Hallo, wereld\n" * 50, mtime=0)


def tar() -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        data = b"Hallo, wereld\n" * 20
        info = tarfile.TarInfo("hallo.txt")
        info.size, info.mtime = len(data), 1_700_000_000
        tf.addfile(info, io.BytesIO(data))
    return out.getvalue()


def bzip2() -> bytes:
    import bz2

    return bz2.compress(b"Hallo, wereld\n" * 50)


def sevenzip() -> bytes:
    # signature header of an empty archive: next header offset, size and CRC all zero
    start = struct.pack("<QQL", 0, 0, 0)
    return b"7z\xbc\xaf\x27\x1c\x00\x04" + struct.pack("<L", zlib.crc32(start)) + start


def xz() -> bytes:
    import lzma

    return lzma.compress(b"Hallo, wereld\n" * 50, format=lzma.FORMAT_XZ)


# ------------------------------------------------------------------------------- the table

SAMPLES: tuple[Sample, ...] = (
    Sample("document.pdf", frozenset({"fmt/18"}), pdf),
    Sample("brief.odt", frozenset({"fmt/290", "fmt/291", "fmt/1756"}), odt),
    Sample("tabel.ods", frozenset({"fmt/294", "fmt/295", "fmt/1755"}), ods),
    Sample("brief.docx", frozenset({"fmt/412"}), docx),
    Sample("tabel.xlsx", frozenset({"fmt/214"}), xlsx),
    Sample("boek.epub", frozenset({"fmt/483", "fmt/1440"}), epub),
    Sample("brief.rtf", frozenset({"fmt/355", "fmt/969", "fmt/53", "fmt/52", "fmt/50"}), rtf),
    Sample("affiche.ps", frozenset({"fmt/124", "x-fmt/408", "x-fmt/406", "x-fmt/407"}), postscript),
    Sample("pagina.html", frozenset({"fmt/471", "fmt/96", "fmt/100", "fmt/99"}), html),
    Sample("catalogus.xml", frozenset({"fmt/101"}), xml),
    Sample("tekening.svg", frozenset({"fmt/92", "fmt/91", "fmt/413"}), svg),
    Sample("pagina.xhtml", frozenset({"fmt/102", "fmt/103"}), xhtml),
    Sample("contact.vcf", frozenset({"fmt/395", "fmt/1880"}), vcard),
    Sample("agenda.ics", frozenset({"fmt/388"}), icalendar),
    Sample("data.json", frozenset({"fmt/817"}), json_),
    Sample("lijst.csv", frozenset({"x-fmt/18"}), csv_),
    Sample("utf8.txt", frozenset({"x-fmt/111"}), text_utf8),
    Sample("latin1.txt", frozenset({"x-fmt/111"}), text_latin1),
    Sample("lees-mij.md", frozenset({"fmt/1149"}), markdown),
    Sample("beeld.png", frozenset({"fmt/11", "fmt/12", "fmt/13"}), png),
    Sample("foto.jpg", frozenset({"fmt/43", "fmt/44", "fmt/645"}), jpeg),
    Sample("anim.gif", frozenset({"fmt/3", "fmt/4"}), gif),
    Sample("scan.tif", frozenset({"fmt/353"}), tiff),
    Sample("scherm.bmp", frozenset({"fmt/116", "fmt/117", "fmt/118", "fmt/119", "fmt/114"}), bmp),
    Sample("web.webp", frozenset({"fmt/566", "fmt/567", "fmt/568"}), webp),
    Sample("master.jp2", frozenset({"x-fmt/392"}), jp2),
    Sample("icoon.ico", frozenset({"x-fmt/418"}), ico),
    Sample(
        "oud.pcx", frozenset({"fmt/86", "fmt/87", "fmt/88", "fmt/89", "fmt/90", "x-fmt/81"}), pcx
    ),
    Sample("toon.wav", frozenset({"fmt/141", "fmt/6"}), wav),
    Sample("toon.aiff", frozenset({"x-fmt/135", "fmt/414"}), aiff),
    Sample("lied.mp3", frozenset({"fmt/134"}), mp3),
    Sample("lied.ogg", frozenset({"fmt/203"}), ogg_vorbis),
    Sample("stem.opus", frozenset({"fmt/946"}), ogg_opus),
    Sample("master.flac", frozenset({"fmt/279"}), flac),
    Sample("film.mp4", frozenset({"fmt/199"}), mp4),
    Sample("film.mov", frozenset({"x-fmt/384"}), mov),
    Sample("film.webm", frozenset({"fmt/573"}), webm),
    Sample("film.mkv", frozenset({"fmt/569"}), matroska),
    Sample("film.avi", frozenset({"fmt/5"}), avi),
    Sample("melodie.mid", frozenset({"x-fmt/230"}), midi),
    Sample("pakket.zip", frozenset({"x-fmt/263"}), zip_),
    Sample("pakket.gz", frozenset({"x-fmt/266"}), gzip_),
    Sample("pakket.tar", frozenset({"x-fmt/265"}), tar),
    Sample("pakket.bz2", frozenset({"x-fmt/268"}), bzip2),
    Sample("pakket.7z", frozenset({"fmt/484"}), sevenzip),
    Sample("pakket.xz", frozenset({"fmt/1098"}), xz),
)


def write_samples(folder: Path) -> list[Path]:
    """Write every sample into ``folder``; the paths, in the order of :data:`SAMPLES`."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for sample in SAMPLES:
        path = folder / sample.name
        path.write_bytes(sample.make())
        paths.append(path)
    return paths
