"""Format identification and image properties against the real siegfried, libmagic and Pillow."""

from __future__ import annotations

import io
import random
import struct
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from preserve.errors import InvalidInput
from preserve.formats import (
    Identifier,
    bit_depth_for_mode,
    identify_files,
    image_properties,
    is_image,
    media_type,
    shutdown_pool,
    start_pool,
    submit_identification,
)
from preserve.formats.images import exif_iso8601
from tests.integration import format_samples


@pytest.fixture(scope="module")
def identifier() -> Identifier:
    return Identifier()


def minimal_pdf() -> bytes:
    return format_samples.pdf()


def jpeg_with_exif(width: int = 64, height: int = 48) -> bytes:
    img = Image.new("RGB", (width, height), (200, 120, 40))
    for x in range(width):
        img.putpixel((x, x % height), (0, 0, 255))
    exif = Image.Exif()
    exif[271] = "Acme"
    exif[272] = "Scanner 3000"
    exif[274] = 6
    exif[306] = "2024:02:03 04:05:06"
    exif.get_ifd(0x8769)[36867] = "1932:06:12 14:30:00"
    out = io.BytesIO()
    img.save(out, "JPEG", quality=85, dpi=(300, 300), exif=exif.tobytes())
    return out.getvalue()


def srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def tiff16(width: int = 40, height: int = 30) -> bytes:
    data = b"".join(
        struct.pack("<H", (x * 1000 + y * 50) % 65536) for y in range(height) for x in range(width)
    )
    out = io.BytesIO()
    Image.frombytes("I;16", (width, height), data).save(out, "TIFF", dpi=(600, 600))
    return out.getvalue()


def wav_bytes() -> bytes:
    return format_samples.wav(frames=4410)


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------------------------------------


def test_tool_and_signature_versions_are_recorded(identifier: Identifier, tmp_path: Path) -> None:
    assert identifier.tool.startswith("siegfried ")
    assert identifier.tool.split()[1][0].isdigit()
    assert "DROID_SignatureFile" in identifier.signature_version
    info = identifier.identify(write(tmp_path / "a.txt", b"hello\n"))
    assert info.tool == identifier.tool
    assert info.signature_version == identifier.signature_version


def test_plain_text(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "notes.txt", "Ceci n'est pas un café.\n".encode()))
    assert info.puid == "x-fmt/111"
    assert info.format_name == "Plain Text File"
    assert (info.mime, info.mime_source, info.charset) == ("text/plain", "siegfried", "utf-8")
    assert media_type(info) == "text/plain; charset=utf-8"  # what the catalogue and PREMIS say
    assert info.matches and info.matches[0].puid == "x-fmt/111"
    assert not is_image(info)


def test_latin1_text_records_its_charset_in_the_media_type(
    identifier: Identifier, tmp_path: Path
) -> None:
    info = identifier.identify(
        write(tmp_path / "oud.txt", "Één café, één été.\n".encode("latin-1"))
    )
    assert info.charset == "iso-8859-1"
    assert media_type(info) == "text/plain; charset=iso-8859-1"


def test_media_type_of_binary_has_no_charset(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "doc.pdf", minimal_pdf()))
    assert media_type(info) == info.mime == "application/pdf"


def test_pdf(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "doc.pdf", minimal_pdf()))
    assert info.puid.startswith("fmt/")
    assert info.puid == "fmt/18"  # PDF 1.4
    assert "PDF" in info.format_name
    assert info.mime == "application/pdf"
    assert info.mime_source == "siegfried"
    assert info.charset is None
    assert info.magic_description == ""  # only when asked for
    assert not is_image(info)


def test_description_only_when_asked_for(tmp_path: Path) -> None:
    path = write(tmp_path / "doc.pdf", minimal_pdf())
    info = Identifier(describe=True).identify(path)
    assert "PDF document" in info.magic_description
    assert (info.mime, info.mime_source) == ("application/pdf", "siegfried")
    assert identify_files([path], describe=True) == [info]


def test_pdf_identified_by_content_not_by_name(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "no-extension", minimal_pdf()))
    assert info.puid == "fmt/18"


def test_jpeg_with_exif(identifier: Identifier, tmp_path: Path) -> None:
    path = write(tmp_path / "photo.jpg", jpeg_with_exif())
    info = identifier.identify(path)
    assert info.puid.startswith("fmt/")
    assert info.puid in {"fmt/43", "fmt/44", "fmt/645"}
    assert info.mime == "image/jpeg"
    assert is_image(info)
    props = image_properties(path, info.mime)
    assert props is not None
    assert (props.width, props.height, props.mode, props.bit_depth) == (64, 48, "RGB", 8)
    assert props.exif_datetime == "1932-06-12T14:30:00"  # DateTimeOriginal wins, in ISO 8601
    assert props.camera_make == "Acme"
    assert props.camera_model == "Scanner 3000"
    assert props.orientation == 6
    assert (props.x_resolution, props.y_resolution, props.resolution_unit) == (300, 300, "dpi")
    assert props.complete is True
    assert props.decode_error is None
    assert props.icc_profile is None


def test_exif_datetime_falls_back_to_datetime(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[306] = "2001:01:01 00:00:00"
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "JPEG", exif=exif.tobytes())
    props = image_properties(write(tmp_path / "dt.jpg", out.getvalue()))
    assert props is not None and props.exif_datetime == "2001-01-01T00:00:00"
    assert props.camera_make is None and props.orientation is None


def test_exif_datetime_with_offset_and_subseconds(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[306] = "2024:01:15 10:00:00"
    sub = exif.get_ifd(0x8769)
    sub[36867] = "2023:04:05 10:11:12"  # DateTimeOriginal
    sub[36881] = "+02:00"  # OffsetTimeOriginal
    sub[37521] = "25"  # SubSecTimeOriginal
    sub[36880] = "+01:00"  # OffsetTime (of DateTime): not used for DateTimeOriginal
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "JPEG", exif=exif.tobytes())
    props = image_properties(write(tmp_path / "offset.jpg", out.getvalue()))
    assert props is not None and props.exif_datetime == "2023-04-05T10:11:12.25+02:00"


def test_exif_datetime_unknown_falls_back_then_gives_none(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[306] = "2001:02:03 04:05:06"
    exif.get_ifd(0x8769)[36867] = "    :  :     :  :  "  # EXIF's way of saying unknown
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "JPEG", exif=exif.tobytes())
    props = image_properties(write(tmp_path / "unknown.jpg", out.getvalue()))
    assert props is not None and props.exif_datetime == "2001-02-03T04:05:06"
    exif[306] = "0000:00:00 00:00:00"
    out = io.BytesIO()
    Image.new("L", (8, 8)).save(out, "JPEG", exif=exif.tobytes())
    props = image_properties(write(tmp_path / "zeros.jpg", out.getvalue()))
    assert props is not None and props.exif_datetime is None


@pytest.mark.parametrize(
    ("value", "offset", "subseconds", "expected"),
    [
        ("2023:04:05 10:11:12", None, None, "2023-04-05T10:11:12"),
        ("2023:04:05 10:11:12", "-05:30", None, "2023-04-05T10:11:12-05:30"),
        ("2023:04:05 10:11:12", "Z", "007", "2023-04-05T10:11:12.007Z"),
        ("2023:04:05 10:11:12", "garbage", "x", "2023-04-05T10:11:12"),
        ("2023:04:05", None, None, "2023-04-05"),
        ("2023-04-05T10:11:12", None, None, "2023-04-05T10:11:12"),
        ("2023:02:30 10:11:12", None, None, None),
        ("2023:04:05 25:11:12", None, None, None),
        ("not a date", None, None, None),
        ("", None, None, None),
        (None, None, None, None),
    ],
)
def test_exif_iso8601(
    value: str | None, offset: str | None, subseconds: str | None, expected: str | None
) -> None:
    assert exif_iso8601(value, offset, subseconds) == expected


def test_tiff_16_bit(identifier: Identifier, tmp_path: Path) -> None:
    path = write(tmp_path / "scan.tif", tiff16())
    info = identifier.identify(path)
    assert info.puid in {"fmt/353", "fmt/1917", "x-fmt/387", "x-fmt/399", "x-fmt/388"}
    assert info.mime == "image/tiff"
    assert is_image(info)
    props = image_properties(path, info.mime)
    assert props is not None
    assert props.mode.startswith("I;16")
    assert props.bit_depth == 16
    assert (props.width, props.height) == (40, 30)
    assert (props.x_resolution, props.resolution_unit) == (600, "dpi")
    assert props.complete


def test_png_with_icc_profile(identifier: Identifier, tmp_path: Path) -> None:
    out = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 20, 30)).save(out, "PNG", icc_profile=srgb_icc(), dpi=(72, 72))
    path = write(tmp_path / "icc.png", out.getvalue())
    info = identifier.identify(path)
    assert info.puid.startswith("fmt/")  # PNG 1.x (fmt/11, fmt/12, fmt/13)
    assert info.mime == "image/png"
    assert is_image(info)
    props = image_properties(path, info.mime)
    assert props is not None
    assert props.icc_profile and "sRGB" in props.icc_profile
    assert props.complete
    assert props.resolution_unit == "dpi"
    assert props.x_resolution is not None and abs(props.x_resolution - 72) < 0.1


def test_wav(identifier: Identifier, tmp_path: Path) -> None:
    path = write(tmp_path / "tone.wav", wav_bytes())
    info = identifier.identify(path)
    assert info.puid in {"fmt/141", "fmt/6", "fmt/142", "fmt/143"}
    assert "wav" in info.mime.lower()
    assert not is_image(info)
    assert image_properties(path, info.mime) is None
    assert image_properties(path) is None  # Pillow itself cannot open it either


def test_random_bytes_are_unknown_with_a_warning(identifier: Identifier, tmp_path: Path) -> None:
    data = random.Random(7).randbytes(4096)
    info = identifier.identify(write(tmp_path / "mystery", data))
    assert info.puid == "UNKNOWN"
    assert info.warnings
    assert any("no match" in w for w in info.warnings)
    assert (info.mime, info.mime_source, info.charset) == (
        "application/octet-stream",
        "libmagic",
        None,
    )
    assert not is_image(info)


def test_extension_only_matches_keep_the_warning(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "noise.bin", random.Random(8).randbytes(512)))
    # whatever siegfried says from the name alone, it says so in the basis and a warning
    if info.puid != "UNKNOWN":
        assert "extension" in info.basis
        assert any("extension" in w for w in info.warnings)


def test_zero_byte_file(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "empty.txt", b""))
    assert info.puid == "UNKNOWN"
    assert info.warnings == ("empty file",)
    assert (info.mime, info.mime_source) == ("application/x-empty", "libmagic")
    assert info.tool == identifier.tool
    assert image_properties(tmp_path / "empty.txt") is None


def test_missing_and_unreadable_files_raise_invalid_input(
    identifier: Identifier, tmp_path: Path
) -> None:
    with pytest.raises(InvalidInput, match="missing\\.txt"):
        identifier.identify(tmp_path / "missing.txt")
    with pytest.raises(InvalidInput, match="not a regular file"):
        identifier.identify(tmp_path)
    with pytest.raises(InvalidInput, match="missing\\.png"):
        image_properties(tmp_path / "missing.png")


def test_non_utf8_file_name(identifier: Identifier, tmp_path: Path) -> None:
    import os

    name = os.fsdecode(b"caf\xe9.pdf")  # Latin-1 bytes: not valid UTF-8
    path = tmp_path / name
    try:
        path.write_bytes(minimal_pdf())
    except (OSError, UnicodeEncodeError):
        pytest.skip("the file system refuses non-UTF-8 names")
    assert identifier.identify(path).puid == "fmt/18"


def test_truncated_jpeg_is_incomplete(identifier: Identifier, tmp_path: Path) -> None:
    data = jpeg_with_exif(400, 300)
    path = write(tmp_path / "cut.jpg", data[: len(data) // 2])
    info = identifier.identify(path)
    assert is_image(info)
    props = image_properties(path, info.mime)
    assert props is not None
    assert (props.width, props.height) == (400, 300)
    assert props.complete is False
    assert props.decode_error and "truncated" in props.decode_error


def test_decompression_bomb_gives_incomplete_not_an_exception(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.BytesIO()
    Image.new("L", (100, 100)).save(out, "PNG")
    path = write(tmp_path / "bomb.png", out.getvalue())
    # between the limit and twice the limit Pillow warns; above twice the limit it raises
    for limit in (6000, 4000):
        monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
        props = image_properties(path)
        assert props is not None
        assert props.complete is False
        assert props.decode_error and "decompression bomb" in props.decode_error
        assert (props.width, props.height) == (100, 100)


def test_not_an_image_returns_none(tmp_path: Path) -> None:
    assert image_properties(write(tmp_path / "doc.pdf", minimal_pdf())) is None
    assert image_properties(write(tmp_path / "t.txt", b"text"), "text/plain") is None


def test_bit_depth_for_mode() -> None:
    assert bit_depth_for_mode("I;16") == 16
    assert bit_depth_for_mode("I;16B") == 16
    assert bit_depth_for_mode("RGB") == 8
    assert bit_depth_for_mode("1") == 1
    assert bit_depth_for_mode("F") == 32


def test_several_matches_are_all_kept(identifier: Identifier, tmp_path: Path) -> None:
    info = identifier.identify(write(tmp_path / "x.pdf", minimal_pdf()))
    assert info.matches
    assert info.puid == info.matches[0].puid
    assert all(isinstance(m.puid, str) and m.puid for m in info.matches)


def _corpus(root: Path, count: int) -> list[Path]:
    makers = [
        lambda i: (f"t{i}.txt", f"line {i}\n".encode()),
        lambda i: (f"d{i}.pdf", minimal_pdf()),
        lambda i: (f"r{i}", random.Random(i).randbytes(200)),
        lambda i: (f"e{i}.dat", b""),
        lambda i: (f"w{i}.wav", wav_bytes()[:2000]),
    ]
    jpeg = jpeg_with_exif(16, 16)
    makers.append(lambda i: (f"j{i}.jpg", jpeg))
    paths = []
    for i in range(count):
        name, data = makers[i % len(makers)](i)
        paths.append(write(root / name, data))
    return paths


@pytest.mark.slow
def test_multiprocess_equals_in_process(tmp_path: Path) -> None:
    paths = _corpus(tmp_path, 250)
    serial = identify_files(paths)
    parallel = identify_files(paths, workers=2)
    assert len(serial) == len(parallel) == 250
    assert parallel == serial
    assert serial[0].puid == "x-fmt/111"
    assert serial[1].puid == "fmt/18"
    assert serial[3].warnings == ("empty file",)


def test_identify_files_small_batches_stay_in_process(tmp_path: Path) -> None:
    paths = _corpus(tmp_path, 6)
    assert [i.puid for i in identify_files(paths, workers=4)] == [
        i.puid for i in identify_files(paths)
    ]
    assert identify_files([]) == []


def test_batch_equals_one_at_a_time(identifier: Identifier, tmp_path: Path) -> None:
    import os

    paths = _corpus(tmp_path, 150)  # more than one siegfried batch
    odd = tmp_path / os.fsdecode(b"caf\xe9.pdf")
    try:
        odd.write_bytes(minimal_pdf())
        paths.insert(70, odd)  # a name siegfried cannot take, in the middle of a batch
    except (OSError, UnicodeEncodeError):
        pass
    batched = identifier.identify_many(paths)
    assert batched == [identifier.identify(p) for p in paths]
    assert [i.puid for i in batched[:4]] == ["x-fmt/111", "fmt/18", batched[2].puid, "UNKNOWN"]
    if odd in paths:
        assert batched[70].puid == "fmt/18"


def test_first_bad_path_in_order_is_reported(identifier: Identifier, tmp_path: Path) -> None:
    paths = _corpus(tmp_path, 80)
    paths[30] = tmp_path / "gone-1.txt"
    paths[75] = tmp_path  # a folder
    with pytest.raises(InvalidInput, match="gone-1\\.txt"):
        identifier.identify_many(paths)
    outcomes = identifier.identify_outcomes(paths)
    assert isinstance(outcomes[30], InvalidInput)
    assert isinstance(outcomes[75], InvalidInput)
    assert "not a regular file" in str(outcomes[75])
    assert outcomes[31] == identifier.identify(paths[31])


@pytest.mark.slow
def test_pool_is_reused_and_reports_errors_in_order(tmp_path: Path) -> None:
    paths = _corpus(tmp_path, 400)
    start_pool(2)
    try:
        serial = identify_files(paths)
        assert identify_files(paths, workers=2) == serial
        assert identify_files(paths, workers=2) == serial  # the same helpers, again
        bad = list(paths)
        bad[10] = tmp_path / "missing-10.bin"  # taken by a helper
        bad[390] = tmp_path / "missing-390.bin"  # taken by this process
        with pytest.raises(InvalidInput, match="missing-10\\.bin"):
            identify_files(bad, workers=2)
        assert identify_files(paths[:3], workers=2) == serial[:3]
    finally:
        shutdown_pool()
    assert identify_files(paths, workers=2) == serial  # started again when needed
    shutdown_pool()


@pytest.mark.slow
def test_submitted_batches_equal_in_process(identifier: Identifier, tmp_path: Path) -> None:
    paths = _corpus(tmp_path, 130)
    serial = identifier.identify_many(paths)
    start_pool(2)
    try:
        pending = [submit_identification(paths[i : i + 64], workers=2) for i in (0, 64, 128)]
        assert [i for p in pending for i in p.result()] == serial
        cancelled = submit_identification(paths[:10], workers=2)
        cancelled.cancel()
        assert cancelled.result() == serial[:10]  # done here if no helper had started on it
        bad = submit_identification([paths[0], tmp_path / "gone.bin"], workers=2)
        with pytest.raises(InvalidInput, match="gone\\.bin"):
            bad.result()
    finally:
        shutdown_pool()
    assert submit_identification(paths[:5], workers=1).result() == serial[:5]  # no helper


@pytest.mark.slow
def test_a_killed_helper_costs_nothing_but_time(tmp_path: Path) -> None:
    import os
    import signal
    import time

    from preserve.formats import pool as helpers

    paths = _corpus(tmp_path, 300)
    serial = identify_files(paths)
    start_pool(2)
    try:
        assert identify_files(paths[:250], workers=2) == serial[:250]  # the helper is up
        assert helpers._pool is not None
        for pid in list(helpers._pool._processes):
            os.kill(pid, signal.SIGKILL)
        time.sleep(0.2)
        assert submit_identification(paths[:64], workers=2).result() == serial[:64]
        assert identify_files(paths, workers=2) == serial
        assert identify_files(paths, workers=2) == serial  # a new pool
    finally:
        shutdown_pool()


def test_wire_form_round_trip(identifier: Identifier, tmp_path: Path) -> None:
    from preserve.formats.pool import from_wire, to_wire

    paths = [*_corpus(tmp_path, 6), tmp_path / "missing.bin"]
    outcomes = identifier.identify_outcomes(paths)
    described = Identifier(describe=True).identify_outcomes(paths[:2])
    for outcome in [*outcomes, *described]:
        back = from_wire(to_wire(outcome))
        if isinstance(outcome, InvalidInput):
            assert isinstance(back, InvalidInput) and str(back) == str(outcome)
        else:
            assert back == outcome
