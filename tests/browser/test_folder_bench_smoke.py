"""``python -m bench.web_folder --quick`` runs end to end (200 files chosen through the ingest
page's folder input in Chromium, uploaded to ``preserve serve``) and merges its section; no
timing is asserted. And what the benchmark made the ingest page do: add a big choice in
slices (a dropped folder too), stop when the list is cleared, upload it whole when Upload is
pressed before the last slice. Skipped, loudly, without /usr/bin/chromium (as every browser
test)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from bench import web_folder
from tests.browser.conftest import require_chromium, sign_in

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


# --- the ingest page adds a big choice in slices (web/static/js/ingest.js, addInSlices)

#: Chooses ``count`` made-up files through the folder input, as a change event would, then
#: runs ``then`` ("clear": press Clear the list after the first slice, returning what the list
#: said then; "submit": press Upload and ingest at once, before the slices are added).
CHOOSE = """async ([count, then]) => {
  const input = document.getElementById("pick-folder");
  const chosen = new DataTransfer();
  for (let i = 0; i < count; i++) {
    chosen.items.add(new File([`file ${i} ${Math.random()}`], `f-${i}.txt`, {type: "text/plain"}));
  }
  input.files = chosen.files;
  input.dispatchEvent(new Event("change", {bubbles: true}));
  if (then === "submit") document.getElementById("upload-form").requestSubmit();
  if (then === "clear") {
    await new Promise((resolve) => setTimeout(resolve, 0));
    const listed = document.getElementById("picked").textContent;
    document.getElementById("clear-button").click();
    return listed;
  }
  return null;
}"""


def _ingest_page(served: Any, page: Any, name: str) -> None:
    served.user(name)
    sign_in(page, name)
    page.goto("/ingest")
    page.locator("#collection").select_option(label="Photographs (Our Museum)")


def test_a_dropped_folder_is_listed_like_a_chosen_one(served: Any, page: Any) -> None:
    _ingest_page(served, page, "drop")
    page.evaluate(
        """() => {
          const dropped = new DataTransfer();
          for (const name of ["a.txt", "b.txt", "c.txt"]) {
            dropped.items.add(new File([name], name, {type: "text/plain"}));
          }
          const zone = document.getElementById("drop-zone");
          zone.dispatchEvent(new DragEvent("drop", {dataTransfer: dropped, bubbles: true,
                                                   cancelable: true}));
        }"""
    )
    expect(page.locator("#picked")).to_contain_text(re.compile(r"^3 files, "))
    expect(page.locator("#picked-list li")).to_have_text(["a.txt", "b.txt", "c.txt"])


def test_clear_the_list_while_a_big_choice_is_being_added_stops_adding(
    served: Any, page: Any
) -> None:
    _ingest_page(served, page, "clearer")
    listed = page.evaluate(CHOOSE, [3000, "clear"])
    # when Clear was pressed, the first slice was listed and the rest still to come
    assert re.match(r"^[\d,]+ files, ", listed) and not listed.startswith("3,000 files"), listed
    page.wait_for_timeout(2000)  # the slices that were still to come would have run by now
    expect(page.locator("#picked")).to_have_text("")
    assert page.evaluate("document.querySelectorAll('#picked-list li').length") == 0


def test_upload_pressed_while_files_are_being_added_uploads_them_all(
    served: Any, page: Any
) -> None:
    _ingest_page(served, page, "eager")
    created: list[str] = []
    page.on(
        "request",
        lambda r: created.append(r.url) if r.method == "POST" and "/uploads/" in r.url else None,
    )
    page.evaluate(CHOOSE, [300, "submit"])
    expect(page.locator("#upload-message")).to_have_text(
        re.compile(r"^(Waiting for a worker|Ingesting|Ingested)")
    )
    expect(page.locator("#picked")).to_contain_text(re.compile(r"^300 files, "))
    assert len(created) == 300
