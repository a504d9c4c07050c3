"""``python -m bench.web_folder --quick`` runs end to end (200 files chosen through the ingest
page's folder input in Chromium, uploaded to ``preserve serve``) and merges its section; no
timing is asserted. Skipped, loudly, without /usr/bin/chromium (as every browser test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from bench import web_folder
from tests.browser.conftest import require_chromium

REPO = Path(__file__).resolve().parents[2]


def test_merge_places_the_section_after_the_tus_upload_and_replaces_only_it() -> None:
    document = "# Benchmarks\n\n## Web catalogue\n\nw\n\n## Upload (tus)\n\nt\n\n## Method\n\nm\n"
    added = web_folder.merge_section(document, [web_folder.SECTION, "", "first"])
    assert added.index("\nt\n") < added.index("first") < added.index("## Method")
    again = web_folder.merge_section(added, [web_folder.SECTION, "", "second"])
    assert "first" not in again and "second" in again
    assert again.count(web_folder.SECTION) == 1
    assert again.replace("second", "first") == added
    # no tus section yet: before "## Method"
    alone = web_folder.merge_section("# B\n\n## Web catalogue\n\nw\n\n## Method\n\nm\n", ["x"])
    assert alone.index("\nw\n") < alone.index("\nx\n") < alone.index("## Method")


def test_the_folder_has_nested_folders_images_and_small_files(tmp_path: Path) -> None:
    folder = web_folder.make_folder(tmp_path / "d", 250)
    files = [p for p in (tmp_path / "d").rglob("*") if p.is_file()]
    assert folder.files == len(files) == 250
    assert folder.images == sum(1 for p in files if p.suffix == ".png") == 50
    assert all(p.read_bytes().startswith(b"\x89PNG\r\n\x1a\n") for p in files if p.suffix == ".png")
    assert all(len(p.relative_to(tmp_path / "d").parts) >= 3 for p in files)
    assert all(100 < p.stat().st_size <= 8192 for p in files)
    assert len({p.read_bytes() for p in files}) == 250  # no two alike


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["--files", "0"], "at least one file, not 0"),
        (["--files", "many"], "not a number of files: 'many'"),
    ],
)
def test_a_bad_count_of_files_is_refused_in_one_line(
    argv: list[str], said: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        web_folder.main(argv)
    assert exit_.value.code == 2
    error = capsys.readouterr().err
    assert said in error and "Traceback" not in error


def test_without_chromium_it_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(web_folder, "CHROMIUM", tmp_path / "no-chromium")
    with pytest.raises(SystemExit) as exit_:
        web_folder.main(["--quick"])
    assert exit_.value.code == 2
    assert f"{tmp_path / 'no-chromium'} is missing" in capsys.readouterr().err


@pytest.mark.slow
def test_quick_run_uploads_the_folder_and_merges_its_section(tmp_path: Path) -> None:
    require_chromium()
    target = tmp_path / "benchmarks.md"
    target.write_text("# Benchmarks\n\n## Method\n\nm\n", encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "bench.web_folder", "--quick", "--workdir", str(tmp_path),
         "--merge", str(target)],
        cwd=REPO, capture_output=True, text=True, timeout=900, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    section = target.read_text(encoding="utf-8")
    assert section.index(web_folder.SECTION) < section.index("## Method")
    assert "200 files (40 PNG images" in section
    assert "until the list shows 200 files" in section
    # every file went through tus: a POST to create it and a PATCH with its bytes
    assert "400 to /uploads/ (200 PATCH, 200 POST)" in section
    assert re.search(r"The page ended with “(Waiting for a worker|Ingesting|Ingested)", section)
    assert "**Verdict**: the page does not freeze:" in section
    assert "not supported by this Chromium" not in section  # long tasks were observed
    assert [p.name for p in tmp_path.iterdir()] == ["benchmarks.md"]  # the repository went
